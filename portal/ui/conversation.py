"""One conversation as both sides see it: its messages (as text, never Markdown), then a box to
write the next one. The pages choose the thread (`pages/partner_messages.py`,
`pages/manager_messages.py`)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from portal.core import fmt
from portal.core.access import Actor
from portal.core.actions import Session
from portal.messaging import conversations
from portal.messaging.conversations import ConversationView, MessageView
from portal.ui.feedback import FormErrors, perform

SENT = "_message_sent"


def thread(actor: Actor, conversation_id: int) -> ConversationView | None:
    """Draw a thread's messages (the user has read them from now on)."""
    opened = perform(
        lambda session: conversations.read_conversation(
            session, actor=actor, conversation_id=conversation_id
        )
    )
    if opened is None:
        return None
    view, messages = opened
    for message in messages:
        _draw(message)
    return view


def _draw(message: MessageView) -> None:
    side = "the program" if message.from_manager else "partner"
    with st.chat_message(
        "assistant" if message.from_manager else "user",
        avatar=":material/support_agent:" if message.from_manager else ":material/person:",
    ):
        st.caption(fmt.inert(f"{message.author_name} ({side}) · {fmt.moment(message.created_at)}"))
        st.text(message.body)


def sent_notice() -> None:
    """Say that the last message went (at the top of the page: its thread may have left the
    list it was chosen from)."""
    told = st.session_state.pop(SENT, None)
    if told:
        st.success(told, icon=":material/send:")


def reply_box(
    key: str, send: Callable[[Session, str], object], label: str, *, sent: str = "Sent."
) -> None:
    """A box to write a message; `send(session, body)` posts it; `sent` says it went."""
    form = FormErrors(key)
    with st.form(form.key):
        body = st.text_area(label, max_chars=conversations.MAX_BODY, height=120)
        form.under("body")
        form.others({"body"})
        sent_now = st.form_submit_button("Send", type="primary", icon=":material/send:")
        if sent_now and form.submit(lambda session: send(session, body)) is not None:
            st.session_state[SENT] = sent
            st.rerun()
