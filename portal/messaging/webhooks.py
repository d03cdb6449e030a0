"""Webhooks: a partner's own system told about its events, signed, retried, logged.

A delivery is written in the unit of work of the change (like mail), so a rolled-back change
tells no one. The sender posts it as JSON with `Portal-Signature: t=<unix time>,v1=<hex>`,
the HMAC-SHA256 of `<t>.<body>` under the endpoint's secret (shown once, kept encrypted).
Private, loopback and link-local targets are refused when an endpoint is registered and
again before each delivery (a name may resolve elsewhere later); only
`PORTAL_WEBHOOK_ALLOW_PRIVATE_TARGETS` (tests, local development; refused in production)
lifts that. Redirects are not followed.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.orm import Session

from portal.core import audit, crypto, db
from portal.core.access import Actor, refresh, require_active_partner_or_manager, scoped_partner_id
from portal.core.config import get_settings
from portal.core.db import get_engine, unit_of_work
from portal.core.errors import NotFound, ValidationError
from portal.core.models import (
    DeliveryStatus,
    EventType,
    NotificationKind,
    Partner,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.core.pagination import check_limit
from portal.core.types import utc_now
from portal.core.validation import FieldErrors
from portal.messaging import outbox

EVENTS = {
    EventType.LEAD_STATUS_CHANGED: "A lead changed status",
    EventType.COMMISSION_EARNED: "A conversion earned a commission",
    EventType.COMMISSION_VOIDED: "A conversion was reversed (commission voided or clawed back)",
    EventType.PAYOUT_SCHEDULED: "A payout was scheduled",
    EventType.PAYOUT_PAID: "A payout was paid",
    EventType.PAYOUT_FAILED: "A payout failed or was canceled",
    EventType.MESSAGE_CREATED: "A message was written in one of the partner's conversations",
}


def event_words(event: str) -> str:
    """An event's code in words (`payout.paid` → "A payout was paid")."""
    try:
        return EVENTS[EventType(event)]
    except ValueError:
        return event


# The in-app notification kinds, and the events each one is.
KIND_EVENTS: dict[NotificationKind, tuple[EventType, ...]] = {
    NotificationKind.LEAD_STATUS: (EventType.LEAD_STATUS_CHANGED,),
    NotificationKind.COMMISSION_EARNED: (
        EventType.LEAD_STATUS_CHANGED,
        EventType.COMMISSION_EARNED,
    ),
    NotificationKind.COMMISSION_REVERSED: (
        EventType.LEAD_STATUS_CHANGED,
        EventType.COMMISSION_VOIDED,
    ),
    NotificationKind.PAYOUT_SCHEDULED: (EventType.PAYOUT_SCHEDULED,),
    NotificationKind.PAYOUT_PAID: (EventType.PAYOUT_PAID,),
    NotificationKind.PAYOUT_FAILED: (EventType.PAYOUT_FAILED,),
    NotificationKind.PAYOUT_CANCELED: (EventType.PAYOUT_FAILED,),
    NotificationKind.MESSAGE: (EventType.MESSAGE_CREATED,),
}
MAX_ENDPOINTS = 10
TIMEOUT_SECONDS = 10
MAX_ERROR = 500


@dataclass(frozen=True)
class EndpointView:
    id: int
    partner_id: int
    url: str
    events: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    endpoint_id: int
    event: str
    event_id: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime


def _endpoint_view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        row.id, row.partner_id, row.url, tuple(row.events), row.created_at, row.disabled_at
    )


