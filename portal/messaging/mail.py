"""E-mail: messages rendered from templates into the outbox, in the caller's unit of work.

A message is a row of `outbox_messages` written in the same transaction as the change that
causes it, so a rolled-back change sends nothing and a committed one is never lost;
`portal.messaging.mail_sender` delivers the rows. Templates are Jinja2 files under
`mail_templates/`:
`<kind>.txt` holds the subject block and the plain-text body, `<kind>.html` the HTML body,
autoescaped (user text in it stays text). Every link starts with the configured public URL.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import markupsafe
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import ColumnElement, Select, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from portal.core import audit, db
from portal.core.access import Actor, require_manager
from portal.core.config import get_settings, public_url
from portal.core.crypto import decrypt, encrypt
from portal.core.db import rows_changed
from portal.core.errors import NotFound, ValidationError
from portal.core.models import (
    MailStatus,
    NotificationKind,
    OutboxMessage,
    Partner,
    PartnerProfile,
    User,
)
from portal.core.pagination import Page, before, check_limit, page_of
from portal.core.types import utc_now

TEMPLATES = Path(__file__).parent / "mail_templates"

# What a recipient can stop with one click, and the profile switch each one turns off.
TOPICS = {
    "events": ("email_notifications", "e-mails about your leads, commissions and payouts"),
    "monthly": ("monthly_reports", "the monthly statement"),
    "announcements": ("announcement_emails", "announcements from the program"),
}
# Partner events that may be e-mailed (the in-app notification kinds), and their subjects.
EVENT_SUBJECTS: dict[NotificationKind, str] = {
    NotificationKind.LEAD_STATUS: "A lead moved",
    NotificationKind.COMMISSION_EARNED: "You earned a commission",
    NotificationKind.COMMISSION_REVERSED: "A conversion was reversed",
    NotificationKind.LEAD_REASSIGNED: "A lead was reassigned",
    NotificationKind.PAYOUT_SCHEDULED: "A payout is scheduled",
    NotificationKind.PAYOUT_PAID: "A payout was paid",
    NotificationKind.PAYOUT_FAILED: "A payout failed",
    NotificationKind.PAYOUT_CANCELED: "A payout was canceled",
    NotificationKind.TAX_FORM: "Your tax form was reviewed",
    NotificationKind.MESSAGE: "A message from the program",
}


@dataclass(frozen=True)
class Recipient:
    user_id: int | None
    address: str
    name: str


@dataclass(frozen=True)
class Attachment:
    file_name: str
    content: bytes  # text/csv, UTF-8


@lru_cache(maxsize=1)
def _environments() -> tuple[Environment, Environment]:
    text = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,  # noqa: S701 - plain-text bodies and subjects, never HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    html = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
    )
    return text, html


def one_line(text: str, limit: int) -> str:
    """A header value: every run of whitespace, CR, LF and Unicode line separators included,
    becomes one space, and `=?` is broken up so no part of it reads as an RFC 2047 encoded
    word. Some Pythons (3.11 before 3.11.10, CVE-2024-6923) write an encoded word that decodes
    to CR/LF back out as a line break: another header, another body."""
    return " ".join(str(text).split()).replace("=?", "= ?")[:limit]


_SPECIALS = str.maketrans(dict.fromkeys('()<>[]:;@\\,."', " "))


def display_name(text: str) -> str:
    """A recipient's name as one plain phrase: no RFC 5322 special (`:`, `@`, `<`, `,`, …)
    survives, so however a Python folds or quotes it, it can only ever be a name (3.11.7
    writes a phrase with specials unquoted, and a `:` then starts a group)."""
    return one_line(one_line(text, 400).translate(_SPECIALS), 200)


def _unsubscribe_key() -> bytes:
    return hashlib.sha256(b"portal unsubscribe\0" + get_settings().cookie_key.encode()).digest()


def _signature(user_id: int, topic: str) -> str:
    message = f"{user_id}:{topic}".encode()
    return hmac.new(_unsubscribe_key(), message, hashlib.sha256).hexdigest()


def unsubscribe_url(user_id: int, topic: str) -> str:
    """A link that turns off one topic for the user's company, without signing in."""
    query = urlencode({"u": user_id, "topic": topic, "sig": _signature(user_id, topic)})
    return f"{link_base()}/mail/unsubscribe?{query}"


# What a stored message shows where its live link goes.
HIDDEN_LINK = "[link hidden]"


def moment_words(moment: datetime) -> str:
    """A time as mail says it: `01 Dec 2026 08:30 UTC`."""
    return moment.strftime("%d %b %Y %H:%M UTC")


def link_base() -> str:
    return public_url()


