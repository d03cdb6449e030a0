"""Showing what went wrong: refusals with their fields, and a friendly database outage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from portal.config import ConfigurationError
from portal.db import is_busy, retrying
from portal.errors import PortalError, ValidationError
from portal.ui import fmt

T = TypeVar("T")

DATABASE_BUSY = (
    "The portal is busy with other changes and could not save this one. Nothing was saved; "
    "please try again."
)
DATABASE_DOWN = (
    "The portal cannot reach its database right now. Your data is safe; please try again "
    "in a minute."
)


def show_error(error: PortalError, labels: dict[str, str] | None = None) -> None:
    """One message per refused field (named as the form names it), or the refusal itself."""
    if isinstance(error, ValidationError):
        for field, message in error.errors.items():
            name = (labels or {}).get(field, field.replace("_", " ").capitalize())
            st.error(fmt.inert(f"{name}: {message}"), icon=":material/warning:")
    else:
        # A refusal may quote what was typed (a reference, a file name): shown as typed.
        st.error(fmt.inert(str(error)), icon=":material/warning:")


def perform(
    work: Callable[[Session], T],
    labels: dict[str, str] | None = None,
    *,
    busy: str = "Working…",
) -> T | None:
    """One user action: `work` in its own unit of work (run again if it lost a race for a
    lock), its result; or, when a service refused it, None and the refusal shown under the
    fields it names (`labels`: field → the label the form shows). Work that takes over half
    a second shows `busy` with a running time meanwhile (Streamlit's spinner waits that long
    before it shows, so quick actions do not flicker)."""
    try:
        with st.spinner(busy, show_time=True):
            return retrying(work)
    except PortalError as error:
        show_error(error, labels)
        return None


@contextmanager
def database_guard() -> Iterator[None]:
    """Turn an unreachable or busy database into a friendly message instead of a traceback."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        if is_busy(error):
            st.error(DATABASE_BUSY, icon=":material/hourglass_top:")
        else:
            st.error(DATABASE_DOWN, icon=":material/cloud_off:")
        st.stop()
    except ConfigurationError as error:
        st.error(f"The portal is not configured correctly: {error}")
        st.stop()
