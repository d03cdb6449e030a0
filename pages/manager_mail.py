"""Mail for managers: the outbox (what was sent, what waits, what failed), each message shown
as its recipient reads it, as text, and a failed one sent again."""

import streamlit as st

from portal.accounts import password_links
from portal.core import fmt
from portal.core.config import get_settings
from portal.core.models import MailStatus, Role
from portal.messaging import mail
from portal.ui import paging, tables
from portal.ui.feedback import perform, read
from portal.ui.session import require

STATUS_WORDS = {
    MailStatus.PENDING: "Waiting to be sent",
    MailStatus.HELD: "Held for a daily digest",
    MailStatus.DIGESTED: "Sent in a digest",
    MailStatus.SENT: "Sent",
    MailStatus.DEAD: "Failed",
}

actor = require(Role.MANAGER)
st.title("Mail")
if not get_settings().smtp_url:
    st.info(
        "No mail server is configured (PORTAL_SMTP_URL), so messages stay here: nothing is "
        "sent and nothing is dropped. Configure one to deliver them.",
        icon=":material/outbox:",
    )
counts = read(lambda session: mail.mail_counts(session, actor=actor))
columns = st.columns(len(STATUS_WORDS))
for column, (status, words) in zip(columns, STATUS_WORDS.items(), strict=True):
    column.metric(words, f"{counts[status]:,}")

shown = st.selectbox(
    "Show",
    list(STATUS_WORDS),
    index=None,
    format_func=STATUS_WORDS.__getitem__,
    placeholder="All messages",
)
cursors = paging.cursors("mail", shown)
page = perform(
    lambda session: mail.list_mail(session, actor=actor, status=shown, cursor=cursors[-1]),
    reads_only=True,
)
if page is None:
    st.stop()
if not page.items:
    st.text("No messages.")
    st.stop()
tables.show(
    [
        {
            "#": item.id,
            "Queued": fmt.moment(item.created_at),
            "To": item.to_address,
            "Subject": item.subject,
            "Status": STATUS_WORDS[item.status],
            "Attempts": item.attempts,
            "Sent": fmt.moment(item.sent_at),
            "Last error": item.last_error,
        }
        for item in page.items
    ],
    key="mail",
    compact=["Subject", "Status", "Sent"],
)
paging.pager(cursors, page.next_cursor, key="mail")

chosen = st.selectbox(
    "Read a message",
    page.items,
    index=None,
    format_func=lambda item: f"#{item.id} {item.subject} → {item.to_address}",
    placeholder="Choose a message",
)
if chosen is not None:
    chosen_id = chosen.id
    st.text(f"To: {chosen.to_address}\nSubject: {chosen.subject}")
    if chosen.attachment_name:
        st.text(f"Attachment: {chosen.attachment_name}")
    st.code(chosen.body_text, language=None, wrap_lines=True)
    if chosen.status is MailStatus.DEAD:
        st.text(f"Gave up after {chosen.attempts} attempts: {chosen.last_error}")
        if st.button("Send it again", type="primary"):
            done = perform(
                lambda session: mail.retry_dead(session, actor=actor, message_id=chosen_id)
            )
            if done is not None:
                st.rerun()
    if chosen.kind in ("invitation", "password_reset"):
        st.caption(
            "Links that let someone choose a password are never shown here, nor kept once "
            "sent. If the user did not get it, send a new one: earlier links stop working."
        )
        if st.button("Send a new link"):
            sent_to = perform(
                lambda session: password_links.send_new_link(
                    session, actor=actor, message_id=chosen_id
                ),
            )
            if sent_to is not None:
                st.success(fmt.inert(f"A new link is on its way to {sent_to}."))