def enqueue(
    session: Session,
    *,
    recipient: Recipient,
    kind: str,
    context: dict[str, Any],
    topic: str | None = None,
    held: bool = False,
    dedupe_key: str | None = None,
    attachment: Attachment | None = None,
    secret_link: str | None = None,
) -> None:
    """Render one message and add it to the outbox of this unit of work. A `secret_link` (a
    live password link) is rendered as `[link hidden]` and kept encrypted apart: it is put in
    only when the message is handed to the SMTP server, and dropped once it was sent."""
    settings = get_settings()
    now = utc_now()
    if topic is not None and topic not in TOPICS:
        raise ValueError(f"unknown mail topic {topic!r}")
    unsubscribe = (
        unsubscribe_url(recipient.user_id, topic)
        if topic is not None and recipient.user_id is not None
        else None
    )
    values = {
        "program": settings.program_name,
        "portal_url": link_base(),
        "name": one_line(recipient.name, 200),
        "unsubscribe_url": unsubscribe,
        "topic_words": TOPICS[topic][1] if topic else "",
        **context,
        **({"link": HIDDEN_LINK} if secret_link is not None else {}),
    }
    text_env, html_env = _environments()
    text_template = text_env.get_template(f"{kind}.txt")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(values)))
    db.connection(session).execute(
        _INSERT_MESSAGE,
        {
            "dedupe_key": dedupe_key,
            "user_id": recipient.user_id,
            "kind": kind,
            "to_address": recipient.address,
            "to_name": display_name(recipient.name),
            "subject": one_line(subject, 300),
            "body_text": text_template.render(values),
            "body_html": html_env.get_template(f"{kind}.html").render(values),
            "message_id": make_msgid(domain=_sender_domain()),
            "list_unsubscribe": unsubscribe,
            "attachment_name": attachment.file_name if attachment else None,
            "attachment": attachment.content if attachment else None,
            "secret_encrypted": encrypt(secret_link) if secret_link is not None else None,
            "status": MailStatus.HELD if held else MailStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "created_at": now,
        },
    )


# Built once: a status change writes mail on its hot path (docs/performance.md).
_INSERT_MESSAGE = insert(OutboxMessage)


def _sender_domain() -> str:
    address = _sender().addr_spec
    return address.rpartition("@")[2] or "localhost"


def _sender() -> Address:
    return _parsed_sender(get_settings().mail_from)


@lru_cache(maxsize=4)
def _parsed_sender(mail_from: str) -> Address:
    header = HeaderRegistry()("From", mail_from)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    return addresses[0]  # the settings accept exactly one address


def as_email(row: OutboxMessage) -> EmailMessage:
    """The message as it goes over SMTP. `email.message` writes every header, so a name or
    subject cannot add one (CR/LF were folded to spaces when the row was made), and quotes
    and non-ASCII are encoded as the RFCs say."""
    message = EmailMessage()
    message["From"] = _sender()
    # Made safe again here: rows written before a fix to `one_line` go out safe too.
    message["To"] = Address(display_name=display_name(row.to_name), addr_spec=row.to_address)
    message["Subject"] = one_line(row.subject, 300)
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = row.message_id
    if row.list_unsubscribe:
        message["List-Unsubscribe"] = f"<{row.list_unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    text, page = row.body_text, row.body_html
    if row.secret_encrypted is not None:
        link = decrypt(row.secret_encrypted)
        text = text.replace(HIDDEN_LINK, link)
        page = page.replace(HIDDEN_LINK, str(markupsafe.escape(link)))
    message.set_content(text)
    message.add_alternative(page, subtype="html")
    if row.attachment is not None and row.attachment_name:
        message.add_attachment(
            row.attachment, maintype="text", subtype="csv", filename=row.attachment_name
        )
    return message


def partner_recipients(
    session: Session, partner_id: int, *, topic: str | None = None
) -> list[tuple[Recipient, bool]]:
    """The active users of a partner company as recipients, with whether each takes a daily
    digest; with a topic, only when the company's profile has that topic switched on."""
    rows = db.connection(session).execute(_RECIPIENTS[topic], {"partner_id": partner_id})
    return [
        (Recipient(user_id, email, name), bool(digest)) for user_id, email, name, digest in rows
    ]


def _active_recipients(topic: str | None) -> Select[int, str, str, bool]:
    """Active partner users' id, address, name and digest choice; with a topic, only those
    whose company's profile has it switched on."""
    query = (
        select(User.id, User.email, User.display_name, PartnerProfile.email_digest)
        .join(PartnerProfile, PartnerProfile.partner_id == User.partner_id)
        .where(User.is_active)
    )
    if topic is not None:
        query = query.where(getattr(PartnerProfile, TOPICS[topic][0]).is_(True))
    return query


def recipients_query(topic: str | None) -> Select[int, str, str, bool]:
    """The recipients' id, address, name and digest choice (unordered), for `partner_id`."""
    return _active_recipients(topic).where(User.partner_id == bindparam("partner_id"))


