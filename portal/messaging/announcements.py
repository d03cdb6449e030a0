"""Announcements: a manager writes to every partner, or to the partners of some groups (the
default group included). Each user of those partners sees it on the dashboard until they
dismiss it; if the manager chose so it is also e-mailed, on a topic partners may unsubscribe
from (the profile's "Announcements by email", RFC 8058 one-click as every topic). Plain text,
shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from portal.core import audit, db
from portal.core.access import Actor, refresh, require_manager
from portal.core.errors import NotFound
from portal.core.models import (
    Announcement,
    AnnouncementDismissal,
    Partner,
    PartnerGroup,
)
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_text
from portal.messaging import mail
from portal.partners import groups as partner_groups

DEFAULT_GROUP = partner_groups.DEFAULT_GROUP
MAX_TITLE = 120
MAX_BODY = 4000


@dataclass(frozen=True)
class AnnouncementView:
    id: int
    title: str
    body: str
    audience: tuple[str, ...]  # group names; empty: every partner
    emailed: bool
    created_at: datetime


def publish(
    session: Session,
    *,
    actor: Actor,
    title: str,
    body: str,
    audience: Sequence[int] = (),
    email: bool = False,
) -> AnnouncementView:
    """Announce to the partners of `audience` (group ids, 0 for the default group; empty:
    every partner); managers only, audited. With `email`, each active user of those partners
    whose company takes announcement mail gets it (pending and suspended partners too: they
    are in the program)."""
    manager = require_manager(session, actor)
    errors = FieldErrors()
    clean_title = clean_text(
        errors, "title", title, label="Title", max_length=MAX_TITLE, required=True
    )
    clean_body = clean_text(
        errors, "body", body, label="Message", max_length=MAX_BODY, required=True, multiline=True
    )
    groups = partner_groups.clean_audience(session, errors, audience)
    errors.raise_if_any()
    assert clean_title is not None and clean_body is not None
    announcement = Announcement(
        title=clean_title,
        body=clean_body,
        audience=groups,
        emailed=email,
        created_by_user_id=manager.user_id,
        created_at=utc_now(),
    )
    session.add(announcement)
    session.flush()
    mailed = 0
    if email:
        for recipient in mail.audience_recipients(
            session, _in_audience(groups), topic="announcements"
        ):
            mail.enqueue(
                session,
                recipient=recipient,
                kind="announcement",
                context={"title": clean_title, "message": clean_body, "link": mail.link_base()},
                topic="announcements",
            )
            mailed += 1
    audit.record_by(
        session,
        manager,
        "announcement.published",
        "announcement",
        announcement.id,
        after={
            "title": clean_title,
            "audience": ", ".join(
                partner_groups.audience_names(groups, partner_groups.group_names(session))
            )
            or "every partner",
            "emailed": mailed,
        },
    )
    return _view(announcement, partner_groups.group_names(session))


def _in_audience(audience: Sequence[int]) -> ColumnElement[bool]:
    if not audience:
        return true()
    conditions: list[ColumnElement[bool]] = [
        Partner.group_id.in_([g for g in audience if g != DEFAULT_GROUP])
    ]
    if DEFAULT_GROUP in audience:
        known = select(PartnerGroup.id)
        conditions.append(or_(Partner.group_id.is_(None), Partner.group_id.not_in(known)))
    return or_(*conditions)


def _view(announcement: Announcement, names: Mapping[int, str]) -> AnnouncementView:
    return AnnouncementView(
        id=announcement.id,
        title=announcement.title,
        body=announcement.body,
        audience=partner_groups.audience_names(announcement.audience or [], names),
        emailed=announcement.emailed,
        created_at=announcement.created_at,
    )


def list_announcements(
    session: Session, *, actor: Actor, limit: int = 50
) -> list[AnnouncementView]:
    """Every announcement, newest first (managers)."""
    require_manager(session, actor)
    names = partner_groups.group_names(session)
    return [
        _view(announcement, names)
        for announcement in session.scalars(
            select(Announcement).order_by(Announcement.id.desc()).limit(limit)
        )
    ]


def for_me(session: Session, *, actor: Actor) -> list[AnnouncementView]:
    """The announcements for the actor's partner that this user has not dismissed, newest
    first (a partner's user; managers see none here)."""
    actor = refresh(session, actor)
    if not actor.is_partner:
        return []
    mine = partner_groups.membership(session, actor.partner_id)
    rows = session.scalars(
        select(Announcement)
        .outerjoin(
            AnnouncementDismissal,
            and_(
                AnnouncementDismissal.announcement_id == Announcement.id,
                AnnouncementDismissal.user_id == actor.user_id,
            ),
        )
        .where(AnnouncementDismissal.user_id.is_(None))
        .order_by(Announcement.id.desc())
        .limit(50)  # the newest; a partner reads a handful, not a history
    )
    mine_only = [row for row in rows if partner_groups.reaches(row.audience or [], mine)]
    names = partner_groups.group_names(session) if mine_only else {}
    return [_view(row, names) for row in mine_only]


def dismiss(session: Session, *, actor: Actor, announcement_id: int) -> None:
    """Put an announcement away for this user (one it was shown)."""
    actor = refresh(session, actor)
    if announcement_id not in {a.id for a in for_me(session, actor=actor)}:
        raise NotFound("Announcement not found.")
    session.execute(
        db.upsert_into(session, AnnouncementDismissal)
        .values(user_id=actor.user_id, announcement_id=announcement_id, dismissed_at=utc_now())
        .on_conflict_do_nothing()
    )
