"""Payout files: one per method of a batch, in layouts a bank or provider takes, with the full
account numbers only inside the file, every generation audited and its SHA-256 kept."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from sqlalchemy import select, update

from portal import payout_files, payouts, profiles
from portal.db import unit_of_work
from portal.errors import NotFound, PermissionDenied, ValidationError
from portal.models import AuditEntry, Commission, PayoutFile
from portal.types import utc_now
from tests.factories import make_actor, make_converted_lead, make_manager, verify_tax_form

PAIN_001_003 = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
HOSTILE = '=HYPERLINK("https://evil.example") <b>Bold</b> & Co'

DETAILS = {
    "sepa": {
        "payment_method": "bank_transfer",
        "bank_account": "DE89 3704 0044 0532 0130 00",
    },
    "nacha": {
        "payment_method": "bank_transfer",
        "bank_account": "000123456789",
        "bank_code": "011000015",
    },
    "paypal": {"payment_method": "paypal", "payment_email": "paypal@partner.example"},
    "wise": {"payment_method": "wise", "payment_email": "wise@partner.example"},
    "checks": {
        "payment_method": "check",
        "address": "12 <Main> Street",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "country": "US",
    },
}


def _batch(session, *, company=None):
    """One scheduled payout of 100.00 per format's method; returns the cut-off and partners."""
    from tests.factories import make_partner

    manager = make_manager(session)
    made = {}
    for file_format, changes in DETAILS.items():
        partner = make_actor(
            session,
            partner=make_partner(session, company_name=company or f"{file_format} Partner GmbH"),
        )
        profiles.update_profile(session, actor=partner, changes=changes)
        verify_tax_form(session, partner)
        make_converted_lead(session, manager, partner, "1000.00")
        made[file_format] = partner
    session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    cutoff = utc_now().date()
    scheduled = payouts.run_batch(session, actor=manager, cutoff=cutoff).scheduled
    assert len(scheduled) == len(DETAILS)
    return manager, cutoff, made


def _build(session, manager, cutoff, file_format):
    return payout_files.build_payout_file(
        session, actor=manager, cutoff=cutoff, file_format=file_format
    )


def test_sepa_file_validates_against_pain_001_001_03_and_pays_the_iban(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session)
        result = _build(session, manager, cutoff, "sepa")
    xml = result.content.decode()
    schema = xmlschema.XMLSchema(str(PAIN_001_003))
    schema.validate(xml)
    document = schema.to_dict(xml)["CstmrCdtTrfInitn"]
    assert document["GrpHdr"]["NbOfTxs"] == "1"
    assert Decimal(str(document["GrpHdr"]["CtrlSum"])) == Decimal("100.00")
    (batch,) = document["PmtInf"]
    assert batch["DbtrAcct"]["Id"]["IBAN"] == "DE89370400440532013000"  # the demo debtor
    (transfer,) = batch["CdtTrfTxInf"]
    assert transfer["CdtrAcct"]["Id"]["IBAN"] == "DE89370400440532013000"
    assert transfer["CdtrAgt"]["FinInstnId"]["BIC"] == "COBADEFFXXX"
    assert transfer["Amt"]["InstdAmt"]["@Ccy"] == "USD"
    assert transfer["PmtId"]["EndToEndId"].startswith("PAYOUT-")
    # SEPA is a EUR scheme: a USD program sends a plain ISO 20022 transfer.
    assert "SvcLvl" not in (batch.get("PmtTpInf") or {})
    assert (result.payouts, result.total) == (1, Decimal("100.00"))


def test_sepa_file_of_a_eur_program_carries_the_sepa_service_level(engine, settings_override):
    settings_override(currency="EUR")
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session)
        result = _build(session, manager, cutoff, "sepa")
    schema = xmlschema.XMLSchema(str(PAIN_001_003))
    document = schema.to_dict(result.content.decode())["CstmrCdtTrfInitn"]
    (batch,) = document["PmtInf"]
    assert batch["PmtTpInf"]["SvcLvl"]["Cd"] == "SEPA"
    assert batch["CdtTrfTxInf"][0]["Amt"]["InstdAmt"]["@Ccy"] == "EUR"


