"""One bad message, address or endpoint is its own failure and never stops the others: a
webhook endpoint that answers garbage or trickles its answer, a message no mail server can
take; webhooks and mail do not share one pass's fate; every delivery has a total deadline.
Webhook addresses are refused at registration unless they are plain https URLs to public
hosts, IPv6 forms that embed an IPv4 address included."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, update

from portal.accounts import password_links
from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.core.models import DeliveryStatus, MailStatus, OutboxMessage, User, WebhookDelivery
from portal.leads import leads
from portal.messaging import mail_sender, webhooks
from tests.factories import make_actor, make_lead, make_manager
from tests.mailbox import smtp_server


@contextmanager
def broken_server(answer: bytes, *, trickle: float = 0.0) -> Iterator[str]:
    """A loopback TCP server that reads a request and answers `answer` (a byte every `trickle`
    seconds when given), as a broken or hostile webhook endpoint would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            with client:
                client.settimeout(2)
                try:
                    client.recv(65536)
                    for byte in answer if trickle else [answer]:
                        if stop.is_set():
                            break
                        client.sendall(bytes([byte]) if trickle else answer)
                        time.sleep(trickle)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _queue_event_and_reset(engine, url: str) -> str:
    """A webhook delivery to `url` and a password reset mail, both due; the reset's address."""
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        webhooks.add_endpoint(session, actor=partner, url=url, events=["lead.status_changed"])
        lead = make_lead(session, partner)
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
        )
        password_links.request_reset(session, login=partner.username)
        return session.get(User, partner.user_id).email


def test_an_endpoint_answering_garbage_fails_alone_and_the_reset_mail_goes(
    engine, settings_override
):
    with smtp_server() as box, broken_server(b"HELLO\r\n\r\n") as url:
        settings_override(smtp_url=box.url, webhook_allow_private_targets=True)
        address = _queue_event_and_reset(engine, url)
        report = mail_sender.run_once(engine)
        assert report.sent >= 1
        assert any(message["Subject"] for message in box.to(address))
    with unit_of_work(engine) as session:
        delivery = session.scalar(select(WebhookDelivery))
        assert delivery.attempts == 1 and delivery.claimed_until is None
        assert delivery.status is DeliveryStatus.PENDING  # retried later, not stuck
        assert delivery.last_error == "The connection to the receiver broke off before it answered."


def test_an_endpoint_that_trickles_is_cut_at_the_deadline(engine, settings_override, monkeypatch):
    monkeypatch.setattr(webhooks, "DEADLINE_SECONDS", 1.5)
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 10)
    with broken_server(b"HTTP/1.1 200 OK\r\n" + b"X" * 100, trickle=0.4) as url:
        settings_override(webhook_allow_private_targets=True)
        _queue_event_and_reset(engine, url)
        started = time.monotonic()
        delivered, retried, dead = webhooks.deliver_due(engine)
        elapsed = time.monotonic() - started
    assert (delivered, retried, dead) == (0, 1, 0)
    assert elapsed < 5  # a per-read timeout alone would wait as long as bytes keep coming


def test_a_message_no_server_can_take_is_dead_and_the_others_go(engine, settings_override):
    with smtp_server() as box:
        settings_override(smtp_url=box.url)
        with unit_of_work(engine) as session:
            first = make_actor(session)
            second = make_actor(session)
            password_links.request_reset(session, login=first.username)
            password_links.request_reset(session, login=second.username)
            # An address stored before entry refused it: not ASCII before the @.
            bad = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == bad.id)
                .values(to_address="jürgen@juergen.example")
            )
            good = session.get(User, second.user_id).email
        report = mail_sender.deliver_due(engine)
        assert (report.sent, report.dead) == (1, 1)
        assert len(box.to(good)) == 1
    with unit_of_work(engine) as session:
        statuses = dict(session.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
    assert statuses[bad.id] is MailStatus.DEAD


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/a b",
        "https://hooks.example.com/a\r\nX-Evil: 1",
        "https://hooks.example.com/\x00",
        "https://hooks.example.com/ü",
        "https://hooks.example.com:99999/x",
        "https://[::1",
        "",
    ],
)
def test_a_webhook_url_that_is_not_one_plain_https_address_is_refused(engine, url):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        with pytest.raises(ValidationError) as refused:
            webhooks.add_endpoint(session, actor=partner, url=url, events=["payout.paid"])
    assert "url" in refused.value.errors


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 169.254.169.254 (cloud metadata)
        ("64:ff9b:1::a00:1", False),  # local-use NAT64 10.0.0.1
        ("2002:7f00:1::", False),  # 6to4 127.0.0.1
        ("::ffff:0:7f00:1", False),  # IPv4-translated 127.0.0.1
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("fec0::1", False),  # site-local
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("::808:808", False),  # IPv4-compatible, even of a public address: deprecated
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("2606:4700:4700::1111", True),
        ("93.184.216.34", True),
        ("100.64.0.1", False),  # carrier-grade NAT
    ],
)
def test_every_ipv6_form_that_embeds_ipv4_is_checked(address, allowed):
    assert (webhooks.address_problem(address) is None) is allowed