def audience_recipients(
    session: Session, partners: ColumnElement[bool], *, topic: str
) -> list[Recipient]:
    """The recipients of every partner matching `partners` (a condition on Partner), in one
    read: for a message to many partners at once."""
    rows = session.execute(
        _active_recipients(topic)
        .join(Partner, Partner.id == User.partner_id)
        .where(partners)
        .order_by(User.id)
    )
    return [Recipient(user_id, email, name) for user_id, email, name, _ in rows]


_RECIPIENTS = {topic: recipients_query(topic).order_by(User.id) for topic in (None, *TOPICS)}


def mail_partner_event(
    session: Session,
    *,
    recipients: Sequence[tuple[Recipient, bool]],
    kind: NotificationKind,
    message: str,
    lead_id: int | None,
) -> None:
    """E-mail an in-app notification to the partner's users who want event mail (the
    `recipients_query("events")`, read by the caller): at once, or held for the next daily
    digest."""
    subject = EVENT_SUBJECTS.get(kind)
    if subject is None:
        return
    link = f"{link_base()}/partner_leads" + (f"?lead={lead_id}" if lead_id else "")
    if kind.startswith(("payout", "commission")):
        link = f"{link_base()}/partner_commissions"
    elif kind == NotificationKind.MESSAGE:
        link = f"{link_base()}/partner_messages" + (f"?lead={lead_id}" if lead_id else "")
    for recipient, digest in recipients:
        enqueue(
            session,
            recipient=recipient,
            kind="event",
            context={"title": subject, "message": message, "link": link, "event": kind},
            topic="events",
            held=digest,
        )


def mail_partner(
    session: Session, *, partner_id: int, kind: str, context: dict[str, Any] | None = None
) -> None:
    """An account message (not a topic one can leave) to every active user of a partner."""
    for recipient, _ in partner_recipients(session, partner_id):
        enqueue(session, recipient=recipient, kind=kind, context=context or {})


def unsubscribe(session: Session, *, user_id: int, topic: str, signature: str) -> str:
    """Turn a topic off for the user's company from a signed link; what was turned off."""
    if (
        topic not in TOPICS
        or not isinstance(signature, str)
        or not signature.isascii()  # what undecodable bytes become would not even encode
        or not hmac.compare_digest(signature.encode(), _signature(user_id, topic).encode())
    ):
        raise ValidationError({"link": "This unsubscribe link is not valid."})
    user = session.get(User, user_id)
    if user is None or user.partner_id is None:
        raise NotFound("This unsubscribe link names no account.")
    column, words = TOPICS[topic]
    profile = session.scalar(
        select(PartnerProfile).where(PartnerProfile.partner_id == user.partner_id)
    )
    if profile is None:
        raise NotFound("This unsubscribe link names no account.")
    if getattr(profile, column):
        setattr(profile, column, False)
        profile.updated_at = utc_now()
        audit.record(
            session,
            actor_user_id=user.id,
            actor_label=user.username,
            action="profile.unsubscribe",
            object_type="partner",
            object_id=user.partner_id,
            before={column: True},
            after={column: False},
        )
    return words


# What managers see of the outbox.


@dataclass(frozen=True)
class MailView:
    id: int
    created_at: datetime
    kind: str
    to_address: str
    subject: str
    status: MailStatus
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str
    body_text: str
    attachment_name: str | None


def _mail_view(row: OutboxMessage) -> MailView:
    return MailView(
        id=row.id,
        created_at=row.created_at,
        kind=row.kind,
        to_address=row.to_address,
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
        body_text=row.body_text,
        attachment_name=row.attachment_name,
    )


def list_mail(
    session: Session,
    *,
    actor: Actor,
    status: MailStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[MailView]:
    """The outbox, newest first; managers only."""
    require_manager(session, actor)
    check_limit(limit)
    query = select(OutboxMessage)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if cursor:
        query = query.where(before(OutboxMessage.created_at, OutboxMessage.id, cursor))
    rows = list(
        session.scalars(
            query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(
                limit + 1
            )
        )
    )
    views = [_mail_view(row) for row in rows[:limit]]
    return page_of(views, has_more=len(rows) > limit, moment=lambda view: view.created_at)


def mail_counts(session: Session, *, actor: Actor) -> dict[MailStatus, int]:
    """How many messages are in each state; managers only."""
    require_manager(session, actor)
    counts = dict(
        session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    return {status: counts.get(status, 0) for status in MailStatus}


def retry_dead(session: Session, *, actor: Actor, message_id: int) -> int:
    """Give a dead message a fresh set of attempts; managers only. Returns its id."""
    actor = require_manager(session, actor)
    changed = rows_changed(
        session,
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == MailStatus.DEAD)
        .values(status=MailStatus.PENDING, attempts=0, next_attempt_at=utc_now(), last_error="")
        .execution_options(synchronize_session=False),
    )
    if not changed:
        raise NotFound(f"No dead message #{message_id}.")
    audit.record_by(session, actor, "mail.retry", "mail", message_id)
    return message_id
