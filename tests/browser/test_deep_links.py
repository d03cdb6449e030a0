"""A link to a page, opened in a fresh browser as the first request after the app starts:
Streamlit takes the `pages/` folder beside Home.py for its older multipage mode until the
process first runs Home.py, and then ran the linked page on its own (no sign-in, a sidebar
listing every page file). Each case therefore starts an app of its own."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.accounts import users
from portal.core.db import get_engine, unit_of_work
from tests.browser.conftest import Browser, migrate_database, run_app, settle
from tests.factories import make_actor

# Each link's text starts with its icon's name (a font ligature).
PARTNER_LINKS = [
    re.compile(f"{name}$")
    for name in ("Dashboard", "Leads", "Commissions", "Messages", "Resources", "Profile")
]


def _fresh_app_database(folder: Path) -> str:
    database_url = f"sqlite:///{folder / 'portal.db'}"
    migrate_database(database_url, folder)
    return database_url


def test_a_signed_in_partner_lands_on_the_linked_page(browser: Browser, tmp_path: Path):
    database_url = _fresh_app_database(tmp_path)
    token = secrets.token_urlsafe(32)
    with unit_of_work(get_engine(database_url)) as db:  # signed in earlier, in another visit
        partner = make_actor(db, username="deep.link")
        users.open_session(
            db,
            user_id=partner.user_id,
            token=token,
            expires_at=datetime.now(UTC) + timedelta(days=1),
            client_address=None,
            user_agent=None,
        )
    with run_app(tmp_path, database_url) as app:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.add_cookies([{"name": "partner_portal_auth", "value": token, "url": app.url}])
        page = context.new_page()
        page.goto(f"{app.url}/partner_leads")
        settle(page)
        expect(page.get_by_role("heading", name="Leads", exact=True)).to_be_visible()
        links = page.get_by_test_id("stSidebarNavLink")
        expect(links).to_have_text(PARTNER_LINKS)
        context.close()


@pytest.mark.parametrize("path", ["manager_payouts", "partner_leads"])
def test_a_signed_out_visitor_is_asked_to_sign_in(browser: Browser, tmp_path: Path, path: str):
    database_url = _fresh_app_database(tmp_path)
    with run_app(tmp_path, database_url) as app:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.goto(f"{app.url}/{path}")
        settle(page)
        expect(page.get_by_label("Username", exact=True)).to_be_visible()
        assert "manager" not in page.get_by_test_id("stSidebar").inner_text().lower()
        context.close()
