"""What an operator reads: `/ready` (database reachable and at this code's schema), `/metrics`
(Prometheus text behind a bearer token, read back with Prometheus's own parser) and logs as
JSON lines."""

from __future__ import annotations

import io
import json
import logging
import sqlite3

import pytest
import sqlalchemy.exc
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.accounts import users
from portal.core import audit, config, logs, metrics, migrate
from portal.core.db import CountedPool, get_engine, unit_of_work
from portal.core.models import OutboxMessage
from portal.ui import ops
from tests.conftest import create_sqlite_database
from tests.factories import PASSWORD, make_actor, make_manager

TOKEN = "s3cret-metrics-token-for-tests"


def _client() -> TestClient:
    return TestClient(
        Starlette(routes=[Route(ops.READY, ops.ready), Route(ops.METRICS, ops.metrics_page)])
    )


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_ready_when_the_database_answers_at_this_codes_schema(app_database):
    answer = _client().get(ops.READY)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "schema": migrate.head_revision()}


def test_not_ready_behind_the_schema_or_without_a_database(tmp_path, monkeypatch):
    behind = create_sqlite_database(tmp_path)
    migrate.upgrade(get_engine(behind), revision="0019")
    monkeypatch.setenv("DATABASE_URL", behind)
    config.get_settings.cache_clear()
    answer = _client().get(ops.READY)
    assert answer.status_code == 503
    assert "schema at 0019" in answer.json()["reason"]
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    config.get_settings.cache_clear()
    answer = _client().get(ops.READY)
    assert (answer.status_code, answer.json()["reason"]) == (503, "database unreachable")
    config.get_settings.cache_clear()


def test_metrics_need_the_token_and_report_the_program(app_database, settings_override):
    client = _client()
    assert client.get(ops.METRICS).status_code == 404  # no token configured: no such page
    settings_override(metrics_token=TOKEN)
    assert client.get(ops.METRICS).status_code == 401
    wrong = client.get(ops.METRICS, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    with unit_of_work(app_database) as session:
        manager, partner = make_manager(session), make_actor(session)
        session.add(
            OutboxMessage(
                kind="test",
                to_address="a@b.example",
                subject="Hello",
                body_text="Hi",
                body_html="<p>Hi</p>",
                message_id="<ops-test@portal>",
            )
        )
        failures = metrics.SIGN_IN_FAILURES.labels("wrong_password")._value.get()
        users.authenticate(session, username=partner.username, password="not it")
        users.authenticate(session, username=manager.username, password=PASSWORD)
    with metrics.page_run("partner_leads"):
        pass
    with pytest.raises(RuntimeError), metrics.page_run("partner_leads"):
        raise RuntimeError("a page that failed")
    answer = client.get(ops.METRICS, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(answer.text)
    assert samples[("portal_outbox_depth", (("channel", "mail"),))] >= 1
    assert samples[("portal_outbox_oldest_seconds", (("channel", "mail"),))] >= 0
    assert ("portal_deliveries_dead", (("channel", "webhook"),)) in samples
    assert samples[("portal_active_sessions", ())] >= 0
    assert samples[("portal_sign_in_failures_total", (("reason", "wrong_password"),))] == (
        failures + 1
    )
    runs = {
        outcome: samples[
            ("portal_page_runs_total", (("outcome", outcome), ("page", "partner_leads")))
        ]
        for outcome in ("ok", "error")
    }
    assert runs["ok"] >= 1 and runs["error"] >= 1
    assert samples[("portal_page_run_seconds_count", (("page", "partner_leads"),))] >= 2
    assert ("portal_db_pool_connections", (("state", "in_use"),)) in samples
    assert samples[("portal_db_pool_waits_total", ())] == get_engine().pool.waits


def test_the_pool_counts_checkouts_that_waited_for_a_connection(tmp_path):
    pool = CountedPool(
        lambda: sqlite3.connect(tmp_path / "pool.db"), pool_size=1, max_overflow=0, timeout=0.05
    )
    held = pool.connect()
    assert (pool.waits, pool.waited_seconds) == (0, 0.0)  # the first found one free
    with pytest.raises(sqlalchemy.exc.TimeoutError):
        pool.connect()  # every connection in use: it waits its timeout, then gives up
    assert pool.waits == 1 and pool.waited_seconds >= 0.05
    held.close()
    pool.connect().close()
    assert pool.waits == 1


@pytest.fixture
def portal_logger():
    """The `portal` logger as it was before the test configured it (caplog tests need it
    propagating)."""
    logger = logging.getLogger("portal")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield logger
    logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]


def test_logs_are_json_lines_with_what_they_concern_and_no_secrets(
    engine, settings_override, portal_logger
):
    settings_override(log_format="json")
    logs.configure()
    sink = io.StringIO()
    handler = logging.getLogger("portal").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(sink)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        with logs.bound(session=41, user_id=partner.user_id, page="partner_profile"):
            users.authenticate(session, username=partner.username, password=PASSWORD)
            audit.record_by(session, partner, "profile.update", "profile", partner.partner_id)
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [line["action"] for line in lines] == ["login.succeeded", "profile.update"]
    for line in lines:
        assert {"time", "level", "logger", "message", "session", "user_id", "page"} <= line.keys()
        assert line["time"].endswith("+00:00") and line["level"] == "INFO"
        assert (line["session"], line["user_id"]) == (41, partner.user_id)
    assert PASSWORD not in sink.getvalue()
