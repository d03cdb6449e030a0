"""Two-factor sign-in (`portal.core.two_factor`), with codes computed by `pyotp` as an
authenticator app computes them: set-up, single-use codes and recovery codes, the lock, the
manager's money and rule actions gated on a recent code, and the reset by another manager."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, update

from portal.accounts import users
from portal.core import program, two_factor
from portal.core.access import Actor
from portal.core.db import unit_of_work
from portal.core.errors import PermissionDenied, RecordedRefusal
from portal.core.models import AuditEntry, RecoveryCode, User, UserSession
from portal.core.types import utc_now
from portal.money import payout_files, payouts
from portal.partners import partners
from tests.factories import make_actor, make_manager


def _signed_in(session, actor):
    """The actor as a browser sign-in carries it (its session id)."""
    session_id = users.open_session(
        session,
        user_id=actor.user_id,
        token=secrets.token_urlsafe(16),
        expires_at=utc_now() + timedelta(days=1),
    )
    return replace(actor, session_id=session_id)


def _enrol(session, actor):
    enrolment = two_factor.begin(session, actor=actor)
    assert enrolment.uri.startswith("otpauth://totp/") and "<svg" in enrolment.qr_svg
    codes = two_factor.confirm(session, actor=actor, code=pyotp.TOTP(enrolment.secret).now())
    return enrolment.secret, codes


def _next_step_code(secret):
    totp = pyotp.TOTP(secret)
    return totp.at(utc_now() + timedelta(seconds=totp.interval))


def test_set_up_gives_ten_single_use_recovery_codes_stored_hashed(engine):
    with unit_of_work(engine) as session:
        manager = _signed_in(session, make_manager(session))
        secret, codes = _enrol(session, manager)
        assert len(codes) == len(set(codes)) == 10
        stored = session.scalars(select(RecoveryCode.code_hash)).all()
        assert len(stored) == 10 and not set(codes) & set(stored)
        user = session.get(User, manager.user_id)
        assert user.totp_secret_encrypted and secret not in user.totp_secret_encrypted
        state = two_factor.status(session, actor=manager)
        assert (state.enrolled, state.recent, state.recovery_codes_left) == (True, True, 10)
        assert two_factor.verify(session, actor=manager, code=codes[0].upper()).startswith(
            "Verified"
        )
        with pytest.raises(RecordedRefusal):
            two_factor.verify(session, actor=manager, code=codes[0])  # used once only
        assert two_factor.status(session, actor=manager).recovery_codes_left == 9
        with pytest.raises(PermissionDenied):
            two_factor.begin(session, actor=manager)  # set up already


def test_a_code_is_accepted_once_and_wrong_codes_lock(engine, settings_override):
    settings_override(lockout_failures=3)
    with unit_of_work(engine) as session:
        manager = _signed_in(session, make_manager(session))
        secret, _ = _enrol(session, manager)
        # The set-up's code was this step's: the same code again is a replay.
        with pytest.raises(RecordedRefusal) as replayed:
            two_factor.verify(session, actor=manager, code=pyotp.TOTP(secret).now())
        assert "used already" in replayed.value.errors["code"]
        two_factor.verify(session, actor=manager, code=_next_step_code(secret))
        with pytest.raises(RecordedRefusal):  # the replay counted toward the lock: 2 of 3
            two_factor.verify(session, actor=manager, code="000000")
        with pytest.raises(RecordedRefusal) as locked:
            two_factor.verify(session, actor=manager, code="000001")
        assert "locked" in locked.value.errors["code"]
        with pytest.raises(PermissionDenied):  # even a right code waits for the lock
            two_factor.verify(session, actor=manager, code=_next_step_code(secret))
        reasons = [
            entry.after["reason"]
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "two_factor.failed")
            )
        ]
        assert reasons == ["wrong_code", "wrong_code", "locked_now"]


def test_money_and_rule_actions_need_a_recent_code_when_managers_need_two_factor(
    engine, settings_override
):
    settings_override(manager_2fa="true")
    with unit_of_work(engine) as session:
        manager = _signed_in(session, make_manager(session))
        partner = make_actor(session)
        gated = [
            lambda: program.change(
                session, actor=manager, changes={"hold_days": 7}, reason="x", based_on=0
            ),
            lambda: partners.pin_rate(
                session, actor=manager, partner_id=partner.partner_id, rate="0.2"
            ),
            lambda: payouts.approve_batch(session, actor=manager, cutoff=utc_now().date()),
            lambda: payout_files.build_payout_file(
                session, actor=manager, cutoff=utc_now().date(), file_format="paypal"
            ),
        ]
        for action in gated:  # not set up: told to set it up
            with pytest.raises(PermissionDenied, match="set it up on your Account page"):
                action()
        secret, _ = _enrol(session, manager)  # the set-up's code counts as given
        program.change(session, actor=manager, changes={"hold_days": 7}, reason="x", based_on=0)
        session.execute(
            update(UserSession).values(second_factor_at=utc_now() - timedelta(minutes=16))
        )
        for action in gated:
            with pytest.raises(two_factor.SecondFactorNeeded):
                action()
        two_factor.verify(session, actor=manager, code=_next_step_code(secret))
        partners.pin_rate(session, actor=manager, partner_id=partner.partner_id, rate="0.2")
        # An API key (no browser sign-in) cannot give a code; the command line is not asked.
        with pytest.raises(PermissionDenied, match="portal's pages"):
            partners.pin_rate(
                session, actor=replace(manager, session_id=None), partner_id=1, rate="0.2"
            )
        partners.pin_rate(session, actor=Actor.operator(), partner_id=partner.partner_id, rate=None)
    settings_override(manager_2fa="false")
    with unit_of_work(engine) as session:
        other = make_manager(session)
        program.change(session, actor=other, changes={"hold_days": 8}, reason="y", based_on=2)


def test_another_manager_resets_a_lost_set_up(engine):
    with unit_of_work(engine) as session:
        manager = _signed_in(session, make_manager(session))
        colleague = make_manager(session)
        _enrol(session, manager)
        with pytest.raises(PermissionDenied, match="Another manager"):
            two_factor.reset(session, actor=manager, user_id=manager.user_id)
        with pytest.raises(PermissionDenied):
            two_factor.reset(session, actor=make_actor(session), user_id=manager.user_id)
        two_factor.reset(session, actor=colleague, user_id=manager.user_id)
        assert not two_factor.status(session, actor=manager).enrolled
        assert session.scalars(select(RecoveryCode)).all() == []
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "two_factor.reset")
        ).one()
        assert (entry.actor_user_id, entry.object_id) == (colleague.user_id, str(manager.user_id))
