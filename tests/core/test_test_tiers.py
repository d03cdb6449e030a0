"""The test tiers hold: a test file that starts a server (or runs pages) says so with its
marker, so `make test-fast` (`-m "not (browser or postgresql or server or slow)"`) never
starts one, and no test leans on the benches' code."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).parent.parent
# What starts another process to serve, or runs the pages.
STARTS_A_SERVER = re.compile(
    r"\brun_app\(|\bapp_on\(|\bserve\.start\(|\binitdb\b|bench[./]|web_load"
)
RUNS_PAGES = re.compile(r"\bAppTest\b|\bsigned_in\(|\bpage_as\(")


def _marked(source: str, *markers: str) -> bool:
    return any(re.search(rf"^pytestmark = .*pytest\.mark\.{m}\b", source, re.M) for m in markers)


def test_every_file_that_starts_a_server_or_runs_pages_carries_its_marker():
    unmarked = []
    for path in sorted(TESTS.rglob("test_*.py")):
        if "browser" in path.relative_to(TESTS).parts:
            continue  # marked by its folder
        source = path.read_text(encoding="utf-8")
        if path.name == Path(__file__).name:
            continue
        if STARTS_A_SERVER.search(source) and not _marked(source, "server"):
            unmarked.append(f"{path.name}: starts a server, not marked server")
        if RUNS_PAGES.search(source) and not _marked(source, "slow", "server"):
            unmarked.append(f"{path.name}: runs pages, not marked slow")
    assert unmarked == []


def test_no_test_imports_bench_code():
    """The benches measure; a test that leaned on them would break when a bench changes."""
    importing = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("*.py"))
        if re.search(r"^\s*(from|import) bench\b", path.read_text(encoding="utf-8"), re.M)
    ]
    assert importing == []
