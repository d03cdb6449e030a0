"""Messages for managers: every partner's conversations, those waiting for an answer first to
hand; reply, or write to a partner."""

import streamlit as st

from portal.core import fmt
from portal.core.models import Role
from portal.messaging import conversations
from portal.ui import conversation, links, pickers, tables
from portal.ui.feedback import perform, read
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Messages")
conversation.sent_notice()

lead_id = links.requested_lead()  # "Discuss this lead", from the lead's details
if not links.bad_lead_in_address() and lead_id is not None:
    about = lead_id
    found = perform(
        lambda session: (conversations.thread_of_lead(session, actor=actor, lead_id=about),),
        reads_only=True,
    )
    if found is not None:
        st.subheader(f"About lead #{about}", anchor=False)
        if found[0] is not None:
            conversation.thread(actor, found[0])
        conversation.reply_box(
            f"lead-thread-{about}",
            lambda session, body: conversations.post(
                session, actor=actor, body=body, lead_id=about
            ),
            "Your message to the partner about this lead",
        )
    st.page_link(
        links.page("pages/manager_messages.py", "Messages"),
        label="Every conversation",
        icon=":material/forum:",
        query_params={},
    )
    st.stop()
unanswered = st.toggle(
    "Waiting for an answer only", value=True, help="The partner had the last word."
)
threads = read(
    lambda session: conversations.conversations(session, actor=actor, unanswered=unanswered)
)
if not threads:
    st.caption("No conversation waits for an answer." if unanswered else "No conversation yet.")
else:
    tables.show(
        [
            {
                "Partner": f"{t.partner_name} (#{t.partner_id})",
                "About": t.title,
                "Last message": fmt.moment(t.last_message_at),
                "Answered": t.answered,
                "Unread": t.unread,
            }
            for t in threads
        ],
        key="threads",
        compact=["Partner", "About", "Unread"],
    )
    by_id = {t.id: t for t in threads}
    chosen = st.selectbox(
        "Conversation",
        list(by_id),
        format_func=lambda i: (
            f"{by_id[i].partner_name} · {by_id[i].title}"
            + (f" · {by_id[i].unread} unread" if by_id[i].unread else "")
        ),
    )
    view = conversation.thread(actor, chosen)
    if view is not None:
        to_partner, about_lead = view.partner_id, view.lead_id
        conversation.reply_box(
            f"manager-thread-{chosen}",
            lambda session, body: conversations.post(
                session, actor=actor, body=body, partner_id=to_partner, lead_id=about_lead
            ),
            "Your reply",
            sent="Sent: the conversation no longer waits for an answer (it is listed with "
            "every conversation).",
        )

with st.expander("Write to a partner", icon=":material/edit:"):
    partner_id = pickers.partner_by_name(actor, key="message-partner")
    if partner_id is not None:
        conversation.reply_box(
            "new-partner-message",
            lambda session, body: conversations.post(
                session, actor=actor, body=body, partner_id=partner_id
            ),
            "Your message",
        )
