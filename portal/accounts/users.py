"""Users and login: passwords, lockout kept in the database, sessions that can be ended."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import bcrypt
from sqlalchemy import Executable, bindparam, func, select, update
from sqlalchemy.orm import Session

from portal.core import audit, db, metrics, throttle
from portal.core.access import (
    ACTOR_COLUMNS,
    Actor,
    actor_from_state,
    load_actor,
    refresh,
    require_manager,
    scoped_partner_id,
    standing_changed,
)
from portal.core.config import get_settings
from portal.core.db import STANDALONE_WRITE, rows_changed
from portal.core.errors import NotFound, PermissionDenied, RecordedRefusal, ValidationError
from portal.core.models import ApiKey, IdentitySignIn, Partner, Role, User, UserSession
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_email, clean_text
from portal.messaging import mail

MIN_PASSWORD_LENGTH = 12
SESSION_TOUCH_EVERY = timedelta(minutes=1)
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
WRONG_CREDENTIALS = "Wrong username or password."


def username_key(username: str) -> str:
    """Usernames are unique case-insensitively: this is the stored form."""
    return username.strip().casefold()


def _utf8(text: str) -> bytes:
    # A lone surrogate (from bad UTF-8 read with surrogateescape, or typed through a broken
    # input method) has no UTF-8 form: kept as such, it can match no stored password.
    return text.encode("utf-8", "surrogatepass")


def unknown_login_label(key: str) -> str:
    """How the audit log names a username no account has: a short hash, never the text,
    since a password typed into the username field would otherwise be kept in clear. The
    same name always gets the same label, so repeated attempts still stand out."""
    if not key:
        return "(empty)"
    digest = hashlib.sha256(_utf8(key)).hexdigest()[:12]
    return f"(unknown {digest})"


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None if it is acceptable."""
    if any("\ud800" <= char <= "\udfff" for char in password):
        return "Password contains characters that are not valid text (lone surrogates)."
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        return (
            f"Password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8 "
            "(fewer characters if it uses accents or emoji)."
        )
    return None


def hash_password(password: str) -> str:
    """A bcrypt hash at the configured cost."""
    salt = bcrypt.gensalt(rounds=get_settings().bcrypt_rounds)
    return bcrypt.hashpw(password.encode(), salt).decode()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("a password that no account has, to spend the same time")


def _password_matches(password: str, password_hash: str) -> bool:
    encoded = _utf8(password)
    if len(encoded) > MAX_PASSWORD_BYTES:
        # Spend the same time as a real check, then refuse: no stored hash is this long.
        bcrypt.checkpw(encoded[:MAX_PASSWORD_BYTES], password_hash.encode())
        return False
    return bcrypt.checkpw(encoded, password_hash.encode())


def validate_new_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    email: str,
    password: str,
    errors: FieldErrors,
    password_repeat: str | None = None,
) -> tuple[str, str, str]:
    """Clean a new login's fields into `errors` (all of them, so that a form says every
    problem at once); returns username key, display name, email."""
    key = username_key(username or "")
    if not key:
        errors.add("username", "Username is required.")
    elif len(key) > 64 or not all(char.isalnum() or char in "._-@" for char in key):
        errors.add(
            "username",
            "Username must be at most 64 letters, digits or . _ - @ characters.",
        )
    elif session.scalar(select(User.id).where(User.username == key)) is not None:
        errors.add("username", "This username is taken.")
    name = clean_text(
        errors, "display_name", display_name, label="Name", max_length=200, required=True
    )
    clean = clean_email(errors, "email", email, label="Email", required=True, mailed=True)
    for field, problem in new_password_problems(password, password_repeat).items():
        errors.add("password" if field == "new_password" else field, problem)
    return key, name or "", clean or ""


PASSWORDS_DIFFER = "Repeat the password: the two passwords differ."


