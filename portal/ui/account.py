"""The change-password form, shared by the partner profile and the manager account page."""

from __future__ import annotations

import streamlit as st

from portal import users
from portal.access import Actor
from portal.db import unit_of_work
from portal.ui import fmt
from portal.ui.feedback import perform
from portal.ui.session import current_session_id

LABELS = {"current_password": "Current password", "new_password": "New password"}


def change_password_form(actor: Actor) -> None:
    """Ask for the current password and a new one twice; other sessions end on success."""
    st.subheader("Change password", anchor=False)
    with st.form("change_password", clear_on_submit=True):
        current = st.text_input("Current password", type="password")
        new = st.text_input(
            "New password",
            type="password",
            help=f"At least {users.MIN_PASSWORD_LENGTH} characters, any you "
            "like; at most 72 bytes.",
        )
        repeat = st.text_input("Repeat the new password", type="password")
        if not st.form_submit_button("Change password"):
            return
    if new != repeat:
        st.error(
            "Repeat the new password: the two new passwords differ.", icon=":material/warning:"
        )
        return
    ended = perform(
        lambda session: users.change_password(
            session,
            actor=actor,
            current_password=current,
            new_password=new,
            keep_session_id=current_session_id(),
        ),
        LABELS,
    )
    if ended is not None:
        signed_out = f" {ended} other sign-in(s) ended." if ended else ""
        st.success(f"Password changed.{signed_out}")


def sessions_panel(actor: Actor) -> None:
    """Where the actor is signed in, and a way to sign out everywhere."""
    st.subheader("Where you are signed in", anchor=False)
    with unit_of_work() as session:
        sessions = users.list_sessions(session, actor=actor)
    this = current_session_id()
    st.dataframe(
        [
            {
                "Browser": ("This browser · " if item.id == this else "")
                + (item.user_agent or "unknown browser"),
                "Address": item.client_address or "—",
                "Signed in": fmt.moment(item.created_at),
                "Last seen": fmt.moment(item.last_seen_at),
            }
            for item in sessions
        ],
        hide_index=True,
    )
    if st.button("Sign out everywhere", help="Ends every session, this browser's too."):
        with unit_of_work() as session:
            users.end_sessions(session, actor=actor)
        st.rerun()
