"""Partner groups (`portal.partners.groups`): a group's minimum payout decides who a batch
pays; its hold days and tier rates apply to the next conversion and never to one made
before; moves and changes are audited; `verify` accepts a group's rates."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import AuditEntry, Commission, Lead, Partner
from portal.core.types import utc_now
from portal.money import commissions, payouts
from portal.partners import groups
from portal.reporting import integrity
from tests.factories import make_actor, make_converted_lead, make_manager, owed_partner

PAYPAL = {
    "payment_method": "paypal",
    "address": "1 Main Street",
    "city": "Springfield",
    "zip": "12345",
    "country": "US",
}


def _owed(session, manager, email: str, deal: str) -> int:
    return owed_partner(session, manager, {**PAYPAL, "payment_email": email}, deal).partner_id


def test_a_groups_minimum_payout_changes_who_the_next_batch_pays(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        small = _owed(session, manager, "small@pay.example", "300.00")  # 30.00 owed
        other = _owed(session, manager, "other@pay.example", "300.00")
        cutoff = utc_now().date()
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        assert {p.partner_id for p in plan.left_out} >= {small, other}  # under 50.00
        resellers = groups.save_group(session, actor=manager, name="Resellers", min_payout="25")
        assert (
            groups.move_partners(session, actor=manager, partner_ids=[small], group_id=resellers.id)
            == 1
        )
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        assert small in {p.partner_id for p in plan.paid}
        assert other in {p.partner_id for p in plan.left_out}
        scheduled = payouts.run_batch(session, actor=manager, cutoff=cutoff).scheduled
        assert [p.partner_id for p in scheduled] == [small]
        summary = commissions.commission_summary(session, actor=manager, partner_id=other)
        assert summary.min_payout == Decimal("50.00")


def test_hold_days_and_rates_apply_to_the_next_conversion_only(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        before = make_converted_lead(session, manager, partner, "1000.00")
        assert before.commission == Decimal("100.00")  # bronze 10 %
        vip = groups.save_group(
            session,
            actor=manager,
            name="VIP",
            tier_rates={"bronze": "0.17"},
            hold_days="5",
        )
        groups.move_partners(
            session, actor=manager, partner_ids=[partner.partner_id], group_id=vip.id
        )
        preview = make_converted_lead(session, manager, partner, "1000.00")
        assert preview.commission == Decimal("170.00") and preview.commission_rate == Decimal(
            "0.17"
        )
        lines = {
            line.lead_id: line
            for line in session.scalars(select(Commission).where(Commission.lead_id.is_not(None)))
        }
        new_hold = lines[preview.id].hold_until - lines[preview.id].earned_at
        old_hold = lines[before.id].hold_until - lines[before.id].earned_at
        assert (new_hold, old_hold) == (timedelta(days=5), timedelta(days=30))
        assert session.get_one(Lead, before.id).commission == Decimal("100.00")  # kept
        terms = groups.terms(session, actor=partner)
        assert terms.overridden == ("tier rates", "hold days")
        assert "“VIP” group" in terms.sentence
        # Back in the default group: the program's rate again; verify accepts both.
        groups.move_partners(
            session, actor=manager, partner_ids=[partner.partner_id], group_id=None
        )
        again = make_converted_lead(session, manager, partner, "1000.00")
        assert again.commission_rate == Decimal("0.10")
        assert integrity.verify(session) == []


def test_verify_still_refuses_a_rate_no_group_or_tier_gave(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        groups.save_group(session, actor=manager, name="VIP", tier_rates={"bronze": "0.17"})
        lead = make_converted_lead(session, manager, partner, "1000.00")
        session.execute(update(Commission).where(Commission.lead_id == lead.id).values(rate="0.17"))
        (problem,) = integrity.verify_commission_rates(session)
        assert "nor a rate of a group it was in" in problem  # never in VIP: not its rate


def test_every_wrong_field_is_named_and_nothing_is_written(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        groups.save_group(session, actor=manager, name="Resellers")
        with pytest.raises(ValidationError) as refused:
            groups.save_group(
                session,
                actor=manager,
                name="resellers",
                tier_rates={"bronze": "0.9", "diamond": "0.2"},
                hold_days="-3",
                min_payout="abc",
            )
        assert set(refused.value.errors) == {"name", "tier_rates", "hold_days", "min_payout"}
        assert [g.name for g in groups.list_groups(session, actor=manager)] == [
            groups.DEFAULT_NAME,
            "Resellers",
        ]
        with pytest.raises(ValidationError, match="called"):
            groups.save_group(session, actor=manager, name=groups.DEFAULT_NAME)


def test_only_managers_and_each_move_is_audited_and_removal_moves_partners_back(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        with pytest.raises(PermissionDenied):
            groups.save_group(session, actor=partner, name="Mine")
        group = groups.save_group(session, actor=manager, name="Agencies", hold_days="10")
        with pytest.raises(PermissionDenied):
            groups.move_partners(
                session, actor=partner, partner_ids=[partner.partner_id], group_id=group.id
            )
        with pytest.raises(NotFound):
            groups.move_partners(session, actor=manager, partner_ids=[987654], group_id=group.id)
        with pytest.raises(NotFound):
            groups.move_partners(
                session, actor=manager, partner_ids=[partner.partner_id], group_id=987654
            )
        groups.move_partners(
            session, actor=manager, partner_ids=[partner.partner_id], group_id=group.id
        )
        assert (
            groups.move_partners(
                session, actor=manager, partner_ids=[partner.partner_id], group_id=group.id
            )
            == 0
        )  # there already
        listed = {g.name: g.partners for g in groups.list_groups(session, actor=manager)}
        assert listed["Agencies"] == 1
        assert groups.delete_group(session, actor=manager, group_id=group.id) == 1
        assert session.get_one(Partner, partner.partner_id).group_id is None
        moves = session.scalars(
            select(AuditEntry.after).where(AuditEntry.action == "partner.group_moved")
        ).all()
        assert moves == [{"group_id": group.id}, {"group_id": None}]
        assert groups.terms(session, actor=partner).overridden == ()
