"""Messages for partners: the company's conversation with the program's managers, and one per
lead (opened from the lead, or by the address: `?lead=ID`)."""

import streamlit as st

from portal.core import fmt
from portal.core.models import Role
from portal.messaging import conversations
from portal.ui import conversation, links
from portal.ui.feedback import perform, read
from portal.ui.session import require

actor = require(Role.PARTNER)
st.title("Messages")
conversation.sent_notice()
st.caption(
    "Ask your partner managers anything — about a lead, a commission, a payout. They answer "
    "here; you get an e-mail too if your profile asks for event mail."
)
threads = read(lambda session: conversations.conversations(session, actor=actor))

links.bad_lead_in_address()
lead_id = links.requested_lead()

if lead_id is not None:
    about = lead_id
    # (thread id or None,), or None when the lead is not this partner's (the refusal shown).
    found = perform(
        lambda session: (conversations.thread_of_lead(session, actor=actor, lead_id=about),),
        reads_only=True,
    )
    if found is None:
        st.stop()
    if found[0] is None:  # no thread about this lead yet: the first message opens it
        st.subheader(f"About lead #{lead_id}", anchor=False)
        conversation.reply_box(
            "new-lead-thread",
            lambda session, body: conversations.post(
                session, actor=actor, body=body, lead_id=about
            ),
            "Your message about this lead",
        )
        st.stop()

by_id = {t.id: t for t in threads}
options: list[int | None] = list(by_id)
if not any(t.lead_id is None for t in threads):
    options.insert(0, None)  # the company's thread, before its first message
wanted = next((t.id for t in threads if lead_id is not None and t.lead_id == lead_id), None)


def _title(option: int | None) -> str:
    if option is None:
        return "The program"
    found = by_id[option]
    return found.title + (f" · {found.unread} unread" if found.unread else "")


chosen = st.selectbox(
    "Conversation",
    options,
    index=options.index(wanted) if wanted in options else 0,
    format_func=_title,
    # A box of its own for each set of threads: once the first message opens the company's
    # thread, its option (the same words) is a thread, not "none yet".
    key="conversation-" + "-".join(str(option) for option in options),
)
if chosen is None:
    st.caption("No message yet. Write the first one:")
    conversation.reply_box(
        "partner-thread",
        lambda session, body: conversations.post(session, actor=actor, body=body),
        "Your message to the program",
    )
else:
    view = conversation.thread(actor, chosen)
    if view is not None:
        about_lead = view.lead_id
        conversation.reply_box(
            f"thread-{chosen}",
            lambda session, body: conversations.post(
                session, actor=actor, body=body, lead_id=about_lead
            ),
            "Your reply",
        )
        if view.lead_id is not None:
            st.page_link(
                links.page("pages/partner_leads.py", "Leads"),
                label=fmt.inert(f"Open lead #{view.lead_id}"),
                query_params={"lead": str(view.lead_id)},
                icon=":material/open_in_new:",
            )