def new_password_problems(password: str, repeat: str | None = None) -> dict[str, str]:
    """Every problem of a new password and its repetition (None: not asked twice), by field:
    `new_password` and `repeat`."""
    problems = {}
    problem = password_problem(password or "")
    if problem:
        problems["new_password"] = problem
    if repeat is not None and repeat != password:
        problems["repeat"] = PASSWORDS_DIFFER
    return problems


def add_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    email: str,
    password: str,
    role: Role,
    partner_id: int | None,
    errors: FieldErrors | None = None,
) -> User:
    """Insert a validated login (callers check who may do it)."""
    errors = errors or FieldErrors()
    key, name, clean = validate_new_user(
        session,
        username=username,
        display_name=display_name,
        email=email,
        password=password,
        errors=errors,
    )
    errors.raise_if_any()
    user = User(
        username=key,
        display_name=name,
        email=clean,
        password_hash=hash_password(password),
        role=role,
        partner_id=partner_id,
    )
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    display_name: str
    email: str
    role: Role
    partner_id: int | None
    is_active: bool
    last_login_at: datetime | None
    locked_until: datetime | None


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        role=user.role,
        partner_id=user.partner_id,
        is_active=user.is_active,
        last_login_at=user.last_login_at,
        locked_until=user.locked_until,
    )


def create_user(
    session: Session,
    *,
    actor: Actor,
    username: str,
    display_name: str,
    email: str,
    password: str,
    role: Role,
    partner_id: int | None = None,
) -> UserView:
    """Create a login for a partner company or a manager; managers only."""
    actor = require_manager(session, actor)
    errors = FieldErrors()
    if role is Role.PARTNER:
        if partner_id is None:
            errors.add("partner_id", "A partner user needs a partner company.")
        elif session.get(Partner, partner_id) is None:
            errors.add("partner_id", f"Partner {partner_id} does not exist.")
    elif partner_id is not None:
        errors.add("partner_id", "A manager belongs to no partner company.")
    user = add_user(
        session,
        username=username,
        display_name=display_name,
        email=email,
        password=password,
        role=role,
        partner_id=partner_id,
        errors=errors,
    )
    audit.record_by(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        after={
            "username": user.username,
            "role": role.value,
            "partner_id": partner_id,
            "email": user.email,
        },
    )
    return _view(user)


