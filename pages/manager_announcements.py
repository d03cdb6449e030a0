"""Announcements for managers: write to every partner or to some groups' partners, shown on
their dashboards until dismissed, and e-mailed if chosen."""

import streamlit as st

from portal.core import fmt
from portal.core.models import Role
from portal.messaging import announcements
from portal.partners import groups
from portal.ui import audience as audience_picker
from portal.ui import tables
from portal.ui.feedback import FormErrors, read
from portal.ui.session import require

NOTICE = "announcement_notice"

actor = require(Role.MANAGER)
st.title("Announcements")
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(fmt.inert(notice), icon=":material/campaign:")

found_groups, sent = read(
    lambda session: (
        groups.list_groups(session, actor=actor),
        announcements.list_announcements(session, actor=actor),
    )
)
form = FormErrors("announcement")
with st.form(form.key):
    title = st.text_input("Title *", max_chars=announcements.MAX_TITLE)
    form.under("title")
    body = st.text_area("Message *", max_chars=announcements.MAX_BODY, height=160)
    form.under("body")
    audience = audience_picker.picker(
        found_groups,
        help="Empty: every partner. Shown on their dashboards until each user dismisses it.",
    )
    form.under("audience")
    email = st.checkbox(
        "Also e-mail it",
        help="To each user of those partners whose profile takes announcement e-mails "
        "(they may unsubscribe in one click).",
    )
    form.others({"title", "body", "audience"})
    if st.form_submit_button("Publish", type="primary", icon=":material/campaign:"):
        published = form.submit(
            lambda session: announcements.publish(
                session, actor=actor, title=title, body=body, audience=audience, email=email
            )
        )
        if published is not None:
            who = ", ".join(published.audience) or "every partner"
            st.session_state[NOTICE] = f"Published “{published.title}” for {who}."
            st.rerun()

st.subheader("Published", anchor=False)
if not sent:
    st.caption("Nothing published yet.")
else:
    tables.show(
        [
            {
                "When": fmt.moment(item.created_at),
                "Title": item.title,
                "For": ", ".join(item.audience) or "every partner",
                "E-mailed": item.emailed,
                "Message": item.body,
            }
            for item in sent
        ],
        key="announcements",
        compact=["When", "Title", "For"],
    )
