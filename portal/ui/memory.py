"""The app process's garbage collection.

Every page view allocates a great many short-lived objects (protobuf messages, data frames,
figures), so Python's collector runs several times per view, and each full collection walked
every object the process holds: the modules of Streamlit, pandas, plotly, SQLAlchemy and the
portal, about 220,000 objects that live as long as the process. Measured with
`bench/web_load.py` (docs/performance.md), full collections took about 75 % of the
server's CPU. Objects that exist once start-up is over are moved out of the collector's sight
(`gc.freeze`): once after importing what the pages use, and once more after the process's
first few page runs, which create the rest of what lives for good (compiled queries, plotly's
property validators, Streamlit's page registry). Frozen objects are still freed when nothing
refers to them; only cyclic garbage of those first runs stays, a one-time cost.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import threading

import portal.ui

WARM_RUNS = 6  # page runs after which what lives for good has been created
_lock = threading.Lock()
_runs = 0
_serving = False  # only the server process freezes (not a test running the pages)


def freeze_start_up_objects() -> None:
    """Import every module the pages use, then freeze what exists."""
    global _serving
    _serving = True
    for info in pkgutil.walk_packages(portal.ui.__path__, "portal.ui."):
        importlib.import_module(info.name)
    gc.collect()
    gc.freeze()


def page_run_finished() -> None:
    """Count a finished page run; after the first `WARM_RUNS`, freeze once more."""
    global _runs
    if not _serving:
        return
    with _lock:
        _runs += 1
        if _runs != WARM_RUNS:
            return
    gc.collect()
    gc.freeze()
