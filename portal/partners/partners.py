"""Partner companies: applications, approval, suspension, pinned rates."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts import password_links
from portal.accounts.users import add_user, validate_new_user
from portal.core import audit, throttle, two_factor
from portal.core.access import Actor, refresh, require_manager, scoped_partner_id, standing_changed
from portal.core.config import get_settings
from portal.core.errors import NotFound, PermissionDenied, RecordedRefusal, ValidationError
from portal.core.models import NotificationKind, Partner, PartnerProfile, PartnerStatus, Role
from portal.core.pagination import Page, before, check_limit, page_of
from portal.core.rows import RowOutcome, apply_each
from portal.core.types import utc_now
from portal.core.validation import (
    FieldErrors,
    clean_decimal,
    clean_email,
    clean_text,
    contains_pattern,
    filter_text,
)
from portal.messaging import mail
from portal.messaging.notifications import notify_partner
from portal.reporting import statistics
from portal.risk import center as risk_center

MAX_PINNED_RATE = Decimal("0.5")

# Which status a manager's action moves a partner to, and from which statuses it may.
STATUS_ACTIONS: dict[str, tuple[set[PartnerStatus], PartnerStatus]] = {
    "approve": ({PartnerStatus.PENDING}, PartnerStatus.ACTIVE),
    "suspend": ({PartnerStatus.PENDING, PartnerStatus.ACTIVE}, PartnerStatus.SUSPENDED),
    "reactivate": ({PartnerStatus.SUSPENDED}, PartnerStatus.ACTIVE),
}

STATUS_MAILS = {
    "approve": "partner_approved",
    "suspend": "partner_suspended",
    "reactivate": "partner_reactivated",
}
STATUS_MESSAGES = {
    PartnerStatus.ACTIVE: "Your partner account is active: you can register leads.",
    PartnerStatus.SUSPENDED: "Your partner account has been suspended; it is now read-only.",
}


@dataclass(frozen=True)
class PartnerView:
    id: int
    company_name: str
    email: str
    status: PartnerStatus
    commission_rate: Decimal | None
    total_referrals: int
    total_earnings: Decimal
    paid_earnings: Decimal
    pending_earnings: Decimal
    created_at: datetime
    approved_at: datetime | None


def _view(partner: Partner) -> PartnerView:
    return PartnerView(
        id=partner.id,
        company_name=partner.company_name,
        email=partner.email,
        status=partner.status,
        commission_rate=partner.commission_rate,
        total_referrals=partner.total_referrals,
        total_earnings=partner.total_earnings,
        paid_earnings=partner.paid_earnings,
        pending_earnings=partner.total_earnings - partner.paid_earnings,
        created_at=partner.created_at,
        approved_at=partner.approved_at,
    )


def _new_partner(
    session: Session,
    *,
    company_name: str,
    company_email: str,
    username: str,
    display_name: str,
    user_email: str,
    password: str,
    status: PartnerStatus,
    password_repeat: str | None = None,
) -> tuple[Partner, int]:
    errors = FieldErrors()
    company = clean_text(
        errors, "company_name", company_name, label="Company name", max_length=200, required=True
    )
    email = clean_email(
        errors, "company_email", company_email, label="Company email", required=True
    )
    # Every field is checked before anything is written.
    validate_new_user(
        session,
        username=username,
        display_name=display_name,
        email=user_email,
        password=password,
        errors=errors,
        password_repeat=password_repeat,
    )
    errors.raise_if_any()
    partner = Partner(
        company_name=company or "",
        email=email or "",
        status=status,
        approved_at=utc_now() if status is PartnerStatus.ACTIVE else None,
    )
    session.add(partner)
    session.flush()
    statistics.count_partner(session, status=status, delta=1)
    user = add_user(
        session,
        username=username,
        display_name=display_name,
        email=user_email,
        password=password,
        role=Role.PARTNER,
        partner_id=partner.id,
        errors=errors,
    )
    session.add(
        PartnerProfile(
            partner_id=partner.id, contact_name=user.display_name, contact_email=user.email
        )
    )
    return partner, user.id


def apply(
    session: Session,
    *,
    company_name: str,
    company_email: str,
    username: str,
    display_name: str,
    user_email: str,
    password: str,
    password_repeat: str | None = None,
    client_address: str | None = None,
) -> PartnerView:
    """Self sign-up: a pending partner and its first login, when the program allows it.

    "This username is taken" is the one answer that tells whether an account exists, so
    each client address may send `PORTAL_APPLICATIONS_PER_ADDRESS` applications an hour,
    refused ones included.
    """
    settings = get_settings()
    if not settings.signup_allowed:
        raise PermissionDenied("Applications are closed; ask a program manager for an invite.")
    if client_address:
        key = throttle.address_key("apply", client_address)
        now = utc_now()
        if throttle.locked_until(session, key, now) is not None:
            raise ValidationError(
                {"username": "Too many applications from your network; try again in an hour."}
            )
        throttle.count_failure(
            session,
            key,
            limit=settings.applications_per_address,
            window=timedelta(hours=1),
            lock_for=timedelta(hours=1),
            now=now,
        )
    try:
        partner, user_id = _new_partner(
            session,
            company_name=company_name,
            company_email=company_email,
            username=username,
            display_name=display_name,
            user_email=user_email,
            password=password,
            password_repeat=password_repeat,
            status=PartnerStatus.PENDING,
        )
    except ValidationError as refused:
        if client_address:  # nothing was written but the count: keep it
            raise RecordedRefusal(refused.errors) from None
        raise
    if client_address:
        partner.applied_from = client_address[:64]
        session.flush()
    risk_center.check_partner(session, partner.id)
    audit.record(
        session,
        actor_user_id=user_id,
        actor_label=username.strip().casefold(),
        action="partner.apply",
        object_type="partner",
        object_id=partner.id,
        after={"company_name": partner.company_name, "email": partner.email},
    )
    mail.mail_partner(
        session,
        partner_id=partner.id,
        kind="application_received",
        context={"company": partner.company_name},
    )
    return _view(partner)


def create_partner(
    session: Session,
    *,
    actor: Actor,
    company_name: str,
    company_email: str,
    username: str,
    display_name: str,
    user_email: str,
    password: str | None,
    status: PartnerStatus = PartnerStatus.ACTIVE,
) -> PartnerView:
    """A manager adds a partner company with its first login; with no password, the login
    gets an invitation to choose one by e-mail."""
    actor = require_manager(session, actor)
    invite = not password
    partner, user_id = _new_partner(
        session,
        company_name=company_name,
        company_email=company_email,
        username=username,
        display_name=display_name,
        user_email=user_email,
        password=secrets.token_urlsafe(24) if invite else password or "",
        status=status,
    )
    if invite:
        password_links.send_invitation(session, actor=actor, user_id=user_id)
    audit.record_by(
        session,
        actor,
        "partner.create",
        "partner",
        partner.id,
        after={
            "company_name": partner.company_name,
            "status": status.value,
            "email": partner.email,
        },
    )
    return _view(partner)


def _locked_partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id, with_for_update=True)
    if partner is None:
        raise NotFound("Partner not found.")
    return partner


def change_status(session: Session, *, actor: Actor, partner_id: int, action: str) -> PartnerView:
    """Approve, suspend or reactivate a partner; managers only."""
    actor = require_manager(session, actor)
    if action not in STATUS_ACTIONS:
        raise ValidationError({"action": f"Action must be one of: {', '.join(STATUS_ACTIONS)}."})
    allowed_from, target = STATUS_ACTIONS[action]
    partner = _locked_partner(session, partner_id)
    if partner.status is target:
        return _view(partner)
    if partner.status not in allowed_from:
        raise ValidationError({"status": f"A {partner.status.value} partner cannot be {action}d."})
    before = {"status": partner.status.value}
    statistics.move_partner(session, from_status=partner.status, to=target)
    partner.status = target
    standing_changed()
    partner.updated_at = utc_now()
    if action == "approve":
        partner.approved_at = partner.updated_at
    notify_partner(
        session,
        caused_by=actor,
        partner_id=partner.id,
        kind=NotificationKind.PARTNER_STATUS,
        message=STATUS_MESSAGES[target],
    )
    mail.mail_partner(
        session,
        partner_id=partner.id,
        kind=STATUS_MAILS[action],
        context={"company": partner.company_name},
    )
    audit.record_by(
        session,
        actor,
        f"partner.{action}",
        "partner",
        partner.id,
        before=before,
        after={"status": target.value},
    )
    return _view(partner)


def pin_rate(
    session: Session, *, actor: Actor, partner_id: int, rate: Decimal | str | None
) -> PartnerView:
    """Pin a commission rate for a partner, or (None) return it to its tier's default."""
    actor = require_manager(session, actor)
    two_factor.require(session, actor)
    pinned = None
    if rate is not None and str(rate).strip() != "":
        errors = FieldErrors()
        pinned = clean_decimal(
            errors,
            "commission_rate",
            rate,
            label="Commission rate",
            places=4,
            minimum=Decimal(0),
            maximum=MAX_PINNED_RATE,
        )
        errors.raise_if_any()
    partner = _locked_partner(session, partner_id)
    before = {"commission_rate": partner.commission_rate}
    partner.commission_rate = pinned
    partner.updated_at = utc_now()
    audit.record_by(
        session,
        actor,
        "partner.pin_rate",
        "partner",
        partner.id,
        before=before,
        after={"commission_rate": pinned},
    )
    return _view(partner)


