"""Reconciliation from the bank's own report and returns: an ISO 20022 camt.053 statement
(built here to the published schema, read by the portal with pycamt) settles a batch only
when every payout's amount and currency match; a paid payout sent back is payable again."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from portal.core.config import PROJECT_ROOT
from portal.core.db import unit_of_work
from portal.core.errors import PermissionDenied, PortalError, ValidationError
from portal.core.models import (
    Commission,
    CommissionStatus,
    Notification,
    Partner,
    Payout,
    PayoutStatus,
)
from portal.core.types import utc_now
from portal.money import payout_files, payouts, tax_reports
from portal.partners import profiles
from portal.reporting import integrity
from tests.factories import (
    PASSWORD,
    camt053,
    make_actor,
    make_converted_lead,
    make_manager,
    payable_profile,
)

CAMT_053_002 = xmlschema.XMLSchema(str(PROJECT_ROOT / "tests" / "schemas" / "camt.053.001.02.xsd"))
DEBTOR_IBAN = "DE89370400440532013000"  # the demo program's paying account


def _scheduled(session, count=3, method="paypal", deal="1000.00"):
    manager = make_manager(session)
    for _ in range(count):
        partner = make_actor(session)
        payable_profile(session, partner, method)
        make_converted_lead(session, manager, partner, deal)
    session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    scheduled = payouts.run_batch(session, actor=manager, cutoff=utc_now().date()).scheduled
    return manager, [payout.id for payout in scheduled]


def test_a_camt053_statement_settles_the_batch(engine):
    with unit_of_work(engine) as session:
        manager, ids = _scheduled(session)
        other = "NOTPROVIDED"
        content = camt053([(f"PAYOUT-{pid}", "100.00") for pid in ids] + [(other, "12.50")])
        reading = payouts.read_statement(session, actor=manager, content=content)
        assert [row.payout_id for row in reading.rows] == ids
        assert reading.ignored == ["entry 4: names no payout (NOTPROVIDED)"]
        settled = payouts.settle_statement(session, actor=manager, content=content)
        assert {view.status for view in settled} == {PayoutStatus.PAID}
        assert settled[0].reference == f"BANK-0001/PAYOUT-{ids[0]}"
        assert settled[0].paid_at.date() == utc_now().date()
        # The same statement again changes nothing.
        assert len(payouts.settle_statement(session, actor=manager, content=content)) == 3
        assert integrity.verify_ledger(session) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"amount": "1.00"}, "the bank paid 1.00, the payout is 100.00"),
        ({"currency": "EUR"}, "the bank paid in EUR, the payout is in USD"),
        ({"id": "PAYOUT-99999"}, "payout #99999): no such payout"),
    ],
)
def test_a_camt053_entry_that_does_not_match_settles_nothing_and_names_it(engine, change, fragment):
    with unit_of_work(engine) as session:
        manager, (first, second, _) = _scheduled(session)
    entry = (
        change.get("id", f"PAYOUT-{second}"),
        change.get("amount", "100.00"),
        change.get("currency", "USD"),
    )
    content = camt053([(f"PAYOUT-{first}", "100.00"), entry])
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        payouts.settle_statement(session, actor=manager, content=content)
    message = raised.value.errors["statement"]
    assert (
        message.startswith("Nothing was recorded; 1 entry refused: entry 2") and fragment in message
    )
    with unit_of_work(engine) as session:
        statuses = set(session.scalars(select(Payout.status)))
    assert statuses == {PayoutStatus.SCHEDULED}


def test_credits_pending_entries_and_another_account_are_not_payments(engine):
    with unit_of_work(engine) as session:
        manager, (first, second, third) = _scheduled(session)
        content = camt053(
            [
                (f"PAYOUT-{first}", "100.00"),
                (f"PAYOUT-{second}", "100.00", "USD", "CRDT"),
                (f"PAYOUT-{third}", "100.00", "USD", "DBIT", "PDNG"),
            ]
        )
        reading = payouts.read_statement(session, actor=manager, content=content)
        assert [row.payout_id for row in reading.rows] == [first]
        assert "entry 2: a credit for" in reading.ignored[0]
        assert "not booked yet (PDNG)" in reading.ignored[1]
        with pytest.raises(ValidationError) as raised:
            payouts.read_statement(
                session,
                actor=manager,
                content=camt053([(f"PAYOUT-{first}", "100.00")], account="GB29NWBK60161331926819"),
            )
        assert "not the program's paying account" in raised.value.errors["statement"]
        partner = make_actor(session)
        with pytest.raises(PermissionDenied):
            payouts.read_statement(session, actor=partner, content=content)


def test_a_statement_with_an_external_entity_is_refused_not_resolved(engine, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("PAYOUT-1")
    valid = camt053([("PLACEHOLDER", "100.00")]).decode()
    xml = valid.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY x SYSTEM "file://{secret}">]>',
    ).replace("PLACEHOLDER", "&x;")
    with unit_of_work(engine) as session:
        manager, _ = _scheduled(session, count=1)
        with pytest.raises(ValidationError) as raised:
            payouts.read_statement(session, actor=manager, content=xml)
    # Resolved, the entity would name payout 1 ("PAYOUT-1"); left alone, the entry names none.
    assert "holds no payouts" in raised.value.errors["statement"]


# --- returns ------------------------------------------------------------------------------


def test_a_returned_payout_is_payable_again_and_leaves_the_tax_totals(engine):
    with unit_of_work(engine) as session:
        manager, (first, *_) = _scheduled(session, count=1, deal="7000.00", method="wise")
        payouts.mark_paid(session, actor=manager, payout_id=first, reference="TRF-1")
        payout = session.get(Payout, first)
        partner = session.get(Partner, payout.partner_id)
        assert partner.paid_earnings == Decimal("700.00")
        session.execute(update(Payout).values(paid_at=utc_now().replace(year=2025)))
        reported = tax_reports.tax_report(session, actor=manager, year=2025).nec
        assert [row.partner_id for row in reported] == [partner.id]
        for code, fragment in (("R99", "Return reason must be"), ("OTHER", "Note is required")):
            with pytest.raises(ValidationError) as raised:
                payouts.mark_returned(session, actor=manager, payout_id=first, reason_code=code)
            assert fragment in " ".join(raised.value.errors.values())
        view = payouts.mark_returned(
            session, actor=manager, payout_id=first, reason_code="r03", note="account unknown"
        )
        assert view.status is PayoutStatus.RETURNED
        assert view.return_reason == "R03 No account / unable to locate account: account unknown"
        assert partner.paid_earnings == Decimal("0.00")
        lines = session.scalars(select(Commission).where(Commission.partner_id == partner.id))
        assert {(line.status, line.payout_id) for line in lines} == {(CommissionStatus.OPEN, None)}
        told = session.scalar(
            select(Notification.message).where(Notification.kind == "payout_returned")
        )
        assert "came back from your bank" in told and "Profile page" in told
        with pytest.raises(ValidationError, match="only a paid payout"):
            payouts.mark_returned(session, actor=manager, payout_id=first, reason_code="R03")
        assert integrity.verify_ledger(session) == []
        again = payouts.run_batch(session, actor=manager, cutoff=utc_now().date()).scheduled
        assert [p.amount for p in again] == [Decimal("700.00")]
        assert tax_reports.tax_report(session, actor=manager, year=2025).nec == []


def test_only_managers_mark_returns(engine):
    with unit_of_work(engine) as session:
        manager, (first, *_) = _scheduled(session, count=1)
        payouts.mark_paid(session, actor=manager, payout_id=first, reference="TRF-1")
        partner = make_actor(session)
        with pytest.raises(PermissionDenied):
            payouts.mark_returned(session, actor=partner, payout_id=first, reason_code="R01")


# --- paid once, whatever the order --------------------------------------------------------

STEPS = st.lists(
    st.sampled_from(["batch", "file", "void", "change", "reapprove", "settle", "fail", "return"]),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS, data=st.data())
def test_no_payout_is_ever_in_two_live_files(engine, steps, data):
    """Whatever the order of batches, files, voids, detail changes and settlements, no payout
    is in two live files and every file's total equals its payouts'."""
    from tests.conftest import empty_all_tables

    empty_all_tables(engine)
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partners = []
        for _ in range(3):
            partner = make_actor(session)
            payable_profile(session, partner, "paypal")
            make_converted_lead(session, manager, partner, "1000.00")
            partners.append(partner)
    cutoff = utc_now().date()
    for step in steps:
        with unit_of_work(engine) as session:
            session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
            scheduled = session.scalars(
                select(Payout.id).where(Payout.status == PayoutStatus.SCHEDULED)
            ).all()
            paid = session.scalars(
                select(Payout.id).where(Payout.status == PayoutStatus.PAID)
            ).all()
            live = [
                f.id
                for f in payout_files.list_payout_files(session, actor=manager)
                if f.status.value == "live"
            ]
            try:
                if step == "batch":
                    payouts.run_batch(session, actor=manager, cutoff=cutoff)
                elif step == "file":
                    payout_files.build_payout_file(
                        session, actor=manager, cutoff=cutoff, file_format="paypal"
                    )
                elif step == "void" and live:
                    payout_files.void_payout_file(
                        session,
                        actor=manager,
                        file_id=data.draw(st.sampled_from(live)),
                        reason="test",
                    )
                elif step == "change":
                    partner = data.draw(st.sampled_from(partners))
                    profiles.update_profile(
                        session,
                        actor=partner,
                        password=PASSWORD,
                        changes={"payment_email": f"new{data.draw(st.integers(0, 9))}@p.example"},
                    )
                elif step == "reapprove" and scheduled:
                    payouts.reapprove(
                        session, actor=manager, payout_id=data.draw(st.sampled_from(scheduled))
                    )
                elif step == "settle" and scheduled:
                    pid = data.draw(st.sampled_from(scheduled))
                    payouts.mark_paid(session, actor=manager, payout_id=pid, reference=f"R-{pid}")
                elif step == "fail" and scheduled:
                    payouts.close_unpaid(
                        session,
                        actor=manager,
                        payout_id=data.draw(st.sampled_from(scheduled)),
                        status="failed",
                    )
                elif step == "return" and paid:
                    payouts.mark_returned(
                        session,
                        actor=manager,
                        payout_id=data.draw(st.sampled_from(paid)),
                        reason_code="R01",
                    )
            except PortalError:
                session.rollback()
                continue
        with unit_of_work(engine) as session:
            assert integrity.verify_ledger(session) == []


def test_statement_paid_dates_of_other_years_do_not_count_as_this_year(engine):
    """A payout is reported in the year its paid date falls in (the statement's booking day)."""
    last_year = date(utc_now().year - 1, 12, 31)
    with unit_of_work(engine) as session:
        manager, (first, *_) = _scheduled(session, count=1)
        session.execute(update(Payout).values(created_at=utc_now() - timedelta(days=400)))
        payouts.settle_statement(
            session,
            actor=manager,
            content=camt053([(f"PAYOUT-{first}", "100.00")], booked=last_year),
        )
        assert session.get(Payout, first).paid_at.date() == last_year
