"""The web server: Streamlit's ASGI app serving Home.py and its pages, with security headers.

Run it with `streamlit run portal/ui/server.py` (what `make run` does) or any ASGI server
(`uvicorn portal.ui.server:app`). One process, one port; later routes (the JSON API) mount
here too.
"""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit.runtime.pages_manager import PagesManager

from portal.api.app import api
from portal.core import config, logs
from portal.core.config import PROJECT_ROOT
from portal.messaging import mail_sender
from portal.ui import login_cookie, memory, ops, unsubscribe

# Streamlit's own front end needs inline styles (emotion), its websocket, data:/blob: images
# and same-origin frames (components, downloads). Nothing from another origin may load:
# no third-party image, script, font or frame, and no other site may frame the portal.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",  # CSP 3: 'self' is the page's own origin over ws:/wss: too
        "frame-src 'self' blob: data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",  # its own component frames; no other site
    )
)
API_ROOT = "/api/v1"
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


class SecurityHeaders:
    """Add the security headers to every HTTP response (the websocket has none to add)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def navigation_from_home_only() -> None:
    """Make Home.py's `st.navigation` the only navigation from the process's first run on.
    Streamlit takes a `pages/` folder beside the entry point for its older multipage mode
    until some run calls `st.navigation`: a link to a page opened first after a start ran
    that page on its own, without Home.py (no sign-in from the cookie, a sidebar listing
    every page file) until someone opened the home page. (A class attribute of Streamlit's,
    set here as `st.navigation` itself sets it.)"""
    PagesManager.uses_pages_directory = False


def links_to_where_this_serves() -> None:
    """Links in mail start with the address and port this process serves on when
    PORTAL_PUBLIC_URL is not set (`PORT=8611 make run` gets links to port 8611)."""
    host = st.get_option("browser.serverAddress") or "localhost"
    config.serve_at(f"http://{host}:{st.get_option('browser.serverPort')}")


logs.configure()
navigation_from_home_only()
links_to_where_this_serves()
app = st.App(
    str(PROJECT_ROOT / "Home.py"),
    routes=[
        Route(login_cookie.ROUTE, login_cookie.endpoint, methods=["GET"]),
        Route(unsubscribe.ROUTE, unsubscribe.endpoint, methods=["GET", "POST"]),
        Route(ops.READY, ops.ready, methods=["GET"]),
        Route(ops.METRICS, ops.metrics_page, methods=["GET"]),
        Mount(API_ROOT, app=api),
    ],
    middleware=[Middleware(SecurityHeaders), Middleware(login_cookie.BrowserBinding)],
)
# `make run` alone delivers: the sender is a thread of this process (PORTAL_MAIL_SENDER_THREAD).
mail_sender.start_thread()
memory.freeze_start_up_objects()
