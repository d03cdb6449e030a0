"""The login cookie's route: only a sealed, fresh ticket writes or clears the cookie, and the
cookie it writes is out of reach of script and of other sites."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import unquote

import pytest
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.ui import login_cookie


@pytest.fixture
def client():
    app = Starlette(routes=[Route(login_cookie.ROUTE, login_cookie.endpoint)])
    return TestClient(app, base_url="http://portal.test")


def _ticket(image: str) -> str:
    return unquote(unescape(image).split("ticket=", 1)[1].split('"', 1)[0])


def test_a_writer_ticket_sets_an_httponly_strict_cookie(client):
    expires = datetime.now(UTC) + timedelta(days=7)
    image = login_cookie.writer("the-token", expires)
    assert image.startswith("<img hidden") and "the-token" not in image  # sealed, not shown
    answer = client.get(login_cookie.ROUTE, params={"ticket": _ticket(image)})
    assert answer.status_code == 204
    assert answer.headers["cache-control"] == "no-store"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("partner_portal_auth=the-token;")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "expires", "samesite"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP here, and PORTAL_COOKIE_SECURE is off


def test_over_https_or_when_configured_the_cookie_is_secure(client, settings_override):
    image = login_cookie.writer("t", datetime.now(UTC) + timedelta(days=1))
    https = TestClient(client.app, base_url="https://portal.test")
    assert (
        "secure"
        in https.get(login_cookie.ROUTE, params={"ticket": _ticket(image)})
        .headers["set-cookie"]
        .lower()
    )
    settings_override(cookie_secure=True)
    answer = client.get(login_cookie.ROUTE, params={"ticket": _ticket(image)})
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
    image = login_cookie.writer("t", datetime.now(UTC) + timedelta(days=1))
    settings_override(cookie_key="another key " * 6)
    assert client.get(login_cookie.ROUTE, params={"ticket": _ticket(image)}).status_code == 400
