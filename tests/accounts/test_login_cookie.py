"""The login cookie's route: only a sealed, fresh ticket of this browser writes or clears the
cookie, once, for a same-origin request; the cookie it writes is out of reach of script and of
other sites. A ticket planted in another browser (login CSRF) writes nothing."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import unquote

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.accounts import users
from portal.core.db import unit_of_work
from portal.core.models import UserSession
from portal.core.types import utc_now
from portal.ui import login_cookie
from tests.factories import make_actor


def _app() -> Starlette:
    return Starlette(
        routes=[
            Route(login_cookie.ROUTE, login_cookie.endpoint),
            Route("/", lambda request: PlainTextResponse("page")),
        ],
        middleware=[Middleware(login_cookie.BrowserBinding)],
    )


def _browser(base_url: str = "http://portal.test") -> TestClient:
    """A browser that opened the portal's page, so it holds its binding cookie."""
    browser = TestClient(_app(), base_url=base_url)
    browser.get("/")
    assert browser.cookies.get(login_cookie.BROWSER_COOKIE)
    return browser


@pytest.fixture
def client(app_database) -> TestClient:
    return _browser()


def _session_token(engine) -> str:
    token = secrets.token_urlsafe(16)
    with unit_of_work(engine) as session:
        user = make_actor(session)
        users.open_session(
            session, user_id=user.user_id, token=token, expires_at=utc_now() + timedelta(days=1)
        )
    return token


def _writer(browser: TestClient, token: str) -> str:
    """The ticket the page of `browser` would draw for `token`."""
    image = login_cookie.writer(
        token,
        datetime.now(UTC) + timedelta(days=7),
        browser=browser.cookies.get(login_cookie.BROWSER_COOKIE),
    )
    return _ticket(image)


def _ticket(image: str) -> str:
    return unquote(unescape(image).split("ticket=", 1)[1].split('"', 1)[0])


def test_a_writer_ticket_sets_an_httponly_strict_cookie_once(client, app_database):
    token = _session_token(app_database)
    ticket = _writer(client, token)
    assert token not in ticket  # sealed, not shown
    answer = client.get(login_cookie.ROUTE, params={"ticket": ticket})
    assert answer.status_code == 204
    assert answer.headers["cache-control"] == "no-store"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"partner_portal_auth={token};")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "expires", "samesite"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP here, and PORTAL_COOKIE_SECURE is off
    # Replayed, the same ticket writes nothing.
    again = client.get(login_cookie.ROUTE, params={"ticket": ticket})
    assert again.status_code == 400 and "set-cookie" not in again.headers


def test_a_ticket_planted_in_another_browser_writes_nothing(app_database):
    attacker, victim = _browser(), _browser()
    ticket = _writer(attacker, _session_token(app_database))
    answer = victim.get(login_cookie.ROUTE, params={"ticket": ticket})
    assert answer.status_code == 400 and "set-cookie" not in answer.headers
    fresh = TestClient(_app(), base_url="http://portal.test")  # no binding cookie at all
    assert fresh.get(login_cookie.ROUTE, params={"ticket": ticket}).status_code == 400


@pytest.mark.parametrize("site", ["cross-site", "same-site", "none"])
def test_a_ticket_followed_from_a_link_or_typed_writes_nothing(client, app_database, site):
    ticket = _writer(client, _session_token(app_database))
    answer = client.get(
        login_cookie.ROUTE, params={"ticket": ticket}, headers={"Sec-Fetch-Site": site}
    )
    assert answer.status_code == 400 and "set-cookie" not in answer.headers
    same_origin = {"Sec-Fetch-Site": "same-origin"}
    assert (
        client.get(login_cookie.ROUTE, params={"ticket": ticket}, headers=same_origin).status_code
        == 204
    )


def test_a_ticket_of_an_ended_session_writes_nothing(client, app_database):
    token = _session_token(app_database)
    with unit_of_work(app_database) as session:
        session.execute(update(UserSession).values(revoked_at=utc_now()))
    answer = client.get(login_cookie.ROUTE, params={"ticket": _writer(client, token)})
    assert answer.status_code == 400


def test_over_https_or_when_configured_the_cookie_is_secure(app_database, settings_override):
    https = _browser("https://portal.test")
    answer = https.get(
        login_cookie.ROUTE, params={"ticket": _writer(https, _session_token(app_database))}
    )
    assert "secure" in answer.headers["set-cookie"].lower()
    settings_override(cookie_secure=True)
    plain = _browser()
    answer = plain.get(
        login_cookie.ROUTE, params={"ticket": _writer(plain, _session_token(app_database))}
    )
    assert "secure" in answer.headers["set-cookie"].lower()


def test_an_eraser_ticket_clears_the_cookie(client):
    answer = client.get(login_cookie.ROUTE, params={"ticket": _ticket(login_cookie.eraser())})
    assert answer.status_code == 204
    assert answer.headers["set-cookie"].startswith('partner_portal_auth="";')
    assert "max-age=0" in answer.headers["set-cookie"].lower()


def test_forged_stale_or_missing_tickets_write_nothing(client, settings_override):
    key_of_another_portal = base64.urlsafe_b64encode(b"k" * 32)
    forged = Fernet(key_of_another_portal).encrypt(json.dumps({"token": "mine"}).encode())
    old = login_cookie._cipher().encrypt_at_time(
        json.dumps({"token": "old", "expires": 2e9}).encode(),
        int(datetime.now(UTC).timestamp()) - login_cookie.TICKET_SECONDS - 5,
    )
    for ticket in (forged.decode(), old.decode(), "", "not a ticket", "%00" * 10):
        answer = client.get(login_cookie.ROUTE, params={"ticket": ticket})
        assert answer.status_code == 400, ticket
        assert "set-cookie" not in answer.headers, ticket
    assert client.get(login_cookie.ROUTE).status_code == 400
    # A ticket sealed under another cookie key (say, before a key rotation) is refused too.
    ticket = _writer(client, "t")
    settings_override(cookie_key="another key " * 6)
    assert client.get(login_cookie.ROUTE, params={"ticket": ticket}).status_code == 400


def test_every_browser_gets_one_binding_cookie_out_of_script_reach():
    browser = TestClient(_app(), base_url="http://portal.test")
    first = browser.get("/")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{login_cookie.BROWSER_COOKIE}=")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "set-cookie" not in browser.get("/").headers  # kept, not replaced
