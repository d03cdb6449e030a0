"""Read-only tables drawn one way: on a phone, the few columns that matter, and the row a
user taps shown in full below the table (a grid of ten columns on a 390 px screen is read
by scrolling it sideways, one column at a time).

A phone is told by its browser (the `Sec-CH-UA-Mobile` client hint, or "Mobi" in the user
agent, as MDN recommends): the server draws the page, so the screen's width is not known
there. A narrow desktop window keeps every column, and scrolls them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

# A table's toolbar (search, full screen) floats 44 px above it, over whatever is drawn
# there — on a touch screen, where it is always shown, over the date or text field just
# above. The tables step down to make it a row of its own.
_ROOM_FOR_TOOLBARS = """<style>
@media (hover: none), (max-width: 768px) {
  [data-testid="stDataFrame"] { margin-top: 2.75rem; }
}
</style>"""


def room_for_toolbars() -> None:
    """Draw once per page run (a style only: it takes no room itself)."""
    st.html(_ROOM_FOR_TOOLBARS)


def on_phone() -> bool:
    """Whether the browser says it is a phone (or another mobile device)."""
    headers = st.context.headers
    return headers.get("Sec-CH-UA-Mobile") == "?1" or "Mobi" in headers.get("User-Agent", "")


# A phone's table is the screen less the page's margins (390 px: 356 px), less the
# column of row ticks a table that answers a tap has: each shown column gets its share, a
# tick column its own narrow one. Text past a column's width ends in "…"; the row shows it
# all when tapped.
PHONE_TABLE_WIDTH = 356
BORDERED_INSET = 34  # a form's (or bordered container's) own padding and border
SELECTION_WIDTH = 36
TICK_WIDTH = 60


def phone_layout(
    compact: Sequence[str],
    column_config: Mapping[str, Any] | None = None,
    *,
    ticks: Sequence[str] = (),
    selectable: bool = False,
    bordered: bool = False,
    hide_index: bool = False,
) -> dict[str, Any]:
    """The arguments that draw a table (`st.dataframe`, `st.data_editor`) as it fits a
    phone: only the `compact` columns, sized to share the screen, no index column (`ticks`
    are checkbox columns; `selectable`: the table has its own tick per row; `bordered`: it
    is inside a form or a bordered container; `hide_index` off a phone too). Elsewhere: the
    columns and `column_config` as they are."""
    config = dict(column_config or {})
    if not on_phone():
        return {"column_config": config, "hide_index": hide_index}
    room = (
        PHONE_TABLE_WIDTH
        - (SELECTION_WIDTH if selectable else 0)
        - (BORDERED_INSET if bordered else 0)
    )
    texts = [column for column in compact if column not in ticks]
    share = max((room - TICK_WIDTH * (len(compact) - len(texts))) // max(len(texts), 1), 60)
    for column in compact:
        config[column] = {
            **(config.get(column) or {}),
            "width": TICK_WIDTH if column in ticks else share,
        }
    return {"column_config": config, "column_order": list(compact), "hide_index": True}


def show(
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    compact: Sequence[str],
    column_config: Mapping[str, Any] | None = None,
) -> None:
    """A table of `rows` (each a column → value mapping, all alike). On a phone only the
    `compact` columns are drawn, and tapping a row shows all of its fields under the table,
    as text."""
    if not on_phone() or not rows:
        st.dataframe(list(rows), hide_index=True, column_config=column_config)
        return
    every_column = set(rows[0]) <= set(compact)
    layout = phone_layout(compact, column_config, selectable=not every_column)
    if every_column:
        st.dataframe(list(rows), **layout)
        return
    event = st.dataframe(
        list(rows), **layout, on_select="rerun", selection_mode="single-row", key=key
    )
    picked = event.selection.rows
    if not picked or picked[0] >= len(rows):
        st.caption("Tap a row to see all of it.")
        return
    row = rows[picked[0]]
    st.text("\n".join(f"{column}: {_cell(value)}" for column, value in row.items()))


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)  # st.text: shown as typed, never as Markdown
