"""Sign-in, sign-out and sessions through the real Home.py (AppTest)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts import users
from portal.core.db import unit_of_work
from portal.core.models import PartnerStatus, UserSession
from portal.ui import session
from tests.apptest import app, page_as, shown, signed_in, texts
from tests.factories import PASSWORD, make_actor, make_manager

pytestmark = pytest.mark.slow

PARTNER_PAGES = [
    "pages/partner_dashboard.py",
    "pages/partner_leads.py",
    "pages/partner_commissions.py",
    "pages/partner_profile.py",
]
MANAGER_PAGES = [
    "pages/manager_overview.py",
    "pages/manager_partners.py",
    "pages/manager_leads.py",
    "pages/manager_payouts.py",
    "pages/manager_audit.py",
    "pages/manager_exports.py",
    "pages/manager_mail.py",
    "pages/manager_settings.py",
    "pages/account.py",
]


def _submit(test, username, password):
    test.text_input(key="login_username").input(username)
    test.text_input(key="login_password").input(password)
    return test.button(key=session.LOGIN_BUTTON).click().run()


def test_login_form_refuses_then_signs_in_and_shows_the_partner_pages(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = app().run()
    assert not test.exception
    assert test.text_input(key="login_username").label == "Username"
    test = _submit(test, partner.username, "wrong password")
    assert "Wrong username or password." in [shown(e) for e in test.error]
    test = _submit(test, partner.username, PASSWORD)
    test.run()
    assert not test.exception
    assert "Dashboard" in [t.value for t in test.title]
    assert test.session_state["authentication_status"] is True
    assert "login_password" not in test.session_state  # no password kept in memory


def test_five_failures_lock_the_account_in_the_form(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = app().run()
    for _ in range(5):
        test = _submit(test, partner.username, "wrong password")
    assert any("locked" in shown(e) for e in test.error)
    test = _submit(test, partner.username, PASSWORD)
    assert any("locked" in shown(e) for e in test.error)
    assert "Dashboard" not in [t.value for t in test.title]


def test_logout_ends_the_session_and_an_old_session_no_longer_counts(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = signed_in(partner)
    assert "Dashboard" in [t.value for t in test.title]
    # The button's callback asks Home.py to sign out on its next run. (AppTest runs a file
    # page directly after the first run, so a fresh run of Home.py stands in for it; the
    # browser journey clicks the real button.)
    next(button for button in test.button if button.label == "Sign out").click().run()
    assert test.session_state[session.LOGOUT_REQUESTED] is True
    test = signed_in(partner, logout_requested=True)
    assert "You are signed out." in texts(test)
    assert test.text_input(key="login_username") is not None
    with unit_of_work(app_database) as db:
        signed_out = db.scalar(
            select(UserSession.id).where(
                UserSession.user_id == partner.user_id, UserSession.revoked_at.is_not(None)
            )
        )
    assert signed_out is not None  # logout revoked that browser's session
    # A browser still holding the signed-out session is refused.
    old = app()
    old.session_state["authentication_status"] = True
    old.session_state["username"] = partner.username
    old.session_state[session.SESSION_ID] = signed_out
    old.run()
    assert "Your session has ended" in texts(old)
    assert "Dashboard" not in [t.value for t in old.title]


def test_deactivated_user_is_signed_out_at_the_next_interaction(app_database):
    with unit_of_work(app_database) as db:
        partner, manager = make_actor(db), make_manager(db)
    test = signed_in(partner)
    with unit_of_work(app_database) as db:
        users.set_active(db, actor=manager, user_id=partner.user_id, active=False)
    test.run()
    assert "Your session has ended" in texts(test)
    assert "Dashboard" not in [t.value for t in test.title]


def test_suspension_takes_effect_at_the_next_interaction(app_database):
    from portal.partners import partners

    with unit_of_work(app_database) as db:
        partner, manager = make_actor(db), make_manager(db)
    test = signed_in(partner)
    with unit_of_work(app_database) as db:
        partners.change_status(db, actor=manager, partner_id=partner.partner_id, action="suspend")
    test.run()
    assert any("suspended" in shown(w) for w in test.warning)


def test_each_role_gets_only_its_pages_and_pages_check_the_role(app_database):
    with unit_of_work(app_database) as db:
        partner, manager = make_actor(db), make_manager(db)
    partner_home = signed_in(partner)
    assert [t.value for t in partner_home.title] == ["Dashboard"]
    manager_home = signed_in(manager)
    assert [t.value for t in manager_home.title] == ["Program overview"]
    for page in MANAGER_PAGES:
        refused = page_as(partner, page)
        assert "This page is for managers." in texts(refused), page
        assert not refused.exception
    for page in PARTNER_PAGES:
        assert "This page is for partners." in texts(page_as(manager, page)), page
        assert "Please sign in to see this page." in texts(page_as(None, page)), page


def test_apply_makes_a_pending_partner(app_database):
    test = page_as(None, "pages/apply.py")
    fields = {t.label: t for t in test.text_input}
    fields["Company name"].input("Brand New Co")
    fields["Company email"].input("hello@brandnew.example")
    fields["Your name"].input("Bea New")
    fields["Your email"].input("bea@brandnew.example")
    fields["Username"].input("bea")
    fields["Password"].input(PASSWORD)
    fields["Repeat the password"].input(PASSWORD)
    test.button[0].click().run()
    assert any("application is in" in shown(s) for s in test.success)
    with unit_of_work(app_database) as db:
        actor = users.authenticate(db, username="bea", password=PASSWORD).actor
    assert actor is not None and actor.partner_status is PartnerStatus.PENDING


def test_apply_refusal_names_the_fields(app_database):
    test = page_as(None, "pages/apply.py")
    fields = {t.label: t for t in test.text_input}
    fields["Company email"].input("not an email")
    fields["Password"].input("short")
    fields["Repeat the password"].input("short")
    test.button[0].click().run()
    errors = [shown(e) for e in test.error]
    assert "Company name is required." in errors
    assert any(e.startswith("Company email") for e in errors)
    assert any(e.startswith("Password") for e in errors)
    assert not any(":" in e.split(" ")[0] for e in errors)  # no "Label:" before a message
    fields = {t.label: t for t in test.text_input}
    assert fields["Company email"].value == "not an email"  # kept to correct
    fields["Repeat the password"].input("other")
    test.button[0].click().run()
    errors = [shown(e) for e in test.error]
    # Every problem at once: the differing repetition beside the bad e-mail and password.
    assert "Repeat the password: the two passwords differ." in errors
    assert any(e.startswith("Company email") for e in errors)
    assert any(e.startswith("Password must be at least") for e in errors)


def test_an_unreachable_database_gives_a_friendly_message(monkeypatch):
    from portal.core import config

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    config.get_settings.cache_clear()
    try:
        test = app().run()
        assert not test.exception  # signing in needs no database until the form is sent
        test = _submit(test, "someone", "some password or other")
    finally:
        monkeypatch.undo()
        config.get_settings.cache_clear()
    assert not test.exception
    assert "cannot reach its database" in texts(test)
