"""Partners: applications, approval, suspension, pinned rates, statistics and tiers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from portal.accounts.users import authenticate
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import (
    LeadStatus,
    Notification,
    Partner,
    PartnerConversionStats,
    PartnerStatus,
)
from portal.core.types import utc_now
from portal.leads import leads
from portal.partners import partners
from portal.reporting import statistics
from tests.factories import (
    PASSWORD,
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    make_partner,
)


def _apply(session, **overrides):
    fields = {
        "company_name": "Fresh Agency",
        "company_email": "hello@fresh.example",
        "username": "fresh",
        "display_name": "Fran Fresh",
        "user_email": "fran@fresh.example",
        "password": PASSWORD,
    }
    fields.update(overrides)
    return partners.apply(session, **fields)


def test_apply_makes_a_pending_partner_that_can_log_in_but_not_register(engine):
    with unit_of_work(engine) as session:
        applied = _apply(session)
    assert applied.status is PartnerStatus.PENDING
    with unit_of_work(engine) as session:
        actor = authenticate(session, username="fresh", password=PASSWORD).actor
    assert actor is not None and actor.partner_status is PartnerStatus.PENDING
    with pytest.raises(PermissionDenied, match="under review"), unit_of_work(engine) as session:
        make_lead(session, actor)


def test_apply_validates_every_field_and_writes_nothing(engine):
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        _apply(session, company_name="", company_email="nope", password="short")
    assert set(raised.value.errors) >= {"company_name", "company_email", "password"}
    with unit_of_work(engine) as session:
        assert session.scalars(select(Partner)).all() == []


def test_apply_is_refused_when_signup_is_closed(engine, settings_override):
    settings_override(signup_allowed=False)
    with pytest.raises(PermissionDenied, match="closed"), unit_of_work(engine) as session:
        _apply(session)


def test_manager_moves_partner_through_its_statuses_and_partner_is_told(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session, status=PartnerStatus.PENDING)
        company = partner.partner_id
        with pytest.raises(ValidationError, match="cannot be reactivated"):
            partners.change_status(session, actor=manager, partner_id=company, action="reactivate")
        approved = partners.change_status(
            session, actor=manager, partner_id=company, action="approve"
        )
        assert approved.status is PartnerStatus.ACTIVE and approved.approved_at is not None
        assert (
            partners.change_status(session, actor=manager, partner_id=company, action="suspend")
        ).status is PartnerStatus.SUSPENDED
        assert (
            partners.change_status(session, actor=manager, partner_id=company, action="reactivate")
        ).status is PartnerStatus.ACTIVE
        with pytest.raises(ValidationError):
            partners.change_status(session, actor=manager, partner_id=company, action="delete")
        with pytest.raises(NotFound):
            partners.change_status(session, actor=manager, partner_id=9999, action="approve")
        messages = session.scalars(
            select(Notification.message).where(Notification.user_id == partner.user_id)
        ).all()
        assert len(messages) == 3


def test_partners_cannot_manage_partners(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        other = make_partner(session, status=PartnerStatus.PENDING)
        for call in (
            lambda: partners.change_status(
                session, actor=partner, partner_id=other.id, action="approve"
            ),
            lambda: partners.pin_rate(
                session, actor=partner, partner_id=partner.partner_id, rate="0.5"
            ),
            lambda: partners.list_partners(session, actor=partner),
        ):
            with pytest.raises(PermissionDenied):
                call()
        with pytest.raises(NotFound):
            partners.get_partner(session, actor=partner, partner_id=other.id)
        assert partners.get_partner(session, actor=partner).id == partner.partner_id


@pytest.mark.parametrize(
    ("rate", "fragment"),
    [
        ("0.51", "at most 0.5"),
        ("-0.01", "at least 0"),
        ("0.12345", "4 decimal places"),
        ("lots", "must be a number"),
    ],
)
def test_pinned_rate_is_validated(engine, rate, fragment):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        company = make_partner(session)
        with pytest.raises(ValidationError) as raised:
            partners.pin_rate(session, actor=manager, partner_id=company.id, rate=rate)
    assert fragment in raised.value.errors["commission_rate"]


def test_pinned_rate_wins_over_the_tier_and_history_is_kept(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        first = make_converted_lead(session, manager, partner)
        assert first.commission_rate == Decimal("0.1000")
        partners.pin_rate(session, actor=manager, partner_id=partner.partner_id, rate="0.2250")
        second = make_converted_lead(session, manager, partner)
        assert (second.commission_rate, second.commission) == (Decimal("0.2250"), Decimal("225.00"))
        partners.pin_rate(session, actor=manager, partner_id=partner.partner_id, rate=None)
        third = make_converted_lead(session, manager, partner)
        assert third.commission_rate == Decimal("0.1000")
        stored_first = leads.get_lead(session, actor=manager, lead_id=first.id).lead
        assert stored_first.commission == Decimal("100.00")  # not rewritten by later changes


def test_statistics_tier_progress_rank_and_conversion_rate(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        leader = make_actor(session)
        runner = make_actor(session)
        make_actor(session)  # an active partner with nothing yet
        make_actor(session, status=PartnerStatus.PENDING)  # not ranked
        for _ in range(10):
            make_converted_lead(session, manager, leader)
        make_converted_lead(session, manager, runner, deal_value="500.00")
        make_lead(session, runner)
        stats = statistics.partner_statistics(session, actor=leader)
        assert (stats.total_referrals, stats.converted) == (10, 10)
        assert stats.conversion_rate == Decimal("1.0000")
        assert (stats.tier, stats.next_tier) == ("silver", "gold")
        assert stats.conversions_to_next_tier == 15
        assert stats.tier_progress == 0
        assert (stats.rank, stats.ranked_partners) == (1, 3)
        # Each conversion took the rate in force before it: all ten at bronze's 10%.
        assert stats.total_earnings == Decimal("1000.00")
        runner_stats = statistics.partner_statistics(session, actor=runner)
        assert runner_stats.conversion_rate == Decimal("0.5000")
        assert runner_stats.rank == 2 and runner_stats.tier == "bronze"
        # A suspended partner leaves the ranking; the others close up behind it.
        partners.change_status(
            session, actor=manager, partner_id=leader.partner_id, action="suspend"
        )
        assert statistics.partner_statistics(session, actor=runner).rank == 1
        assert statistics.partner_statistics(session, actor=runner).ranked_partners == 2
        assert statistics.partner_statistics(session, actor=leader).rank is None
        partners.change_status(
            session, actor=manager, partner_id=leader.partner_id, action="reactivate"
        )
        assert statistics.partner_statistics(session, actor=runner).rank == 2
        assert runner_stats.pipeline[LeadStatus.PENDING] == 1
        assert runner_stats.earnings_by_month[-1].commission == Decimal("50.00")
        with pytest.raises(NotFound):
            statistics.partner_statistics(session, actor=runner, partner_id=leader.partner_id)
        assert (
            statistics.partner_statistics(
                session, actor=manager, partner_id=runner.partner_id
            ).total_referrals
            == 2
        )


def test_tier_counts_only_the_trailing_year(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        for _ in range(10):
            make_converted_lead(session, manager, partner)
        assert statistics.partner_statistics(session, actor=partner).tier == "silver"
        # Those conversions age past the window: the partner falls back to bronze.
        old_day = utc_now().date() - timedelta(days=400)
        session.execute(
            update(PartnerConversionStats)
            .where(PartnerConversionStats.partner_id == partner.partner_id)
            .values(day=old_day)
        )
        stats = statistics.partner_statistics(session, actor=partner)
        assert (stats.tier, stats.trailing_conversions) == ("bronze", 0)
        assert stats.conversions_to_next_tier == 10


def test_conversion_rate_is_zero_without_referrals():
    assert statistics.conversion_rate(0, 0) == Decimal("0")
    assert statistics.conversion_rate(1, 3) == Decimal("0.3333")


def test_tier_thresholds_and_rates_are_configurable(engine, settings_override):
    settings_override(
        tier_thresholds={"starter": 0, "pro": 2},
        tier_rates={"starter": "0.05", "pro": "0.3"},
    )
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        assert make_converted_lead(session, manager, partner).commission == Decimal("50.00")
        make_converted_lead(session, manager, partner)
        third = make_converted_lead(session, manager, partner)
        assert third.commission == Decimal("300.00")
        assert statistics.partner_statistics(session, actor=partner).tier == "pro"


def test_applications_are_throttled_per_address_refusals_included(engine, settings_override):
    settings_override(applications_per_address=2)
    with unit_of_work(engine) as session:
        make_actor(session, username="taken.name")

    def apply_as(username, address):
        with unit_of_work(engine) as session:
            return partners.apply(
                session,
                company_name="Probe Co",
                company_email="probe@probe.example",
                username=username,
                display_name="Probe",
                user_email="probe@probe.example",
                password="a long enough password",
                client_address=address,
            )

    for _ in range(2):
        with pytest.raises(ValidationError) as taken:
            apply_as("taken.name", "203.0.113.7")
        assert taken.value.errors["username"] == "This username is taken."
    with pytest.raises(ValidationError) as throttled:
        apply_as("fresh.name", "203.0.113.7")
    assert "Too many applications from your network" in throttled.value.errors["username"]
    assert apply_as("fresh.name", "198.51.100.1").status.value == "pending"
    with unit_of_work(engine) as session:
        # Refused applications wrote nothing but their count.
        assert session.scalar(select(func.count()).select_from(Partner)) == 2