def _delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event=row.event,
        event_id=row.event_id,
        status=row.status,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        next_attempt_at=row.next_attempt_at,
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped (::ffff:0:0/96), translated
    (::ffff:0:0:0/96), compatible (::/96), NAT64 (64:ff9b::/96 and 64:ff9b:1::/48), 6to4
    (2002::/16) and Teredo (its server and client)."""
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found += list(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for network in _CARRY_IPV4_IN_LOW_BITS:
        if ip in network:
            found.append(low32)
    return found


_CARRY_IPV4_IN_LOW_BITS = tuple(
    ipaddress.IPv6Network(net)
    for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def address_problem(address: str) -> str | None:
    """Why a resolved address may not receive webhooks: not a public address, or an IPv6 one
    that embeds a private IPv4 address, or a site-local one (deprecated, still routed inside
    some networks)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else []
    if not ip.is_global or any(not v4.is_global for v4 in inner):
        return "URL points to a private, loopback or reserved address."
    if isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or (inner and ip in _SIX)):
        return "URL points to a private, loopback or reserved address."
    return None


_SIX = ipaddress.IPv6Network("::/96")  # IPv4-compatible: deprecated, never a real host


def target_problem(url: str) -> str | None:
    """Why a URL may not receive webhooks, or None when it may: an absolute https URL of
    printable ASCII (no space, control or NUL; percent-encode anything else), with a host and
    no credentials, whose every address is public."""
    if not isinstance(url, str) or not url:
        return "URL must start with https://."
    if any(not 0x21 <= ord(c) <= 0x7E for c in url):
        return (
            "URL must be one plain web address: no spaces, line breaks or other control "
            "characters (percent-encode anything outside ASCII)."
        )
    allow_private = get_settings().webhook_allow_private_targets
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        return "URL is not a valid address (check its port)."
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        return "URL must start with https://."
    if not parts.hostname or parts.username or parts.password:
        return "URL must name a host (and no user or password)."
    if allow_private:
        return None
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    except (OSError, ValueError, UnicodeError):
        return "URL's host cannot be resolved."
    for address in addresses:
        problem = address_problem(str(address))
        if problem:
            return problem
    return None


def _own_endpoint(session: Session, actor: Actor, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or (actor.is_partner and endpoint.partner_id != actor.partner_id):
        raise NotFound("Webhook not found.")
    return endpoint


def add_endpoint(
    session: Session,
    *,
    actor: Actor,
    url: str,
    events: Sequence[str],
    partner_id: int | None = None,
) -> tuple[EndpointView, str]:
    """Register a URL for some events; the signing secret is returned this once only."""
    actor = require_active_partner_or_manager(session, actor)
    owner = scoped_partner_id(actor, partner_id)
    errors = FieldErrors()
    if owner is None or session.get(Partner, owner) is None:
        errors.add("partner_id", "Choose the partner whose events are sent.")
    clean_url = (url or "").strip()
    problem = target_problem(clean_url) if len(clean_url) <= 500 else "URL is too long."
    if problem:
        errors.add("url", problem)
    chosen = sorted(set(events or []))
    unknown = [event for event in chosen if event not in EVENTS]
    if not chosen or unknown:
        errors.add("events", f"Choose one or more of: {', '.join(EVENTS)}.")
    count = session.scalar(
        select(WebhookEndpoint.id)
        .where(WebhookEndpoint.partner_id == owner, WebhookEndpoint.disabled_at.is_(None))
        .offset(MAX_ENDPOINTS - 1)
        .limit(1)
    )
    if count is not None:
        errors.add("url", f"At most {MAX_ENDPOINTS} webhooks: disable one first.")
    errors.raise_if_any()
    assert owner is not None
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    endpoint = WebhookEndpoint(
        partner_id=owner,
        url=clean_url,
        events=chosen,
        secret_encrypted=crypto.encrypt(secret),
        created_by=actor.user_id,
    )
    session.add(endpoint)
    session.flush()
    audit.record_by(
        session,
        actor,
        "webhook.add",
        "webhook",
        endpoint.id,
        after={"url": clean_url, "events": ",".join(chosen)},
    )
    return _endpoint_view(endpoint), secret


def list_endpoints(
    session: Session, *, actor: Actor, partner_id: int | None = None
) -> list[EndpointView]:
    """A partner's webhooks (its own, for a partner)."""
    actor = refresh(session, actor)
    owner = scoped_partner_id(actor, partner_id)
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())
    if owner is not None:
        query = query.where(WebhookEndpoint.partner_id == owner)
    return [_endpoint_view(row) for row in session.scalars(query.limit(100))]


