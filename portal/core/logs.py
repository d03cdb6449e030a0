"""Logs as JSON lines (PORTAL_LOG_FORMAT=json, the default) that a log pipeline reads without
parsing prose: time (UTC), level, logger, message, and what the line concerns — the browser
session or API request, the signed-in user, the action. Secrets never go into a message:
ids and names of things, not tokens, passwords or account numbers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from portal.core.config import get_settings

_CONTEXT: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})  # noqa: B039


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add `fields` (session, request, user_id, action…) to every line logged in the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class _WithContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            setattr(record, name, value)
        return True


class _UtcJson(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def configure() -> None:
    """Send the portal's own loggers (`portal.*`) to standard error, one JSON object per
    line (or plain text), at INFO. Streamlit's and uvicorn's loggers keep their own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_WithContext())
    if get_settings().log_format == "json":
        handler.setFormatter(
            _UtcJson(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    portal = logging.getLogger("portal")
    portal.handlers = [handler]
    portal.setLevel(logging.INFO)
    portal.propagate = False
