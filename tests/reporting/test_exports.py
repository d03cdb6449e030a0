"""Exports: correct values and counts on both databases, safe against CSV injection, masked
secrets, flat memory, and the same bytes from COPY and from the keyset path."""

from __future__ import annotations

import csv
import io
import re
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import select, update

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import AuditEntry, Commission, Lead, Partner, PartnerStatus
from portal.core.types import utc_now
from portal.leads import leads
from portal.partners import profiles
from portal.reporting import exports
from tests.factories import (
    PASSWORD,
    backdate_lead,
    make_actor,
    make_lead,
    make_manager,
    verify_tax_form,
)

INJECTIONS = [
    "=1+1",
    "+SUM(A1:A9)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1,1)",
    "\tTAB=1",
    "\r=CR",
    '=HYPERLINK("http://evil.example","click")',
    "=cmd|' /C notepad'!'A1'",
]


def _export(session, actor, kind, **filters):
    sink = io.StringIO()
    count = exports.write_csv(
        session, actor=actor, kind=kind, sink=sink, filters=exports.Filters(**filters)
    )
    return count, sink.getvalue()


def _program(session):
    manager = make_manager(session)
    partner = make_actor(session)
    profiles.update_profile(
        session,
        actor=partner,
        password=PASSWORD,
        changes={
            "payment_method": "bank_transfer",
            "bank_account": "DE89370400440532013000",
            "country": "DE",
            "payout_currency": "USD",  # a cross-border transfer: no rate needed
            "tax_id": "12-3456789",
        },
    )
    verify_tax_form(session, partner)
    made = []
    for number, name in enumerate(["Plain Client", 'Comma, Quote " Client', *INJECTIONS[:3]]):
        lead = make_lead(
            session, partner, client_name=name[:200], company=INJECTIONS[number % len(INJECTIONS)]
        )
        made.append(lead)
    first = made[0]
    view = leads.change_lead_status(
        session, actor=manager, lead_id=first.id, to="qualified", expected_version=first.version
    )
    leads.change_lead_status(
        session,
        actor=manager,
        lead_id=first.id,
        to="converted",
        expected_version=view.version,
        deal_value="1234.56",
    )
    return manager, partner, made


def test_leads_export_parses_back_to_the_database(engine):
    with unit_of_work(engine) as session:
        manager, _partner, made = _program(session)
        count, text = _export(session, manager, "leads")
        rows = list(csv.DictReader(io.StringIO(text)))
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        stored = {lead.id: lead for lead in session.scalars(select(Lead))}
    assert count == len(rows) == len(frame) == len(made)
    assert list(frame.columns) == list(rows[0].keys())
    for row in rows:
        lead = stored[int(row["lead_id"])]
        assert row["client_email"] == lead.client_email
        assert row["status"] == lead.status.value
        assert row["created_at"] == lead.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        name = row["client_name"]
        assert name == (
            ("'" + lead.client_name) if lead.client_name[0] in "=+-@\t\r" else lead.client_name
        )
    converted = next(row for row in rows if row["status"] == "converted")
    assert (converted["deal_value"], converted["commission"]) == ("1234.56", "123.46")
    assert converted["commission_rate"] == "0.1000"


@pytest.mark.parametrize("kind", list(exports.KINDS))
def test_every_cell_is_neutralised_and_secrets_stay_masked(engine, kind):
    with unit_of_work(engine) as session:
        manager, partner, _ = _program(session)
        for payload in INJECTIONS:  # also into the audit log and partner names
            session.add(
                AuditEntry(
                    actor_user_id=None,
                    actor_label=payload[:64],
                    action=payload,
                    object_type="test",
                    object_id=payload[:64],
                )
            )
        session.execute(
            update(Partner)
            .where(Partner.id == partner.partner_id)
            .values(company_name=INJECTIONS[0])
        )
        filters = {"year": utc_now().year} if kind == "tax" else {}
        _, text = _export(session, manager, kind, **filters)
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            is_number = cell.replace(".", "", 1).replace("-", "", 1).isdigit()
            assert is_number or not cell.startswith(tuple("=+-@\t\r")), (kind, cell)
    for secret in ("DE89370400440532013000", "0532013000", "12-3456789", "3456789"):
        assert secret not in text


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("+14155550705", "+14155550705"),  # an E.164 phone: read as data, kept
        ("+44 20 7946 0958", "+44 20 7946 0958"),
        ("-100.00", "-100.00"),
        ("+1 (415) 555-0705", "+1 (415) 555-0705"),
        *[(payload, "'" + payload) for payload in INJECTIONS],
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-1e3", "'-1e3"),
    ],
)
def test_what_a_spreadsheet_would_run_is_neutralised_not_what_it_reads(cell, written):
    assert exports.neutralise(cell) == written