def get_partner(session: Session, *, actor: Actor, partner_id: int | None = None) -> PartnerView:
    """One partner: a partner may read only its own company."""
    partner_id = scoped_partner_id(refresh(session, actor), partner_id)
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    if partner is None:
        raise NotFound("Partner not found.")
    return _view(partner)


def list_partners(
    session: Session,
    *,
    actor: Actor,
    status: PartnerStatus | None = None,
    search: str = "",
    after: str | None = None,
    limit: int = 50,
) -> Page[PartnerView]:
    """Partners newest first (optionally by status or name), a keyset page at a time;
    managers only."""
    require_manager(session, actor)
    check_limit(limit)
    query = select(Partner).order_by(Partner.created_at.desc(), Partner.id.desc())
    if status is not None:
        query = query.where(Partner.status == status)
    search = filter_text("search", search, label="Search text")
    if search:
        query = query.where(Partner.company_name.ilike(contains_pattern(search), escape="\\"))
    if after:
        query = query.where(before(Partner.created_at, Partner.id, after))
    rows = session.scalars(query.limit(limit + 1)).all()
    items = [_view(partner) for partner in rows[:limit]]
    return page_of(items, has_more=len(rows) > limit, moment=lambda item: item.created_at)


@dataclass(frozen=True)
class PartnerEdit:
    """One row's edit from the partners table: a status action and/or a pinned rate."""

    partner_id: int
    action: str | None = None
    rate_changed: bool = False
    rate: Decimal | str | None = None


def apply_edits(session: Session, *, actor: Actor, edits: list[PartnerEdit]) -> list[RowOutcome]:
    """Save several partner edits in one transaction, each refused row explained."""

    def apply(edit: PartnerEdit) -> str:
        done = []
        if edit.action:
            view = change_status(
                session, actor=actor, partner_id=edit.partner_id, action=edit.action
            )
            done.append(f"now {view.status.value}")
        if edit.rate_changed:
            view = pin_rate(session, actor=actor, partner_id=edit.partner_id, rate=edit.rate)
            done.append(
                f"rate pinned at {view.commission_rate}"
                if view.commission_rate is not None
                else "rate back to the tier default"
            )
        return "Saved: " + ", ".join(done) + "." if done else "Nothing to save."

    return apply_each(session, edits, key=lambda edit: edit.partner_id, apply=apply)
