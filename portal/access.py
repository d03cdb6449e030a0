"""Who is acting, and what each actor may read: decided here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal.errors import NotFound, PermissionDenied
from portal.models import Lead, Partner, PartnerStatus, Role, User

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


def load_actor(session: Session, *, user_id: int) -> Actor:
    """The current state of an active user, or PermissionDenied if it may no longer act."""
    row = session.execute(
        select(User, Partner.status)
        .outerjoin(Partner, Partner.id == User.partner_id)
        .where(User.id == user_id)
    ).one_or_none()
    if row is None or not row.User.is_active:
        raise PermissionDenied(SIGNED_OUT)
    user = row.User
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        partner_id=user.partner_id,
        partner_status=row.status,
    )


def refresh(session: Session, actor: Actor | None) -> Actor:
    """Re-read the actor inside this transaction, so a deactivation or suspension counts now."""
    if actor is None:
        raise PermissionDenied(SIGNED_OUT)
    if actor.user_id is None:
        return actor
    return load_actor(session, user_id=actor.user_id)


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
    if actor.is_manager:
        return partner_id
    if partner_id not in (None, actor.partner_id):
        raise NotFound("Partner not found.")
    return actor.partner_id


def readable_leads(actor: Actor) -> Select[tuple[Lead]]:
    """All leads the actor may see: its own partner's, or every one for a manager."""
    query = select(Lead)
    return query if actor.is_manager else query.where(Lead.partner_id == actor.partner_id)
