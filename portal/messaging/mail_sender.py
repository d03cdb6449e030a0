"""Delivering the outbox over SMTP, and the periodic mail jobs (daily digests, monthly
statements).

Each pass claims the messages that are due for a few minutes (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite takes its one write lock for the claim), so two senders never take the
same message; a failed attempt waits `PORTAL_MAIL_RETRY_SECONDS`, doubling each time, and
after `PORTAL_MAIL_MAX_ATTEMPTS` (or a permanent 5xx refusal) the message is dead and shown
to managers. A sender that dies between the SMTP server's acceptance and its own record
leaves the message to be sent again when its claim lapses: the Message-ID stays the same,
so the recipient's server can tell the copy.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.core.access import Actor
from portal.core.config import ConfigurationError, get_settings
from portal.core.db import get_engine, unit_of_work
from portal.core.models import (
    MailStatus,
    OutboxMessage,
    PartnerProfile,
    ScheduledRun,
    User,
)
from portal.core.types import utc_now
from portal.messaging import mail, outbox, webhooks
from portal.money import monthly_statements
from portal.reporting.exports import statement_csv

log = logging.getLogger(__name__)
MAX_ERROR = 500


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    timeout: float = 20

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """smtp://host:port[?starttls=true] or smtps://user:password@host:port."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ConfigurationError("PORTAL_SMTP_URL must look like smtp://host:port or smtps://…")
        flag = parse_qs(parts.query).get("starttls", ["false"])[0].lower()
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            implicit_tls=parts.scheme == "smtps",
            starttls=flag in {"1", "true", "yes"},
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @contextmanager
    def connect(self) -> Iterator[smtplib.SMTP]:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            yield client
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0

    def __str__(self) -> str:
        return f"sent {self.sent}, retried {self.retried}, dead {self.dead}"


def _record(engine: Engine, message_id: int, error: str | None, *, permanent: bool) -> MailStatus:
    settings = get_settings()
    now = utc_now()
    with unit_of_work(engine) as session:
        row = session.get(OutboxMessage, message_id, with_for_update=True)
        assert row is not None
        row.attempts += 1
        row.claimed_until = None
        if error is None:
            row.status = MailStatus.SENT
            row.sent_at = now
            row.last_error = ""
            row.secret_encrypted = None  # a sent link is the recipient's alone
        else:
            row.last_error = error[:MAX_ERROR]
            if permanent or row.attempts >= settings.mail_max_attempts:
                row.status = MailStatus.DEAD
            else:
                row.next_attempt_at = now + outbox.retry_delay(row.attempts)
        return row.status


