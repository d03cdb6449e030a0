"""Payout files, checked as the bank or provider checks them: the NACHA file read back by an
independent parser (carta-ach) and achkit's reconciliation against the NACHA record layouts;
SEPA and cross-border files against the pain.001 schema and the EPC rulebook's rules the
schema is silent on; a payout in one live file only; details fixed when it was scheduled."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import achkit
import holidays
import pytest
import sepaxml
import xmlschema
from ach.parser import Parser as NachaParser
from sqlalchemy import select, update

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import AuditEntry, Commission, Payout, PayoutFile
from portal.core.types import utc_now
from portal.money import payout_files, payouts
from portal.money.currencies import Quote
from portal.money.payment_details import SEPA_CHARACTERS
from portal.partners import profiles
from portal.reporting import integrity
from tests.factories import (
    PASSWORD,
    make_actor,
    make_converted_lead,
    make_manager,
    make_partner,
    verify_tax_form,
)

PAIN_001_003 = xmlschema.XMLSchema(
    str(Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd")
)
HOSTILE = '=HYPERLINK("https://evil.example") <b>Bold</b> & Co'
US_ADDRESS = {"address": "12 <Main> Street", "city": "Springfield", "state": "IL", "zip": "62701"}

RATES = {
    "EUR": Quote(Decimal("0.9"), date(2026, 12, 4), "test rate"),
    "GBP": Quote(Decimal("0.8"), date(2026, 12, 4), "test rate"),
    "USD": Quote(Decimal("1.1"), date(2026, 12, 4), "test rate"),
}
DETAILS = {
    "iban_de": {
        "payment_method": "bank_transfer",
        "bank_account": "DE89 3704 0044 0532 0130 00",
        "address": "Friedrichstraße 1",
        "city": "Berlin",
        "zip": "10117",
        "country": "DE",
    },
    "iban_br": {
        "payment_method": "bank_transfer",
        "bank_account": "BR1800360305000010009795493C1",
        "bank_code": "BRASBRRJ",
        "address": "Avenida Paulista 1000",
        "city": "São Paulo",
        "zip": "01310-100",
        "country": "BR",
    },
    "ach_business": {
        "payment_method": "bank_transfer",
        "bank_account": "000123456789",
        "bank_code": "011000015",
        "bank_account_type": "checking",
        **US_ADDRESS,
        "country": "US",
    },
    "ach_person": {
        "payment_method": "bank_transfer",
        "bank_account": "987654321",
        "bank_code": "021000021",
        "bank_account_type": "savings",
        "payee_type": "individual",
        **US_ADDRESS,
        "country": "US",
    },
    "paypal": {"payment_method": "paypal", "payment_email": "-billing@dashpayouts.example"},
    "wise": {"payment_method": "wise", "payment_email": "wise@partner.example"},
    "checks": {"payment_method": "check", **US_ADDRESS, "country": "US"},
}


def _batch(session, kinds=tuple(DETAILS), *, names=None, amount="1000.00"):
    """One scheduled payout per kind of details (100.00 each unless told); returns the
    manager, the cut-off and the partners by kind."""
    manager = make_manager(session)
    made = {}
    for kind in kinds:
        name = (names or {}).get(kind, f"{kind} Partner GmbH")
        partner = make_actor(session, partner=make_partner(session, company_name=name))
        profiles.update_profile(session, actor=partner, password=PASSWORD, changes=DETAILS[kind])
        verify_tax_form(session, partner)
        make_converted_lead(session, manager, partner, amount)
        made[kind] = partner
    session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    cutoff = utc_now().date()
    result = payouts.run_batch(session, actor=manager, cutoff=cutoff, rates=RATES)
    assert len(result.scheduled) == len(kinds), result.left_out
    return manager, cutoff, made


def _build(session, manager, cutoff, file_format):
    return payout_files.build_payout_file(
        session, actor=manager, cutoff=cutoff, file_format=file_format
    )


def _payout_of(session, partner):
    return session.scalar(select(Payout).where(Payout.partner_id == partner.partner_id))


def _business_day_after(day: date, calendar: str) -> date:
    closed = holidays.financial_holidays(calendar, years=(day.year, day.year + 1))
    day += timedelta(days=1)
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return day


# --- NACHA ------------------------------------------------------------------------------------


def _field(record: str, start: int, end: int) -> str:
    """Positions as the NACHA rules number them: 1-based, inclusive."""
    return record[start - 1 : end]


def test_the_ach_file_is_nacha_field_by_field(engine):
    names = {"ach_business": HOSTILE, "ach_person": "Zoë Ærøskøbing-Müller Consulting Ltd."}
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session, ("ach_business", "ach_person"), names=names)
        result = _build(session, manager, cutoff, "nacha")
        business = _payout_of(session, made["ach_business"])
        person = _payout_of(session, made["ach_person"])
    text = result.content.decode("ascii")
    records = text.split("\n")[:-1]
    # 94-character records, blocked by ten, the last block filled with 9s.
    assert all(len(record) == 94 for record in records)
    assert len(records) % 10 == 0
    assert records[-1] == "9" * 94
    # achkit's reconciliation (hashes, totals, counts, blocks) and an independent parser.
    assert achkit.validate(text) == {"ok": True, "errors": []}
    parsed = NachaParser(text).as_dict()
    header = parsed["file_header"]
    assert (header["priority_code"], header["immediate_dest"]) == ("01", " 011000015")
    assert (header["record_size"], header["blk_factor"], header["format_code"]) == (
        "094",
        "10",
        "1",
    )
    assert header["im_orgn_name "].strip() == "PARTNER PROGRAM"
    effective = _business_day_after(utc_now().date(), "XFED").strftime("%y%m%d")
    batches = {b["batch_header"]["std_ent_cls_code"]: b for b in parsed["batches"]}
    assert set(batches) == {"CCD", "PPD"}  # companies by CCD, people by PPD
    for sec, payout, code in (("CCD", business, "22"), ("PPD", person, "32")):
        batch = batches[sec]
        head = batch["batch_header"]
        assert head["serv_cls_code"] == "220"  # credits only
        assert head["company_name"].strip() == "PARTNER PROGRAM"
        assert head["company_id"] == "1123456789"
        assert head["entry_desc"].strip() == "PAYOUT"
        assert head["eff_ent_date"] == effective
        assert head["orig_stat_code"] == "1" and head["orig_dfi_id"] == "01100001"
        (entry,) = batch["entries"]
        detail = entry["entry_detail"]
        assert detail["transaction_code"] == code  # checking credit 22, savings credit 32
        routing = DETAILS["ach_business" if sec == "CCD" else "ach_person"]["bank_code"]
        assert detail["recv_dfi_id"] + detail["check_digit"] == routing
        assert (
            detail["dfi_acnt_num"].strip()
            == (DETAILS["ach_business" if sec == "CCD" else "ach_person"]["bank_account"])
        )
        assert int(detail["amount"]) == int(payout.amount * 100) == 10000
        assert detail["ind_id"].strip() == f"PAYOUT-{payout.id}"
        assert set(detail["ind_name"]) <= set(map(chr, range(0x20, 0x7F)))
    assert batches["PPD"]["entries"][0]["entry_detail"]["ind_name"].strip() == (
        "ZOE AEROSKOBING-MULLER"  # transliterated, cut to 22
    )
    assert (
        batches["CCD"]["entries"][0]["entry_detail"]["ind_name"]
        .strip()
        .startswith('=HYPERLINK("HTTPS://EV')
    )
    # Trace numbers: the ODFI's eight digits and a sequence unique in the file.
    traces = [_field(r, 80, 94) for r in records if r.startswith("6")]
    assert len(set(traces)) == 2 and all(t.startswith("01100001") for t in traces)
    control = records[[r[0] for r in records].index("9")]
    assert _field(control, 2, 7) == "000002"  # batch count
    assert _field(control, 14, 21) == "00000002"  # entries
    assert _field(control, 32, 43) == "000000000000"  # debits
    assert _field(control, 44, 55) == "000000020000"  # credits
    assert (result.payouts, result.total, result.currency) == (2, Decimal("200.00"), "USD")


def test_a_new_us_account_says_checking_or_savings(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        with pytest.raises(ValidationError) as raised:
            profiles.update_profile(
                session,
                actor=partner,
                password=PASSWORD,
                changes={"bank_account": "000123456789", "bank_code": "011000015"},
            )
        assert "checking or a savings" in raised.value.errors["bank_account_type"]
        with pytest.raises(ValidationError) as raised:
            profiles.update_profile(
                session, actor=partner, password=PASSWORD, changes={"bank_account_type": "gold"}
            )
        assert "checking, savings" in raised.value.errors["bank_account_type"]


# --- SEPA and cross-border --------------------------------------------------------------------


def _pain(result):
    xml = result.content.decode()
    PAIN_001_003.validate(xml)
    return PAIN_001_003.to_dict(xml)["CstmrCdtTrfInitn"]


def _names_and_texts(document):
    for batch in document["PmtInf"]:
        yield batch["Dbtr"]["Nm"]
        yield from batch["Dbtr"].get("PstlAdr", {}).get("AdrLine", [])
        for transfer in batch["CdtTrfTxInf"]:
            yield transfer["Cdtr"]["Nm"]
            yield from transfer["RmtInf"]["Ustrd"]
            yield from (v for k, v in transfer["Cdtr"].get("PstlAdr", {}).items() if k != "Ctry")


def test_a_sepa_file_follows_the_rulebook(engine, settings_override):
    settings_override(currency="EUR")
    names = {"iban_de": "Müller & Söhne — Ünïcode 株式会社 \u2028Berlin 🚀"}
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session, ("iban_de", "iban_br"), names=names)
        sepa = _build(session, manager, cutoff, "sepa")
        other = _build(session, manager, cutoff, "cross_border")
        de = _payout_of(session, made["iban_de"])
    document = _pain(sepa)
    (batch,) = document["PmtInf"]
    assert batch["PmtTpInf"]["SvcLvl"]["Cd"] == "SEPA" and batch["ChrgBr"] == "SLEV"
    (transfer,) = batch["CdtTrfTxInf"]  # the Brazilian IBAN is not in the SEPA file
    assert transfer["CdtrAcct"]["Id"]["IBAN"] == "DE89370400440532013000"
    assert transfer["Amt"]["InstdAmt"]["@Ccy"] == "EUR"
    assert transfer["PmtId"]["EndToEndId"] == f"PAYOUT-{de.id}"
    assert document["GrpHdr"]["MsgId"] == f"PORTAL-FILE-{sepa.file_id}"
    name = transfer["Cdtr"]["Nm"]
    assert name.startswith("Muller + Sohne - Unicode") and "Berlin" in name
    for text in _names_and_texts(document):
        assert set(text) <= SEPA_CHARACTERS, text
        assert 0 < len(text) <= 140
    assert len(name) <= 70
    # The debtor's address, required for payees outside the EEA, always travels.
    debtor = batch["Dbtr"]
    assert debtor["PstlAdr"]["Ctry"] == "DE" and debtor["PstlAdr"]["TwnNm"] == "Berlin"
    executed = date.fromisoformat(batch["ReqdExctnDt"])
    assert executed == _business_day_after(utc_now().date(), "XECB")
    # The Brazilian IBAN goes the cross-border way: no SEPA level, shared charges, BIC and
    # both parties' addresses.
    (cross,) = _pain(other)["PmtInf"]
    assert "PmtTpInf" not in cross and cross["ChrgBr"] == "SHAR"
    (payment,) = cross["CdtTrfTxInf"]
    assert payment["CdtrAgt"]["FinInstnId"]["BIC"] == "BRASBRRJ"
    assert payment["Cdtr"]["PstlAdr"]["Ctry"] == "BR"
    assert payment["Cdtr"]["PstlAdr"]["TwnNm"] == "Sao Paulo"
    assert cross["Dbtr"]["PstlAdr"]["Ctry"] == "DE"


def test_a_usd_program_pays_a_german_iban_by_sepa_in_euros_or_cross_border_in_dollars(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session, ("iban_de",))
        (batch,) = _pain(_build(session, manager, cutoff, "sepa"))["PmtInf"]
        (transfer,) = batch["CdtTrfTxInf"]
        # 100.00 USD of commission at the batch's 0.9: 90.00 EUR arrive, by SEPA.
        assert transfer["Amt"]["InstdAmt"] == {"$": Decimal("90.00"), "@Ccy": "EUR"}
        partner = make_actor(session, partner=make_partner(session, company_name="Dollar GmbH"))
        profiles.update_profile(
            session,
            actor=partner,
            password=PASSWORD,
            changes={**DETAILS["iban_de"], "payout_currency": "USD"},
        )
        verify_tax_form(session, partner)
        make_converted_lead(session, manager, partner, "1000.00")
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        payouts.run_batch(session, actor=manager, cutoff=cutoff, rates=RATES)
        (cross,) = _pain(_build(session, manager, cutoff, "cross_border"))["PmtInf"]
    assert cross["ChrgBr"] == "SHAR"
    assert cross["CdtTrfTxInf"][0]["Amt"]["InstdAmt"]["@Ccy"] == "USD"


def test_a_name_with_nothing_a_bank_can_carry_refuses_the_file_naming_it(engine, settings_override):
    settings_override(currency="EUR")
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session, ("iban_de",), names={"iban_de": "🚀🚀🚀"})
        payout = _payout_of(session, made["iban_de"])
        with pytest.raises(ValidationError) as raised:
            _build(session, manager, cutoff, "sepa")
    message = raised.value.errors["payouts"]
    assert f"payout #{payout.id}" in message and "payee name '🚀🚀🚀'" in message
    with unit_of_work(engine) as session:
        assert session.scalar(select(PayoutFile)) is None


def test_an_iban_that_fits_no_route_is_left_out_with_the_reason(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        changes = {k: v for k, v in DETAILS["iban_br"].items() if k != "bank_code"}
        changes.pop("country")
        profiles.update_profile(session, actor=partner, password=PASSWORD, changes=changes)
        verify_tax_form(session, partner)
        make_converted_lead(session, manager, partner, "1000.00")
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        plan = payouts.preview(session, actor=manager, cutoff=utc_now().date())
    (left,) = plan.left_out
    assert "goes cross-border and needs the bank's BIC and the partner's postal address" in (
        "; ".join(left.reasons)
    )


# --- PayPal, Wise, checks ---------------------------------------------------------------------


def test_provider_files_carry_data_exactly(engine):
    names = {"paypal": "+Plus Media", "wise": "+Plus Media\u2028Ltd"}
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session, ("paypal", "wise"), names=names)
        paypal = _build(session, manager, cutoff, "paypal")
        wise = _build(session, manager, cutoff, "wise")
    (row,) = list(csv.reader(io.StringIO(paypal.content.decode())))
    assert row[0] == "-billing@dashpayouts.example"  # the address, not a rewritten one
    assert row[1:3] == ["100.00", "USD"] and row[3].startswith("PAYOUT-") and row[5] == "PAYPAL"
    (transfer,) = list(csv.DictReader(io.StringIO(wise.content.decode())))
    assert transfer["name"] == "+Plus Media Ltd"  # one line, nothing prefixed
    assert (transfer["recipientEmail"], transfer["amount"], transfer["targetCurrency"]) == (
        "wise@partner.example",
        "100.00",
        "USD",
    )


def test_checks_are_numbered_once_with_a_positive_pay_list(engine, settings_override):
    settings_override(check_first_number=5000)
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session, ("checks",), names={"checks": HOSTILE})
        first = _build(session, manager, cutoff, "checks")
        page = first.content.decode()
        assert "<b>" not in page and "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in page
        assert "<td>5000</td>" in page and "12 &lt;Main&gt; Street" in page
        pay = payout_files.positive_pay_file(session, actor=manager, file_id=first.file_id)
        (row,) = list(csv.DictReader(io.StringIO(pay.content.decode())))
        payout = _payout_of(session, made["checks"])
        assert row == {
            "account_number": "000123456789",
            "check_number": "5000",
            "amount": "100.00",
            "issue_date": utc_now().date().isoformat(),
            "payee_name": HOSTILE,
            "void": "",
        }
        payout_files.void_payout_file(
            session, actor=manager, file_id=first.file_id, reason="printer jammed"
        )
        again = _build(session, manager, cutoff, "checks")
        assert "<td>5001</td>" in again.content.decode()  # 5000 is never used twice
        void = payout_files.positive_pay_file(session, actor=manager, file_id=first.file_id)
        assert next(iter(csv.DictReader(io.StringIO(void.content.decode()))))["void"] == "V"
        assert payout.payout_file_id == again.file_id


# --- paid once --------------------------------------------------------------------------------


def test_a_payout_is_in_one_live_file_until_that_file_is_voided(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session, ("ach_business", "paypal"))
        first = _build(session, manager, cutoff, "nacha")
        with pytest.raises(ValidationError) as raised:
            _build(session, manager, cutoff, "nacha")
        message = raised.value.errors["payouts"]
        assert f"already in file #{first.file_id} (nacha" in message and "void" in message
        with pytest.raises(ValidationError) as raised:
            payout_files.void_payout_file(session, actor=manager, file_id=first.file_id, reason="")
        assert "Reason is required" in raised.value.errors["reason"]
        payout_files.void_payout_file(
            session, actor=manager, file_id=first.file_id, reason="bank refused the file"
        )
        second = _build(session, manager, cutoff, "nacha")
        assert second.file_id != first.file_id
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "payout.file_void"))
        assert entry.after["reason"] == "bank refused the file"
        payout = _payout_of(session, made["ach_business"])
        with pytest.raises(ValidationError, match="live payout file"):
            payouts.close_unpaid(session, actor=manager, payout_id=payout.id, status="canceled")
        assert integrity.verify_ledger(session) == []
        overview = payout_files.batch_overview(session, actor=manager, cutoff=cutoff)
        assert [(f.file_format, f.status.value) for f in overview.files] == [
            ("nacha", "live"),
            ("nacha", "void"),
        ]
        assert overview.ready == {(payout_files.FileFormat.PAYPAL, "USD"): (1, Decimal("100.00"))}


def test_details_are_those_of_the_schedule_and_a_change_holds_the_payout(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session, ("iban_de",))
        partner = made["iban_de"]
        payout = _payout_of(session, partner)
        # The partner moves to a US account after the batch was run.
        profiles.update_profile(
            session, actor=partner, password=PASSWORD, changes=DETAILS["ach_business"]
        )
        session.refresh(payout)
        assert "changed its payment details" in payout.held_reason
        with pytest.raises(ValidationError, match="held: the partner changed"):
            _build(session, manager, cutoff, "sepa")
        with pytest.raises(NotFound):  # the new details are not the payout's until approved
            _build(session, manager, cutoff, "nacha")
        # Priced in EUR, the partner is now paid in USD: re-approval would pay the wrong amount.
        with pytest.raises(ValidationError, match="was priced in EUR"):
            payouts.reapprove(session, actor=manager, payout_id=payout.id)
        payouts.close_unpaid(session, actor=manager, payout_id=payout.id, status="canceled")
        (again,) = payouts.run_batch(session, actor=manager, cutoff=cutoff, rates=RATES).scheduled
        assert (again.payout_currency, again.payout_amount) == ("USD", Decimal("100.00"))
        ach = _build(session, manager, cutoff, "nacha")
    assert b"000123456789" in ach.content and ach.payouts == 1


def test_two_approvals_need_a_second_manager(engine, settings_override):
    settings_override(payout_approvals=2)
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session, ("paypal",))
        with pytest.raises(ValidationError, match="waits for a second manager's approval"):
            _build(session, manager, cutoff, "paypal")
        with pytest.raises(PermissionDenied, match="another manager must approve"):
            payouts.approve_batch(session, actor=manager, cutoff=cutoff)
        second = make_manager(session)
        (approved,) = payouts.approve_batch(session, actor=second, cutoff=cutoff)
        assert approved.approved
        assert _build(session, manager, cutoff, "paypal").payouts == 1
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "payout.approve_batch")
        )
        assert entry.actor_user_id == second.user_id


def test_each_file_is_recorded_and_audited_with_its_sha256_and_no_account_number(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session, ("ach_business",))
        result = _build(session, manager, cutoff, "nacha")
        stored = session.scalar(select(PayoutFile))
        assert stored.sha256 == hashlib.sha256(result.content).hexdigest() == result.sha256
        assert (stored.format, stored.payout_count, stored.total) == ("nacha", 1, Decimal("100.00"))
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "payout.file"))
        assert entry.after["sha256"] == result.sha256
        assert "000123456789" not in str(entry.after)
        listed = payout_files.list_payout_files(session, actor=manager, cutoff=cutoff)
        assert [record.sha256 for record in listed] == [result.sha256]


def test_only_managers_get_a_file_and_an_unknown_format_is_refused(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session, ("paypal",))
        with pytest.raises(PermissionDenied):
            _build(session, made["paypal"], cutoff, "paypal")
        with pytest.raises(PermissionDenied):
            payout_files.void_payout_file(session, actor=made["paypal"], file_id=1, reason="x")
        with pytest.raises(NotFound, match="No scheduled paypal payouts"):
            _build(session, manager, cutoff - timedelta(days=1), "paypal")
        with pytest.raises(ValidationError) as raised:
            _build(session, manager, cutoff, "swift")
        assert "sepa, cross_border, nacha, paypal, wise, checks" in raised.value.errors["format"]
        assert session.scalar(select(PayoutFile)) is None


def test_the_command_line_writes_files_owner_only_voids_and_refuses_twice(engine, tmp_path):
    from tests.tools.test_cli import run_cli

    with unit_of_work(engine) as session:
        _, cutoff, _ = _batch(session, ("ach_business", "paypal", "checks"))
    url = engine.url.render_as_string(hide_password=False)
    day = cutoff.isoformat()

    def make(file_format):
        out = tmp_path / f"batch.{file_format}"
        args = ("payouts", "file", "--cutoff", day, "--format", file_format, "--out", str(out))
        return run_cli(url, *args), out

    for file_format in ("nacha", "paypal", "checks"):
        done, out = make(file_format)
        assert done.returncode == 0, done.stderr
        assert "1 payout, 100.00 USD" in done.stdout
        assert os.stat(out).st_mode & 0o777 == 0o600
        assert hashlib.sha256(out.read_bytes()).hexdigest() in done.stdout
    twice, _ = make("nacha")
    assert twice.returncode == 1 and "already in file #1" in twice.stderr
    void = run_cli(url, "payouts", "void-file", "1", "--reason", "lost in transit")
    assert void.returncode == 0 and "is void" in void.stdout
    again, out = make("nacha")
    assert again.returncode == 0 and achkit.validate(out.read_text())["ok"]
    pay = run_cli(url, "payouts", "positive-pay", "3", "--out", str(tmp_path / "pp.csv"))
    assert pay.returncode == 0 and (tmp_path / "pp.csv").read_text().count("\n") == 2
    wrong = run_cli(url, "payouts", "file", "--cutoff", day, "--format", "swift", "--out", "-")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
