"""The login cookie, written by the server: `HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS.

A Streamlit script cannot answer an HTTP request, so a page that signs someone in (or out)
draws a hidden image whose address carries a ticket: the ticket, encrypted and signed with a
key derived from `PORTAL_COOKIE_KEY` and valid for a few minutes, names the cookie to write
(or to clear), and the route below answers with the Set-Cookie. Script on the page can
neither read the cookie nor forge a ticket, and nothing reruns the page when the image
loads (a JavaScript cookie component reported back after every page load, and the rerun
it caused cut short whatever the user had just clicked).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

from portal.config import get_settings

ROUTE = "/auth/cookie"
TICKET_SECONDS = 300  # long enough for a slow page; a ticket seen in a log is soon useless
NO_STORE = {"Cache-Control": "no-store"}


def _cipher() -> Fernet:
    digest = hashlib.sha256(b"portal login-cookie ticket\0" + get_settings().cookie_key.encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def _image(order: dict[str, object]) -> str:
    ticket = _cipher().encrypt(json.dumps(order).encode()).decode()
    # Relative, so it resolves under whatever path the portal is served from.
    source = escape(f"{ROUTE.lstrip('/')}?ticket={quote(ticket)}")
    return f'<img hidden alt="" src="{source}">'


def writer(token: str, expires_at: datetime) -> str:
    """The hidden image that makes the browser store `token` as its login cookie."""
    return _image({"token": token, "expires": expires_at.timestamp()})


def eraser() -> str:
    """The hidden image that makes the browser forget its login cookie."""
    return _image({"clear": True})


async def endpoint(request: Request) -> Response:
    """Set or clear the login cookie as a valid ticket says; refuse anything else."""
    try:
        order = json.loads(
            _cipher().decrypt(request.query_params.get("ticket", "").encode(), ttl=TICKET_SECONDS)
        )
    except (InvalidToken, ValueError):
        return Response(status_code=400, headers=NO_STORE)
    settings = get_settings()
    secure = request.url.scheme == "https" or settings.cookie_secure
    response = Response(status_code=204, headers=NO_STORE)
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
