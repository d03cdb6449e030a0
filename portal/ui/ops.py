"""The operator's endpoints beside the app: `/ready` (for a load balancer's health check:
200 only when the database answers and its schema is the one this code runs) and `/metrics`
(Prometheus, behind a bearer token). `/_stcore/health` stays Streamlit's liveness check."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.core import metrics, migrate
from portal.core.config import get_settings
from portal.core.db import get_engine

READY = "/ready"
METRICS = "/metrics"


def ready(_: Request) -> JSONResponse:
    """Starlette runs this plain function in its thread pool: the database call blocks."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
            schema = migrate.current_revision(connection)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "reason": "database unreachable"}, 503)
    head = migrate.head_revision()
    if schema != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": f"database schema at {schema}; this code runs {head} "
                "(python -m portal db upgrade)",
            },
            503,
        )
    return JSONResponse({"status": "ready", "schema": schema})


def metrics_page(request: Request) -> Response:
    if not get_settings().metrics_token:
        return Response("Not found", 404, media_type="text/plain")
    if not metrics.authorised(request.headers.get("authorization")):
        return Response(
            "The metrics need the bearer token (PORTAL_METRICS_TOKEN).",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            media_type="text/plain",
        )
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