def disable_endpoint(session: Session, *, actor: Actor, endpoint_id: int) -> EndpointView:
    """Stop sending to a webhook (its log stays)."""
    actor = require_active_partner_or_manager(session, actor)
    endpoint = _own_endpoint(session, actor, endpoint_id)
    if endpoint.disabled_at is None:
        endpoint.disabled_at = utc_now()
        audit.record_by(session, actor, "webhook.disable", "webhook", endpoint.id)
    return _endpoint_view(endpoint)


def list_deliveries(
    session: Session, *, actor: Actor, endpoint_id: int, limit: int = 50
) -> list[DeliveryView]:
    """The delivery log of one webhook, newest first."""
    actor = refresh(session, actor)
    check_limit(limit)
    endpoint = _own_endpoint(session, actor, endpoint_id)
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [_delivery_view(row) for row in rows]


def replay(session: Session, *, actor: Actor, delivery_id: int) -> DeliveryView:
    """Send a delivery again (same event id and body: the receiver can tell it)."""
    actor = require_active_partner_or_manager(session, actor)
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise NotFound("Delivery not found.")
    endpoint = _own_endpoint(session, actor, delivery.endpoint_id)
    if endpoint.disabled_at is not None:
        raise ValidationError({"endpoint": "This webhook is disabled."})
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utc_now()
    delivery.claimed_until = None
    audit.record_by(session, actor, "webhook.replay", "webhook_delivery", delivery.id)
    return _delivery_view(delivery)


def queue_event(
    session: Session,
    *,
    endpoints: Sequence[tuple[int, list[str]]],
    partner_id: int,
    kind: NotificationKind,
    data: dict[str, Any],
) -> None:
    """Queue the events an in-app notification kind stands for, to each of the partner's live
    endpoints (`LIVE_ENDPOINTS`' id and events, read by the caller) subscribed to them."""
    events = KIND_EVENTS.get(kind, ())
    if not endpoints or not events:
        return
    now = utc_now()
    deliveries = []
    for event in events:
        event_id = f"evt_{uuid.uuid4().hex}"
        body = json.dumps(
            {
                "id": event_id,
                "type": event,
                "created_at": now.isoformat(),
                "data": {"partner_id": partner_id, **data},
            },
            sort_keys=True,
        )
        deliveries += [
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event": event,
                "body": body,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "created_at": now,
            }
            for endpoint_id, subscribed in endpoints
            if event in subscribed
        ]
    if deliveries:
        db.connection(session).execute(insert(WebhookDelivery), deliveries)


# A partner's live endpoints, for `partner_id`.
LIVE_ENDPOINTS = select(WebhookEndpoint.id, WebhookEndpoint.events).where(
    WebhookEndpoint.partner_id == bindparam("partner_id"), WebhookEndpoint.disabled_at.is_(None)
)


def live_endpoints(session: Session, partner_id: int) -> list[tuple[int, list[str]]]:
    """The partner's endpoints that are not disabled, with the events each takes."""
    rows = db.connection(session).execute(LIVE_ENDPOINTS, {"partner_id": partner_id})
    return [(endpoint_id, list(events)) for endpoint_id, events in rows]