def test_a_phone_leaves_the_leads_csv_as_it_was_given(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        make_lead(session, partner, client_phone="+14155550705")
        _, text = _export(session, manager, "leads")
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["client_phone"] == "+14155550705"


def test_bank_account_and_tax_id_appear_masked(engine):
    with unit_of_work(engine) as session:
        manager, *_ = _program(session)
        _, partners_csv = _export(session, manager, "partners")
    row = next(csv.DictReader(io.StringIO(partners_csv)))
    assert row["tax_id"] == "•••• 6789"


@pytest.mark.parametrize("kind", list(exports.KINDS))
def test_copy_and_keyset_paths_give_the_same_bytes(engine, backend, kind):
    with unit_of_work(engine) as session:
        manager, _partner, _made = _program(session)
        if backend != "postgresql":  # COPY is PostgreSQL's; SQLite has the keyset path only
            with pytest.raises(ValueError, match="COPY needs PostgreSQL"):
                exports.write_csv(
                    session,
                    actor=manager,
                    kind=kind,
                    sink=io.StringIO(),
                    filters=exports.Filters(year=2026),
                    use_copy=True,
                )
            return
        # Paid payouts for the tax report and the payouts export.
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    with unit_of_work(engine) as session:
        from portal.money import payouts

        for payout in payouts.run_batch(session, actor=manager, cutoff=utc_now().date()).scheduled:
            payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="=X")
        filters = {"year": utc_now().year} if kind == "tax" else {}
        keyset = io.StringIO()
        copied = io.StringIO()
        n1 = exports.write_csv(
            session,
            actor=manager,
            kind=kind,
            sink=keyset,
            filters=exports.Filters(**filters),
            use_copy=False,
        )
        n2 = exports.write_csv(
            session,
            actor=manager,
            kind=kind,
            sink=copied,
            filters=exports.Filters(**filters),
            use_copy=True,
        )
    assert keyset.getvalue() == copied.getvalue()
    assert n1 == n2


def _fixed_program(engine) -> dict[str, str]:
    """The same program, to the microsecond, in a fresh database; returns every export."""
    from portal.accounts import users
    from portal.core.models import Role
    from portal.money import payouts

    moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    with unit_of_work(engine) as session:
        manager = users.load_actor(
            session,
            user_id=users.add_user(
                session,
                username="boss",
                display_name="Boss",
                email="boss@example.com",
                password="a long enough password",
                role=Role.MANAGER,
                partner_id=None,
            ).id,
        )
        partner_row = Partner(
            company_name=INJECTIONS[2], email="team@fixed.example", status=PartnerStatus.ACTIVE
        )
        session.add(partner_row)
        session.flush()
        session.add(profiles.PartnerProfile(partner_id=partner_row.id))
        partner = users.load_actor(
            session,
            user_id=users.add_user(
                session,
                username="fixed",
                display_name="Fixed",
                email="fixed@example.com",
                password="a long enough password",
                role=Role.PARTNER,
                partner_id=partner_row.id,
            ).id,
        )
        profiles.update_profile(
            session,
            actor=partner,
            password="a long enough password",
            changes={
                "payment_method": "wise",  # PayPal payees are on PayPal's 1099-K instead
                "payment_email": "pay@fixed.example",
                "tax_id": "98-7654321",
            },
        )
        verify_tax_form(session, partner)
        for number, name in enumerate(["Plain", 'Comma, "Quoted"', *INJECTIONS]):
            lead = leads.register_lead(
                session,
                actor=partner,
                client_name=name,
                client_email=f"c{number}@fixed.example",
                service="SEO",
                company=INJECTIONS[number % len(INJECTIONS)],
            )
            if number % 3 == 0:
                qualified = leads.change_lead_status(
                    session,
                    actor=manager,
                    lead_id=lead.id,
                    to="qualified",
                    expected_version=lead.version,
                )
                leads.change_lead_status(
                    session,
                    actor=manager,
                    lead_id=lead.id,
                    to="converted",
                    expected_version=qualified.version,
                    deal_value=f"{25000 + number}.{number:02d}",  # over the 1099 threshold
                )
        session.execute(
            update(Lead).values(created_at=moment, updated_at=moment, claim_expires_at=moment)
        )
        session.execute(update(Lead).where(Lead.status == "converted").values(converted_at=moment))
        session.execute(
            update(Commission).values(earned_at=moment, created_at=moment, hold_until=moment)
        )
        session.execute(update(Partner).values(created_at=moment, approved_at=moment))
        session.execute(update(profiles.PartnerProfile).values(tax_form_received_at=moment))
        for payout in payouts.run_batch(session, actor=manager, cutoff=utc_now().date()).scheduled:
            payouts.mark_paid(session, actor=manager, payout_id=payout.id, reference="+REF")
        from portal.core.models import Payout

        session.execute(update(Payout).values(created_at=moment, paid_at=moment))
        session.execute(update(AuditEntry).values(created_at=moment))
        year = utc_now().year
        session.execute(update(Payout).values(paid_at=datetime(year, 1, 2, tzinfo=UTC)))
        return {
            kind: _export(session, manager, kind, **({"year": year} if kind == "tax" else {}))[1]
            for kind in exports.KINDS
        }


