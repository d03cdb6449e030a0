"""The audit's money defects, each as a regression test, and one eligibility decision that the
batch, the pre-flight, the tracker and the dashboard all agree on for every partner state."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from portal.core import program
from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.core.models import Commission, CommissionKind, PartnerProfile
from portal.core.types import utc_now
from portal.core.validation import parse_day
from portal.leads import leads
from portal.money import commissions, payouts
from portal.money.commissions import CommissionState
from portal.partners import partners, profiles
from portal.reporting import exports, integrity
from tests.factories import (
    PASSWORD,
    make_actor,
    make_converted_lead,
    make_manager,
    payable_profile,
    verify_tax_form,
)


def today():
    return utc_now().date()


def hold_ends(session, lead_id, moment):
    session.execute(
        update(Commission)
        .where(Commission.lead_id == lead_id, Commission.kind == CommissionKind.COMMISSION)
        .values(hold_until=moment)
    )


def paid_then_reversed(session, manager, partner, deal="1000.00"):
    """A commission paid in an earlier batch, then reversed now: a clawback dated now."""
    lead = make_converted_lead(session, manager, partner, deal)
    hold_ends(session, lead.id, utc_now() - timedelta(days=40))
    batch = payouts.run_batch(session, actor=manager, cutoff=today())
    (payout,) = [p for p in batch.scheduled if p.partner_id == partner.partner_id]
    payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference=f"T-{payout.id}")
    current = leads.get_lead(session, actor=manager, lead_id=lead.id).lead
    leads.change_lead_status(
        session, actor=manager, lead_id=lead.id, to="qualified", expected_version=current.version
    )


def test_a_clawback_made_after_the_cutoff_is_netted_from_that_batch(engine):
    """Paid Feb 5, reversed Mar 8, batch run Mar 8 with cut-off Mar 7: netted, not overpaid."""
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        paid_then_reversed(session, manager, partner)  # clawback of -100.00, dated now
        newer = make_converted_lead(session, manager, partner, "2500.00")
        hold_ends(session, newer.id, utc_now() - timedelta(days=5))
        yesterday = today() - timedelta(days=1)
        (payout,) = payouts.run_batch(session, actor=manager, cutoff=yesterday).scheduled
        assert (payout.amount, payout.lines) == (Decimal("150.00"), 2)
        assert integrity.verify_ledger(session) == []


def test_a_zero_net_is_never_paid_even_with_no_minimum(engine, settings_override):
    settings_override(min_payout="0")
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        even, owed = make_actor(session), make_actor(session)
        for partner in (even, owed):
            payable_profile(session, partner)
        paid_then_reversed(session, manager, even)
        back = make_converted_lead(session, manager, even, "1000.00")  # +100.00 against -100.00
        hold_ends(session, back.id, utc_now() - timedelta(days=40))
        lead = make_converted_lead(session, manager, owed, "1000.00")
        hold_ends(session, lead.id, utc_now() - timedelta(days=40))
        batch = payouts.run_batch(session, actor=manager, cutoff=today())
        assert [p.partner_id for p in batch.scheduled] == [owed.partner_id]
        (left,) = [p for p in batch.left_out if p.partner_id == even.partner_id]
        assert left.amount == Decimal("0.00") and "nothing to pay (net 0.00)" in left.reasons


def test_a_hold_ending_later_today_keeps_the_line_out_of_todays_batch(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        lead = make_converted_lead(session, manager, partner, "1000.00")
        now = utc_now()
        midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
        hold_ends(session, lead.id, now + (midnight - now) / 2)
        plan = payouts.preview(session, actor=manager, cutoff=today())
        assert plan.paid == [] and plan.left_out == []
        assert payouts.run_batch(session, actor=manager, cutoff=today()).scheduled == []
        (line,) = commissions.list_commissions(session, actor=partner).items
        assert line.state is CommissionState.ON_HOLD and line.payout_id is None


def test_the_tax_export_survives_a_partner_whose_tax_form_is_gone(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner, "wise")
        lead = make_converted_lead(session, manager, partner, "25000.00")
        hold_ends(session, lead.id, utc_now() - timedelta(days=40))
        (payout,) = payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
        payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="T-2500")
        session.execute(update(PartnerProfile).values(tax_form=None, tax_form_received_at=None))
    for use_copy in (False, True) if engine.dialect.name == "postgresql" else (False,):
        sink = io.StringIO()
        with unit_of_work(engine) as session:
            exports.write_csv(
                session,
                actor=manager,
                kind="tax",
                sink=sink,
                filters=exports.Filters(year=today().year),
                use_copy=use_copy,
            )
        # The 1099-NEC list holds W-9 payees only: one whose form is gone is not on it, and
        # the export says so with its header alone instead of failing.
        (header,) = sink.getvalue().splitlines()
        assert header.startswith("partner_id,company_name,paid_total")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("20261101", "not a date written as YYYY-MM-DD"),
        ("2026-W45-1", "not a date written as YYYY-MM-DD"),
        ("2026-11-1", "not a date written as YYYY-MM-DD"),
        ("2026-02-29", "no such date as 2026-02-29"),
        ("2026-13-01", "no such date as 2026-13-01"),
    ],
)
def test_cutoffs_are_read_strictly_and_say_what_is_wrong(engine, text, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_day(text)
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        with pytest.raises(ValidationError) as raised:
            payouts.preview(session, actor=manager, cutoff=text)
    assert fragment in raised.value.errors["cutoff"]
    assert parse_day(" 2024-02-29 ").isoformat() == "2024-02-29"


# --- one eligibility decision --------------------------------------------------------------

STATES = {  # the clawback's own batch comes first, before anyone else is owed
    "clawed back to nothing": "nothing to pay (net 0.00)",
    "eligible": None,
    "suspended": "partner is suspended",
    "no method": "no payout method on file",
    "bank details missing": "payout details for bank transfer are incomplete",
    "check without address": "payout details for check are incomplete",
    "no tax form": "no verified tax form on file",
    "tax form awaiting review": "tax form awaits verification",
    "tax form lapsed": "tax form expired on",
    "below minimum": "below the 50.00 minimum",
}


def _partner_in_state(session, manager, state):
    from portal.money import tax_forms
    from tests.factories import TINY_PDF

    partner = make_actor(session)
    changes = {
        "payment_method": "paypal",
        "payment_email": "pay@partner.example",
        "address": "1 Main Street",
        "city": "Springfield",
        "zip": "12345",
        "country": "US",
    }
    if state == "no method":
        changes.pop("payment_method")
    if state == "bank details missing":
        changes["payment_method"] = "bank_transfer"
    if state == "check without address":
        changes.update(payment_method="check", address="", city="")
    profiles.update_profile(session, actor=partner, password=PASSWORD, changes=changes)
    if state not in ("no tax form", "tax form awaiting review"):
        verify_tax_form(session, partner, form="W-8BEN" if state == "tax form lapsed" else "W-9")
    if state == "tax form awaiting review":
        tax_forms.submit_tax_form(
            session, actor=partner, form="W-9", file_name="w9.pdf", content=TINY_PDF
        )
    if state == "tax form lapsed":
        session.execute(
            update(PartnerProfile)
            .where(PartnerProfile.partner_id == partner.partner_id)
            .values(tax_form_expires_on=today() - timedelta(days=1))
        )
    if state == "clawed back to nothing":
        paid_then_reversed(session, manager, partner)
    deal = "300.00" if state == "below minimum" else "1000.00"
    lead = make_converted_lead(session, manager, partner, deal)
    hold_ends(session, lead.id, utc_now() - timedelta(days=40))
    if state == "suspended":
        partners.change_status(
            session, actor=manager, partner_id=partner.partner_id, action="suspend"
        )
    return partner


def test_preflight_tracker_and_batch_agree_for_every_partner_state(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        made = {state: _partner_in_state(session, manager, state) for state in STATES}
        plan = payouts.preview(session, actor=manager, cutoff=today())
        planned = {p.partner_id: p for p in [*plan.paid, *plan.left_out]}
        for state, reason in STATES.items():
            partner = made[state]
            pre = planned[partner.partner_id]
            tracker = commissions.commission_summary(session, actor=partner)
            assert [b.reason for b in tracker.blockers] == pre.reasons, state
            assert tracker.owed_next_payout == pre.amount, state
            if reason is None:
                assert pre.reasons == [] and tracker.expected_next_payout == pre.amount
                continue
            assert any(r.startswith(reason) for r in pre.reasons), (state, pre.reasons)
            # The amount owed is shown, but the next payout will not carry it.
            assert tracker.expected_next_payout == Decimal("0.00"), state
            remedies = [b.remedy for b in tracker.blockers]
            if pre.reasons == ["nothing to pay (net 0.00)"]:  # not held: nothing is owed
                assert tracker.held_reasons == [], state
                assert tracker.outlook is not commissions.PayoutOutlook.HELD, state
            else:
                assert remedies and all(remedy in tracker.held_reasons for remedy in remedies)
        batch = payouts.run_batch(session, actor=manager, cutoff=today())
        assert [p.partner_id for p in batch.scheduled] == [made["eligible"].partner_id]
        assert {p.partner_id: p.reasons for p in batch.left_out} == {
            p.partner_id: p.reasons for p in plan.left_out
        }
        assert integrity.verify_ledger(session) == []


def test_a_suspended_partner_sees_what_it_is_owed_held_not_promised(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = _partner_in_state(session, manager, "suspended")
        tracker = commissions.commission_summary(session, actor=partner)
        assert tracker.owed_next_payout == Decimal("100.00")
        assert tracker.expected_next_payout == Decimal("0.00")
        assert any("suspended" in reason for reason in tracker.held_reasons)
        stored = session.scalar(select(Commission.status).where(Commission.kind == "commission"))
        assert stored.value == "open"


def test_the_tracker_states_every_case_of_the_next_payout(engine):
    """Nothing earned, on hold with its release, due with amount and day, held with the
    reason, scheduled with amount and day, paid up: each partner is told its own case, and
    nobody is told about clawbacks they do not have."""
    outlook = commissions.PayoutOutlook
    with unit_of_work(engine) as session:
        manager = make_manager(session)

        def summary(partner):
            return commissions.commission_summary(session, actor=partner)

        new = make_actor(session)
        state = summary(new)
        assert state.outlook is outlook.NOTHING_EARNED
        assert "Nothing earned yet" in state.headline
        assert not any("lawback" in text for text in [state.headline, *state.held_reasons])

        holding = make_actor(session)
        make_converted_lead(session, manager, holding, "1000.00")
        state = summary(holding)
        release = (utc_now() + timedelta(days=30)).date()
        assert state.outlook is outlook.ON_HOLD
        assert "100.00 USD is on hold" in state.headline and str(release) in state.headline

        due = make_actor(session)
        payable_profile(session, due)
        verify_tax_form(session, due)
        lead = make_converted_lead(session, manager, due, "1000.00")
        hold_ends(session, lead.id, utc_now() - timedelta(days=1))
        state = summary(due)
        payday = commissions.next_payout_date(today(), program.current(session))
        assert state.outlook is outlook.DUE
        assert state.headline == f"100.00 USD will be paid on {payday}."

        held = make_actor(session)  # owed, but no payout method on file
        lead = make_converted_lead(session, manager, held, "1000.00")
        hold_ends(session, lead.id, utc_now() - timedelta(days=1))
        state = summary(held)
        assert state.outlook is outlook.HELD and "100.00 USD owed" in state.headline
        assert any("payout method" in reason for reason in state.held_reasons)

        (payout,) = [
            p
            for p in payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
            if p.partner_id == due.partner_id
        ]
        state = summary(due)
        assert state.outlook is outlook.SCHEDULED and "on its way" in state.headline
        assert [(p.id, p.amount, p.cutoff) for p in state.scheduled] == [
            (payout.id, Decimal("100.00"), today())
        ]
        assert state.held_reasons == []

        payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="T-1")
        state = summary(due)
        assert state.outlook is outlook.PAID_UP and state.scheduled == ()
