"""Money: the ledger's states, reversals and clawbacks, payouts, statements, the tax report."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from portal.core import program
from portal.core.config import ProgramRules
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, PortalError, ValidationError
from portal.core.models import AuditEntry, Commission, CommissionStatus, Payout, PayoutStatus
from portal.core.types import utc_now
from portal.leads import leads
from portal.money import commissions, monthly_statements, payouts, tax_reports
from portal.money.commissions import CommissionState
from portal.partners import profiles
from portal.reporting import integrity, statistics
from tests.conftest import empty_all_tables
from tests.factories import (
    ids_page_by_page,
    make_actor,
    make_converted_lead,
    make_manager,
    payable_profile,
    verify_tax_form,
)


def today() -> date:
    return utc_now().date()


def reverse(session, manager, lead_id):
    current = leads.get_lead(session, actor=manager, lead_id=lead_id).lead
    return leads.change_lead_status(
        session,
        actor=manager,
        lead_id=lead_id,
        to="qualified",
        expected_version=current.version,
    )


def age(session, lead_id, days):
    """Let time pass: the lead's commission hold ends as if it converted `days` ago."""
    session.execute(
        update(Commission)
        .where(Commission.lead_id == lead_id, Commission.kind == "commission")
        .values(hold_until=utc_now() - timedelta(days=days) + timedelta(days=30))
    )


def assert_consistent(session):
    assert integrity.verify_statistics(session) == []
    assert integrity.verify_ledger(session) == []


def summary(session, actor):
    return commissions.commission_summary(session, actor=actor)


