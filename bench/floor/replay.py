"""The web floor's trick: every action a page runs (`actions.run`, the one way the pages reach
the database and the services) answers from memory what it answered the first time it was
asked the same thing. After one warm-up round per session, the pages run their own code, build
the same elements and send them, but neither the database nor any service is left in a page
view: what remains is Streamlit's cost and the page scripts' drawing, the floor the portal's
pages are measured against (`bench/web_load.py`).

An action is asked "the same thing" when it runs the same code over the same values: the
values a work function closes over or reads from its page's globals (an actor, a filter, a
page cursor), its defaults and, for a `functools.partial`, its arguments. Code (modules,
functions, classes) is left out of the key: it is what the action is, not what it asks. Who is
signed in is read from the browser's session state, not from values a work function holds, so
the key also holds the browser's login cookie: the harness's warm-up round signs each person in
once, and their later sessions (the same cookie) are answered from memory."""

from __future__ import annotations

import functools
import inspect
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import streamlit as st

from portal.core import actions
from portal.core.config import get_settings

MEMORY: dict[str, Any] = {}
MISSES = {"count": 0}
_LOCK = threading.Lock()
_real_run = actions.run


def _names(code: types.CodeType) -> Iterator[str]:
    """The global names a code object and the code nested in it read."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _names(constant)


def _is_code(value: Any) -> bool:
    return inspect.ismodule(value) or inspect.isroutine(value) or inspect.isclass(value)


def asked(work: Callable[..., Any]) -> str:
    """What an action asks, as a key: its code and every value it reads that is not code."""
    if isinstance(work, functools.partial):
        return repr((asked(work.func), work.args, sorted(work.keywords.items())))
    bound_to = getattr(work, "__self__", None)
    function: Any = getattr(work, "__func__", work)
    code = function.__code__
    values = [cell.cell_contents for cell in function.__closure__ or ()]
    values += [function.__globals__[name] for name in _names(code) if name in function.__globals__]
    read = [value for value in values if not _is_code(value)]
    where = (code.co_filename, code.co_firstlineno, function.__qualname__)
    return repr((where, bound_to, function.__defaults__, read))


def remembered_run(work: Callable[[Any], Any], **options: Any) -> Any:
    signed_in_as = st.context.cookies.get(get_settings().cookie_name)
    key = repr((signed_in_as, asked(work), sorted(options.items())))
    if key in MEMORY:
        return MEMORY[key]
    result = _real_run(work, **options)
    with _LOCK:
        MEMORY[key] = result
        MISSES["count"] += 1
    return result


def install() -> None:
    """Answer every action from memory after its first time."""
    actions.run = remembered_run  # type: ignore[assignment]
