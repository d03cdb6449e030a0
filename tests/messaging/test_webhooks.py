"""Webhooks: queued with the change, signed, posted to a loopback receiver (the private-target
check relaxed by the test-only setting), retried, dead after the attempts, replayable."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, ValidationError
from portal.core.models import (
    DeliveryStatus,
    Notification,
    OutboxMessage,
    Partner,
    PartnerProfile,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.core.types import utc_now
from portal.leads import leads
from portal.messaging import webhooks
from tests.factories import make_actor, make_converted_lead, make_lead, make_manager


@dataclass
class Receiver:
    url: str = ""
    answers: list[int] = field(default_factory=list)  # statuses to give, then 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.received.append((dict(self.headers.items()), body))
            status = box.answers.pop(0) if box.answers else 200
            self.send_response(status)
            if status == 302:
                self.send_header("Location", box.url + "/elsewhere")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()


@pytest.fixture
def loopback(settings_override):
    return settings_override(webhook_allow_private_targets=True, mail_retry_seconds=60)


def test_private_and_plain_targets_are_refused():
    assert webhooks.target_problem("http://hooks.example.com/x") == "URL must start with https://."
    for url in (
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://localhost/x",
    ):
        assert webhooks.target_problem(url) is not None, url
    assert webhooks.target_problem("https://user:pw@93.184.216.34/x") is not None
    assert webhooks.target_problem("https://93.184.216.34/hooks") is None


def test_registration_checks_the_url_and_events_and_shows_the_secret_once(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        with pytest.raises(ValidationError) as refused:
            webhooks.add_endpoint(
                session, actor=partner, url="https://10.0.0.1/x", events=["lead.nope"]
            )
        assert set(refused.value.errors) == {"url", "events"}
        view, secret = webhooks.add_endpoint(
            session, actor=partner, url="https://93.184.216.34/hooks", events=["payout.paid"]
        )
        stored = session.get(WebhookEndpoint, view.id)
        assert secret.startswith("whsec_") and secret not in stored.secret_encrypted
        assert view.events == ("payout.paid",)


def _endpoint(engine, partner, url: str, events: list[str]) -> str:
    with unit_of_work(engine) as session:
        _, secret = webhooks.add_endpoint(session, actor=partner, url=url, events=events)
    return secret


def test_events_are_queued_with_the_change_and_delivered_signed(engine, loopback, receiver):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
    secret = _endpoint(engine, partner, receiver.url, ["lead.status_changed", "commission.earned"])
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        lead = make_lead(session, partner)
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
        )
        raise RuntimeError("rolled back")
    with unit_of_work(engine) as session:
        assert session.scalars(select(WebhookDelivery)).all() == []
        converted = make_converted_lead(session, manager, partner)
    assert webhooks.deliver_due(engine) == (3, 0, 0)  # qualified; converted + earned
    events = [json.loads(body) for _, body in receiver.received]
    assert [event["type"] for event in events] == [
        "lead.status_changed",
        "lead.status_changed",
        "commission.earned",
    ]
    assert events[-1]["data"]["lead_id"] == converted.id
    for headers, body in receiver.received:
        stamp = headers["Portal-Signature"].split(",")[0].removeprefix("t=")
        expected = hmac.new(secret.encode(), f"{stamp}.{body.decode()}".encode(), hashlib.sha256)
        assert headers["Portal-Signature"] == f"t={stamp},v1={expected.hexdigest()}"
        assert headers["Portal-Event"] == json.loads(body)["type"]
    assert webhooks.deliver_due(engine) == (0, 0, 0)  # once


def test_failures_are_retried_with_backoff_then_dead(engine, settings_override, receiver):
    settings_override(webhook_allow_private_targets=True, mail_max_attempts=3)
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
    _endpoint(engine, partner, receiver.url, ["lead.status_changed"])
    with unit_of_work(engine) as session:
        lead = make_lead(session, partner)
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
        )
    receiver.answers = [500, 302, 503]
    assert webhooks.deliver_due(engine) == (0, 1, 0)
    with unit_of_work(engine) as session:
        row = session.scalars(select(WebhookDelivery)).one()
        assert (row.attempts, row.last_status_code, row.last_error) == (
            1,
            500,
            "The receiver answered HTTP 500 (Internal Server Error); only a 2xx answer counts "
            "as delivered.",
        )
        assert row.next_attempt_at > utc_now() + timedelta(seconds=50)
    for expected in [(0, 1, 0), (0, 0, 1)]:
        with unit_of_work(engine) as session:
            session.execute(update(WebhookDelivery).values(next_attempt_at=utc_now()))
        assert webhooks.deliver_due(engine) == expected
    with unit_of_work(engine) as session:
        row = session.scalars(select(WebhookDelivery)).one()
        assert row.status is DeliveryStatus.DEAD and row.last_status_code == 503
    assert len(receiver.received) == 3  # the redirect was not followed


def test_a_delivery_is_replayed_and_access_is_the_owners(engine, loopback, receiver):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        other = make_actor(session)
    _endpoint(engine, partner, receiver.url, ["lead.status_changed"])
    with unit_of_work(engine) as session:
        lead = make_lead(session, partner)
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
        )
    webhooks.deliver_due(engine)
    with unit_of_work(engine) as session:
        (endpoint,) = webhooks.list_endpoints(session, actor=partner)
        (delivery,) = webhooks.list_deliveries(session, actor=partner, endpoint_id=endpoint.id)
        assert delivery.status is DeliveryStatus.SENT and delivery.last_status_code == 200
        assert webhooks.list_endpoints(session, actor=other) == []
        with pytest.raises(NotFound):
            webhooks.list_deliveries(session, actor=other, endpoint_id=endpoint.id)
        with pytest.raises(NotFound):
            webhooks.replay(session, actor=other, delivery_id=delivery.id)
        webhooks.replay(session, actor=partner, delivery_id=delivery.id)
    webhooks.deliver_due(engine)
    first, second = (json.loads(body)["id"] for _, body in receiver.received)
    assert first == second  # the same event, so the receiver can tell a replay
    with unit_of_work(engine) as session:
        webhooks.disable_endpoint(session, actor=partner, endpoint_id=endpoint.id)
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="qualified", expected_version=2
        )
        assert len(session.scalars(select(WebhookDelivery)).all()) == 1  # none for disabled


def test_a_move_tells_the_users_who_asked_and_the_live_endpoints_subscribed(engine, loopback):
    """A status change mails the users who asked and tells the live endpoints subscribed to
    its event: not a disabled endpoint, nor one subscribed to other events."""
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        colleague = make_actor(session, partner=session.get(Partner, partner.partner_id))
        session.execute(update(PartnerProfile).values(email_notifications=True))
    _endpoint(engine, partner, "https://hooks.example/moves", ["lead.status_changed"])
    _endpoint(engine, partner, "https://hooks.example/money", ["commission.earned"])
    with unit_of_work(engine) as session:
        gone = webhooks.add_endpoint(
            session, actor=partner, url="https://hooks.example/gone", events=["lead.status_changed"]
        )[0]
        webhooks.disable_endpoint(session, actor=partner, endpoint_id=gone.id)
        lead = make_lead(session, partner)
    with unit_of_work(engine) as session:
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
        )
    with unit_of_work(engine) as session:
        deliveries = session.execute(
            select(WebhookEndpoint.url, WebhookDelivery.event).join(
                WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id
            )
        ).all()
        assert deliveries == [("https://hooks.example/moves", "lead.status_changed")]
        mailed = session.scalars(
            select(OutboxMessage.user_id).where(OutboxMessage.kind == "event")
        ).all()
        assert sorted(mailed) == sorted([partner.user_id, colleague.user_id])
        notified = session.scalars(select(Notification.user_id)).all()
        assert sorted(notified) == sorted([partner.user_id, colleague.user_id])


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (
            ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed"),
            "The receiver's HTTPS certificate could not be verified",
        ),
        (TimeoutError("timed out"), "did not answer within 15 seconds"),
        (ConnectionRefusedError(111, "Connection refused"), "refused the connection"),
        (socket.gaierror(-2, "Name or service not known"), "host name could not be found"),
        (http.client.BadStatusLine("x"), "broke off before it answered"),
    ],
)
def test_a_failed_delivery_says_why_in_words(failure, words):
    said = webhooks.failure_words(failure)
    assert words in said and "Error" not in said and "[SSL" not in said
