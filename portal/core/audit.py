"""The audit log: every write and every login attempt, with personal data masked."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.core import db
from portal.core.access import Actor, require_manager
from portal.core.crypto import masked
from portal.core.models import ApiKey, AuditEntry, Lead, Partner, User, WebhookEndpoint
from portal.core.pagination import Page, before, check_limit, page_of
from portal.core.validation import filter_text

EMAIL_FIELDS = {"email", "client_email", "payment_email", "contact_email"}
PHONE_FIELDS = {"client_phone", "contact_phone"}
SECRET_FIELDS = {"bank_account", "tax_id", "password", "password_hash"}

log = logging.getLogger(__name__)


def mask_email(email: str) -> str:
    """`jane@example.com` → `j***@example.com`: enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_value(field: str, value: Any) -> Any:
    """A value as it may appear in the audit log."""
    if value is None or value == "":
        return value
    if field in EMAIL_FIELDS:
        return mask_email(str(value))
    if field in PHONE_FIELDS:
        return masked(str(value)[-4:])
    if field in SECRET_FIELDS:
        return "[changed]"
    return str(value) if not isinstance(value, bool | int | str) else value


def _masked(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {field: mask_value(field, value) for field, value in values.items()}


def record(
    session: Session,
    *,
    actor_user_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one audit entry in the caller's transaction."""
    _insert(session, actor_user_id, actor_label, action, object_type, [(object_id, before, after)])


def _insert(
    session: Session,
    actor_user_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    changes: Sequence[tuple[object, dict[str, Any] | None, dict[str, Any] | None]],
) -> None:
    # Every write and sign-in, in the log too (what and whose, never the values).
    log.info(
        "%s %s",
        action,
        object_type,
        extra={"action": action, "actor_user_id": actor_user_id, "objects": len(changes)},
    )
    # A plain INSERT (many rows in one statement): nothing reads an entry back.
    db.connection(session).execute(
        _INSERT_ENTRY,
        [
            {
                "actor_user_id": actor_user_id,
                "actor_label": actor_label[:64],
                "action": action,
                "object_type": object_type,
                "object_id": None if object_id is None else str(object_id),
                "before": _masked(before),
                "after": _masked(after),
            }
            for object_id, before, after in changes
        ],
    )


_INSERT_ENTRY = insert(AuditEntry)


def record_for_user(
    session: Session, user: User, action: str, *, after: dict[str, Any] | None = None
) -> None:
    """Add one audit entry a user's own sign-in or account event writes about that user
    (no acting Actor yet: a sign-in, a reset link, a code typed)."""
    _insert(session, user.id, user.username, action, "user", [(user.id, None, after)])


def record_by(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one audit entry for a write made by an actor."""
    changes = [(object_id, before, after)]
    _insert(session, actor.user_id, actor.username, action, object_type, changes)


def record_many_by(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    created: list[tuple[object, dict[str, Any]]],
) -> None:
    """Add one audit entry per object an actor created at once, with what it holds."""
    changes = [(object_id, None, after) for object_id, after in created]
    _insert(session, actor.user_id, actor.username, action, object_type, changes)


def record_changes_by(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    changes: Sequence[tuple[object, dict[str, Any] | None, dict[str, Any] | None]],
) -> None:
    """Add one audit entry per object an actor changed at once, (id, before, after) each, in
    one statement."""
    _insert(session, actor.user_id, actor.username, action, object_type, changes)


@dataclass(frozen=True)
class AuditView:
    id: int
    created_at: datetime
    actor_user_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    object_name: str = ""  # "lead #1635 Iris Novak"
    change: str = ""  # "status: pending → contacted; version: 1 → 2"


# Each recorded action as the log says it; the codes stay in exports and the API.
ACTION_WORDS = {
    "announcement.published": "Announcement published",
    "api_key.create": "API key created",
    "api_key.revoke": "API key revoked",
    "commission.earned": "Commission earned",
    "commission.voided": "Commission voided",
    "lead.change_status": "Lead status changed",
    "lead.reassign": "Lead moved to another partner",
    "lead.register": "Lead registered",
    "login.failed": "Sign-in failed",
    "login.identity_linked": "First sign-in with the company account",
    "login.succeeded": "Signed in",
    "login.throttled": "Sign-in refused: too many attempts",
    "mail.retry": "Mail sent again",
    "notification.mark_read": "Notifications marked read",
    "partner.apply": "Partner applied",
    "partner.create": "Partner created",
    "partner.pin_rate": "Commission rate pinned",
    "partner.group_moved": "Partner moved to another group",
    "group.saved": "Partner group saved",
    "group.deleted": "Partner group removed",
    "partner.approve": "Partner approved",
    "partner.suspend": "Partner suspended",
    "partner.reactivate": "Partner reactivated",
    "payout.approve_batch": "Payout batch approved",
    "payout.file": "Payout file made",
    "payout.file_void": "Payout file voided",
    "payout.mark_paid": "Payout marked paid",
    "payout.mark_returned": "Payout marked returned",
    "payout.mark_failed": "Payout marked failed",
    "payout.mark_canceled": "Payout canceled",
    "payout.positive_pay": "Positive pay file made",
    "payout.reapprove": "Held payout approved again",
    "payout.run_batch": "Payout batch run",
    "payout.schedule": "Payout scheduled",
    "profile.unsubscribe": "Unsubscribed from mail",
    "program_settings.changed": "Program settings changed",
    "profile.update": "Profile changed",
    "seed.demo": "Demo program created",
    "tax.filing_file": "Tax filing file made",
    "tax_form.open": "Tax form opened",
    "tax_form.submit": "Tax form uploaded",
    "tax_form.verified": "Tax form verified",
    "tax_form.rejected": "Tax form rejected",
    "message.posted": "Message written",
    "resource.added": "Resource added",
    "resource.removed": "Resource removed",
    "risk.dismissed": "Risk event dismissed",
    "risk.resolved": "Risk event resolved",
    "risk.scan": "Risk rules run over the program",
    "two_factor.enabled": "Two-factor sign-in set up",
    "two_factor.failed": "Two-factor code refused",
    "two_factor.reset": "Two-factor sign-in reset",
    "two_factor.verified": "Two-factor code given",
    "user.activate": "User activated",
    "user.change_password": "Password changed",
    "user.create": "User created",
    "user.deactivate": "User deactivated",
    "user.invite": "User invited",
    "user.logout": "Signed out",
    "user.logout_everywhere": "Signed out everywhere",
    "user.password_confirmation_failed": "Wrong password given to confirm a change",
    "user.reset_requested": "Password reset asked for",
    "user.reset_sent": "Password reset link sent",
    "user.reset_throttled": "Password reset refused: too many requests",
    "user.unlock": "User unlocked",
    "user.password_set_by_invitation": "Password set from an invitation",
    "user.password_set_by_reset": "Password set from a reset link",
    "webhook.add": "Webhook added",
    "webhook.disable": "Webhook disabled",
    "webhook.replay": "Webhook delivery sent again",
}


def action_words(action: str) -> str:
    """An action code as the log shows it: `login.succeeded` → "Signed in" (a code not
    listed, in plain words: `partner.approve` → "Partner approve")."""
    if action in ACTION_WORDS:
        return ACTION_WORDS[action]
    return action.replace(".", " ").replace("_", " ").capitalize()


# How each kind of object is named in the log, and where its name is read.
_NAMES: dict[str, tuple[str, Any, Any]] = {
    "lead": ("lead", Lead.id, Lead.client_name),
    "partner": ("partner", Partner.id, Partner.company_name),
    "user": ("user", User.id, User.display_name),
    "api_key": ("API key", ApiKey.id, ApiKey.name),
    "webhook": ("webhook", WebhookEndpoint.id, WebhookEndpoint.url),
}


def _object_names(session: Session, rows: Sequence[AuditEntry]) -> dict[tuple[str, str], str]:
    """Readable names of the objects on one page of the log: one query per kind of object."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        if row.object_type in _NAMES and row.object_id and row.object_id.isdigit():
            wanted.setdefault(row.object_type, set()).add(int(row.object_id))
    names = {}
    for object_type, ids in wanted.items():
        noun, key, name = _NAMES[object_type]
        for object_id, text in session.execute(select(key, name).where(key.in_(ids))):
            names[(object_type, str(object_id))] = f"{noun} #{object_id} {text}"
    return names


def describe_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A recorded change in words: each field that changed, from → to."""
    before, after = before or {}, after or {}
    parts = []
    for field in [*before, *(name for name in after if name not in before)]:
        label = field.replace("_", " ")
        old, new = before.get(field), after.get(field)
        if field in before and field in after:
            parts.append(f"{label}: {_shown(old)} → {_shown(new)}")
        elif field in after:
            parts.append(f"{label}: {_shown(new)}")
        else:
            parts.append(f"{label} was {_shown(old)}")
    return "; ".join(parts)


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def list_entries(
    session: Session,
    *,
    actor: Actor,
    actor_user_id: int | None = None,
    actor_label: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[AuditView]:
    """Audit entries newest first, filtered; managers only."""
    require_manager(session, actor)
    check_limit(limit)
    actor_label = filter_text("actor_label", actor_label, label="Actor", max_length=64)
    action = filter_text("action", action, label="Action", max_length=64)
    object_type = filter_text("object_type", object_type, label="Object type", max_length=32)
    object_id = filter_text("object_id", object_id, label="Object id", max_length=64)
    query = select(AuditEntry)
    if actor_user_id is not None:
        query = query.where(AuditEntry.actor_user_id == actor_user_id)
    if actor_label:
        query = query.where(AuditEntry.actor_label == actor_label.strip().casefold())
    if action:
        query = query.where(AuditEntry.action == action)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    if until is not None:
        query = query.where(AuditEntry.created_at < until)
    if after:
        query = query.where(before(AuditEntry.created_at, AuditEntry.id, after))
    rows = session.scalars(
        query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit + 1)
    ).all()
    names = _object_names(session, rows[:limit])
    items = [
        AuditView(
            object_name=names.get(
                (row.object_type, row.object_id or ""),
                f"{row.object_type} #{row.object_id}" if row.object_id else row.object_type,
            ),
            change=describe_change(row.before, row.after),
            id=row.id,
            created_at=row.created_at,
            actor_user_id=row.actor_user_id,
            actor_label=row.actor_label,
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            before=row.before,
            after=row.after,
        )
        for row in rows[:limit]
    ]
    return page_of(items, has_more=len(rows) > limit, moment=lambda item: item.created_at)


def actions(session: Session, *, actor: Actor) -> list[str]:
    """Every action name the log holds, for filtering; managers only."""
    require_manager(session, actor)
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
