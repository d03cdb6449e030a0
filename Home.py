"""Entry point: sign-in, then each role's pages through st.navigation."""

from __future__ import annotations

import streamlit as st

from portal.core import logs, metrics
from portal.core.access import Actor, one_action
from portal.core.actions import Session
from portal.core.config import get_settings
from portal.messaging import notifications
from portal.ui import memory, phone, run_slots, session, tables
from portal.ui.feedback import database_guard, read

st.set_page_config(page_title="Partner Portal", page_icon="🤝", layout="wide")

PARTNER_PAGES = [
    st.Page(
        "pages/partner_dashboard.py", title="Dashboard", icon=":material/dashboard:", default=True
    ),
    st.Page("pages/partner_leads.py", title="Leads", icon=":material/list_alt:"),
    st.Page("pages/partner_commissions.py", title="Commissions", icon=":material/payments:"),
    st.Page("pages/partner_profile.py", title="Profile", icon=":material/person:"),
]
MANAGER_PAGES = [
    st.Page(
        "pages/manager_overview.py",
        title="Program overview",
        icon=":material/monitoring:",
        default=True,
    ),
    st.Page("pages/manager_partners.py", title="Partners", icon=":material/apartment:"),
    st.Page("pages/manager_leads.py", title="All leads", icon=":material/list_alt:"),
    st.Page("pages/manager_payouts.py", title="Payouts", icon=":material/account_balance:"),
    st.Page("pages/manager_tax_forms.py", title="Tax forms", icon=":material/description:"),
    st.Page("pages/manager_audit.py", title="Audit log", icon=":material/manage_search:"),
    st.Page("pages/manager_exports.py", title="Exports", icon=":material/download:"),
    st.Page("pages/manager_mail.py", title="Mail", icon=":material/mail:"),
    st.Page("pages/manager_settings.py", title="Program settings", icon=":material/tune:"),
    st.Page("pages/account.py", title="Account", icon=":material/person:"),
]
SET_PASSWORD = st.Page("pages/set_password.py", title="Set a password", icon=":material/key:")

with run_slots.slot(), database_guard():
    # Who is signed in, and what they have unread: read on every run.
    def _signed_in(db: Session) -> tuple[Actor | None, int]:
        actor = session.current_actor(db)
        with one_action(actor):
            return actor, notifications.unread_count(db, actor=actor) if actor else 0

    actor, unread = read(_signed_in)
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
            pages = PARTNER_PAGES if actor.is_partner else MANAGER_PAGES
            if "token" in st.query_params:  # a reset link opened in a signed-in browser
                pages = [*pages, SET_PASSWORD]
            with st.sidebar:
                st.text(f"{actor.display_name}\n{actor.role.value}")
                if unread:
                    st.text(f"{unread} unread notification{'s' if unread != 1 else ''}")
                session.logout_button()
                phone.close_sidebar_after_navigation()
        tables.room_for_toolbars()
        page = st.navigation(pages)
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