def test_sqlite_and_postgresql_give_the_same_bytes_for_the_same_data(tmp_path):
    from portal.core import migrate
    from portal.core.db import get_engine
    from tests.conftest import (
        create_postgres_database,
        create_sqlite_database,
        drop_postgres_database,
        require_postgres,
    )

    require_postgres()
    sqlite_engine = get_engine(create_sqlite_database(tmp_path))
    postgres_url = create_postgres_database()
    try:
        postgres_engine = get_engine(postgres_url)
        for engine in (sqlite_engine, postgres_engine):
            migrate.upgrade(engine)
        from_sqlite = _fixed_program(sqlite_engine)
        from_postgres = _fixed_program(postgres_engine)
        # Audit entries record the moment of each change inside their JSON: set those aside.
        stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00")
        for kind in exports.KINDS:
            assert from_sqlite[kind].count("\n") > 1, kind
            assert stamp.sub("T", from_sqlite[kind]) == stamp.sub("T", from_postgres[kind]), kind
    finally:
        get_engine(postgres_url).dispose()
        drop_postgres_database(postgres_url)


def test_partners_export_only_their_own_data_and_only_some_kinds(engine):
    with unit_of_work(engine) as session:
        _, partner, made = _program(session)
        other = make_actor(session)
        make_lead(session, other, client_name="Someone Else's")
        count, text = _export(session, partner, "leads")
        assert count == len(made) and "Someone Else" not in text
        header = text.splitlines()[0].split(",")
        assert "partner" not in header and "self_referral" not in header
        for kind in ("payouts", "partners", "audit", "tax"):
            with pytest.raises(PermissionDenied):
                _export(session, partner, kind, year=2026)
        with pytest.raises(NotFound):
            _export(session, partner, "leads", partner_id=other.partner_id)


@pytest.mark.parametrize(
    ("kind", "filters", "field"),
    [
        ("leads", {"status": "won"}, "status"),
        ("nope", {}, "kind"),
        ("tax", {}, "year"),
        (
            "leads",
            {"date_from": datetime(2026, 2, 1).date(), "date_to": datetime(2026, 1, 1).date()},
            "date_to",
        ),
    ],
)
def test_bad_filters_are_refused_by_name(engine, kind, filters, field):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        with pytest.raises(ValidationError) as raised:
            _export(session, manager, kind, **filters)
    assert field in raised.value.errors


def test_filters_by_partner_status_and_date(engine):
    with unit_of_work(engine) as session:
        manager, _partner, made = _program(session)
        other = make_actor(session)
        make_lead(session, other)
        backdate_lead(session, made[1].id, timedelta(days=10))
        assert (
            exports.count_rows(
                session,
                actor=manager,
                kind="leads",
                filters=exports.Filters(partner_id=other.partner_id),
            )
            == 1
        )
        assert (
            exports.count_rows(
                session, actor=manager, kind="leads", filters=exports.Filters(status="converted")
            )
            == 1
        )
        recent = exports.Filters(date_from=utc_now().date() - timedelta(days=1))
        assert exports.count_rows(session, actor=manager, kind="leads", filters=recent) == len(made)
        assert (
            exports.count_rows(
                session, actor=manager, kind="partners", filters=exports.Filters(status="active")
            )
            == 2
        )


def test_memory_stays_flat_while_streaming(engine):
    """Peak memory while exporting must not grow with the number of rows."""
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner_row = session.get(Partner, make_actor(session).partner_id)
        now = utc_now()
        session.execute(
            Lead.__table__.insert(),
            [
                {
                    "partner_id": partner_row.id,
                    "client_name": f"Bulk {n}",
                    "client_email": f"bulk{n}@x.example",
                    "client_email_key": f"bulk{n}@x.example",
                    "service": "SEO",
                    "notes": "",
                    "status": "pending",
                    "self_referral": False,
                    "created_at": now,
                    "updated_at": now,
                    "claim_expires_at": now,
                    "version": 1,
                }
                for n in range(12_000)
            ],
        )

    def peak(limit_rows):
        with unit_of_work(engine) as session:
            session.execute(update(Partner).values(status=PartnerStatus.ACTIVE))
            tracemalloc.start()
            sink = _CountingSink()
            exports.write_csv(
                session,
                actor=manager,
                kind="leads",
                sink=sink,
                filters=exports.Filters(),
                use_copy=False,
            )
            _, high = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            return high, sink.rows

    high, rows = peak(None)
    assert rows == 12_001  # header + rows
    assert high < 20 * 1024 * 1024, high  # pages of 2,000 rows, never the whole export


class _CountingSink(io.TextIOBase):
    """A sink that keeps nothing, so only the exporter's own memory is measured."""

    def __init__(self) -> None:
        self.rows = 0

    def write(self, text: str) -> int:
        self.rows += text.count("\n")
        return len(text)


def test_statement_csv_has_opening_movements_and_closing(engine):
    from portal.money import monthly_statements

    with unit_of_work(engine) as session:
        _manager, partner, _ = _program(session)
        statement = monthly_statements.monthly_statement(
            session, actor=partner, month=utc_now().date()
        )
    rows = list(csv.reader(io.StringIO(exports.statement_csv(statement))))
    assert rows[1][1] == "opening_balance" and rows[-1][1] == "closing_balance"
    assert Decimal(rows[-1][3]) == statement.closing_balance == Decimal("123.46")
