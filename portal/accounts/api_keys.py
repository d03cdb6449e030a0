"""API keys: made and revoked by their user, shown once, stored as their SHA-256.

A key reads `ppk_<prefix>_<secret>`; the prefix names it in lists. A request with a key acts
as the key's user, re-read at every request: a deactivated user's keys stop at once, and a
suspended partner's keys can only read, as its pages can (the services decide both).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from portal.accounts import users
from portal.core import audit, db
from portal.core.access import ACTOR_COLUMNS, Actor, actor_from_state, load_actor, refresh
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import ApiKey, ApiScope, Partner, User
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_text

KEY_START = "ppk_"
MAX_KEYS = 20
MAX_EXPIRY_DAYS = 3650
TOUCH_EVERY = timedelta(minutes=1)  # last-used time kept without a write per request


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    prefix: str
    scope: ApiScope
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utc_now())


def _view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scope=key.scope,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session,
    *,
    actor: Actor,
    name: str,
    scope: str,
    expires_days: int | None = None,
    password: str | None = None,
) -> tuple[ApiKeyView, str]:
    """A new key of the actor's own; the key itself is returned this once only. A key that
    may change where payouts go (`payout_details`) needs the actor's password again."""
    return _create(
        session,
        actor=refresh(session, actor),
        name=name,
        scope=scope,
        expires_days=expires_days,
        password=password,
        proven=False,
    )


def _create(
    session: Session,
    *,
    actor: Actor,
    name: str,
    scope: str,
    expires_days: int | None,
    password: str | None,
    proven: bool,
) -> tuple[ApiKeyView, str]:
    errors = FieldErrors()
    clean_name = clean_text(errors, "name", name, label="Name", max_length=100, required=True)
    try:
        clean_scope = ApiScope(str(scope).strip().lower())
    except ValueError:
        errors.add("scope", f"Scope must be one of: {', '.join(ApiScope)}.")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        errors.add("expires_days", f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days.")
    live = [key for key in list_keys(session, actor=actor) if key.active]
    if len(live) >= MAX_KEYS:
        errors.add("name", f"You have {MAX_KEYS} keys already: revoke one first.")
    errors.raise_if_any()
    if clean_scope is ApiScope.PAYOUT_DETAILS and not proven:
        users.confirm_password(session, actor=actor, password=password)
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    now = utc_now()
    key = ApiKey(
        user_id=actor.user_id,
        name=clean_name or "",
        prefix=f"{KEY_START}{prefix}",
        key_hash=key_digest(plaintext),
        scope=clean_scope,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(key)
    session.flush()
    audit.record_by(
        session,
        actor,
        "api_key.create",
        "api_key",
        key.id,
        after={"name": key.name, "prefix": key.prefix, "scope": key.scope.value},
    )
    return _view(key), plaintext


def list_keys(session: Session, *, actor: Actor) -> list[ApiKeyView]:
    """The actor's own keys, newest first."""
    actor = refresh(session, actor)
    return [
        _view(key)
        for key in session.scalars(
            select(ApiKey).where(ApiKey.user_id == actor.user_id).order_by(ApiKey.id.desc())
        )
    ]


def revoke_key(session: Session, *, actor: Actor, key_id: int) -> ApiKeyView:
    """Stop one of the actor's own keys at once."""
    actor = refresh(session, actor)
    key = session.get(ApiKey, key_id, with_for_update=True)
    if key is None or key.user_id != actor.user_id:
        raise NotFound("API key not found.")
    if key.revoked_at is None:
        key.revoked_at = utc_now()
        audit.record_by(
            session, actor, "api_key.revoke", "api_key", key.id, after={"prefix": key.prefix}
        )
    return _view(key)


@dataclass(frozen=True)
class KeyHolder:
    key_id: int
    scope: ApiScope
    actor: Actor


def holder_of(session: Session, *, key: str) -> KeyHolder | None:
    """Who a presented key acts for, or None (unknown, revoked, expired, user deactivated):
    one query for the key and its user's state."""
    if not key.startswith(KEY_START) or len(key) > 200:
        return None
    now = utc_now()
    row = db.connection(session).execute(_KEY_HOLDER, {"key_hash": key_digest(key)}).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    try:
        actor = actor_from_state(row.user_id, row)
    except PermissionDenied:
        return None  # deactivated: its keys stop at once
    if row.last_used_at is None or row.last_used_at < now - TOUCH_EVERY:
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return KeyHolder(row.id, row.scope, actor)


# Built once: every API request asks it.
_KEY_HOLDER = (
    select(
        ApiKey.id,
        ApiKey.user_id,
        ApiKey.scope,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        *ACTOR_COLUMNS,
    )
    .join(User, User.id == ApiKey.user_id)
    .outerjoin(Partner, Partner.id == User.partner_id)
    .where(ApiKey.key_hash == bindparam("key_hash"))
)


def key_for_user(
    session: Session, *, actor: Actor | None, username: str, scope: str, expires_days: int | None
) -> tuple[ApiKeyView, str]:
    """The command line makes a key for a named user (the operator acts for them)."""
    if actor is None or actor.user_id is not None:
        raise PermissionDenied("Only the command line makes keys for others.")
    user = session.scalar(select(User).where(User.username == username.strip().casefold()))
    if user is None or not user.is_active:
        raise ValidationError({"username": f"No active user named {username!r}."})
    return _create(
        session,
        actor=load_actor(session, user_id=user.id),
        name="command line",
        scope=scope,
        expires_days=expires_days,
        password=None,
        proven=True,  # the server's administrator vouches for the user
    )
