"""A large program for scale work: `python -m portal generate --partners 10000 --leads 1000000`.

Rows are made in Python and loaded in bulk — `COPY … FROM STDIN` on PostgreSQL, batched
inserts on SQLite — with explicit ids, then the statistics are rebuilt from the leads and
the ledger, so `verify` holds. Eighteen months of history: every lead status, conversions
with their ledger lines, monthly payouts (paid) for lines whose hold ended before each payout
day, timeline events, and one partner (the first) holding 10% of the leads (100,000 at one
million). Every generated login shares one password, printed at the end.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, text, update
from sqlalchemy.orm import InstrumentedAttribute

from portal.accounts.users import hash_password
from portal.core import program
from portal.core.config import ProgramRules, get_settings
from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.core.models import (
    Base,
    Commission,
    Lead,
    LeadEvent,
    Partner,
    PartnerProfile,
    Payout,
    User,
)
from portal.core.types import to_cents, utc_now
from portal.reporting import integrity, statistics

MONTHS = 18
BIG_PARTNER_SHARE = 0.10


@dataclass(frozen=True)
class Generated:
    partners: int
    leads: int
    events: int
    commissions: int
    payouts: int
    password: str
    seconds: float


def _rate_for(conversions_per_year: float, rules: ProgramRules) -> Decimal:
    chosen = Decimal("0.10")
    for _, threshold, rate in rules.tiers:
        if conversions_per_year >= threshold:
            chosen = rate
    return chosen


def _payout_days(start: date, end: date, day: int) -> list[date]:
    months = []
    cursor = date(start.year, start.month, day)
    while cursor < end:
        if cursor >= start:
            months.append(cursor)
        cursor = date(cursor.year + (cursor.month == 12), cursor.month % 12 + 1, day)
    return months


class _Loader:
    """Bulk-loads rows into a table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self.dialect = dialect

    def load(
        self, attributes: Sequence[InstrumentedAttribute[Any]], rows: Iterable[Sequence[Any]]
    ) -> int:
        """Load rows of values in the order of `attributes`, all of one model's table."""
        table = attributes[0].class_.__tablename__
        columns = [attribute.property.columns[0].name for attribute in attributes]
        count = 0
        if self.dialect == "postgresql":
            raw = self.connection.connection.dbapi_connection
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        placeholders = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
        raw = self.connection.connection.dbapi_connection
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(row)
            count += 1
            if len(batch) == 5000:
                raw.executemany(sql, batch)
                batch.clear()
        if batch:
            raw.executemany(sql, batch)
        return count


Line = tuple[
    int, int, Decimal, Decimal, Decimal, datetime
]  # lead, partner, commission, deal, rate, at


def _rated_by_the_rules(lines: list[Line], rules: program.Timeline) -> list[Line]:
    """Rate each conversion in `lines` (in place) as `statistics.rates_at_conversion` says
    its partner earned then; the lines whose rate changed."""
    by_partner: dict[int, list[int]] = defaultdict(list)
    for position, line in enumerate(lines):
        by_partner[line[1]].append(position)
    changed = []
    for positions in by_partner.values():
        rates = statistics.rates_at_conversion(
            [statistics.Conversion(position, lines[position][5]) for position in positions],
            rules,
        )
        for position in positions:
            lead_id, partner_id, _, deal, rate, at = lines[position]
            if rates[position] != rate:
                lines[position] = (
                    lead_id,
                    partner_id,
                    to_cents(deal * rates[position]),
                    deal,
                    rates[position],
                    at,
                )
                changed.append(lines[position])
    return changed


def _money(amount: Decimal, dialect: str) -> Any:
    # Money is NUMERIC on PostgreSQL and whole cents on SQLite (see portal.core.types).
    return amount if dialect == "postgresql" else int(amount * 100)


def _stamp(moment: datetime | None, dialect: str) -> Any:
    if moment is None:
        return None
    if dialect == "postgresql":
        return moment
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it


