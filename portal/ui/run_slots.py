"""How many page runs of the app process draw at once.

Streamlit runs each session's page in a thread of its own, and one more thread, the event
loop, reads every browser's messages and sends every page's elements; all of them share the
interpreter lock. The event loop lets go of the lock several times per element it sends (a
socket write, waking a thread, starting the next run's thread) and, with many page runs
wanting the lock, got it back only after long waits each time: runs finished while their
elements waited to leave. Measured with `bench/web_load.py` (docs/performance.md): 100
partners acting every 10 s on one process stalled for seconds at a time, every session at
once, with the server half idle; the event loop lagged up to 1.7 s.

So a page run (a whole page, or a fragment on its own) first takes one of a few slots, and
a run waiting for one waits on a semaphore, not on the interpreter. Slots bound the load on
the event loop, not correctness: a run that waits longer than `WAIT_SECONDS` (the others
stuck on a database lock, say) goes ahead without one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import streamlit as st

from portal.core.access import one_action

# Measured (docs/performance.md): one slot leaves a run waiting on the database holding up
# every other; with three, the stalls began to come back under heavier page runs.
SLOTS = 2
WAIT_SECONDS = 5.0

P = ParamSpec("P")
R = TypeVar("R")

_slots = threading.BoundedSemaphore(SLOTS)
_this_thread = threading.local()  # whether this run's thread holds a slot


@contextmanager
def slot() -> Iterator[None]:
    """Hold a slot for the block: the page run's, or a fragment run's. A fragment drawn as part
    of its page runs in the page's slot."""
    if getattr(_this_thread, "holds", False):
        yield
        return
    took = _slots.acquire(timeout=WAIT_SECONDS)
    _this_thread.holds = True
    try:
        yield
    finally:
        _this_thread.holds = False
        if took:
            _slots.release()


def fragment(function: Callable[P, R]) -> Callable[P, R]:
    """`st.fragment` whose own reruns take a slot and are one action (the actor read once),
    as whole page runs are in Home.py: the one way the pages declare a fragment
    (tests/core/test_architecture.py holds them to it)."""

    @wraps(function)
    def in_a_slot(*args: P.args, **kwargs: P.kwargs) -> R:
        if getattr(_this_thread, "holds", False):  # drawn by its page's run: all done there
            return function(*args, **kwargs)
        with slot(), one_action():
            return function(*args, **kwargs)

    return st.fragment(in_a_slot)
