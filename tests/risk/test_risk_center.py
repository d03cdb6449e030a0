"""The risk center (`portal.risk`): each rule raises its event where its facts change and in a
scan, once; a manager resolves or dismisses events with a reason (audited); a rule the
settings say holds payouts keeps a partner with an open event out of a batch, and the
partner is told a review is pending without being told which rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.core import program
from portal.core.access import Actor
from portal.core.db import unit_of_work
from portal.core.errors import PermissionDenied, ValidationError
from portal.core.models import (
    AuditEntry,
    Commission,
    Lead,
    Partner,
    RiskEvent,
    RiskRule,
    RiskStatus,
    User,
)
from portal.core.types import utc_now
from portal.leads import leads
from portal.money import commissions, payouts
from portal.partners import partners, profiles
from portal.risk import center
from tests.factories import (
    PASSWORD,
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    make_partner,
    owed_partner,
)
from tests.tools.test_cli import _url, run_cli

PAYPAL = {
    "payment_method": "paypal",
    "address": "1 Main Street",
    "city": "Springfield",
    "zip": "12345",
    "country": "US",
}


def _open(session, rule: RiskRule | None = None) -> list[RiskEvent]:
    query = select(RiskEvent).where(RiskEvent.status == RiskStatus.OPEN).order_by(RiskEvent.id)
    if rule is not None:
        query = query.where(RiskEvent.rule == rule)
    return list(session.scalars(query))


def _hold(session, *rules: str) -> None:
    program.change(
        session,
        actor=Actor.operator(),
        changes={"risk_holds": list(rules)},
        reason="Review first.",
        based_on=program.current_version(session),
    )


def test_a_payout_email_two_partners_share_raises_an_event_for_each(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        first = owed_partner(session, manager, {**PAYPAL, "payment_email": "cash@shared.example"})
        assert _open(session, RiskRule.SHARED_PAYOUT_METHOD) == []
        second = owed_partner(session, manager, {**PAYPAL, "payment_email": "Cash@Shared.example"})
        raised = _open(session, RiskRule.SHARED_PAYOUT_METHOD)
        assert {event.partner_id for event in raised} == {first.partner_id, second.partner_id}
        assert all(event.severity.value == "high" for event in raised)
        assert "cash@shared.example" in raised[0].evidence.casefold()


def test_a_bank_account_shared_is_found_by_its_number_and_never_shown_in_full(engine):
    iban = "DE89370400440532013000"
    with unit_of_work(engine) as session:
        one, other = make_actor(session), make_actor(session)
        for actor, written in ((one, iban), (other, "de89 3704 0044 0532 0130 00")):
            profiles.update_profile(
                session,
                actor=actor,
                password=PASSWORD,
                changes={"payment_method": "bank_transfer", "bank_account": written},
            )
        (event, twin) = _open(session, RiskRule.SHARED_PAYOUT_METHOD)
        assert {event.partner_id, twin.partner_id} == {one.partner_id, other.partner_id}
        assert "3000" in event.evidence and iban not in event.evidence.replace(" ", "")
        # Another account with the same last four is not the same account.
        third = make_actor(session)
        profiles.update_profile(
            session,
            actor=third,
            password=PASSWORD,
            changes={"payment_method": "bank_transfer", "bank_account": "DE40370400440532023000"},
        )
        assert len(_open(session, RiskRule.SHARED_PAYOUT_METHOD)) == 2


def test_lead_rules_self_referral_throwaway_address_and_a_burst(engine, settings_override):
    settings_override(risk_burst_per_hour=3)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        own_domain = session.get_one(Partner, partner.partner_id).email.partition("@")[2]
        own = make_lead(session, partner, client_email=f"boss@{own_domain}")
        throwaway = make_lead(session, partner, client_email="someone@mailinator.com")
        assert own.self_referral is None  # partners do not see the flag
        found = {(event.rule, event.lead_id) for event in _open(session)}
        assert (RiskRule.SELF_REFERRAL, own.id) in found
        assert (RiskRule.DISPOSABLE_CLIENT_EMAIL, throwaway.id) in found
        assert not any(rule is RiskRule.REGISTRATION_BURST for rule, _ in found)
        make_lead(session, partner)  # the third within the hour
        (burst,) = _open(session, RiskRule.REGISTRATION_BURST)
        assert burst.partner_id == partner.partner_id and "3 referrals" in burst.evidence
        make_lead(session, partner)  # the same hour: the same event
        assert len(_open(session, RiskRule.REGISTRATION_BURST)) == 1


def test_a_client_at_a_users_own_address_is_a_self_referral(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        session.execute(
            update(User).where(User.id == partner.user_id).values(email="me@myself.example")
        )
        other = make_lead(session, partner, client_email="x@elsewhere.example")
        assert not _open(session, RiskRule.SELF_REFERRAL)
        mine = make_lead(session, partner, client_email="ME@myself.example")
        (event,) = _open(session, RiskRule.SELF_REFERRAL)
        assert event.lead_id == mine.id != other.id


def test_application_rules_website_and_one_address(engine, settings_override):
    settings_override(signup_allowed=True, applications_per_address=10)
    with unit_of_work(engine) as session:
        applied = []
        for number in range(3):
            view = partners.apply(
                session,
                company_name=f"Applicant {number}",
                company_email=f"hello@applicant{number}.example",
                username=f"applicant{number}",
                display_name="A",
                user_email=f"a{number}@applicant{number}.example",
                password=PASSWORD,
                client_address="198.51.100.7",
            )
            applied.append(view.id)
            if number < 2:
                assert not _open(session, RiskRule.APPLICATIONS_FROM_ONE_ADDRESS)
        events = _open(session, RiskRule.APPLICATIONS_FROM_ONE_ADDRESS)
        assert sorted(event.partner_id for event in events) == applied
        assert "198.51.100.7" in events[0].evidence
        partner = make_actor(session)
        own = session.get_one(Partner, partner.partner_id).email.partition("@")[2]
        profiles.update_profile(
            session, actor=partner, changes={"website": f"https://www.{own}/about"}
        )
        assert not _open(session, RiskRule.WEBSITE_DOMAIN_MISMATCH)
        profiles.update_profile(
            session, actor=partner, changes={"website": "https://other.example"}
        )
        (event,) = _open(session, RiskRule.WEBSITE_DOMAIN_MISMATCH)
        assert event.partner_id == partner.partner_id and "other.example" in event.evidence


def test_a_scan_finds_what_was_written_around_the_rules_once(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        lead = make_lead(session, partner)
        # Written straight to the database (an import, an older version): no event yet.
        session.execute(
            update(Partner)
            .where(Partner.id.in_([make_partner(session).id for _ in range(3)]))
            .values(applied_from="203.0.113.9")
        )
        session.execute(update(Lead).where(Lead.id == lead.id).values(client_email="z@yopmail.com"))
        assert not _open(session)
        with pytest.raises(PermissionDenied):
            center.scan(session, actor=partner)
        new = center.scan(session, actor=manager)
        assert new[RiskRule.APPLICATIONS_FROM_ONE_ADDRESS] == 3
        assert new[RiskRule.DISPOSABLE_CLIENT_EMAIL] == 1
        assert sum(center.scan(session, actor=manager).values()) == 0  # nothing twice


def test_a_manager_resolves_or_dismisses_with_a_reason_and_it_is_audited(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        make_lead(session, partner, client_email="a@mailinator.com")
        make_lead(session, partner, client_email="b@mailinator.com")
        first, second = (event.id for event in _open(session))
        with pytest.raises(PermissionDenied):
            center.decide(
                session, actor=partner, event_ids=[first], outcome=RiskStatus.DISMISSED, reason="x"
            )
        with pytest.raises(PermissionDenied):
            center.events(session, actor=partner)
        with pytest.raises(ValidationError) as refused:
            center.decide(
                session, actor=manager, event_ids=[first], outcome=RiskStatus.RESOLVED, reason=" "
            )
        assert "reason" in refused.value.errors
        groups = center.open_groups(session, actor=manager)
        assert [(g.partner_id, g.rule, g.events) for g in groups] == [
            (partner.partner_id, RiskRule.DISPOSABLE_CLIENT_EMAIL, 2)
        ]
        decided = center.decide(
            session,
            actor=manager,
            event_ids=[first],
            outcome=RiskStatus.DISMISSED,
            reason="A test address of the client's IT team.",
        )
        assert decided == 1
        with pytest.raises(ValidationError, match="already dismissed"):
            center.decide(
                session,
                actor=manager,
                event_ids=[first, second],
                outcome=RiskStatus.RESOLVED,
                reason="Again",
            )
        assert [event.id for event in _open(session)] == [second]  # nothing half-done
        (view,) = center.events(session, actor=manager, status=RiskStatus.DISMISSED)
        assert (view.decided_by, view.decision_reason) == (
            manager.username,
            "A test address of the client's IT team.",
        )
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "risk.dismissed")
        ).one()
        assert entry.object_id == str(first) and entry.actor_user_id == manager.user_id


def test_a_holding_rule_keeps_the_partner_out_of_the_batch_under_review(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        held = owed_partner(session, manager, {**PAYPAL, "payment_email": "same@twin.example"})
        twin = owed_partner(session, manager, {**PAYPAL, "payment_email": "same@twin.example"})
        clean = owed_partner(session, manager, {**PAYPAL, "payment_email": "own@clean.example"})
        cutoff = utc_now().date()
        # Not a holding rule (the default): the event is for review only.
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        assert {p.partner_id for p in plan.paid} >= {held.partner_id, twin.partner_id}
        _hold(session, "shared_payout_method")
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        left = {p.partner_id: p.reasons for p in plan.left_out}
        assert left[held.partner_id] == ["under review"] == left[twin.partner_id]
        assert clean.partner_id in {p.partner_id for p in plan.paid}
        # The partner is told a review is pending — not which rule.
        summary = commissions.commission_summary(session, actor=held)
        assert not summary.expected_next_payout
        (reason,) = summary.held_reasons
        assert "review of your account is pending" in reason
        assert "payout" not in reason.split("review")[0] and "shared" not in reason
        batch = payouts.run_batch(session, actor=manager, cutoff=cutoff)
        paid = {payout.partner_id for payout in batch.scheduled}
        assert paid == {clean.partner_id}
        # Resolving one partner's event releases that partner only.
        event = next(e for e in _open(session) if e.partner_id == twin.partner_id)
        center.decide(
            session,
            actor=manager,
            event_ids=[event.id],
            outcome=RiskStatus.DISMISSED,
            reason="Two offices of one group; confirmed by phone.",
        )
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        assert twin.partner_id in {p.partner_id for p in plan.paid}
        assert held.partner_id in {p.partner_id for p in plan.left_out}


def test_the_command_line_scans_and_lists(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)
        session.execute(
            update(Lead).where(Lead.id == lead.id).values(client_email="q@mailinator.com")
        )
    scanned = run_cli(_url(engine), "risk", "scan")
    assert scanned.returncode == 0, scanned.stderr
    assert "disposable_client_email: 1 new event" in scanned.stdout
    listed = run_cli(_url(engine), "risk", "list")
    assert listed.returncode == 0 and f"Lead #{lead.id}" in listed.stdout
    assert "1 open event." in listed.stdout
    assert run_cli(_url(engine), "risk", "frobnicate").returncode == 2


def test_a_converted_lead_keeps_its_commission_whatever_the_events(engine):
    """An event holds payouts, never the commission a conversion earned."""
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        _hold(session, "disposable_client_email")
        view = make_converted_lead(
            session, manager, partner, "1000.00", client_email="c@mailinator.com"
        )
        assert view.commission is not None and view.commission > 0
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        assert center.under_review(session, partner.partner_id, program.current(session))
        assert (
            leads.get_lead(session, actor=manager, lead_id=view.id).lead.status.value == "converted"
        )
