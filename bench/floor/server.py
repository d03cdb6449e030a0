"""The web floor's server: the portal's own entry point and pages, with every action
(`actions.run`) answered from memory after its first time (`bench/floor/replay.py`). Started by
`bench/web_load.py` as `streamlit run bench/floor/server.py`; not for users."""

from __future__ import annotations

import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.floor import replay

replay.install()

from portal.core.config import PROJECT_ROOT  # noqa: E402
from portal.ui import login_cookie, memory  # noqa: E402
from portal.ui.server import SecurityHeaders  # noqa: E402


async def misses(_request: Request) -> JSONResponse:
    """How many actions were not answered from memory (the harness reads it)."""
    return JSONResponse(replay.MISSES)


app = st.App(
    str(PROJECT_ROOT / "Home.py"),
    routes=[
        Route(login_cookie.ROUTE, login_cookie.endpoint, methods=["GET"]),
        Route("/floor/misses", misses, methods=["GET"]),
    ],
    middleware=[Middleware(SecurityHeaders)],
)
memory.freeze_start_up_objects()  # as the portal's server does
