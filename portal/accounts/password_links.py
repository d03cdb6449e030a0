"""Single-use links to set a password: an invitation for a user a manager creates, and a
reset for one who forgot theirs.

The token travels only in the e-mail's link; the database keeps its SHA-256. A link works
once and until it expires; using it ends every session of the user, lifts a lock and
voids the user's other links. Asking for a reset gives the same answer whether or not the
account exists, and one account is sent at most `PORTAL_RESET_MAILS_PER_HOUR` of them.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal.accounts.users import (
    UserView,
    create_user,
    hash_password,
    password_problem,
    revoke_api_keys,
    revoke_sessions,
    token_digest,
    username_key,
)
from portal.core import audit, throttle
from portal.core.access import Actor, require_manager
from portal.core.config import get_settings
from portal.core.errors import NotFound, ValidationError
from portal.core.models import OutboxMessage, PasswordToken, Role, TokenPurpose, User
from portal.core.types import utc_now
from portal.messaging import mail

RESET_ANSWER = (
    "If an account matches, a link to choose a new password is on its way to the account's "
    "e-mail address. It works once, for {minutes} minutes."
)
LINK_REFUSED = "This link has expired or was already used. Ask for a new one."
MAX_LOGIN_LENGTH = 254


def _issue(session: Session, user: User, purpose: TokenPurpose, lifetime: timedelta) -> str:
    """A new link for the user (its earlier unused ones of any purpose stop working)."""
    now = utc_now()
    _void_links(session, user.id, now)
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def _void_links(session: Session, user_id: int, now: datetime) -> None:
    session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user_id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def link_for(token: str) -> str:
    return f"{mail.link_base()}/set_password?{urlencode({'token': token})}"


def invite_user(
    session: Session,
    *,
    actor: Actor,
    username: str,
    display_name: str,
    email: str,
    role: Role,
    partner_id: int | None = None,
) -> UserView:
    """Create a login with no usable password and mail its owner a link to choose one;
    managers only."""
    require_manager(session, actor)
    view = create_user(
        session,
        actor=actor,
        username=username,
        display_name=display_name,
        email=email,
        # Nobody knows this password: the account opens through the invitation only.
        password=secrets.token_urlsafe(24),
        role=role,
        partner_id=partner_id,
    )
    send_invitation(session, actor=actor, user_id=view.id)
    return view


def send_invitation(session: Session, *, actor: Actor, user_id: int) -> None:
    """Mail a user a link to choose a password (a new one replaces earlier links); managers
    only."""
    require_manager(session, actor)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.")
    lifetime = timedelta(days=get_settings().invitation_days)
    token = _issue(session, user, TokenPurpose.INVITATION, lifetime)
    mail.enqueue(
        session,
        recipient=mail.Recipient(user.id, user.email, user.display_name),
        kind="invitation",
        context={
            "inviter": actor.display_name if actor.user_id else get_settings().program_name,
            "username": user.username,
            "expires": mail.moment_words(utc_now() + lifetime),
        },
        secret_link=link_for(token),
    )
    audit.record_by(session, actor, "user.invite", "user", user.id)


def _mail_reset_link(session: Session, user: User, lifetime: timedelta) -> None:
    token = _issue(session, user, TokenPurpose.RESET, lifetime)
    mail.enqueue(
        session,
        recipient=mail.Recipient(user.id, user.email, user.display_name),
        kind="password_reset",
        context={
            "username": user.username,
            "expires": mail.moment_words(utc_now() + lifetime),
        },
        secret_link=link_for(token),
    )


def send_new_link(session: Session, *, actor: Actor, message_id: int) -> str:
    """Mail the user of an invitation or reset message a new link of the same kind (earlier
    links stop working); managers only. Managers never see a link: they send a new one."""
    actor = require_manager(session, actor)
    message = session.get(OutboxMessage, message_id)
    if message is None or message.kind not in ("invitation", "password_reset"):
        raise NotFound("No invitation or password reset message with that number.")
    user = session.get(User, message.user_id) if message.user_id else None
    if user is None or not user.is_active:
        raise ValidationError({"message": "Its user no longer exists or is deactivated."})
    if message.kind == "invitation":
        send_invitation(session, actor=actor, user_id=user.id)
    else:
        _mail_reset_link(session, user, timedelta(minutes=get_settings().reset_link_minutes))
        audit.record_by(session, actor, "user.reset_sent", "user", user.id)
    return user.email


def request_reset(session: Session, *, login: str) -> str:
    """Mail a reset link to the account(s) named by username or e-mail; the answer to show,
    the same whatever was found."""
    settings = get_settings()
    answer = RESET_ANSWER.format(minutes=settings.reset_link_minutes)
    text = (login or "").strip()
    if not text:
        raise ValidationError({"login": "Enter your username or e-mail address."})
    if len(text) > MAX_LOGIN_LENGTH or not text.isprintable():
        return answer
    users = list(
        session.scalars(
            select(User)
            .where(
                or_(User.username == username_key(text), User.email == text.casefold()),
                User.is_active,
            )
            .order_by(User.id)
            .limit(5)
        )
    )
    now = utc_now()
    lifetime = timedelta(minutes=settings.reset_link_minutes)
    for user in users:
        key = f"reset:{user.id}"
        if throttle.locked_until(session, key, now) is not None:
            audit.record_for_user(session, user, "user.reset_throttled")
            continue
        throttle.count_failure(
            session,
            key,
            limit=settings.reset_mails_per_hour,
            window=timedelta(hours=1),
            lock_for=timedelta(hours=1),
            now=now,
        )
        _mail_reset_link(session, user, lifetime)
        audit.record_for_user(session, user, "user.reset_requested")
    return answer


def _usable(session: Session, token: str, now: datetime) -> tuple[PasswordToken, User] | None:
    if not isinstance(token, str) or not token or len(token) > 100 or not token.isascii():
        return None
    link = session.scalar(
        select(PasswordToken)
        .where(PasswordToken.token_hash == token_digest(token))
        .with_for_update()
    )
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    user = session.get(User, link.user_id, with_for_update=True)
    if user is None or not user.is_active:
        return None
    return link, user


def link_owner(session: Session, *, token: str) -> tuple[str, TokenPurpose] | None:
    """Whose username a link sets the password of, and why; None for a dead link."""
    found = _usable(session, token, utc_now())
    return (found[1].username, found[0].purpose) if found else None


def set_password(session: Session, *, token: str, new_password: str) -> str:
    """Use a link: set the password, end every session, lift a lock; the username."""
    now = utc_now()
    found = _usable(session, token, now)
    if found is None:
        raise ValidationError({"token": LINK_REFUSED})
    link, user = found
    problem = password_problem(new_password or "")
    if problem:
        raise ValidationError({"new_password": problem})
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    _void_links(session, user.id, now)
    ended = revoke_sessions(session, user.id, now)
    revoke_api_keys(session, user.id, now)  # whoever had the old password had its keys too
    audit.record_for_user(
        session,
        user,
        f"user.password_set_by_{link.purpose.value}",
        after={"password": "changed", "sessions_ended": ended},
    )
    return user.username
