"""Single sign-on for staff (`users.sign_in_with_identity`): the identity provider's verified
e-mail matches one active manager; each provider sign-in is used once; the first is audited;
password sign-in can be turned off for managers."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts import users
from portal.core.db import unit_of_work
from portal.core.models import AuditEntry, User
from tests.factories import PASSWORD, make_actor, make_manager

ISSUER = "http://idp.example"


def _claims(email, nonce, **more):
    return {
        "iss": ISSUER,
        "sub": f"sub-{email}",
        "email": email,
        "email_verified": True,
        "nonce": nonce,
        "iat": 1,
        **more,
    }


def _email(session, actor):
    return session.get(User, actor.user_id).email


def test_a_verified_email_signs_in_its_manager_once_per_provider_sign_in(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        email = _email(session, manager)
        first = users.sign_in_with_identity(session, claims=_claims(email.upper(), "n1"))
        assert first.actor is not None and first.actor.user_id == manager.user_id
        again = users.sign_in_with_identity(session, claims=_claims(email, "n1"))
        assert (again.actor, again.message) == (None, "")  # the same sign-in: used once
        later = users.sign_in_with_identity(session, claims=_claims(email, "n2"))
        assert later.actor is not None
        actions = [
            entry.action
            for entry in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.actor_user_id == manager.user_id)
                .order_by(AuditEntry.id)
            )
        ]
        assert actions.count("login.identity_linked") == 1  # the first sign-in only
        assert actions.count("login.succeeded") == 2


def test_no_match_no_entry(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        unverified = users.sign_in_with_identity(
            session, claims=_claims(_email(session, manager), "u1", email_verified=False)
        )
        assert unverified.actor is None and "did not confirm" in unverified.message
        stranger = users.sign_in_with_identity(session, claims=_claims("who@else.example", "u2"))
        assert stranger.actor is None and "No portal manager has the e-mail" in stranger.message
        # Single sign-on is for staff: a partner's user is not matched.
        partner_user = users.sign_in_with_identity(
            session, claims=_claims(_email(session, partner), "u3")
        )
        assert partner_user.actor is None
        session.get(User, manager.user_id).is_active = False
        inactive = users.sign_in_with_identity(
            session, claims=_claims(_email(session, manager), "u4")
        )
        assert inactive.actor is None
        reasons = [
            entry.after["reason"]
            for entry in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "login.failed")
                .order_by(AuditEntry.id)
            )
        ]
        assert reasons == [
            "identity_unverified",
            "identity_unknown",
            "identity_unknown",
            "identity_unknown",
        ]


def test_managers_password_sign_in_can_be_turned_off(engine, settings_override):
    settings_override(manager_password_login="false")
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        refused = users.authenticate(session, username=manager.username, password=PASSWORD)
        assert refused.actor is None and refused.message == users.MANAGERS_USE_IDENTITY
        assert users.authenticate(session, username=partner.username, password=PASSWORD).actor
