"""Settling payouts: a reference pays one payout, a repeat changes nothing, and a bank
statement settles many payouts all or nothing, naming every refused row."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from portal.core.db import unit_of_work
from portal.core.errors import PermissionDenied, ValidationError
from portal.core.models import AuditEntry, Commission, Payout, PayoutStatus
from portal.core.types import utc_now
from portal.money import payouts
from portal.reporting import integrity
from tests.factories import make_actor, make_converted_lead, make_manager, payable_profile


def _scheduled(session, count=3):
    manager = make_manager(session)
    for _ in range(count):
        partner = make_actor(session)
        payable_profile(session, partner)
        make_converted_lead(session, manager, partner, "1000.00")
    session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    scheduled = payouts.run_batch(session, actor=manager, cutoff=utc_now().date()).scheduled
    return manager, [payout.id for payout in scheduled]


def _statuses(session):
    return dict(session.execute(select(Payout.id, Payout.status)).all())


def test_a_reference_settles_one_payout_and_a_repeat_changes_nothing(engine):
    with unit_of_work(engine) as session:
        manager, (first, second, _) = _scheduled(session)
        paid = payouts.mark_paid(session, actor=manager, payout_id=first, reference="TRF-9")
        again = payouts.mark_paid(session, actor=manager, payout_id=first, reference="TRF-9")
        assert paid == again and again.status is PayoutStatus.PAID
        marks = select(func.count()).where(AuditEntry.action == "payout.mark_paid")
        assert session.scalar(marks) == 1
        with pytest.raises(ValidationError) as raised:
            payouts.mark_paid(session, actor=manager, payout_id=second, reference=" TRF-9 ")
        assert (
            raised.value.errors["reference"]
            == f"Reference TRF-9 is already recorded on payout #{first}."
        )
        assert _statuses(session)[second] is PayoutStatus.SCHEDULED
        with pytest.raises(ValidationError, match="already paid"):
            payouts.mark_paid(session, actor=manager, payout_id=first, reference="TRF-10")
        assert integrity.verify_ledger(session) == []


def test_a_paid_date_is_kept_and_checked(engine):
    with unit_of_work(engine) as session:
        manager, (first, *_) = _scheduled(session)
        today = utc_now().date()
        with pytest.raises(ValidationError) as raised:
            payouts.mark_paid(
                session, actor=manager, payout_id=first, reference="A", paid_on=today + timedelta(1)
            )
        assert "future" in raised.value.errors["paid_on"]
        with pytest.raises(ValidationError) as raised:
            payouts.mark_paid(
                session, actor=manager, payout_id=first, reference="A", paid_on="2026-02-30"
            )
        assert "no such date" in raised.value.errors["paid_on"]
        view = payouts.mark_paid(
            session, actor=manager, payout_id=first, reference="A", paid_on=today.isoformat()
        )
        assert view.paid_at.date() == today


HEADER = "payout_id,reference,paid_date,amount,currency"


def _statement(*rows, header=HEADER):
    return ("\n".join([header, *rows]) + "\n").encode()


def test_a_statement_settles_every_listed_payout(engine):
    with unit_of_work(engine) as session:
        manager, ids = _scheduled(session)
        today = utc_now().date().isoformat()
        content = _statement(*(f"PAYOUT-{pid},BANK-{pid},{today},-100.00,USD" for pid in ids))
        preview = payouts.read_statement(session, actor=manager, content=content).rows
        assert [row.amount for row in preview] == [Decimal("100.00")] * 3
        assert _statuses(session) == dict.fromkeys(ids, PayoutStatus.SCHEDULED)
        settled = payouts.settle_statement(session, actor=manager, content=content)
        assert {view.reference for view in settled} == {f"BANK-{pid}" for pid in ids}
        # Uploading the same statement again is harmless.
        assert len(payouts.settle_statement(session, actor=manager, content=content)) == 3
        assert integrity.verify_ledger(session) == []


@pytest.mark.parametrize(
    ("bad_row", "fragment"),
    [
        ("{other},BANK-1,{today},100.00,USD", "reference BANK-1 is also on row 2"),
        ("{first},BANK-X,{today},100.00,USD", "the payout is also on row 2"),
        ("99999,BANK-X,{today},100.00,USD", "row 3 (payout #99999): no such payout"),
        ("abc,BANK-X,{today},100.00,USD", "payout 'abc' is not a payout number"),
        # Digits of other scripts pass str.isdigit() but name no payout.
        ("⁰⁴⁵,BANK-X,{today},100.00,USD", "payout '⁰⁴⁵' is not a payout number"),
        ("{other},,{today},100.00,USD", "Payment reference is required"),
        ("{other},BANK-X,2026-02-30,100.00,USD", "no such date as 2026-02-30"),
        ("{other},BANK-X,,100.00,USD", "Paid date is required"),
        ("{other},BANK-X,2999-01-01,100.00,USD", "cannot be in the future"),
        # The money must be the payout's own: a statement line of 1.00 settles nothing.
        ("{other},BANK-X,{today},1.00,USD", "the bank paid 1.00, the payout is 100.00"),
        ("{other},BANK-X,{today},100.00,EUR", "the bank paid in EUR, the payout is in USD"),
        ("{other},BANK-X,{today},,USD", "amount '' is not an amount"),
        ("{other},BANK-X,{today},1e3,USD", "amount '1e3' is not an amount"),
    ],
)
def test_one_bad_row_refuses_the_whole_statement_and_names_it(engine, bad_row, fragment):
    with unit_of_work(engine) as session:
        manager, (first, other, _) = _scheduled(session)
    today = utc_now().date().isoformat()
    content = _statement(
        f"{first},BANK-1,{today},100.00,USD", bad_row.format(first=first, other=other, today=today)
    )
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        payouts.settle_statement(session, actor=manager, content=content)
    message = raised.value.errors["statement"]
    assert message.startswith("Nothing was recorded; 1 entry refused") and fragment in message
    with unit_of_work(engine) as session:
        assert set(_statuses(session).values()) == {PayoutStatus.SCHEDULED}


def test_a_statement_needs_its_columns_text_and_a_manager(engine):
    with unit_of_work(engine) as session:
        manager, (first, _, _) = _scheduled(session)
        partner = make_actor(session)
        for content, fragment in [
            (b"id,ref\n1,a\n", "missing: payout_id, reference, paid_date, amount, currency"),
            (b"payout_id,reference,paid_date\n1,a,2026-01-01\n", "missing: amount, currency"),
            (b"\xff\xfe\x00", "not UTF-8"),
            (_statement(), "holds no payouts"),
            (HEADER.encode() + b"\n" + b"x" * (3 * 1024 * 1024), "larger than 2 MB"),
            (b"<Document><Broken>", "neither a CSV nor an ISO 20022 camt statement"),
        ]:
            with pytest.raises(ValidationError) as raised:
                payouts.read_statement(session, actor=manager, content=content)
            assert fragment in raised.value.errors["statement"]
        with pytest.raises(PermissionDenied):
            payouts.read_statement(session, actor=partner, content=_statement())
        payouts.mark_paid(session, actor=manager, payout_id=first, reference="USED")
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        second = sorted(_statuses(session))[1]
        payouts.settle_statement(
            session,
            actor=manager,
            content=_statement(f"{second},USED,{utc_now().date().isoformat()},100.00,USD"),
        )
    assert f"already recorded on payout #{first}" in raised.value.errors["statement"]


def test_the_command_line_settles_a_statement_and_refuses_a_used_reference(engine, tmp_path):
    from tests.tools.test_cli import run_cli

    with unit_of_work(engine) as session:
        _, (first, second, third) = _scheduled(session)
    url = engine.url.render_as_string(hide_password=False)
    today = utc_now().date().isoformat()
    statement = tmp_path / "statement.csv"
    statement.write_bytes(
        _statement(f"{first},S-1,{today},100.00,USD", f"{second},S-2,{today},100.00,USD")
    )
    done = run_cli(url, "payouts", "settle", "--file", str(statement))
    assert done.returncode == 0 and "Recorded 2 payouts as paid." in done.stdout
    used = run_cli(url, "payouts", "mark-paid", str(third), "--reference", "S-1")
    assert used.returncode == 1 and f"already recorded on payout #{first}" in used.stderr
    missing = run_cli(url, "payouts", "settle", "--file", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    with unit_of_work(engine) as session:
        assert _statuses(session)[third] is PayoutStatus.SCHEDULED
