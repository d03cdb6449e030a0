"""Confirmation dialogs for actions that move money: ask, show what will happen, then act.

The pending action lives in session state, so the dialog survives the rerun its own button
causes (and AppTest can drive it); dismissing the dialog forgets the action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session

from portal.core import fmt
from portal.ui.feedback import perform

_PENDING = "pending_confirmation"


@dataclass(frozen=True)
class Partly:
    """A bulk action that did some of its rows: what was done, and the rows it refused, each
    with its reason (shown as a warning apart from the success)."""

    done: str
    refused: list[str]


def ask(name: str, payload: Any) -> None:
    """Open the confirmation `name` for `payload` on this and later runs until answered."""
    st.session_state[_PENDING] = (name, payload)


def pending(name: str) -> Any | None:
    """The payload waiting for confirmation `name`, if that dialog is open."""
    waiting = st.session_state.get(_PENDING)
    return waiting[1] if waiting and waiting[0] == name else None


def _forget() -> None:
    st.session_state.pop(_PENDING, None)


def dialog(
    name: str,
    *,
    title: str,
    lines: Callable[[Any], list[str]],
    confirm_label: str,
    act: Callable[[Session, Any], str | Partly],
    on_success: Callable[[], None] | None = None,
    inputs: Callable[[Any], Any] | None = None,
) -> None:
    """Show the dialog `name` while it is pending: `lines` say what will happen; `inputs`,
    if given, draws what the action still needs and returns it; the confirm button runs
    `act(session, payload)` — `(payload, inputs)` when there are inputs — as one user action
    (`perform`), whose returned message (or `Partly`) is shown after the page reruns;
    `on_success` then resets what the page had entered."""
    payload = pending(name)
    if payload is None:
        return

    @st.dialog(title, on_dismiss=_forget)
    def _show() -> None:
        for line in lines(payload):
            st.text(line)
        argument = payload if inputs is None else (payload, inputs(payload))
        left, right = st.columns(2)
        if left.button(confirm_label, type="primary", key=f"confirm-{name}"):
            message = perform(lambda session: act(session, argument))
            if message is not None:
                _forget()
                if on_success is not None:
                    on_success()
                st.session_state["confirmed_messages"] = (
                    message if isinstance(message, Partly) else Partly(message, [])
                )
                st.rerun()
        if right.button("Cancel", key=f"cancel-{name}"):
            _forget()
            st.rerun()

    _show()


def show_confirmed() -> None:
    """What the action confirmed on the previous run did, and what it refused."""
    outcome: Partly | None = st.session_state.pop("confirmed_messages", None)
    if outcome is None:
        return
    st.success(fmt.inert(outcome.done))
    if outcome.refused:
        st.warning(fmt.inert("\n\n".join(outcome.refused)), icon=":material/block:")
