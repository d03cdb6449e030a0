"""Page runs share a few slots (portal/ui/run_slots.py): never more at once, a fragment
drawn inside its page uses the page's slot, and a run that waits too long goes ahead."""

from __future__ import annotations

import threading
import time

import pytest

from portal.ui import run_slots


def test_no_more_runs_than_slots_draw_at_once():
    runs = run_slots.SLOTS + 3
    inside = most = finished = 0
    changed = threading.Condition()

    everyone_asks = threading.Barrier(runs)

    def run() -> None:
        nonlocal inside, most, finished
        everyone_asks.wait()
        with run_slots.slot(), changed:
            inside += 1
            most = max(most, inside)
            changed.notify_all()
            # Stay until the slots are full (or no other run is left to come in), then a
            # moment more, in which a run that got past a full set of slots would show.
            changed.wait_for(
                lambda: inside >= run_slots.SLOTS or finished + inside == runs, timeout=10
            )
            changed.wait_for(lambda: inside > run_slots.SLOTS, timeout=0.2)
            inside -= 1
            finished += 1
            changed.notify_all()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert (most, finished) == (run_slots.SLOTS, runs)


def test_a_fragment_inside_its_page_run_takes_no_second_slot():
    drawn = []

    def fragment_body() -> None:
        with run_slots.slot():
            drawn.append("fragment")

    def page_run() -> None:
        with run_slots.slot():
            fragment_body()

    pages = [threading.Thread(target=page_run) for _ in range(run_slots.SLOTS)]
    for page in pages:
        page.start()
    for page in pages:
        page.join(timeout=run_slots.WAIT_SECONDS / 2)
    assert drawn == ["fragment"] * run_slots.SLOTS  # none waited for a slot it held itself


def test_a_run_goes_ahead_when_every_slot_is_held_too_long(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(run_slots, "WAIT_SECONDS", 0.1)
    held = threading.Event()
    release = threading.Event()

    def stuck() -> None:  # e.g. waiting on a database lock
        with run_slots.slot():
            held.set()
            release.wait(10)

    stuck_runs = [threading.Thread(target=stuck) for _ in range(run_slots.SLOTS)]
    for run in stuck_runs:
        held.clear()
        run.start()
        assert held.wait(5)
    started = time.monotonic()
    with run_slots.slot():
        waited = time.monotonic() - started
    release.set()
    for run in stuck_runs:
        run.join(timeout=10)
    assert 0.1 <= waited < 2
    # Every slot came back: as many runs as slots get one at once again.
    taken = [run_slots._slots.acquire(timeout=1) for _ in range(run_slots.SLOTS)]
    for _ in taken:
        run_slots._slots.release()
    assert taken == [True] * run_slots.SLOTS