def signature(secret: str, timestamp: int, body: str) -> str:
    """The `Portal-Signature` header a receiver recomputes to trust a delivery."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _post(url: str, secret: str, delivery: WebhookDelivery) -> int:
    """Post one delivery and return the HTTP status. No redirect is followed (a 3xx is an
    answer: a failure). The whole exchange has DEADLINE_SECONDS: a server that trickles its
    answer a byte at a time is cut off then, not held to a per-read timeout."""
    parts = urlsplit(url)
    stamp = int(time.time())
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=TIMEOUT_SECONDS, context=_TLS
        )
        if parts.scheme == "https"
        else http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT_SECONDS)
    )
    deadline = threading.Timer(DEADLINE_SECONDS, _cut, args=(connection,))
    deadline.start()
    try:
        connection.request(
            "POST",
            urlunsplit(("", "", parts.path or "/", parts.query, "")),
            body=delivery.body.encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": "PartnerPortal-Webhooks/1",
                "Portal-Event": delivery.event,
                "Portal-Delivery": delivery.event_id,
                "Portal-Signature": signature(secret, stamp, delivery.body),
            },
        )
        status: int = connection.getresponse().status
        return status
    finally:
        deadline.cancel()
        connection.close()


_TLS = ssl.create_default_context()
DEADLINE_SECONDS = 15


def _cut(connection: http.client.HTTPConnection) -> None:
    """Unblock a read that waits past the deadline (closing alone does not wake it)."""
    if connection.sock is not None:
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)


def deliver_due(engine: Engine | None = None) -> tuple[int, int, int]:
    """Post what is due; (delivered, retried, dead)."""
    engine = engine or get_engine()
    counts = [0, 0, 0]
    while ids := outbox.claim_due(engine, WebhookDelivery, utc_now()):
        for delivery_id in ids:
            counts[_deliver(engine, delivery_id)] += 1
    return counts[0], counts[1], counts[2]


def failure_words(failed: Exception) -> str:
    """Why a delivery did not reach the receiver, as its owner can act on it."""
    if isinstance(failed, ssl.SSLCertVerificationError):
        return (
            "The receiver's HTTPS certificate could not be verified "
            f"({getattr(failed, 'verify_message', None) or 'not trusted'}): it needs a "
            "certificate from a public authority that matches its host name."
        )
    if isinstance(failed, ssl.SSLError):
        return "The secure connection to the receiver failed; check its HTTPS set-up."
    if isinstance(failed, TimeoutError):
        return f"The receiver did not answer within {DEADLINE_SECONDS} seconds."
    if isinstance(failed, ConnectionRefusedError):
        return "The receiver refused the connection: nothing listens at that address and port."
    if isinstance(failed, socket.gaierror):
        return "The receiver's host name could not be found."
    if isinstance(failed, (ConnectionError, http.client.HTTPException)):
        return "The connection to the receiver broke off before it answered."
    if isinstance(failed, OSError):
        return f"The receiver could not be reached ({failed.strerror or failed})."
    return "The delivery failed before the receiver answered."


def answer_words(code: int) -> str:
    """A receiver's answer that is not a success, in words."""
    try:
        phrase = f" ({http.HTTPStatus(code).phrase})"
    except ValueError:
        phrase = ""
    return f"The receiver answered HTTP {code}{phrase}; only a 2xx answer counts as delivered."


def _deliver(engine: Engine, delivery_id: int) -> int:
    with unit_of_work(engine) as session:
        delivery = session.get_one(WebhookDelivery, delivery_id)
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        url, secret = endpoint.url, crypto.decrypt(endpoint.secret_encrypted)
        disabled = endpoint.disabled_at is not None
        session.expunge(delivery)
    code: int | None = None
    error = "The webhook is disabled." if disabled else target_problem(url)
    if error is None:
        try:
            code = _post(url, secret, delivery)
        except Exception as failed:
            error = failure_words(failed)
        else:
            if not 200 <= code < 300:
                error = answer_words(code)
    with unit_of_work(engine) as session:
        row = session.get_one(WebhookDelivery, delivery_id, with_for_update=True)
        row.attempts += 1
        row.claimed_until = None
        row.last_status_code = code
        if error is None:
            row.status, row.delivered_at, row.last_error = DeliveryStatus.SENT, utc_now(), ""
            return 0
        row.last_error = error[:MAX_ERROR]
        if disabled or row.attempts >= get_settings().mail_max_attempts:
            row.status = DeliveryStatus.DEAD
            return 2
        row.next_attempt_at = utc_now() + outbox.retry_delay(row.attempts)
        return 1
