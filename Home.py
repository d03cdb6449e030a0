"""Entry point: sign-in, then each role's pages through st.navigation."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from portal.core import logs, metrics
from portal.core.access import Actor, one_action
from portal.core.actions import Session
from portal.core.config import get_settings
from portal.messaging import conversations, notifications
from portal.ui import memory, phone, run_slots, session, tables
from portal.ui.feedback import database_guard, read

st.set_page_config(page_title="Partner Portal", page_icon="🤝", layout="wide")

PARTNER_PAGES = [
    st.Page(
        "pages/partner_dashboard.py", title="Dashboard", icon=":material/dashboard:", default=True
    ),
    st.Page("pages/partner_leads.py", title="Leads", icon=":material/list_alt:"),
    st.Page("pages/partner_commissions.py", title="Commissions", icon=":material/payments:"),
    st.Page("pages/partner_resources.py", title="Resources", icon=":material/folder_open:"),
    st.Page("pages/partner_profile.py", title="Profile", icon=":material/person:"),
]
PARTNER_MESSAGES = "pages/partner_messages.py"
MANAGER_PAGES = [
    st.Page(
        "pages/manager_overview.py",
        title="Program overview",
        icon=":material/monitoring:",
        default=True,
    ),
    st.Page("pages/manager_partners.py", title="Partners", icon=":material/apartment:"),
    st.Page("pages/manager_groups.py", title="Partner groups", icon=":material/workspaces:"),
    st.Page("pages/manager_leads.py", title="All leads", icon=":material/list_alt:"),
    st.Page("pages/manager_payouts.py", title="Payouts", icon=":material/account_balance:"),
    st.Page("pages/manager_risk.py", title="Risk center", icon=":material/policy:"),
    st.Page("pages/manager_tax_forms.py", title="Tax forms", icon=":material/description:"),
    st.Page("pages/manager_audit.py", title="Audit log", icon=":material/manage_search:"),
    st.Page("pages/manager_exports.py", title="Exports", icon=":material/download:"),
    st.Page("pages/manager_announcements.py", title="Announcements", icon=":material/campaign:"),
    st.Page("pages/manager_resources.py", title="Resources", icon=":material/folder_open:"),
    st.Page("pages/manager_mail.py", title="Mail", icon=":material/mail:"),
    st.Page("pages/manager_settings.py", title="Program settings", icon=":material/tune:"),
    st.Page("pages/account.py", title="Account", icon=":material/person:"),
]
MANAGER_MESSAGES = "pages/manager_messages.py"


def with_messages(pages: list[StreamlitPage], script: str, unread: int) -> list[StreamlitPage]:
    """The role's pages with Messages after the first few, titled with the unread count."""
    title = f"Messages ({unread})" if unread else "Messages"
    return [*pages[:3], st.Page(script, title=title, icon=":material/forum:"), *pages[3:]]


SET_PASSWORD = st.Page("pages/set_password.py", title="Set a password", icon=":material/key:")

with run_slots.slot(), database_guard():
    # Who is signed in, and what they have unread (notifications, messages): read on every run.
    def _signed_in(db: Session) -> tuple[Actor | None, int, int]:
        actor = session.current_actor(db)
        if actor is None:
            return None, 0, 0
        with one_action(actor):
            return (
                actor,
                notifications.unread_count(db, actor=actor),
                conversations.unread_count(db, actor=actor),
            )

    actor, unread, unread_messages = read(_signed_in)
    with one_action(actor):
        if actor is None:
            pages = [session.sign_in_page()]
            if get_settings().signup_allowed:
                pages.append(
                    st.Page(
                        "pages/apply.py", title="Apply as a partner", icon=":material/how_to_reg:"
                    )
                )
            pages.append(SET_PASSWORD)
        else:
            pages = (
                with_messages(PARTNER_PAGES, PARTNER_MESSAGES, unread_messages)
                if actor.is_partner
                else with_messages(MANAGER_PAGES, MANAGER_MESSAGES, unread_messages)
            )
            if "token" in st.query_params:  # a reset link opened in a signed-in browser
                pages = [*pages, SET_PASSWORD]
            with st.sidebar:
                st.text(f"{actor.display_name}\n{actor.role.value}")
                if unread:
                    st.text(f"{unread} unread notification{'s' if unread != 1 else ''}")
                session.logout_button()
                phone.close_sidebar_after_navigation()
        tables.room_for_toolbars()
        # Every page listed: a manager has more than the ten Streamlit shows before "View more".
        page = st.navigation(pages, expanded=True)
        with (
            metrics.page_run(page.url_path or "home"),
            logs.bound(
                session=session.current_session_id(),
                user_id=actor.user_id if actor else None,
                page=page.url_path or "home",
            ),
        ):
            page.run()
memory.page_run_finished()
