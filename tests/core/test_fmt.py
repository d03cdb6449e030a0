"""The one rule for showing stored text in widgets that interpret it."""

from __future__ import annotations

from portal.core import fmt
from portal.core.fmt import WORD_JOINER, chart_text, inert


def test_inert_escapes_markdown_and_breaks_every_autolink():
    text = "[x](https://evil.example/l) **b** www.evil.com ann@evil.com HTTP://EVIL.EXAMPLE"
    shown = inert(text)
    assert "](" not in shown and "**" not in shown
    for autolink in ("://", "www.", "@evil"):
        assert autolink not in shown.replace("\\", "")
    # What a reader sees is what was typed: drop the escapes and the invisible joiners.
    assert shown.replace("\\", "").replace(WORD_JOINER, "") == text


def test_chart_text_escapes_plotly_tags_only():
    assert (
        chart_text("<a href='x'>A & B</a> <b>") == "&lt;a href='x'&gt;A &amp; B&lt;/a&gt; &lt;b&gt;"
    )


def test_file_sizes_read_as_people_write_them():
    sizes = [fmt.size(n) for n in (1, 312, 2048, 3_565_158)]
    assert sizes == ["1 byte", "312 bytes", "2 KB", "3.4 MB"]
