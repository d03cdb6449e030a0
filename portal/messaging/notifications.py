"""In-app notifications to the users of a partner company."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from portal.core import audit, db
from portal.core.access import Actor, refresh
from portal.core.db import rows_changed
from portal.core.models import Notification, NotificationKind, User
from portal.core.pagination import check_limit
from portal.core.types import utc_now
from portal.messaging import mail, webhooks


def notify_partner(
    session: Session,
    *,
    caused_by: Actor,
    partner_id: int,
    kind: NotificationKind,
    message: str,
    lead_id: int | None = None,
    data: Mapping[str, object] | None = None,
) -> None:
    """Send one notification to every active user of a partner company but the user who caused
    it (`caused_by`) (nobody is told of their own action), e-mail it to those whose company asked
    for event mail and tell the partner's webhooks (in the same unit of work; a partner's
    own systems hear of every change, whoever made it; `data` adds to what they are sent)."""
    connection = db.connection(session)
    recipients = (
        [
            (recipient, digest)
            for recipient, digest in mail.partner_recipients(session, partner_id, topic="events")
            if recipient.user_id != caused_by.user_id
        ]
        if kind in mail.EVENT_SUBJECTS
        else []
    )
    endpoints = webhooks.live_endpoints(session, partner_id) if kind in webhooks.KIND_EVENTS else []
    mail.mail_partner_event(
        session, recipients=recipients, kind=kind, message=message, lead_id=lead_id
    )
    webhooks.queue_event(
        session,
        endpoints=endpoints,
        partner_id=partner_id,
        kind=kind,
        data={"lead_id": lead_id, "message": message, **(data or {})},
    )
    connection.execute(
        _NOTIFY_PARTNER,
        {
            "partner_id": partner_id,
            "kind": kind,
            "message": message,
            "lead_id": lead_id,
            "created_at": utc_now(),
            "actor_id": caused_by.user_id,
        },
    )


# One INSERT … SELECT, built once: no round trip to learn the recipients first.
_NOTIFY_PARTNER = insert(Notification).from_select(
    ["user_id", "kind", "message", "lead_id", "created_at"],
    select(
        User.id,
        bindparam("kind", type_=Notification.kind.type),
        bindparam("message", type_=Notification.message.type),
        bindparam("lead_id", type_=Notification.lead_id.type),
        bindparam("created_at", type_=Notification.created_at.type),
    ).where(
        User.partner_id == bindparam("partner_id"),
        User.is_active,
        User.id.is_distinct_from(bindparam("actor_id", type_=User.id.type)),
    ),
)


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    message: str
    lead_id: int | None
    created_at: datetime
    read: bool


# Built once: the dashboard and every page's sidebar ask them.
_NEWEST = (
    select(
        Notification.id,
        Notification.kind,
        Notification.message,
        Notification.lead_id,
        Notification.created_at,
        Notification.read_at,
    )
    .where(Notification.user_id == bindparam("user_id"))
    .order_by(Notification.id.desc())
    .limit(bindparam("limit"))
)
_UNREAD = _NEWEST.where(Notification.read_at.is_(None))
_UNREAD_COUNT = (
    select(func.count())
    .select_from(Notification)
    .where(Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))
)


def list_notifications(
    session: Session, *, actor: Actor, unread_only: bool = False, limit: int = 20
) -> list[NotificationView]:
    """The actor's newest notifications."""
    actor = refresh(session, actor)
    check_limit(limit)
    query = _UNREAD if unread_only else _NEWEST
    # Plain rows through the connection, not ORM objects: they are read, never changed.
    rows = db.connection(session).execute(query, {"user_id": actor.user_id, "limit": limit})
    return [
        NotificationView(
            id=row.id,
            kind=row.kind,
            message=row.message,
            lead_id=row.lead_id,
            created_at=row.created_at,
            read=row.read_at is not None,
        )
        for row in rows
    ]


def unread_count(session: Session, *, actor: Actor) -> int:
    """How many of the actor's notifications are unread."""
    actor = refresh(session, actor)
    return db.connection(session).scalar(_UNREAD_COUNT, {"user_id": actor.user_id}) or 0


def mark_read(session: Session, *, actor: Actor, notification_ids: list[int] | None = None) -> int:
    """Mark some (or, with None, all) of the actor's notifications read; returns how many."""
    actor = refresh(session, actor)
    statement = update(Notification).where(
        Notification.user_id == actor.user_id, Notification.read_at.is_(None)
    )
    if notification_ids is not None:
        statement = statement.where(Notification.id.in_(notification_ids))
    marked = rows_changed(session, statement.values(read_at=utc_now()))
    if marked:
        audit.record_by(
            session,
            actor,
            "notification.mark_read",
            "user",
            actor.user_id,
            after={"marked": marked},
        )
    return marked
