"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238, by `pyotp`).

A user sets it up by scanning a QR code and typing a first code, and receives ten
single-use recovery codes (shown once, stored hashed). A code is accepted once: a code of a
time step already used is refused, so one seen over a shoulder is worth nothing. Wrong codes
count toward a lock as wrong passwords do.

With `PORTAL_MANAGER_2FA` (on in production) a manager's money and rule actions — payout
files, batch approval, program settings, pinned rates — need this sign-in to have given a
code within `STEP_UP_MINUTES`: `require` says so, and the page asks for one. The command line
(whoever runs it has the server) and partners are not asked. Another manager resets a user
who lost the phone and the codes; every step is audited.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import segno
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from portal.core import audit, throttle
from portal.core.access import Actor, refresh, require_manager
from portal.core.config import get_settings
from portal.core.crypto import decrypt, encrypt
from portal.core.errors import NotFound, PermissionDenied, PortalError, RecordedRefusal
from portal.core.models import RecoveryCode, User, UserSession
from portal.core.types import utc_now

STEP_UP_MINUTES = 15
RECOVERY_CODES = 10
ISSUER = "Partner Portal"


class SecondFactorNeeded(PortalError):
    """The action needs a code from the authenticator app first (this sign-in gave none
    within STEP_UP_MINUTES)."""


@dataclass(frozen=True)
class Status:
    enrolled: bool
    required: bool  # for this user's money and rule actions
    recent: bool  # this sign-in gave a code within STEP_UP_MINUTES
    recovery_codes_left: int


@dataclass(frozen=True)
class Enrolment:
    secret: str  # for typing in by hand
    uri: str  # otpauth://, what the QR code holds
    qr_svg: str


def _user(session: Session, actor: Actor) -> User:
    actor = refresh(session, actor)
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise NotFound("There is no signed-in user to set up two-factor sign-in for.")
    return user


def _required(actor: Actor) -> bool:
    return actor.is_manager and get_settings().managers_need_two_factor


def _recent(session: Session, actor: Actor) -> bool:
    if actor.session_id is None:
        return False
    given = session.scalar(
        select(UserSession.second_factor_at).where(UserSession.id == actor.session_id)
    )
    return given is not None and utc_now() - given <= timedelta(minutes=STEP_UP_MINUTES)


def status(session: Session, *, actor: Actor) -> Status:
    """Where the user stands; two small reads (a page shows it on every run, after the one
    read of the signed-in user that the run's services share)."""
    actor = refresh(session, actor)
    if actor.user_id is None:
        raise NotFound("There is no signed-in user to set up two-factor sign-in for.")
    confirmed = session.scalar(select(User.totp_confirmed_at).where(User.id == actor.user_id))
    left = session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == actor.user_id, RecoveryCode.used_at.is_(None))
    )
    return Status(
        enrolled=confirmed is not None,
        required=_required(actor),
        recent=_recent(session, actor),
        recovery_codes_left=left or 0,
    )


def begin(session: Session, *, actor: Actor) -> Enrolment:
    """A new secret for the user to scan (replacing one not yet confirmed)."""
    user = _user(session, actor)
    if user.totp_confirmed_at is not None:
        raise PermissionDenied(
            "Two-factor sign-in is already set up; another manager can reset it if the phone "
            "is lost."
        )
    secret = pyotp.random_base32()
    user.totp_secret_encrypted = encrypt(secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False)
    return Enrolment(secret=secret, uri=uri, qr_svg=buffer.getvalue().decode())


