"""Who is acting, and what each actor may read: decided here and nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from portal.core import db
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import Lead, Partner, PartnerStatus, Role, User

SIGNED_OUT = "Your session has ended. Please log in again."


@dataclass(frozen=True, slots=True)
class Actor:
    """The user behind a request, as read from the database at the start of the action."""

    user_id: int | None
    username: str
    display_name: str
    role: Role
    partner_id: int | None
    partner_status: PartnerStatus | None
    # The browser sign-in acting (None for an API key or the command line): a second
    # factor given is this sign-in's (portal.core.two_factor).
    session_id: int | None = None

    @classmethod
    def operator(cls) -> Actor:
        """Whoever runs the command line on the server: acts as a manager, with no login."""
        return cls(
            user_id=None,
            username="operator",
            display_name="Command-line operator",
            role=Role.MANAGER,
            partner_id=None,
            partner_status=None,
        )

    @property
    def is_manager(self) -> bool:
        return self.role is Role.MANAGER

    @property
    def is_partner(self) -> bool:
        return self.role is Role.PARTNER

    def __post_init__(self) -> None:
        if self.role is Role.PARTNER and not isinstance(self, PartnerActor):
            raise TypeError("a partner acts as a PartnerActor, which always has its company")


@dataclass(frozen=True, slots=True)
class PartnerActor(Actor):
    """A partner company's user: its company and that company's status always known, so
    code that scopes to "the actor's own partner" needs no check that there is one."""

    partner_id: int
    partner_status: PartnerStatus


def load_actor(session: Session, *, user_id: int) -> Actor:
    """The current state of an active user, or PermissionDenied if it may no longer act."""
    row = db.connection(session).execute(_ACTOR_STATE, {"user_id": user_id}).one_or_none()
    return actor_from_state(user_id, row)


def actor_from_state(user_id: int, row: Any, session_id: int | None = None) -> Actor:
    """The actor from a row of ACTOR_COLUMNS (read with other columns by a caller that
    needs them in the same query), or PermissionDenied if the user may no longer act."""
    if row is None or not row.is_active:
        raise PermissionDenied(SIGNED_OUT)
    partner = row.role is Role.PARTNER
    if partner and (row.partner_id is None or row.status is None):  # the schema forbids it
        raise PermissionDenied(SIGNED_OUT)
    return (PartnerActor if partner else Actor)(
        user_id=user_id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        partner_id=row.partner_id,
        partner_status=row.status,
        session_id=session_id,
    )


# Runs at the start of every action, so it is built once and reads columns through the
# connection rather than loading a User through the ORM.
ACTOR_COLUMNS = (
    User.username,
    User.display_name,
    User.role,
    User.partner_id,
    User.is_active,
    Partner.status,
)
_ACTOR_STATE = (
    select(*ACTOR_COLUMNS)
    .outerjoin(Partner, Partner.id == User.partner_id)
    .where(User.id == bindparam("user_id"))
)


class _Reading:
    """The actor as an action read it (None: not read since the action began or last wrote)."""

    __slots__ = ("actor",)

    def __init__(self, actor: Actor | None) -> None:
        self.actor = actor


_THIS_ACTION: ContextVar[_Reading | None] = ContextVar("this_action", default=None)


@contextmanager
def one_action(actor: Actor | None = None) -> Iterator[None]:
    """One action (a page run, an API request): its services read the acting user once, at
    the first call that needs it, or not at all when the caller has just read it (`actor`),
    instead of at every call (a page makes five or more), as a request is authenticated
    once. A change of anyone's standing (`standing_changed`) ends the reading: the next call
    reads the actor afresh."""
    token = _THIS_ACTION.set(_Reading(actor))
    try:
        yield
    finally:
        _THIS_ACTION.reset(token)


def standing_changed() -> None:
    """Told by every service that changes what an actor is made of (a user activated or
    deactivated, a partner approved, suspended or reactivated): the action's reading of its
    actor may be out of date, so the next call reads it again."""
    reading = _THIS_ACTION.get()
    if reading is not None:
        reading.actor = None


def refresh(session: Session, actor: Actor | None) -> Actor:
    """The actor as it is now, so a deactivation or suspension counts at once: read inside
    this transaction, or as this action read it (`one_action`) unless someone's standing
    changed since (`standing_changed`)."""
    if actor is None:
        raise PermissionDenied(SIGNED_OUT)
    if actor.user_id is None:
        return actor
    reading = _THIS_ACTION.get()
    if reading is not None and reading.actor is not None and reading.actor.user_id == actor.user_id:
        return reading.actor
    current = load_actor(session, user_id=actor.user_id)
    if actor.session_id is not None:  # the same sign-in, read afresh
        current = replace(current, session_id=actor.session_id)
    if reading is not None and reading.actor is None:  # kept unless it is someone else
        reading.actor = current
    return current


def require_manager(session: Session, actor: Actor | None) -> Actor:
    """The refreshed actor if it is a manager."""
    current = refresh(session, actor)
    if not current.is_manager:
        raise PermissionDenied("Only a program manager can do this.")
    return current


def require_active_partner_or_manager(session: Session, actor: Actor | None) -> Actor:
    """The refreshed actor if it may change program data: a manager or an active partner."""
    current = refresh(session, actor)
    if current.is_partner and current.partner_status is not PartnerStatus.ACTIVE:
        raise PermissionDenied(partner_status_refusal(current.partner_status))
    return current


def partner_status_refusal(status: PartnerStatus | None) -> str:
    """Why a partner in this status cannot change program data."""
    if status is PartnerStatus.PENDING:
        return "Your application is still under review; leads open once you are approved."
    return "Your partner account is suspended; it is read-only."


def scoped_partner_id(actor: Actor, partner_id: int | None) -> int | None:
    """The partner an actor's request is about: a partner's own company whatever it asked
    for (asking for another is answered as if that partner did not exist), or what a manager
    named (None when it named none)."""
    if isinstance(actor, PartnerActor) and partner_id not in (None, actor.partner_id):
        raise NotFound("Partner not found.")
    return listed_partner_id(actor, partner_id)


def one_partner_id(actor: Actor, partner_id: int | None) -> int:
    """The one partner a request is about (a dashboard, a profile, a statement): a partner's
    own; a manager must name it (a field error, the same everywhere, when it did not)."""
    scoped = scoped_partner_id(actor, partner_id)
    if scoped is None:
        raise ValidationError({"partner_id": "Choose a partner: partner_id is required."})
    return scoped


def listed_partner_id(actor: Actor, partner_id: int | None) -> int | None:
    """Whose leads a listing covers: a partner's own whatever it asked for; for a manager,
    the partner it named (None: every partner's)."""
    if isinstance(actor, PartnerActor):
        return actor.partner_id
    if actor.is_manager:
        return partner_id
    raise PermissionDenied(SIGNED_OUT)  # never "every partner's" for anyone else


def readable_leads(actor: Actor) -> Select[Lead]:
    """All leads the actor may see: its own partner's, or every one for a manager."""
    scope = listed_partner_id(actor, None)
    query = select(Lead)
    return query if scope is None else query.where(Lead.partner_id == scope)
