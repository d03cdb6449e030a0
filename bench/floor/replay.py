"""The web floor's trick: every service call (a function of `portal` taking a database session
first) answers from memory what it answered the first time it was asked the same thing, and a
unit of work opens no database connection unless a call it serves has not been asked before.
After one warm-up round per session, the pages run their own code, build the same elements
and send them, but neither the database nor any service is left in a page view: what remains
is Streamlit's cost and the page scripts' drawing, the floor the portal's pages are measured
against (`bench/web_load.py`)."""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import pkgutil
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.orm import Session

import portal
from portal.core import db

MEMORY: dict[tuple[str, str], Any] = {}
MISSES = {"count": 0}
_LOCK = threading.Lock()
_CALLING = threading.local()  # whether this thread is inside a service call made for real
_real_unit_of_work = db.unit_of_work
NOT_SERVICES = {"portal.core.db", "portal.core.config", "portal.core.models", "portal.core.migrate"}


class LazySession:
    """Stands in for the session of a unit of work; opens the real one only when asked."""

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._args = args
        self._kwargs = kwargs
        self._context: contextlib.AbstractContextManager[Session] | None = None
        self._session: Session | None = None

    def real(self) -> Session:
        if self._session is None:
            self._context = _real_unit_of_work(*self._args, **self._kwargs)
            self._session = self._context.__enter__()
        return self._session

    def close(self, error: BaseException | None) -> None:
        if self._context is not None:
            if error is None:
                self._context.__exit__(None, None, None)
            else:
                self._context.__exit__(type(error), error, error.__traceback__)


@contextlib.contextmanager
def lazy_unit_of_work(*args: Any, **kwargs: Any) -> Iterator[Any]:
    lazy = LazySession(args, kwargs)
    try:
        yield lazy
    except BaseException as error:
        lazy.close(error)
        raise
    lazy.close(None)


def _replayed(function: Callable[..., Any]) -> Callable[..., Any]:
    name = f"{function.__module__}.{function.__qualname__}"

    @functools.wraps(function)
    def answer(*args: Any, **kwargs: Any) -> Any:
        if getattr(_CALLING, "for_real", False):
            # Part of a call made for real: it runs whole, or its writes would be left half
            # done (a rollup `_upsert` asked the same thing twice would be skipped the second
            # time, and the statistics would no longer match the leads).
            return function(*args, **kwargs)
        asked = repr(([a for a in args if not isinstance(a, LazySession | Session)], kwargs))
        key = (name, asked)
        if key in MEMORY:
            return MEMORY[key]
        real_args = [a.real() if isinstance(a, LazySession) else a for a in args]
        _CALLING.for_real = True
        try:
            result = function(*real_args, **kwargs)
        finally:
            _CALLING.for_real = False
        with _LOCK:
            MEMORY[key] = result
            MISSES["count"] += 1
        return result

    return answer


def install() -> None:
    """Replace each service function and every `unit_of_work` name in `portal`'s modules."""
    modules = [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(portal.__path__, "portal.")
        if info.name not in NOT_SERVICES and not info.name.startswith("portal.tools")
    ]
    originals = {}
    for module in modules:
        for value in vars(module).values():
            if not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            parameters = list(inspect.signature(value).parameters)
            if parameters[:1] == ["session"]:
                originals[value] = _replayed(value)
    db.unit_of_work = lazy_unit_of_work  # (and every module's own name for it, below)
    for module in modules:
        for name, value in list(vars(module).items()):
            if value is _real_unit_of_work:
                setattr(module, name, lazy_unit_of_work)
            elif inspect.isfunction(value) and value in originals:
                setattr(module, name, originals[value])
