"""The app process freezes what lives for good, so that collections walk only what page
views make (portal/ui/memory.py; measured in bench/web_load.py)."""

from __future__ import annotations

import gc
import sys

import pytest

from portal.ui import memory

pytestmark = pytest.mark.server


@pytest.fixture
def unfrozen(monkeypatch):
    gc.unfreeze()
    monkeypatch.setattr(memory, "_runs", 0)
    monkeypatch.setattr(memory, "_serving", False)
    yield
    gc.unfreeze()


def test_start_up_objects_are_frozen_with_the_pages_modules_imported(unfrozen):
    assert gc.get_freeze_count() == 0
    memory.freeze_start_up_objects()
    assert gc.get_freeze_count() > 100_000  # the libraries' and the portal's objects
    assert "portal.ui.lead_table" in sys.modules


def test_the_first_page_runs_are_frozen_once_in_the_server_only(unfrozen):
    for _ in range(memory.WARM_RUNS + 1):  # pages run outside the server (AppTest)
        memory.page_run_finished()
    assert gc.get_freeze_count() == 0
    memory.freeze_start_up_objects()
    gc.unfreeze()
    for _ in range(memory.WARM_RUNS - 1):
        memory.page_run_finished()
    assert gc.get_freeze_count() == 0
    memory.page_run_finished()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    kept = [object() for _ in range(10)]  # made after: not frozen by later runs
    memory.page_run_finished()
    assert gc.get_freeze_count() == frozen
    assert kept
