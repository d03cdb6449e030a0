"""What an operator watches, in Prometheus's text format at `/metrics` (with the bearer token
PORTAL_METRICS_TOKEN; without one set, there is no such page).

Counters and histograms are this process's (each replica is scraped on its own); the
database's state — outbox depth and age, dead deliveries, active sessions, the schema —
is read at each scrape, so every replica reports the same program.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from portal.core.config import get_settings
from portal.core.db import get_engine, unit_of_work
from portal.core.models import (
    DeliveryStatus,
    MailStatus,
    OutboxMessage,
    UserSession,
    WebhookDelivery,
)
from portal.core.types import utc_now

REGISTRY = CollectorRegistry()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

PAGE_RUNS = Counter(
    "portal_page_runs", "Page runs, by page and outcome.", ["page", "outcome"], registry=REGISTRY
)
PAGE_SECONDS = Histogram(
    "portal_page_run_seconds",
    "How long a page run took, by page.",
    ["page"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "portal_api_requests",
    "API requests, by route template and status code.",
    ["route", "status"],
    registry=REGISTRY,
)
API_SECONDS = Histogram(
    "portal_api_request_seconds",
    "API request latency, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
SIGN_IN_FAILURES = Counter(
    "portal_sign_in_failures", "Refused sign-ins, by reason.", ["reason"], registry=REGISTRY
)
LOCKOUTS = Counter(
    "portal_lockouts",
    "Accounts or client addresses locked after too many failures, by what was locked.",
    ["what"],
    registry=REGISTRY,
)


@contextmanager
def page_run(page: str) -> Iterator[None]:
    """Count and time one page run; `outcome` is ok, stopped (st.stop), rerun or error."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException as raised:
        name = type(raised).__name__
        outcome = {"StopException": "stopped", "RerunException": "rerun"}.get(name, "error")
        raise
    finally:
        PAGE_RUNS.labels(page, outcome).inc()
        PAGE_SECONDS.labels(page).observe(time.perf_counter() - started)


class _ProgramState(Collector):
    """The database's state at the moment of the scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        now = utc_now()
        depth = GaugeMetricFamily(
            "portal_outbox_depth",
            "Messages waiting to be delivered, by channel.",
            labels=["channel"],
        )
        oldest = GaugeMetricFamily(
            "portal_outbox_oldest_seconds",
            "Age of the oldest message waiting, by channel.",
            labels=["channel"],
        )
        dead = GaugeMetricFamily(
            "portal_deliveries_dead",
            "Messages given up on after every attempt, by channel.",
            labels=["channel"],
        )
        sessions = GaugeMetricFamily(
            "portal_active_sessions", "Signed-in browser sessions not ended or idle too long."
        )
        pool = GaugeMetricFamily(
            "portal_db_pool_connections", "This process's database connections.", labels=["state"]
        )
        idle_since = now - timedelta(minutes=get_settings().session_idle_minutes)
        with unit_of_work(reads_only=True) as session:
            for channel, model, waiting, given_up in (
                ("mail", OutboxMessage, MailStatus.PENDING, MailStatus.DEAD),
                ("webhook", WebhookDelivery, DeliveryStatus.PENDING, DeliveryStatus.DEAD),
            ):
                count, first = session.execute(
                    select(func.count(), func.min(model.created_at)).where(model.status == waiting)
                ).one()
                depth.add_metric([channel], count)
                oldest.add_metric([channel], (now - first).total_seconds() if first else 0)
                dead.add_metric(
                    [channel],
                    session.scalar(select(func.count()).where(model.status == given_up)) or 0,
                )
            sessions.add_metric(
                [],
                session.scalar(
                    select(func.count())
                    .select_from(UserSession)
                    .where(
                        UserSession.revoked_at.is_(None),
                        UserSession.expires_at > now,
                        UserSession.last_seen_at >= idle_since,
                    )
                )
                or 0,
            )
        engine_pool = get_engine().pool
        for state, value in (
            ("in_use", getattr(engine_pool, "checkedout", lambda: 0)()),
            ("idle", getattr(engine_pool, "checkedin", lambda: 0)()),
            ("overflow", max(getattr(engine_pool, "overflow", lambda: 0)(), 0)),
        ):
            pool.add_metric([state], value)
        waits = CounterMetricFamily(
            "portal_db_pool_waits",
            "Checkouts that found every connection of this process's pool in use and waited.",
            value=getattr(engine_pool, "waits", 0),
        )
        waited = CounterMetricFamily(
            "portal_db_pool_wait_seconds",
            "Time those checkouts spent waiting for a connection.",
            value=getattr(engine_pool, "waited_seconds", 0.0),
        )
        yield from (depth, oldest, dead, sessions, pool, waits, waited)


REGISTRY.register(_ProgramState())


def authorised(header: str | None) -> bool:
    """Whether an Authorization header carries the metrics token (compared in constant
    time); never when no token is configured."""
    token = get_settings().metrics_token
    if not token or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())


def exposition() -> bytes:
    """Every metric, in Prometheus's text format."""
    return generate_latest(REGISTRY)