def generate(engine: Engine, *, partners: int, leads: int, seed: int = 7) -> Generated:
    """Fill an empty database with a large program (see the module docstring)."""
    if partners < 1 or leads < 0:
        raise ValidationError({"partners": "Give at least one partner and zero or more leads."})
    with unit_of_work(engine) as session:
        if session.scalar(select(func.count()).select_from(Partner)):
            raise ValidationError(
                {"database": "The database already holds data; generate fills an empty one."}
            )
        rules, timeline = program.current(session), program.timeline(session)
    started = utc_now()
    rng = random.Random(seed)
    dialect = engine.dialect.name
    settings = get_settings()
    services = rules.services
    hold = timedelta(days=rules.hold_days)
    now = utc_now().replace(microsecond=0)
    start = now - timedelta(days=30 * MONTHS)
    password = "-".join(secrets.token_urlsafe(4) for _ in range(3))
    password_hash = hash_password(password)

    with engine.begin() as connection:
        loader = _Loader(connection, dialect)
        # Partners: the first is the big one; 5% pending, 5% suspended.
        partner_rows, statuses = [], {}
        for partner_id in range(1, partners + 1):
            roll = rng.random()
            status = "pending" if roll < 0.05 else "suspended" if roll < 0.10 else "active"
            if partner_id == 1:
                status = "active"
            statuses[partner_id] = status
            joined = start + timedelta(days=rng.randint(0, 60))
            partner_rows.append(
                (
                    partner_id,
                    f"Partner {partner_id:05d}",
                    f"team@partner{partner_id}.example",
                    status,
                    _money(Decimal(0), dialect),
                    _money(Decimal(0), dialect),
                    0,
                    _stamp(joined, dialect),
                    _stamp(joined, dialect),
                    _stamp(None if status == "pending" else joined, dialect),
                )
            )
        loader.load(
            (
                Partner.id,
                Partner.company_name,
                Partner.email,
                Partner.status,
                Partner.total_earnings,
                Partner.paid_earnings,
                Partner.total_referrals,
                Partner.created_at,
                Partner.updated_at,
                Partner.approved_at,
            ),
            partner_rows,
        )
        loader.load(
            (
                PartnerProfile.partner_id,
                PartnerProfile.payment_email,
                PartnerProfile.payment_method,
                PartnerProfile.tax_form,
                PartnerProfile.tax_form_received_at,
                PartnerProfile.notifications_enabled,
                PartnerProfile.email_notifications,
                PartnerProfile.monthly_reports,
                PartnerProfile.created_at,
                PartnerProfile.updated_at,
            ),
            (
                (
                    pid,
                    f"pay@partner{pid}.example",
                    "paypal",
                    "W-9",
                    _stamp(start, dialect),
                    True,
                    True,
                    False,
                    _stamp(start, dialect),
                    _stamp(start, dialect),
                )
                for pid in range(1, partners + 1)
            ),
        )
        loader.load(
            (
                User.id,
                User.username,
                User.display_name,
                User.email,
                User.password_hash,
                User.role,
                User.partner_id,
                User.is_active,
                User.failed_logins,
                User.created_at,
            ),
            [
                (
                    1,
                    "manager",
                    "Program Manager",
                    "manager@portal.example",
                    password_hash,
                    "manager",
                    None,
                    True,
                    0,
                    _stamp(start, dialect),
                )
            ]
            + [
                (
                    pid + 1,
                    f"partner{pid}",
                    f"Partner {pid} user",
                    f"user@partner{pid}.example",
                    password_hash,
                    "partner",
                    pid,
                    True,
                    0,
                    _stamp(start, dialect),
                )
                for pid in range(1, partners + 1)
            ],
        )

        # Leads, their events and the ledger lines of the converted ones.
        big = min(leads, max(int(leads * BIG_PARTNER_SHARE), 0))
        eligible = [pid for pid, status in statuses.items() if status != "pending" and pid != 1]
        payout_days = _payout_days(start.date(), now.date() + timedelta(days=1), rules.payout_day)
        lines: list[Line] = []
        event_rows: list[tuple[Any, ...]] = []
        conversions_by_partner: dict[int, int] = defaultdict(int)
        per_year = {1: 0.3 * big / 1.5}

        def lead_rows() -> Iterable[tuple[Any, ...]]:
            for lead_id in range(1, leads + 1):
                partner_id = 1 if lead_id <= big or not eligible else rng.choice(eligible)
                created = start + timedelta(
                    seconds=rng.randint(0, int((now - start).total_seconds()) - 3600)
                )
                age = (now - created).days
                roll = rng.random()
                if age < 3:
                    status = "pending"
                elif roll < 0.30 and age > 10:
                    status = "converted"
                elif roll < 0.55:
                    status = "lost"
                else:
                    status = rng.choice(["pending", "contacted", "qualified"])
                contacted = (
                    created + timedelta(hours=rng.randint(2, 72)) if status != "pending" else None
                )
                qualified = (
                    contacted + timedelta(hours=rng.randint(2, 96))
                    if status in ("qualified", "converted") and contacted
                    else None
                )
                converted = (
                    min(qualified + timedelta(days=rng.randint(1, 9)), now)
                    if status == "converted" and qualified
                    else None
                )
                lost = contacted if status == "lost" else None
                deal = commission = rate = None
                if converted is not None:
                    deal = Decimal(rng.randrange(50_000, 5_000_000)) / 100
                    rate = _rate_for(per_year.get(partner_id, 8), rules)
                    commission = to_cents(deal * rate)
                    lines.append((lead_id, partner_id, commission, deal, rate, converted))
                    conversions_by_partner[partner_id] += 1
                updated = converted or lost or qualified or contacted or created
                event_rows.append(
                    (
                        lead_id,
                        partner_id + 1,
                        "registered",
                        None,
                        "pending",
                        "",
                        _stamp(created, dialect),
                    )
                )
                previous = "pending"
                for step, moment in (
                    ("contacted", contacted),
                    ("qualified", qualified),
                    ("converted", converted),
                ):
                    if moment is not None:
                        event_rows.append(
                            (
                                lead_id,
                                partner_id + 1,
                                "status_changed",
                                previous,
                                step,
                                "",
                                _stamp(moment, dialect),
                            )
                        )
                        previous = step
                if status == "lost":
                    event_rows.append(
                        (
                            lead_id,
                            partner_id + 1,
                            "status_changed",
                            previous,
                            "lost",
                            "",
                            _stamp(lost, dialect),
                        )
                    )
                email = f"client{lead_id}@client{lead_id % 50_000}.example"
                yield (
                    lead_id,
                    partner_id,
                    f"Client {lead_id}",
                    email,
                    email,
                    f"+1415{lead_id % 10_000_000:07d}" if lead_id % 4 == 0 else None,
                    f"Company {lead_id % 20_000}",
                    services[lead_id % len(services)],
                    "",
                    status,
                    "no_response" if status == "lost" else None,
                    _money(deal, dialect) if deal is not None else None,
                    _money(commission, dialect) if commission is not None else None,
                    float(rate) if rate is not None and dialect == "sqlite" else rate,
                    False,
                    _stamp(created, dialect),
                    _stamp(contacted, dialect),
                    _stamp(qualified, dialect),
                    _stamp(converted, dialect),
                    _stamp(lost, dialect),
                    _stamp(updated, dialect),
                    _stamp(created + timedelta(days=rules.claim_days), dialect),
                    1,
                )

        loaded = loader.load(
            (
                Lead.id,
                Lead.partner_id,
                Lead.client_name,
                Lead.client_email,
                Lead.client_email_key,
                Lead.client_phone,
                Lead.company,
                Lead.service,
                Lead.notes,
                Lead.status,
                Lead.lost_reason,
                Lead.deal_value,
                Lead.commission,
                Lead.commission_rate,
                Lead.self_referral,
                Lead.created_at,
                Lead.contacted_at,
                Lead.qualified_at,
                Lead.converted_at,
                Lead.lost_at,
                Lead.updated_at,
                Lead.claim_expires_at,
                Lead.version,
            ),
            lead_rows(),
        )
        # Each conversion's rate by the program's rule, now that all of each partner's are
        # known (the rows above took an estimate): the leads that differ are corrected.
        corrected = _rated_by_the_rules(lines, timeline)
        if corrected:
            connection.execute(
                update(Lead)
                .where(Lead.id == bindparam("lead_id"))
                .values(commission=bindparam("new_commission"), commission_rate=bindparam("rate")),
                [  # through SQLAlchemy's types, unlike the raw rows the loader writes
                    {"lead_id": lead_id, "new_commission": commission, "rate": rate}
                    for lead_id, _, commission, _, rate, _ in corrected
                ],
            )
        events = loader.load(
            (
                LeadEvent.lead_id,
                LeadEvent.actor_user_id,
                LeadEvent.kind,
                LeadEvent.from_status,
                LeadEvent.to_status,
                LeadEvent.note,
                LeadEvent.created_at,
            ),
            event_rows,
        )
        event_rows.clear()

        # Payouts: on each payout day, every active partner is paid the lines whose hold
        # ended by then (no minimum in history: amounts here are all far above it).
        payouts: list[tuple[Any, ...]] = []
        payout_of: dict[int, int] = {}
        by_partner: dict[int, list[tuple[int, Decimal, datetime]]] = defaultdict(list)
        for lead_id, partner_id, commission, _, _, converted in lines:
            by_partner[partner_id].append((lead_id, commission, converted))
        for partner_id, owed in by_partner.items():
            if statuses[partner_id] != "active":
                continue
            owed.sort(key=lambda item: item[2])
            index = 0
            for payday in payout_days:
                cutoff = datetime.combine(payday + timedelta(days=1), datetime.min.time(), UTC)
                batch = []
                while index < len(owed) and owed[index][2] + hold < cutoff:
                    batch.append(owed[index])
                    index += 1
                if not batch or cutoff > now:
                    continue
                payout_id = len(payouts) + 1
                paid_at = datetime.combine(payday, datetime.min.time(), UTC) + timedelta(hours=9)
                amount = sum((item[1] for item in batch), Decimal("0.00"))
                payouts.append(
                    (
                        payout_id,
                        partner_id,
                        payday if dialect == "postgresql" else payday.isoformat(),
                        _money(amount, dialect),
                        settings.currency,
                        len(batch),
                        "paid",
                        "paypal",
                        f"GEN-{payout_id}",
                        "",
                        _stamp(paid_at, dialect),
                        _stamp(paid_at, dialect),
                        _stamp(paid_at, dialect),
                        settings.currency,  # paid in the program currency, at a rate of 1
                        _money(amount, dialect),
                        1,
                    )
                )
                for lead_id, _, _ in batch:
                    payout_of[lead_id] = payout_id
        loader.load(
            (
                Payout.id,
                Payout.partner_id,
                Payout.cutoff,
                Payout.amount,
                Payout.currency,
                Payout.item_count,
                Payout.status,
                Payout.payment_method,
                Payout.reference,
                Payout.failure_reason,
                Payout.created_at,
                Payout.paid_at,
                Payout.closed_at,
                Payout.payout_currency,
                Payout.payout_amount,
                Payout.exchange_rate,
            ),
            payouts,
        )
        commissions = loader.load(
            (
                Commission.partner_id,
                Commission.lead_id,
                Commission.kind,
                Commission.amount,
                Commission.deal_value,
                Commission.rate,
                Commission.earned_at,
                Commission.hold_until,
                Commission.status,
                Commission.payout_id,
                Commission.created_at,
            ),
            (
                (
                    partner_id,
                    lead_id,
                    "commission",
                    _money(commission, dialect),
                    _money(deal, dialect),
                    float(rate) if dialect == "sqlite" else rate,
                    _stamp(converted, dialect),
                    _stamp(converted + hold, dialect),
                    "paid" if lead_id in payout_of else "open",
                    payout_of.get(lead_id),
                    _stamp(converted, dialect),
                )
                for lead_id, partner_id, commission, deal, rate, converted in lines
            ),
        )
        if dialect == "postgresql":
            for table in Base.metadata.sorted_tables:
                if (
                    "id" in table.c
                    and table.c.id.autoincrement
                    and table.name not in ("partner_lead_stats", "partner_conversion_stats")
                ):
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
    with unit_of_work(engine) as session:
        integrity.rebuild_statistics(session)
    if dialect == "postgresql":
        # As autovacuum leaves a program that has run for a while: planner statistics, and a
        # visibility map, without which every index-only scan also reads the table (the
        # dashboard's rank read all 816 pages of 10,000 partners instead of 8).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return Generated(
        partners=partners,
        leads=loaded,
        events=events,
        commissions=commissions,
        payouts=len(payouts),
        password=password,
        seconds=(utc_now() - started).total_seconds(),
    )