def _is_permanent(error: Exception) -> bool:
    """A 5xx answer about this message (not the connection) will not change on retry."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500 and not isinstance(error, smtplib.SMTPAuthenticationError)
    return False


def deliver_due(
    engine: Engine | None = None, *, server: SmtpServer | None = None
) -> DeliveryReport:
    """Send what is due, one batch after another until none is left; a report of the pass."""
    engine = engine or get_engine()
    settings = get_settings()
    if server is None:
        if not settings.smtp_url:
            return DeliveryReport()
        server = SmtpServer.from_url(settings.smtp_url)
    report = DeliveryReport()
    while ids := outbox.claim_due(engine, OutboxMessage, utc_now()):
        _deliver_batch(engine, server, ids, report)
    return report


def _deliver_batch(
    engine: Engine, server: SmtpServer, ids: list[int], report: DeliveryReport
) -> None:
    messages: list[tuple[int, EmailMessage]] = []
    with unit_of_work(engine) as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        )
        unbuildable: list[tuple[int, Exception]] = []
        for row in rows:
            try:
                messages.append((row.id, mail.as_email(row)))
            except Exception as broken:
                unbuildable.append((row.id, broken))
    for message_id, error in unbuildable:
        _count(report, _record(engine, message_id, _describe(error), permanent=True))
    done: set[int] = set()
    try:
        with server.connect() as client:
            for message_id, message in messages:
                try:
                    client.send_message(message)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as refused:
                    status = _record(
                        engine, message_id, _describe(refused), permanent=_is_permanent(refused)
                    )
                except (smtplib.SMTPNotSupportedError, UnicodeError, ValueError) as unsendable:
                    # This message cannot go (an address the server cannot take): the others
                    # on the same connection still do.
                    status = _record(engine, message_id, _describe(unsendable), permanent=True)
                else:
                    status = _record(engine, message_id, None, permanent=False)
                done.add(message_id)
                _count(report, status)
    except (OSError, smtplib.SMTPException) as down:
        # The server could not be reached or dropped the line: what is not recorded waits.
        for message_id, _ in messages:
            if message_id not in done:
                _count(report, _record(engine, message_id, _describe(down), permanent=False))


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _count(report: DeliveryReport, status: MailStatus) -> None:
    if status is MailStatus.SENT:
        report.sent += 1
    elif status is MailStatus.DEAD:
        report.dead += 1
    else:
        report.retried += 1


# The periodic jobs. Each is idempotent: a day's digest and a month's statement for a user are
# one row each (their dedupe key), and a month's statement run is marked done once.


def queue_digests(engine: Engine | None = None, *, now: datetime | None = None) -> int:
    """One digest per user of the events held for them before today (UTC); how many."""
    engine = engine or get_engine()
    now = now or utc_now()
    day_start = datetime.combine(now.date(), time(), tzinfo=UTC)
    queued = 0
    with unit_of_work(engine) as session:
        users = list(
            session.scalars(
                select(OutboxMessage.user_id)
                .where(
                    OutboxMessage.status == MailStatus.HELD,
                    OutboxMessage.created_at < day_start,
                    OutboxMessage.user_id.is_not(None),
                )
                .distinct()
            )
        )
    for user_id in filter(None, users):
        with unit_of_work(engine) as session:
            queued += _queue_digest(session, user_id, day_start)
    return queued


def _queue_digest(session: Session, user_id: int, day_start: datetime) -> int:
    held = list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.user_id == user_id,
                OutboxMessage.status == MailStatus.HELD,
                OutboxMessage.created_at < day_start,
            )
            .order_by(OutboxMessage.id)
            .with_for_update()
        )
    )
    user = session.get(User, user_id)
    if not held or user is None:
        return 0
    for row in held:
        row.status = MailStatus.DIGESTED
    if not user.is_active:
        return 0
    first = held[0].created_at.date()
    last = held[-1].created_at.date()
    day = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    events = [{"subject": row.subject, "message": _event_text(row)} for row in held]
    mail.enqueue(
        session,
        recipient=mail.Recipient(user.id, user.email, user.display_name),
        kind="digest",
        context={"day": day, "events": events},
        topic="events",
        dedupe_key=f"digest:{day_start.date().isoformat()}:{user.id}",
    )
    return 1


def _event_text(row: OutboxMessage) -> str:
    """The event's own sentence: the plain body between the greeting and the link."""
    lines = [line for line in row.body_text.splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else row.subject


def previous_month(today: date) -> date:
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def queue_statements(engine: Engine | None = None, *, today: date | None = None) -> int:
    """On (or after) the first of a month, last month's statement for every user of every
    partner that asked for it, once per month; how many were queued."""
    engine = engine or get_engine()
    month = previous_month(today or utc_now().date())
    period = month.strftime("%Y-%m")
    with unit_of_work(engine) as session:
        if session.get(ScheduledRun, ("monthly", period)) is not None:
            return 0
        partner_ids = list(
            session.scalars(
                select(PartnerProfile.partner_id)
                .where(PartnerProfile.monthly_reports.is_(True))
                .order_by(PartnerProfile.partner_id)
            )
        )
        # Statements an interrupted run already queued (read once, not per recipient).
        done = set(
            session.scalars(
                select(OutboxMessage.dedupe_key).where(
                    OutboxMessage.dedupe_key.startswith(f"monthly:{period}:")
                )
            )
        )
    queued = 0
    for partner_id in partner_ids:
        with unit_of_work(engine) as session:
            queued += _queue_statement(session, partner_id, month, period, done)
    try:
        with unit_of_work(engine) as session:
            session.add(ScheduledRun(job="monthly", period=period))
    except IntegrityError:
        pass  # another sender finished the same month: its dedupe keys kept us from doubling
    return queued


def _queue_statement(
    session: Session, partner_id: int, month: date, period: str, done: set[str | None]
) -> int:
    recipients = [
        (recipient, f"monthly:{period}:{recipient.user_id}")
        for recipient, _ in mail.partner_recipients(session, partner_id, topic="monthly")
    ]
    recipients = [(recipient, key) for recipient, key in recipients if key not in done]
    if not recipients:
        return 0
    statement = monthly_statements.monthly_statement(
        session, actor=Actor.operator(), month=month, partner_id=partner_id
    )
    values = {
        "month": month.strftime("%B %Y"),
        "currency": statement.currency,
        "opening": _amount(statement.opening_balance),
        "commissions": _amount(statement.total("commission")),
        "clawbacks": _amount(statement.total("clawback")),
        "payouts": _amount(statement.total("payout")),
        "closing": _amount(statement.closing_balance),
    }
    attachment = mail.Attachment(
        f"statement-{period}.csv", statement_csv(statement).encode("utf-8")
    )
    for recipient, key in recipients:
        mail.enqueue(
            session,
            recipient=recipient,
            kind="monthly_statement",
            context=values,
            topic="monthly",
            dedupe_key=key,
            attachment=attachment,
        )
    return len(recipients)


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def run_once(engine: Engine | None = None) -> DeliveryReport:
    """One pass: queue what the calendar asks for, then deliver what is due."""
    engine = engine or get_engine()
    report = DeliveryReport()
    # Each job fails alone: a webhook endpoint's trouble never keeps a reset mail waiting.
    for job in (queue_digests, queue_statements, webhooks.deliver_due):
        try:
            job(engine)
        except Exception:
            log.exception("mail pass: %s failed", job.__name__)
    try:
        report = deliver_due(engine)
    except Exception:
        log.exception("mail pass: delivering mail failed")
    return report


def run_forever(stop: threading.Event, engine: Engine | None = None) -> None:
    """Pass after pass until `stop` is set; a failed pass is logged and the next one runs."""
    while not stop.is_set():
        try:
            report = run_once(engine)
            if report.sent or report.retried or report.dead:
                log.info("mail: %s", report)
        except Exception:  # the loop outlives a bad pass: the next one may succeed
            log.exception("mail pass failed")
        stop.wait(get_settings().mail_poll_seconds)


_thread_lock = threading.Lock()
_thread: threading.Thread | None = None


def start_thread() -> threading.Thread | None:
    """The app process's sender (once per process), unless configured off."""
    global _thread
    if not get_settings().mail_sender_thread:
        return None
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(
                target=run_forever, args=(threading.Event(),), name="mail-sender", daemon=True
            )
            _thread.start()
        return _thread