def _hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 bits; ten of them, each used once
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def _matching_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step `code` is the code of (this one, or one either side for a clock a
    little off), unless that step was used already."""
    totp = pyotp.TOTP(secret)
    now = utc_now()
    for offset in (0, -1, 1):
        moment = now + timedelta(seconds=offset * totp.interval)
        if secrets.compare_digest(totp.at(moment), code):
            step = totp.timecode(moment)
            return step if last_step is None or step > last_step else None
    return None


def _refuse(session: Session, user: User, reason: str, message: str) -> RecordedRefusal:
    settings = get_settings()
    now = utc_now()
    locked = throttle.count_failure(
        session,
        f"2fa:{user.id}",
        limit=settings.lockout_failures,
        lock_for=timedelta(minutes=settings.lockout_minutes),
        now=now,
    )
    audit.record_for_user(
        session, user, "two_factor.failed", after={"reason": "locked_now" if locked else reason}
    )
    if locked:
        message = (
            f"Too many wrong codes: two-factor sign-in is locked for "
            f"{settings.lockout_minutes} minutes."
        )
    return RecordedRefusal({"code": message})


def _check_lock(session: Session, user: User) -> None:
    until = throttle.locked_until(session, f"2fa:{user.id}", utc_now())
    if until is not None:
        raise PermissionDenied("Too many wrong codes: try again later.")


def _given(session: Session, actor: Actor) -> None:
    if actor.session_id is not None:
        session.execute(
            update(UserSession)
            .where(UserSession.id == actor.session_id)
            .values(second_factor_at=utc_now())
        )


def confirm(session: Session, *, actor: Actor, code: str) -> list[str]:
    """Finish setting up with a first code; the recovery codes, to be shown this once."""
    actor = refresh(session, actor)
    user = _user(session, actor)
    if user.totp_confirmed_at is not None or user.totp_secret_encrypted is None:
        raise PermissionDenied("Start setting up two-factor sign-in first.")
    _check_lock(session, user)
    step = _matching_step(decrypt(user.totp_secret_encrypted), code.strip(), None)
    if step is None:
        raise _refuse(
            session, user, "wrong_code", "That code is not the app's current one: try again."
        )
    user.totp_confirmed_at, user.totp_last_step = utc_now(), step
    codes = _new_recovery_codes()
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(code)) for code in codes)
    _given(session, actor)
    audit.record_by(session, actor, "two_factor.enabled", "user", user.id)
    return codes


def verify(session: Session, *, actor: Actor, code: str) -> str:
    """Accept a code from the app (once per time step) or a recovery code (once): this
    sign-in has given a second factor now; says for how long it counts."""
    actor = refresh(session, actor)
    user = _user(session, actor)
    if user.totp_confirmed_at is None or user.totp_secret_encrypted is None:
        raise PermissionDenied("Set up two-factor sign-in on your Account page first.")
    _check_lock(session, user)
    typed = code.strip()
    how = "app"
    if typed.isdigit() and len(typed) == 6:
        step = _matching_step(decrypt(user.totp_secret_encrypted), typed, user.totp_last_step)
        if step is None:
            raise _refuse(
                session,
                user,
                "wrong_code",
                "That code is not valid now, or was used already: wait for the next one.",
            )
        user.totp_last_step = step
    else:
        spent = session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == _hash(typed),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=utc_now())
        )
        if not spent.rowcount:  # type: ignore[attr-defined]
            raise _refuse(
                session, user, "wrong_recovery_code", "That is not an unused recovery code."
            )
        how = "recovery_code"
    _given(session, actor)
    audit.record_by(session, actor, "two_factor.verified", "user", user.id, after={"by": how})
    return f"Verified for the next {STEP_UP_MINUTES} minutes."


def require(session: Session, actor: Actor) -> None:
    """Refuse a money or rule action of a manager whose sign-in has given no recent code,
    when managers need two-factor sign-in."""
    actor = refresh(session, actor)
    if actor.user_id is None or not _required(actor):
        return
    enrolled = session.scalar(select(User.totp_confirmed_at).where(User.id == actor.user_id))
    if enrolled is None:
        raise PermissionDenied(
            "This needs two-factor sign-in: set it up on your Account page first."
        )
    if actor.session_id is None:
        raise PermissionDenied(
            "This needs a code from your authenticator app: do it on the portal's pages."
        )
    if not _recent(session, actor):
        raise SecondFactorNeeded(
            "Enter the code from your authenticator app (at the top of this page) to go on."
        )


def reset(
    session: Session, *, actor: Actor, user_id: int | None = None, username: str = ""
) -> None:
    """Remove a user's two-factor set-up (a lost phone), the user named by id or username:
    another manager only; the user sets it up again."""
    manager = require_manager(session, actor)
    user = (
        session.get(User, user_id)
        if user_id is not None
        else session.scalar(select(User).where(User.username == username.strip().casefold()))
    )
    if user is None:
        raise NotFound("User not found.")
    user_id = user.id
    if manager.user_id == user_id:
        raise PermissionDenied("Another manager must reset your two-factor sign-in.")
    user.totp_secret_encrypted = user.totp_confirmed_at = user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    audit.record_by(session, manager, "two_factor.reset", "user", user_id)