def _record_failure(session: Session, user: User, reason: str) -> None:
    metrics.SIGN_IN_FAILURES.labels(reason).inc()
    if reason == "locked_now":
        metrics.LOCKOUTS.labels("account").inc()
    audit.record_for_user(session, user, "login.failed", after={"reason": reason})


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt; `actor` is None when it failed."""

    actor: Actor | None
    message: str = ""


def _unknown_login(session: Session, key: str, password: str, now: datetime) -> LoginResult:
    """Refuse a username no account has exactly as a real one: the same bcrypt time, the
    same count to a lock, the same messages."""
    settings = get_settings()
    name = throttle.name_key(key)
    _password_matches(password or "", _dummy_hash())
    locked = throttle.locked_until(session, name, now)
    reason, message = "unknown", WRONG_CREDENTIALS
    if locked is not None:
        reason, message = "unknown_locked", _locked_message(locked, now)
    elif throttle.count_failure(
        session,
        name,
        limit=settings.lockout_failures,
        lock_for=timedelta(minutes=settings.lockout_minutes),
        now=now,
    ):
        reason = "unknown_locked_now"
        metrics.LOCKOUTS.labels("account").inc()  # as a real one would be
        message = (
            f"Too many failed attempts: this account is locked for "
            f"{settings.lockout_minutes} minutes."
        )
    metrics.SIGN_IN_FAILURES.labels(reason).inc()
    audit.record(
        session,
        actor_user_id=None,
        actor_label=unknown_login_label(key),
        action="login.failed",
        object_type="user",
        after={"reason": reason},
    )
    return LoginResult(None, message)


def _count_failure(user: User, now: datetime) -> bool:
    """Count one wrong password; lock the account at the limit. True when it locked now."""
    settings = get_settings()
    if user.locked_until is not None and user.locked_until <= now:  # a lock ran out
        user.locked_until = None
        user.failed_logins = 0
    user.failed_logins += 1
    if user.failed_logins < settings.lockout_failures:
        return False
    user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
    user.failed_logins = 0
    return True


def _mail_lockout(session: Session, user: User, now: datetime) -> None:
    """Tell the account's owner it was locked: a guesser at work, or a forgotten password."""
    settings = get_settings()
    until = user.locked_until or now
    mail.enqueue(
        session,
        recipient=mail.Recipient(user.id, user.email, user.display_name),
        kind="lockout",
        context={
            "username": user.username,
            "failures": settings.lockout_failures,
            "minutes": settings.lockout_minutes,
            "until": mail.moment_words(until),
        },
    )


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, int((until - now).total_seconds() // 60) + 1)
    return (
        f"Too many failed attempts: this account is locked. Try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}."
    )


def authenticate(
    session: Session, *, username: str, password: str, client_address: str | None = None
) -> LoginResult:
    """Check a login, counting failures in the database and locking after too many.

    Returns rather than raises, so the caller's transaction keeps the failure count and the
    audit entry. Every path runs one bcrypt check, so an unknown username takes as long to
    refuse as a wrong password, and an unknown username locks after as many failures, with
    the same messages, as a real one. Failures are also counted per client address, which
    then waits whatever names it tries.
    """
    settings = get_settings()
    now = utc_now()
    window = timedelta(minutes=settings.lockout_minutes)
    address = throttle.address_key("login", client_address) if client_address else None
    if address is not None:
        waiting = throttle.locked_until(session, address, now)
        if waiting is not None:
            _password_matches(password or "", _dummy_hash())
            audit.record(
                session,
                actor_user_id=None,
                actor_label=f"(address {(client_address or 'unknown')[:40]})",
                action="login.throttled",
                object_type="user",
            )
            minutes = max(1, int((waiting - now).total_seconds() // 60) + 1)
            return LoginResult(
                None,
                "Too many failed sign-ins from your network. Try again in "
                f"{minutes} minute{'s' if minutes != 1 else ''}.",
            )
    result = _check_login(session, username=username, password=password, now=now)
    if result.actor is None and address is not None:
        address_locked = throttle.count_failure(
            session,
            address,
            limit=settings.address_failures,
            window=window,
            lock_for=window,
            now=now,
        )
        if address_locked:
            metrics.LOCKOUTS.labels("client_address").inc()
    return result


def _check_login(session: Session, *, username: str, password: str, now: datetime) -> LoginResult:
    settings = get_settings()
    key = username_key(username or "")
    # A name no account can have (too long, control characters: PostgreSQL cannot even
    # compare a NUL) is refused like an unknown one, without a query.
    plausible = len(key) <= 64 and key.isprintable()
    user = (
        session.scalar(select(User).where(User.username == key).with_for_update())
        if plausible
        else None
    )
    if user is None:
        return _unknown_login(session, key, password, now)

    if user.locked_until is not None and user.locked_until > now:
        _password_matches(password or "", _dummy_hash())
        _record_failure(session, user, "locked")
        return LoginResult(None, _locked_message(user.locked_until, now))

    if not _password_matches(password or "", user.password_hash):
        reason = "wrong_password"
        message = WRONG_CREDENTIALS
        if _count_failure(user, now):
            _mail_lockout(session, user, now)
            reason = "locked_now"
            message = (
                f"Too many failed attempts: this account is locked for "
                f"{settings.lockout_minutes} minutes."
            )
        _record_failure(session, user, reason)
        return LoginResult(None, message)

    if not user.is_active:
        _record_failure(session, user, "inactive")
        return LoginResult(None, "This account has been deactivated.")
    if user.role is Role.MANAGER and not settings.manager_password_login:
        _record_failure(session, user, "password_login_off")
        return LoginResult(None, MANAGERS_USE_IDENTITY)

    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record_for_user(session, user, "login.succeeded")
    session.flush()
    return LoginResult(load_actor(session, user_id=user.id))


def confirm_password(
    session: Session, *, actor: Actor, password: str | None, field: str = "password"
) -> User:
    """The acting user proves it is still them before a sensitive change (its own password,
    a money destination): a wrong guess counts toward the same lock-out as a login, so a
    borrowed, signed-in browser cannot be used to try passwords without limit. The refusal
    names `field`."""
    actor = refresh(session, actor)
    user = session.get(User, actor.user_id, with_for_update=True)
    if user is None:
        raise NotFound("User not found.")
    now = utc_now()
    if user.locked_until is not None and user.locked_until > now:
        _password_matches(password or "", _dummy_hash())
        raise ValidationError({field: "Too many wrong passwords: this account is locked for now."})
    if not _password_matches(password or "", user.password_hash):
        locked = _count_failure(user, now)
        audit.record_by(
            session,
            actor,
            "user.password_confirmation_failed",
            "user",
            user.id,
            after={"reason": "locked_now" if locked else "wrong_password"},
        )
        if locked:
            revoke_sessions(session, user.id, now)  # the lock signs this browser out too
        raise RecordedRefusal({field: "This is not your current password."})
    return user


def change_password(
    session: Session,
    *,
    actor: Actor,
    current_password: str,
    new_password: str,
    keep_session_id: int | None = None,
    end_api_keys: bool = False,
) -> int:
    """Replace the actor's own password and end its other sessions (all but
    `keep_session_id`, the browser it was changed from), and its API keys when asked to; how
    many sessions it ended."""
    actor = refresh(session, actor)
    user = confirm_password(
        session, actor=actor, password=current_password, field="current_password"
    )
    now = utc_now()
    problem = password_problem(new_password or "")
    if problem:
        raise ValidationError({"new_password": problem})
    user.password_hash = hash_password(new_password)
    ended = revoke_sessions(session, user.id, now, keep=keep_session_id)
    if end_api_keys:
        revoke_api_keys(session, user.id, now)
    audit.record_by(
        session, actor, "user.change_password", "user", user.id, after={"password": "changed"}
    )
    return ended


def revoke_sessions(
    session: Session, user_id: int, now: datetime, *, keep: int | None = None
) -> int:
    query = update(UserSession).where(
        UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep)
    return rows_changed(
        session, query.values(revoked_at=now).execution_options(synchronize_session=False)
    )


def revoke_api_keys(session: Session, user_id: int, now: datetime) -> int:
    """End every live API key of a user (a key outlives no password reset, no "sign out
    everywhere", no deactivation); how many."""
    return rows_changed(
        session,
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False),
    )


def token_digest(token: str) -> str:
    """How a login cookie's token is stored: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def claim_cookie_ticket(session: Session, *, token: str) -> bool:
    """Whether the login cookie of this live session may be written now: once only, so a
    ticket seen again (replayed, or copied from a log) writes nothing."""
    now = utc_now()
    return bool(
        rows_changed(
            session,
            update(UserSession)
            .where(
                UserSession.token_hash == token_digest(token),
                UserSession.cookie_written_at.is_(None),
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
            )
            .values(cookie_written_at=now)
            .execution_options(synchronize_session=False),
        )
    )


def open_session(
    session: Session,
    *,
    user_id: int,
    token: str,
    expires_at: datetime,
    client_address: str | None = None,
    user_agent: str | None = None,
) -> int:
    """Record a sign-in whose login cookie carries `token`; returns the session's id."""
    now = utc_now()
    record = UserSession(
        user_id=user_id,
        token_hash=token_digest(token),
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
        client_address=(client_address or "")[:64] or None,
        user_agent=(user_agent or "")[:200] or None,
    )
    session.add(record)
    session.flush()
    return record.id


# A session that counts: not revoked, not expired, not idle too long (values: `_live_at`).
_LIVE = (
    UserSession.revoked_at.is_(None)
    & (UserSession.expires_at > bindparam("now"))
    & (UserSession.last_seen_at > bindparam("idle_since"))
)


def _live_at(now: datetime) -> dict[str, datetime]:
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    return {"now": now, "idle_since": now - idle}


def session_for_token(session: Session, *, token: str) -> tuple[int, Actor] | None:
    """The live session a login cookie's token belongs to and its actor (as
    `actor_for_session`), or None (revoked, expired, idle too long, or never issued here: a
    cookie minted with the key alone signs nobody in)."""
    return _live_session(session, _SESSION_BY_TOKEN, token_digest(token))


def actor_for_session(session: Session, *, session_id: int) -> Actor | None:
    """The actor behind a live session (its user active), its last-seen time kept fresh;
    None once the session has ended. One query: it runs on every page view."""
    found = _live_session(session, _SESSION_BY_ID, session_id)
    return found[1] if found is not None else None


# Built once: one of them runs at the start of every page run (building and cache-keying a
# fresh statement cost more than running it).
_LIVE_SESSION = (
    select(UserSession.id, UserSession.user_id, UserSession.last_seen_at, *ACTOR_COLUMNS)
    .join(User, User.id == UserSession.user_id)
    .outerjoin(Partner, Partner.id == User.partner_id)
    .where(_LIVE)
)
_SESSION_BY_ID = _LIVE_SESSION.where(UserSession.id == bindparam("which"))
_SESSION_BY_TOKEN = _LIVE_SESSION.where(UserSession.token_hash == bindparam("which"))


def _live_session(
    session: Session, statement: Executable, which: object
) -> tuple[int, Actor] | None:
    """The live session `statement` finds by `which`, its last-seen time kept fresh."""
    now = utc_now()
    row = db.connection(session).execute(statement, {"which": which, **_live_at(now)}).one_or_none()
    if row is None or not row.is_active:
        return None
    if now - row.last_seen_at > SESSION_TOUCH_EVERY:  # not a write on every click
        session.execute(  # page runs read in a reads-only unit of work: a write whole by itself
            update(UserSession)
            .where(UserSession.id == row.id)
            .values(last_seen_at=now)
            .execution_options(**STANDALONE_WRITE)
        )
    return row.id, actor_from_state(row.user_id, row, session_id=row.id)


@dataclass(frozen=True)
class SessionView:
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client_address: str | None
    user_agent: str | None


def list_sessions(session: Session, *, actor: Actor) -> list[SessionView]:
    """The actor's own live sessions, most recently seen first."""
    actor = refresh(session, actor)
    rows = session.scalars(
        select(UserSession)
        .where(UserSession.user_id == actor.user_id, _LIVE)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()),
        _live_at(utc_now()),
    ).all()
    return [
        SessionView(
            id=row.id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            client_address=row.client_address,
            user_agent=row.user_agent,
        )
        for row in rows
    ]


def end_session(session: Session, *, actor: Actor, session_id: int | None) -> None:
    """Sign out one browser: the actor's own session (logout)."""
    actor = refresh(session, actor)
    if session_id is not None:
        session.execute(
            update(UserSession)
            .where(
                UserSession.id == session_id,
                UserSession.user_id == actor.user_id,
                UserSession.revoked_at.is_(None),
            )
            .values(revoked_at=utc_now())
            .execution_options(synchronize_session=False)
        )
    audit.record_by(session, actor, "user.logout", "user", actor.user_id)


def end_sessions(session: Session, *, actor: Actor) -> int:
    """Sign the actor out everywhere; returns how many sessions ended."""
    actor = refresh(session, actor)
    if actor.user_id is None:
        raise NotFound("User not found.")
    now = utc_now()
    ended = revoke_sessions(session, actor.user_id, now)
    keys = revoke_api_keys(session, actor.user_id, now)
    audit.record_by(
        session,
        actor,
        "user.logout_everywhere",
        "user",
        actor.user_id,
        after={"ended": ended, "api_keys_revoked": keys},
    )
    return ended


def set_active(session: Session, *, actor: Actor, user_id: int, active: bool) -> UserView:
    """Deactivate or reactivate a login; managers only, never their own."""
    actor = require_manager(session, actor)
    if user_id == actor.user_id:
        raise PermissionDenied("You cannot deactivate your own account.")
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("User not found.")
    if user.is_active == active:
        return _view(user)
    before = {"is_active": user.is_active}
    user.is_active = active
    standing_changed()
    if not active:
        revoke_sessions(session, user.id, utc_now())
        revoke_api_keys(session, user.id, utc_now())
    audit.record_by(
        session,
        actor,
        "user.activate" if active else "user.deactivate",
        "user",
        user.id,
        before=before,
        after={"is_active": active},
    )
    return _view(user)


def unlock(session: Session, *, actor: Actor, user_id: int) -> UserView:
    """Lift a login lock before it runs out; managers only."""
    actor = require_manager(session, actor)
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("User not found.")
    user.locked_until = None
    user.failed_logins = 0
    audit.record_by(session, actor, "user.unlock", "user", user.id)
    return _view(user)


def list_users(session: Session, *, actor: Actor, partner_id: int | None = None) -> list[UserView]:
    """Logins of one partner company (a partner sees only its own), or all for a manager."""
    partner_id = scoped_partner_id(refresh(session, actor), partner_id)
    query = select(User).order_by(User.username)
    if partner_id is not None:
        query = query.where(User.partner_id == partner_id)
    return [_view(user) for user in session.scalars(query)]


MANAGERS_USE_IDENTITY = (
    "Managers sign in with their company account: use “Sign in with your company account”."
)


def sign_in_with_identity(
    session: Session, *, claims: Mapping[str, Any], client_address: str | None = None
) -> LoginResult:
    """A manager signed in at the company's identity provider (OpenID Connect, `st.login`):
    matched to one active portal manager by the e-mail address the provider says it verified.
    Each sign-in at the provider is used once (its nonce): Streamlit's own identity cookie
    cannot start a second portal session after this one is signed out or revoked. An empty
    message: this identity was used already (nothing to tell)."""
    issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
    once = str(claims.get("nonce") or f"{issuer}|{subject}|{claims.get('iat', '')}")[:255]
    if session.scalar(select(IdentitySignIn.id).where(IdentitySignIn.nonce == once)):
        return LoginResult(None, "")
    email = str(claims.get("email") or "").strip()
    label = f"(identity {email or subject})"[:64]

    def refuse(reason: str, message: str) -> LoginResult:
        session.add(IdentitySignIn(issuer=issuer[:300], subject=subject[:255], nonce=once))
        metrics.SIGN_IN_FAILURES.labels(reason).inc()
        audit.record(
            session,
            actor_user_id=None,
            actor_label=label,
            action="login.failed",
            object_type="user",
            after={"reason": reason, "by": "identity", "issuer": issuer},
        )
        return LoginResult(None, message)

    if not email or claims.get("email_verified") is not True:
        return refuse(
            "identity_unverified",
            "Your company account did not confirm its e-mail address, so it cannot sign in here.",
        )
    found = session.scalars(
        select(User).where(
            func.lower(User.email) == email.casefold(),
            User.role == Role.MANAGER,
            User.is_active.is_(True),
        )
    ).all()
    if len(found) != 1:
        return refuse(
            "identity_unknown",
            f"No portal manager has the e-mail address {email}: ask a manager to add you.",
        )
    [user] = found
    first = not session.scalar(
        select(func.count()).select_from(IdentitySignIn).where(IdentitySignIn.user_id == user.id)
    )
    session.add(
        IdentitySignIn(user_id=user.id, issuer=issuer[:300], subject=subject[:255], nonce=once)
    )
    user.last_login_at = utc_now()
    if first:
        audit.record_for_user(
            session, user, "login.identity_linked", after={"issuer": issuer, "subject": subject}
        )
    audit.record_for_user(
        session, user, "login.succeeded", after={"by": "identity", "address": client_address or ""}
    )
    session.flush()
    return LoginResult(load_actor(session, user_id=user.id))