def test_a_conversion_is_on_hold_then_payable_measured_from_the_conversion(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        lead = make_converted_lead(session, manager, partner)
        line = commissions.list_commissions(session, actor=partner).items[0]
        assert (line.state, line.amount) == (CommissionState.ON_HOLD, Decimal("100.00"))
        assert line.hold_until - line.earned_at == timedelta(days=30)
        assert line.earned_at == lead.converted_at
        age(session, lead.id, 29)
        assert summary(session, partner).totals[CommissionState.ON_HOLD] == Decimal("100.00")
        age(session, lead.id, 31)
        totals = summary(session, partner).totals
        assert totals[CommissionState.PAYABLE] == Decimal("100.00")
        assert totals[CommissionState.ON_HOLD] == Decimal("0.00")
        assert_consistent(session)


def test_reversal_before_payment_voids_the_commission(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        lead = make_converted_lead(session, manager, partner)
        reverse(session, manager, lead.id)
        line = commissions.list_commissions(session, actor=partner).items[0]
        assert line.state is CommissionState.VOID and line.voided_at is not None
        stats = statistics.partner_statistics(session, actor=partner)
        assert stats.total_earnings == Decimal("0.00") and stats.converted == 0
        assert_consistent(session)


def _paid_partner(session, manager, deal="1000.00", method="paypal"):
    """A partner with one converted lead whose commission has been paid."""
    partner = make_actor(session)
    payable_profile(session, partner, method)
    lead = make_converted_lead(session, manager, partner, deal)
    age(session, lead.id, 31)
    batch = payouts.run_batch(session, actor=manager, cutoff=today())
    (payout,) = [p for p in batch.scheduled if p.partner_id == partner.partner_id]
    payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference=f"TRF-{payout.id}")
    return partner, lead, payout


def test_batch_pays_payable_lines_and_mark_paid_records_the_reference(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner, _, payout = _paid_partner(session, manager)
        assert (payout.amount, payout.lines) == (Decimal("100.00"), 1)
        paid = payouts.list_payouts(session, actor=partner).items[0]
        assert (paid.status, paid.reference) == (PayoutStatus.PAID, f"TRF-{payout.id}")
        stats = statistics.partner_statistics(session, actor=partner)
        assert (stats.paid_earnings, stats.pending_earnings) == (Decimal("100.00"), Decimal("0.00"))
        assert summary(session, partner).totals[CommissionState.PAID] == Decimal("100.00")
        assert_consistent(session)


def test_reversal_after_payment_makes_a_clawback_netted_from_the_next_payout(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner, lead, _ = _paid_partner(session, manager)
        reverse(session, manager, lead.id)
        lines = commissions.list_commissions(session, actor=partner).items
        clawback = next(line for line in lines if line.kind.value == "clawback")
        assert (clawback.amount, clawback.state) == (Decimal("-100.00"), CommissionState.PAYABLE)
        assert statistics.partner_statistics(session, actor=partner).total_earnings == 0
        # Alone, the clawback leaves nothing to pay.
        plan = payouts.preview(session, actor=manager, cutoff=today())
        (left,) = [p for p in plan.left_out if p.partner_id == partner.partner_id]
        assert left.amount == Decimal("-100.00") and "nothing to pay (net -100.00)" in left.reasons
        # A new conversion of 250.00 is paid net of it: 250.00 - 100.00.
        newer = make_converted_lead(session, manager, partner, "2500.00")
        age(session, newer.id, 31)
        batch = payouts.run_batch(session, actor=manager, cutoff=today())
        (net,) = [p for p in batch.scheduled if p.partner_id == partner.partner_id]
        assert (net.amount, net.lines) == (Decimal("150.00"), 2)
        payouts.mark_paid(session, actor=manager, payout_id=net.id, reference="TRF-2")
        stats = statistics.partner_statistics(session, actor=partner)
        assert (stats.total_earnings, stats.paid_earnings) == (Decimal("250.00"), Decimal("250.00"))
        assert_consistent(session)


def test_a_commission_in_a_scheduled_payout_cannot_be_reversed(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        lead = make_converted_lead(session, manager, partner)
        age(session, lead.id, 31)
        (payout,) = payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
    with (
        pytest.raises(ValidationError, match=f"scheduled payout #{payout.id}"),
        unit_of_work(engine) as session,
    ):
        reverse(session, manager, lead.id)
    with unit_of_work(engine) as session:
        payouts.close_unpaid(session, actor=manager, payout_id=payout.id, status="canceled")
        reverse(session, manager, lead.id)
        assert (
            commissions.list_commissions(session, actor=partner).items[0].state
            is CommissionState.VOID
        )
        assert_consistent(session)


def test_running_the_same_batch_twice_pays_nothing_twice(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        lead = make_converted_lead(session, manager, partner)
        age(session, lead.id, 31)
        first = payouts.run_batch(session, actor=manager, cutoff=today())
        second = payouts.run_batch(session, actor=manager, cutoff=today())
        assert len(first.scheduled) == 1 and second.scheduled == []
        assert session.scalar(select(func.count()).select_from(Payout)) == 1
        assert_consistent(session)


def test_cutoff_decides_which_holds_have_ended(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        lead = make_converted_lead(session, manager, partner)
        age(session, lead.id, 35)  # hold ended 5 days ago
        assert (
            payouts.preview(session, actor=manager, cutoff=today() - timedelta(days=6)).paid == []
        )
        assert (
            len(payouts.preview(session, actor=manager, cutoff=today() - timedelta(days=5)).paid)
            == 1
        )
        with pytest.raises(ValidationError) as raised:
            payouts.preview(session, actor=manager, cutoff=today() + timedelta(days=1))
        assert "cutoff" in raised.value.errors
        with pytest.raises(ValidationError) as raised:
            payouts.preview(session, actor=manager, cutoff="15/11/2026")
        assert "cutoff" in raised.value.errors


@pytest.mark.parametrize("outcome", ["failed", "canceled"])
def test_failed_or_canceled_payout_returns_its_lines_to_payable(engine, outcome):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        lead = make_converted_lead(session, manager, partner)
        age(session, lead.id, 31)
        (payout,) = payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
        assert summary(session, partner).totals[CommissionState.IN_PAYOUT] == Decimal("100.00")
        closed = payouts.close_unpaid(
            session, actor=manager, payout_id=payout.id, status=outcome, reason="Account closed"
        )
        assert closed.status.value == outcome
        assert summary(session, partner).totals[CommissionState.PAYABLE] == Decimal("100.00")
        with pytest.raises(ValidationError, match=f"already {outcome}"):
            payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="late")
        again = payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
        assert [p.amount for p in again] == [Decimal("100.00")]
        assert_consistent(session)


def test_mark_paid_needs_a_reference_and_a_known_payout(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        lead = make_converted_lead(session, manager, partner)
        age(session, lead.id, 31)
        (payout,) = payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
        with pytest.raises(ValidationError) as raised:
            payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="  ")
        assert "reference" in raised.value.errors
        with pytest.raises(NotFound):
            payouts.mark_paid(session, actor=manager, payout_id=payout.id + 99, reference="x")
        with pytest.raises(ValidationError) as raised:
            payouts.close_unpaid(session, actor=manager, payout_id=payout.id, status="paid")
        assert "status" in raised.value.errors


def test_partners_cannot_run_or_settle_payouts_and_see_only_their_own(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner, _, payout = _paid_partner(session, manager)
        other = make_actor(session)
        for call in (
            lambda: payouts.preview(session, actor=partner, cutoff=today()),
            lambda: payouts.run_batch(session, actor=partner, cutoff=today()),
            lambda: payouts.mark_paid(session, actor=partner, payout_id=payout.id, reference="x"),
            lambda: payouts.close_unpaid(
                session, actor=partner, payout_id=payout.id, status="failed"
            ),
            lambda: tax_reports.tax_report(session, actor=partner, year=today().year),
        ):
            with pytest.raises(PermissionDenied):
                call()
        assert payouts.list_payouts(session, actor=other).items == []
        assert commissions.list_commissions(session, actor=other).items == []
        for call in (
            lambda: payouts.list_payouts(session, actor=other, partner_id=partner.partner_id),
            lambda: commissions.commission_summary(
                session, actor=other, partner_id=partner.partner_id
            ),
            lambda: monthly_statements.monthly_statement(
                session, actor=other, month=today(), partner_id=partner.partner_id
            ),
        ):
            with pytest.raises(NotFound):
                call()


def test_summary_shows_next_payout_expected_amount_and_reasons(engine, settings_override):
    settings_override(payout_day=15)
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        lead = make_converted_lead(session, manager, partner)
        result = summary(session, partner)
        assert result.next_payout_date == commissions.next_payout_date(
            today(), program.current(session)
        )
        assert result.next_payout_date.day == 15 and result.next_payout_date >= today()
        assert any("is on hold after conversion" in reason for reason in result.held_reasons)
        assert any("Choose a payout method" in reason for reason in result.held_reasons)
        age(session, lead.id, 40)
        payable_profile(session, partner)
        ready = summary(session, partner)
        assert ready.expected_next_payout == Decimal("100.00")
        assert ready.held_reasons == []


def test_next_payout_date_rolls_over_months_and_years():
    rules = ProgramRules(payout_day=15)
    assert commissions.next_payout_date(date(2026, 11, 15), rules) == date(2026, 11, 15)
    assert commissions.next_payout_date(date(2026, 11, 16), rules) == date(2026, 12, 15)
    assert commissions.next_payout_date(date(2026, 12, 20), rules) == date(2027, 1, 15)


def test_monthly_statements_chain_and_end_at_the_balance_owed(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner, lead, payout = _paid_partner(session, manager)
        other = make_converted_lead(session, manager, partner, "500.00")  # 50.00, still on hold
        reverse(session, manager, lead.id)  # paid, then reversed: a clawback of 100.00
        # Move the first conversion and its payment into the previous month.
        last_month = (today().replace(day=1) - timedelta(days=1)).replace(day=10)
        earned = datetime.combine(last_month, datetime.min.time(), UTC)
        session.execute(
            update(Commission)
            .where(Commission.lead_id == lead.id, Commission.kind == "commission")
            .values(earned_at=earned, hold_until=earned + timedelta(days=30))
        )
        session.execute(
            update(Payout).where(Payout.id == payout.id).values(paid_at=earned + timedelta(days=2))
        )
        previous = monthly_statements.monthly_statement(session, actor=partner, month=last_month)
        current = monthly_statements.monthly_statement(
            session, actor=partner, month=today().strftime("%Y-%m")
        )
        assert previous.opening_balance == Decimal("0.00")
        assert previous.total("commission") == Decimal("100.00")
        assert previous.total("payout") == Decimal("-100.00")
        assert previous.closing_balance == current.opening_balance == Decimal("0.00")
        assert current.total("commission") == Decimal("50.00")
        assert current.total("clawback") == Decimal("-100.00")
        stats = statistics.partner_statistics(session, actor=partner)
        assert current.closing_balance == stats.pending_earnings == Decimal("-50.00")
        assert other.commission == Decimal("50.00")
        with pytest.raises(ValidationError) as raised:
            monthly_statements.monthly_statement(session, actor=partner, month="November")
        assert "month" in raised.value.errors


def test_a_void_in_a_later_month_is_a_statement_line(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        lead = make_converted_lead(session, manager, partner)
        reverse(session, manager, lead.id)
        # The conversion was last month; the reversal, this month.
        last_month = (today().replace(day=1) - timedelta(days=1)).replace(day=3)
        earned = datetime.combine(last_month, datetime.min.time(), UTC)
        session.execute(
            update(Commission)
            .where(Commission.lead_id == lead.id)
            .values(earned_at=earned, hold_until=earned + timedelta(days=30))
        )
        previous = monthly_statements.monthly_statement(session, actor=partner, month=last_month)
        current = monthly_statements.monthly_statement(session, actor=partner, month=today())
        assert previous.closing_balance == current.opening_balance == Decimal("100.00")
        assert current.total("reversal") == Decimal("-100.00")
        assert current.closing_balance == Decimal("0.00")


@pytest.mark.parametrize(("year", "threshold"), [(2025, "600.00"), (2026, "2000.00")])
def test_the_tax_report_follows_the_years_threshold(engine, year, threshold):
    """600.00 for payments made through 2025, 2,000.00 for payments made in 2026."""
    limit = Decimal(threshold)
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        big, _, _ = _paid_partner(session, manager, deal=str(limit * 10), method="wise")
        small, _, _ = _paid_partner(session, manager, deal=str(limit * 10 - 1), method="wise")
        profiles.update_profile(
            session,
            actor=big,
            changes={"tax_id": "98-7654321", "tax_id_type": "ein"},
        )
        paid = datetime(year, 6, 1, 12, tzinfo=UTC)
        session.execute(update(Payout).values(paid_at=paid))
        report = tax_reports.tax_report(session, actor=manager, year=year)
        assert report.threshold == limit
        assert [(row.partner_id, row.paid_total) for row in report.nec] == [(big.partner_id, limit)]
        (row,) = report.nec
        assert (row.tax_id, row.tin_type, row.tax_form) == ("•••• 4321", "EIN", "W-9")
        assert (row.address, row.city, row.zip, row.country) == (
            "1 Main Street",
            "Springfield",
            "12345",
            "US",
        )
        assert tax_reports.tax_report(session, actor=manager, year=year - 1).nec == []
        with pytest.raises(ValidationError):
            tax_reports.tax_report(session, actor=manager, year=1800)
        assert small.partner_id not in [row.partner_id for row in report.nec]


def test_paypal_payees_and_foreign_payees_are_listed_apart(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        paypal, _, _ = _paid_partner(session, manager, deal="30000.00", method="paypal")
        foreign, _, _ = _paid_partner(session, manager, deal="30000.00", method="wise")
        verify_tax_form(session, foreign, form="W-8BEN-E")
        report = tax_reports.tax_report(session, actor=manager, year=today().year)
        assert report.nec == []  # PayPal reports its own payments on 1099-K; W-8s are 1042-S
        assert [row.partner_id for row in report.paypal] == [paypal.partner_id]
        assert [(row.partner_id, row.tax_form) for row in report.foreign] == [
            (foreign.partner_id, "W-8BEN-E")
        ]


def test_the_filing_file_has_full_tins_for_managers_only_and_is_audited(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        payee, _, _ = _paid_partner(session, manager, deal="30000.00", method="wise")
        profiles.update_profile(
            session,
            actor=payee,
            changes={"tax_id": "98-7654321", "tax_id_type": "ein"},
        )
        with pytest.raises(PermissionDenied):
            tax_reports.tax_filing_file(session, actor=payee, year=today().year)
        filing = tax_reports.tax_filing_file(session, actor=manager, year=today().year)
        (row,) = list(csv.DictReader(io.StringIO(filing.content.decode())))
        assert (row["form"], row["tin_type"], row["tin"]) == ("1099-NEC", "EIN", "98-7654321")
        assert (row["paid_total"], row["currency"]) == ("3000.00", "USD")
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "tax.filing_file"))
        assert entry.after == {"rows": 1, "sha256": filing.sha256}
        assert "98-7654321" not in str(entry.after)


def test_two_batches_at_once_never_put_a_line_in_two_payouts(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        for _ in range(4):
            partner = make_actor(session)
            payable_profile(session, partner)
            for _ in range(3):
                age(session, make_converted_lead(session, manager, partner).id, 31)
    barrier = threading.Barrier(2)
    results: list[object] = []

    def batch():
        barrier.wait()
        try:
            with unit_of_work(engine) as session:
                results.append(payouts.run_batch(session, actor=manager, cutoff=today()))
        except PortalError as error:
            results.append(error)

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Payout)) == 4
        assert (
            session.scalar(
                select(func.count())
                .select_from(Commission)
                .where(Commission.status == CommissionStatus.IN_PAYOUT)
            )
            == 12
        )
        assert_consistent(session)
    scheduled = [len(r.scheduled) for r in results if isinstance(r, payouts.BatchResult)]
    assert sum(scheduled) == 4, results


money_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("convert"),
            st.integers(0, 1),
            st.decimals(min_value=Decimal("1.00"), max_value=Decimal("50000.00"), places=2),
        ),
        st.tuples(st.just("reverse"), st.integers(0, 20)),
        st.tuples(st.just("age"), st.integers(0, 20), st.integers(0, 60)),
        st.tuples(
            st.just("batch"),
        ),
        st.tuples(st.just("pay"), st.integers(0, 10)),
        st.tuples(st.just("fail"), st.integers(0, 10), st.sampled_from(["failed", "canceled"])),
    ),
    max_size=30,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=money_steps)
def test_money_invariants_hold_after_random_operations(engine, steps):
    empty_all_tables(engine)
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        team = [make_actor(session) for _ in range(2)]
        for actor in team:
            payable_profile(session, actor)
    converted: list[int] = []
    for step in steps:
        try:
            with unit_of_work(engine) as session:
                _money_step(session, step, manager, team, converted)
        except PortalError:
            pass
    with unit_of_work(engine) as session:
        assert_consistent(session)
        for actor in team:
            result = summary(session, actor)
            stats = statistics.partner_statistics(session, actor=actor)
            owed = sum(
                (
                    result.totals[state]
                    for state in (
                        CommissionState.ON_HOLD,
                        CommissionState.PAYABLE,
                        CommissionState.IN_PAYOUT,
                    )
                ),
                Decimal("0.00"),
            )
            assert owed + result.totals[CommissionState.PAID] == stats.total_earnings
            assert result.totals[CommissionState.PAID] == stats.paid_earnings
            statement = monthly_statements.monthly_statement(session, actor=actor, month=today())
            assert statement.closing_balance == stats.pending_earnings


def _money_step(session, step, manager, team, converted):
    kind = step[0]
    if kind == "convert":
        converted.append(make_converted_lead(session, manager, team[step[1]], str(step[2])).id)
    elif kind == "reverse" and converted:
        reverse(session, manager, converted[step[1] % len(converted)])
    elif kind == "age" and converted:
        age(session, converted[step[1] % len(converted)], step[2])
    elif kind == "batch":
        payouts.run_batch(session, actor=manager, cutoff=today())
    elif kind in ("pay", "fail"):
        scheduled = payouts.list_payouts(
            session, actor=manager, status=PayoutStatus.SCHEDULED
        ).items
        if scheduled:
            payout = scheduled[step[1] % len(scheduled)]
            if kind == "pay":
                payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="R")
            else:
                payouts.close_unpaid(session, actor=manager, payout_id=payout.id, status=step[2])


def test_the_ledger_page_filters_by_state_lead_and_position(engine):
    """Each ledger filter, alone and with the others, against lines in every state, and the
    pages one after another cover the ledger once."""
    with unit_of_work(engine) as session:
        manager, partner, other = make_manager(session), make_actor(session), make_actor(session)
        payable_profile(session, partner)
        paid, in_payout, void, payable, on_hold = (
            make_converted_lead(session, manager, partner) for _ in range(5)
        )
        make_converted_lead(session, manager, other)
        age(session, paid.id, 31)
        (first,) = payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
        payouts.mark_paid(session, actor=manager, payout_id=first.id, reference="TRF-LEDGER")
        age(session, in_payout.id, 31)
        payouts.run_batch(session, actor=manager, cutoff=today())
        reverse(session, manager, void.id)
        age(session, payable.id, 31)
        expected = {
            CommissionState.PAID: paid,
            CommissionState.IN_PAYOUT: in_payout,
            CommissionState.VOID: void,
            CommissionState.PAYABLE: payable,
            CommissionState.ON_HOLD: on_hold,
        }
        for state, lead in expected.items():
            for actor, scope in ((partner, None), (manager, partner.partner_id)):
                page = commissions.list_commissions(
                    session, actor=actor, partner_id=scope, state=state
                )
                assert [(line.lead_id, line.state) for line in page.items] == [(lead.id, state)]
        (line,) = commissions.list_commissions(session, actor=manager, lead_id=payable.id).items
        assert line.client_name == payable.client_name
        assert commissions.list_commissions(session, actor=other, lead_id=payable.id).items == []
        seen = ids_page_by_page(
            lambda cursor: commissions.list_commissions(
                session, actor=partner, after=cursor, limit=2
            )
        )
        everything = commissions.list_commissions(session, actor=partner, limit=50).items
        assert seen == [line.id for line in everything] and len(seen) == 5


def test_payouts_list_by_partner_status_and_position(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner, _, paid = _paid_partner(session, manager)
        other = make_actor(session)
        payable_profile(session, other)
        age(session, make_converted_lead(session, manager, other).id, 31)
        (scheduled,) = payouts.run_batch(session, actor=manager, cutoff=today()).scheduled
        by_status = {
            status: [
                p.id for p in payouts.list_payouts(session, actor=manager, status=status).items
            ]
            for status in (PayoutStatus.PAID, PayoutStatus.SCHEDULED)
        }
        assert by_status == {PayoutStatus.PAID: [paid.id], PayoutStatus.SCHEDULED: [scheduled.id]}
        mine = payouts.list_payouts(session, actor=manager, partner_id=partner.partner_id)
        assert [p.id for p in mine.items] == [paid.id]
        assert [p.id for p in payouts.list_payouts(session, actor=other).items] == [scheduled.id]
        seen = ids_page_by_page(
            lambda cursor: payouts.list_payouts(session, actor=manager, after=cursor, limit=1)
        )
        assert seen == [scheduled.id, paid.id]


def test_the_command_line_writes_the_filing_file_owner_only(engine, tmp_path):
    import os

    from tests.tools.test_cli import run_cli

    with unit_of_work(engine) as session:
        manager = make_manager(session)
        _paid_partner(session, manager, deal="30000.00", method="wise")
    out = tmp_path / "filing.csv"
    url = engine.url.render_as_string(hide_password=False)
    done = run_cli(url, "tax-filing", "--year", str(today().year), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Wrote 1 payee" in done.stdout and os.stat(out).st_mode & 0o777 == 0o600
    assert out.read_text().splitlines()[1].startswith("1099-NEC,")
    wrong = run_cli(url, "tax-filing", "--year", "1800", "--out", str(out))
    assert wrong.returncode == 1 and "Year must be between" in wrong.stderr
