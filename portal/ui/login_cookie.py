"""The login cookie, written by the server: `HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS.

A Streamlit script cannot answer an HTTP request, so a page that signs someone in (or out)
draws a hidden image whose address carries a ticket: the ticket, encrypted and signed with a
key derived from `PORTAL_COOKIE_KEY`, names the cookie to write (or to clear), and the route
below answers with the Set-Cookie. Script on the page can neither read the cookie nor forge a
ticket, and nothing reruns the page when the image loads (a JavaScript cookie component
reported back after every page load, and the rerun it caused cut short whatever the user had
just clicked).

A ticket cannot be planted in another browser (login CSRF: a victim sent to the attacker's
own ticket would work inside the attacker's account). It is bound to the browser that asked
for it: every response gives a browser, once, a random `HttpOnly` `SameSite=Strict` cookie
(`BrowserBinding`), the ticket carries that cookie's hash, and the route writes nothing
unless the request brings the same cookie. It writes a session's cookie once only, within
a minute, and only for a same-origin request (`Sec-Fetch-Site`): never for a link followed
from elsewhere or typed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.core.config import get_settings

ROUTE = "/auth/cookie"
TICKET_SECONDS = 60  # the image loads as the page draws; a ticket seen in a log is useless
NO_STORE = {"Cache-Control": "no-store"}
BROWSER_COOKIE = "portal_browser"


def _cipher() -> Fernet:
    digest = hashlib.sha256(b"portal login-cookie ticket\0" + get_settings().cookie_key.encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def _image(order: dict[str, object]) -> str:
    ticket = _cipher().encrypt(json.dumps(order).encode()).decode()
    # Relative, so it resolves under whatever path the portal is served from.
    source = escape(f"{ROUTE.lstrip('/')}?ticket={quote(ticket)}")
    return f'<img hidden alt="" src="{source}">'


def _bound(browser: str) -> str:
    return hashlib.sha256(b"portal browser\0" + browser.encode()).hexdigest()


def writer(token: str, expires_at: datetime, *, browser: str) -> str:
    """The hidden image that makes this browser (its binding cookie's value) store `token`
    as its login cookie."""
    return _image({"token": token, "expires": expires_at.timestamp(), "browser": _bound(browser)})


def eraser() -> str:
    """The hidden image that makes the browser forget its login cookie."""
    return _image({"clear": True})


async def endpoint(request: Request) -> Response:
    """Set or clear the login cookie as a valid ticket says; refuse anything else."""
    refused = Response(
        "This sign-in ticket is not valid here: sign in on the portal's page.",
        status_code=400,
        headers=NO_STORE,
        media_type="text/plain",
    )
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return refused  # a link from another site, or typed in: never a sign-in
    try:
        order = json.loads(
            _cipher().decrypt(request.query_params.get("ticket", "").encode(), ttl=TICKET_SECONDS)
        )
    except (InvalidToken, ValueError):
        return refused
    settings = get_settings()
    secure = request.url.scheme == "https" or settings.cookie_secure
    response = Response(status_code=204, headers=NO_STORE)
    if not order.get("clear"):
        browser = request.cookies.get(BROWSER_COOKIE, "")
        if not browser or not hmac.compare_digest(_bound(browser), str(order.get("browser"))):
            return refused  # another browser's ticket
        if not await run_in_threadpool(_claim, str(order["token"])):
            return refused  # used already, or its session ended
    if order.get("clear"):
        response.delete_cookie(
            settings.cookie_name, path="/", secure=secure, httponly=True, samesite="strict"
        )
        return response
    expires = datetime.fromtimestamp(float(order["expires"]), UTC)
    response.set_cookie(
        settings.cookie_name,
        str(order["token"]),
        expires=expires,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return response


def _claim(token: str) -> bool:
    from portal.accounts import users
    from portal.core import actions

    return actions.run(lambda session: users.claim_cookie_ticket(session, token=token))


class BrowserBinding:
    """Give every browser, once, the random cookie that login tickets are bound to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or BROWSER_COOKIE in Request(scope).cookies:
            await self.app(scope, receive, send)
            return
        value = secrets.token_urlsafe(32)
        secure = scope.get("scheme") == "https" or get_settings().cookie_secure
        # The value is URL-safe base64: nothing in it needs quoting.
        attributes = (
            f"{BROWSER_COOKIE}={value}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict"
        )
        header = (b"set-cookie", (attributes + ("; Secure" if secure else "")).encode())

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, with_cookie)
