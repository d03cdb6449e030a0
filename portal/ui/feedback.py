"""Showing what went wrong: refusals with their fields, and a friendly database outage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from portal.core import actions, fmt
from portal.core.config import ConfigurationError
from portal.core.db import is_busy
from portal.core.errors import PortalError, ValidationError

T = TypeVar("T")

DATABASE_BUSY = (
    "The portal is busy with other changes and could not save this one. Nothing was saved; "
    "please try again."
)
DATABASE_DOWN = (
    "The portal cannot reach its database right now. Your data is safe; please try again "
    "in a minute."
)


def show_error(error: PortalError, *, subject: str = "") -> None:
    """One message per refused field, or the refusal itself; `subject` names what was
    refused when the page shows several ("Lead #12 Ada"). Each message is a sentence that
    names its field in words ("Lost reason is required."), so no label is put before it."""
    lead_in = f"{subject}: " if subject else ""
    if isinstance(error, ValidationError):
        for message in error.errors.values():
            st.error(fmt.inert(f"{lead_in}{message}"), icon=":material/warning:")
    else:
        # A refusal may quote what was typed (a reference, a file name): shown as typed.
        st.error(fmt.inert(f"{lead_in}{error}"), icon=":material/warning:")


def perform(
    work: Callable[[Session], T],
    *,
    busy: str = "Working…",
    subject: str = "",
    reads_only: bool = False,
) -> T | None:
    """One user action: `work` in its own unit of work (run again if it lost a race for a
    lock), its result; or, when a service refused it, None and the refusal shown. Work that
    takes over half a second shows `busy` with a running time meanwhile (Streamlit's spinner
    waits that long before it shows, so quick actions do not flicker); `subject` names what a
    refusal is about. `reads_only` as for `unit_of_work`."""
    try:
        return _attempt(work, busy, reads_only=reads_only)
    except PortalError as error:
        show_error(error, subject=subject)
        return None


def read(work: Callable[[Session], T]) -> T:
    """A page's reads: one action of reads only (`actions.run`); a refusal is raised, for the
    page's guard (`session.require`) or Streamlit to show."""
    return actions.run(work, reads_only=True)


def _attempt(work: Callable[[Session], T], busy: str, *, reads_only: bool) -> T:
    with st.spinner(busy, show_time=True):
        return actions.run(work, reads_only=reads_only)


class FormErrors:
    """A form whose refused fields are told under the fields themselves: a refusal is kept
    for the next run, which draws the form again (its inputs kept) with each message below
    its own input (`under`); the messages name their field in words, so no label is
    repeated. A success starts the form afresh (`generation` is part of its key)."""

    def __init__(self, form: str) -> None:
        self.form = form
        self._errors_key = f"_form_errors_{form}"
        self._generation_key = f"_form_generation_{form}"

    @property
    def key(self) -> str:
        return f"{self.form}-{st.session_state.get(self._generation_key, 0)}"

    @property
    def pending(self) -> bool:
        """Whether the last submission was refused (its form should stay open)."""
        return bool(st.session_state.get(self._errors_key))

    def under(self, field: str) -> None:
        message = st.session_state.get(self._errors_key, {}).get(field)
        if message:
            st.error(fmt.inert(message), icon=":material/warning:")

    def others(self, fields: set[str]) -> None:
        """Refusals of fields the form does not draw (shown where this is called)."""
        for field, message in st.session_state.get(self._errors_key, {}).items():
            if field not in fields:
                st.error(fmt.inert(message), icon=":material/warning:")

    def submit(self, work: Callable[[Session], T], *, busy: str = "Working…") -> T | None:
        """Run the form's action: on a refusal of its fields, keep them and draw the form
        again; on any other refusal, say it here; on success, a fresh form next run."""
        try:
            result = _attempt(work, busy, reads_only=False)
        except ValidationError as refused:
            st.session_state[self._errors_key] = refused.errors
            st.rerun()
        except PortalError as error:
            st.session_state.pop(self._errors_key, None)
            show_error(error)
            return None
        st.session_state.pop(self._errors_key, None)
        st.session_state[self._generation_key] = st.session_state.get(self._generation_key, 0) + 1
        return result


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
