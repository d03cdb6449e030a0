"""What the two outboxes (mail and webhook deliveries) share: claiming due rows so that two
senders never take the same one, and the retry schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update

from portal.core.config import get_settings
from portal.core.db import unit_of_work
from portal.core.models import OutboxMessage, WebhookDelivery

CLAIM_FOR = timedelta(minutes=5)
BATCH = 50
MAX_DELAY = timedelta(days=1)


def claim_due(
    engine: Engine, row: type[OutboxMessage] | type[WebhookDelivery], now: datetime
) -> list[int]:
    """Claim up to a batch of due rows for a few minutes: `FOR UPDATE SKIP LOCKED` on
    PostgreSQL (a second sender skips what the first is claiming), SQLite's single write
    lock there. A claim that lapses (its sender died) makes the row due again."""
    with unit_of_work(engine) as session:
        ids = list(
            session.scalars(
                select(row.id)
                .where(
                    row.status == "pending",  # MailStatus.PENDING, DeliveryStatus.PENDING
                    row.next_attempt_at <= now,
                    or_(row.claimed_until.is_(None), row.claimed_until < now),
                )
                .order_by(row.next_attempt_at, row.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        if ids:
            session.execute(
                update(row)
                .where(row.id.in_(ids))
                .values(claimed_until=now + CLAIM_FOR)
                .execution_options(synchronize_session=False)
            )
    return ids


def retry_delay(attempts: int) -> timedelta:
    """`PORTAL_MAIL_RETRY_SECONDS` after the first failure, doubling each time, at most a day."""
    delay: timedelta = timedelta(seconds=get_settings().mail_retry_seconds) * 2 ** (attempts - 1)
    return min(delay, MAX_DELAY)