def test_csv_files_follow_the_providers_layouts_with_full_account_numbers(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session, company=HOSTILE)
        nacha = _build(session, manager, cutoff, "nacha")
        paypal = _build(session, manager, cutoff, "paypal")
        wise = _build(session, manager, cutoff, "wise")
    (ach,) = list(csv.DictReader(io.StringIO(nacha.content.decode())))
    assert (ach["routing_number"], ach["account_number"]) == ("011000015", "000123456789")
    assert (ach["amount"], ach["account_type"], ach["transaction"]) == (
        "100.00",
        "checking",
        "credit",
    )
    assert ach["receiver_name"].startswith("'=")  # a formula never runs in a spreadsheet
    assert len(ach["receiver_name"]) <= 23
    (row,) = list(csv.reader(io.StringIO(paypal.content.decode())))
    assert row[0] == "paypal@partner.example"  # PayPal takes no header row
    assert row[1:4] == ["100.00", "USD", row[3]] and row[3].startswith("PAYOUT-")
    assert row[5] == "PAYPAL" and " " not in row[3] and len(row[3]) <= 30
    (transfer,) = list(csv.DictReader(io.StringIO(wise.content.decode())))
    assert transfer["recipientEmail"] == "wise@partner.example"
    assert (transfer["amount"], transfer["targetCurrency"], transfer["type"]) == (
        "100.00",
        "USD",
        "EMAIL",
    )
    assert transfer["name"].startswith("'=")


def test_checks_list_escapes_names_and_addresses(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session, company=HOSTILE)
        page = _build(session, manager, cutoff, "checks").content.decode()
    assert "<b>" not in page and "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in page
    assert "12 &lt;Main&gt; Street" in page and "Springfield IL 62701" in page
    assert "100.00 USD" in page


def test_each_generation_is_audited_with_its_sha256_and_no_account_number(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, _ = _batch(session)
        result = _build(session, manager, cutoff, "nacha")
    with unit_of_work(engine) as session:
        stored = session.scalar(select(PayoutFile))
        assert stored.sha256 == hashlib.sha256(result.content).hexdigest() == result.sha256
        assert (stored.format, stored.payout_count, stored.total) == ("nacha", 1, Decimal("100.00"))
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "payout.file"))
        assert entry.after["sha256"] == result.sha256
        assert "000123456789" not in str(entry.after)
        listed = payout_files.list_payout_files(session, actor=manager, cutoff=cutoff)
        assert [record.sha256 for record in listed] == [result.sha256]


def test_only_managers_get_a_file_and_an_empty_method_is_refused(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session)
        with pytest.raises(PermissionDenied):
            _build(session, made["paypal"], cutoff, "paypal")
        with pytest.raises(NotFound, match="No scheduled payouts"):
            _build(session, manager, cutoff - timedelta(days=1), "paypal")
        with pytest.raises(ValidationError) as raised:
            _build(session, manager, cutoff, "swift")
        assert "sepa, nacha, paypal, wise, checks" in raised.value.errors["format"]
        assert session.scalar(select(PayoutFile)) is None


def test_a_payout_whose_details_vanished_stops_the_file_and_names_it(engine):
    with unit_of_work(engine) as session:
        manager, cutoff, made = _batch(session)
        profiles.update_profile(session, actor=made["checks"], changes={"address": "", "city": ""})
        with pytest.raises(ValidationError) as raised:
            _build(session, manager, cutoff, "checks")
        assert "details are incomplete" in raised.value.errors["payouts"]


def test_the_command_line_writes_each_file_owner_only_and_exits_1_when_none(engine, tmp_path):
    from tests.test_cli import run_cli

    with unit_of_work(engine) as session:
        _, cutoff, _ = _batch(session)
    url = engine.url.render_as_string(hide_password=False)
    for file_format in DETAILS:
        out = tmp_path / f"batch.{file_format}"
        done = run_cli(
            url,
            "payouts",
            "file",
            "--cutoff",
            cutoff.isoformat(),
            "--format",
            file_format,
            "--out",
            str(out),
        )
        assert done.returncode == 0, done.stderr
        assert "1 payout(s), 100.00 USD" in done.stdout
        assert os.stat(out).st_mode & 0o777 == 0o600
        assert hashlib.sha256(out.read_bytes()).hexdigest() in done.stdout
    assert b"DE89370400440532013000" in (tmp_path / "batch.sepa").read_bytes()
    earlier = (cutoff - timedelta(days=1)).isoformat()
    none = run_cli(
        url,
        "payouts",
        "file",
        "--cutoff",
        earlier,
        "--format",
        "wise",
        "--out",
        str(tmp_path / "none.csv"),
    )
    assert none.returncode == 1 and "No scheduled payouts" in none.stderr
    assert not (tmp_path / "none.csv").exists()
    wrong = run_cli(url, "payouts", "file", "--cutoff", earlier, "--format", "swift", "--out", "-")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
