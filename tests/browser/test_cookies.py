"""The login cookie in a real browser: only a cookie signed with the configured key counts."""

from __future__ import annotations

import base64
import os
from datetime import datetime, timedelta

import jwt
from playwright.sync_api import expect

from portal.core.db import get_engine, unit_of_work
from tests.browser.conftest import login_cookie, settle, sign_in, wait_for_cookie
from tests.factories import PASSWORD, make_actor


def _visit_with(browser, server, token: str):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_cookies([{"name": "partner_portal_auth", "value": token, "url": server.url}])
    page = context.new_page()
    page.goto(server.url)
    settle(page)
    return context, page


def test_a_cookie_signed_with_another_key_is_refused(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        partner = make_actor(db, username="cookie.victim")
    expires = (datetime.now() + timedelta(days=1)).timestamp()
    forged = jwt.encode(
        {"username": partner.username, "exp_date": expires},
        "not the configured key at all, not at all",
        algorithm="HS256",
    )
    context, page = _visit_with(browser, server, forged)
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    assert page.get_by_role("heading", name="Dashboard").count() == 0
    context.close()

    # Even signed with the configured key, a cookie this portal never issued (no recorded
    # session) signs nobody in: knowing the key is no longer enough to mint a login.
    minted = jwt.encode(
        {"username": partner.username, "exp_date": expires},
        os.environ["PORTAL_COOKIE_KEY"],
        algorithm="HS256",
    )
    context, page = _visit_with(browser, server, minted)
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    assert page.get_by_role("heading", name="Dashboard").count() == 0
    context.close()


def test_a_session_survives_a_reload_and_a_copied_cookie_dies_with_the_logout(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        partner = make_actor(db, username="cookie.copied")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, server.url, partner.username, PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    cookie = login_cookie(page)
    assert cookie is not None
    # Written by the server: out of reach of script on the page, never sent cross-site.
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert page.evaluate("document.cookie").count("partner_portal_auth") == 0
    page.reload()
    settle(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    copied = cookie["value"]
    page.get_by_role("button", name="Sign out", exact=True).click()
    settle(page)
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    context.close()
    context, page = _visit_with(browser, server, copied)
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    assert page.get_by_role("heading", name="Dashboard").count() == 0
    context.close()


def _unsigned(claims: str) -> str:
    """A token with `alg: none` and no signature."""

    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    header = part('{"alg": "none", "typ": "JWT"}')
    return f"{header}.{part(claims)}."


def test_a_malformed_cookie_is_discarded_and_the_sign_in_page_shown(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        partner = make_actor(db, username="cookie.garbled")
    key = os.environ["PORTAL_COOKIE_KEY"]
    expires = (datetime.now() + timedelta(days=1)).timestamp()
    malformed = {
        "alg none": _unsigned(f'{{"username": "{partner.username}", "exp_date": {expires}}}'),
        "HS512": jwt.encode(
            {"username": partner.username, "exp_date": expires}, key, algorithm="HS512"
        ),
        "garbage": "not.a.token",
        "no expiry": jwt.encode({"username": partner.username}, key, algorithm="HS256"),
        "text expiry": jwt.encode(
            {"username": partner.username, "exp_date": "tomorrow"}, key, algorithm="HS256"
        ),
    }
    for name, token in malformed.items():
        context, page = _visit_with(browser, server, token)
        expect(page.get_by_label("Username", exact=True)).to_be_visible()
        assert page.locator('[data-testid="stException"]').count() == 0, name
        assert page.get_by_role("heading", name="Dashboard").count() == 0, name
        # The bad cookie is gone, so the next visit is a clean sign-in page too.
        wait_for_cookie(page)
        assert login_cookie(page) is None, name
        context.close()


def test_a_login_clicked_the_moment_the_form_appears_signs_in_and_sticks(server, browser):
    """The login cookie's JavaScript component reported once after each page load, and that
    reran the page: a Login click that landed in that rerun was lost (the form came back) or
    signed in without the cookie ever being written (a reload signed the user out). Typing
    and clicking as soon as the form is there, several times over, signs in and survives a
    reload."""
    with unit_of_work(get_engine(server.database_url)) as db:
        partner = make_actor(db, username="cookie.hasty")
    for attempt in range(4):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.goto(server.url)
        page.get_by_label("Username", exact=True).fill(partner.username)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("heading", name="Dashboard"), f"try {attempt}").to_be_visible()
        wait_for_cookie(page)
        assert login_cookie(page) is not None, f"try {attempt}"
        page.reload()
        expect(page.get_by_role("heading", name="Dashboard"), f"try {attempt}").to_be_visible()
        context.close()


def test_a_ticket_planted_in_another_browser_signs_nobody_in(server, browser):
    """Login CSRF: an attacker signs in, copies the cookie ticket the page drew, and sends a
    victim to it. The victim's browser is not the attacker's: nothing is written, and the
    attacker's own replay of the ticket writes nothing either."""
    with unit_of_work(get_engine(server.database_url)) as db:
        attacker = make_actor(db, username="ticket.attacker")
    mine = browser.new_context(viewport={"width": 1200, "height": 900})
    page = mine.new_page()
    sign_in(page, server.url, attacker.username, PASSWORD)
    source = page.locator('img[src*="auth/cookie"]').first.get_attribute("src")
    assert source is not None and login_cookie(page) is not None
    planted = f"{server.url}/{source.lstrip('/')}"
    replay = page.request.get(planted)
    assert replay.status == 400  # used once already

    victim = browser.new_context(viewport={"width": 1200, "height": 900})
    victim_page = victim.new_page()
    victim_page.goto(server.url)  # the victim has used the portal: it holds its own binding
    settle(victim_page)
    answer = victim_page.goto(planted)
    assert answer is not None and answer.status == 400
    assert login_cookie(victim_page) is None
    victim_page.goto(server.url)
    settle(victim_page)
    expect(victim_page.get_by_label("Username", exact=True)).to_be_visible()
    mine.close()
    victim.close()
