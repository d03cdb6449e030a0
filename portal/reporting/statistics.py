"""Partner statistics: rollups kept in the same transaction as each lead change.

A partner's dashboard reads a few dozen rollup rows instead of scanning its leads (a partner
may hold 100,000). `integrity` checks them against a recomputation and rebuilds them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    Executable,
    Update,
    bindparam,
    case,
    extract,
    func,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased

from portal.core import db, program
from portal.core.access import Actor, one_partner_id, refresh
from portal.core.config import ProgramRules
from portal.core.errors import NotFound
from portal.core.models import (
    Base,
    Lead,
    LeadStatus,
    Partner,
    PartnerConversionStats,
    PartnerLeadStats,
    PartnerStatus,
    ProgramConversionStats,
    ProgramLeadStats,
    ProgramPartnerStats,
)
from portal.core.types import utc_now

ZERO = Decimal("0.00")
TRAILING_DAYS = 365
CHART_MONTHS = 18


def _month(moment: datetime) -> date:
    return moment.date().replace(day=1)


def _upsert(
    session: Session, model: type[Base], keys: dict[str, Any], amounts: dict[str, Any]
) -> None:
    """Add `amounts` to the row with `keys`, creating it if needed, in one atomic statement.

    A decrease updates the row that the matching increase made: an INSERT of a negative
    count would trip the CHECK constraints before ON CONFLICT is considered.
    """
    connection = db.connection(session)
    if any(amount < 0 for amount in amounts.values()):
        statement = _decrease_statement(model, tuple(keys), tuple(amounts))
        parameters = {f"key_{name}": value for name, value in keys.items()}
        parameters |= {f"add_{name}": value for name, value in amounts.items()}
        if connection.execute(statement, parameters).rowcount != 1:
            raise RuntimeError(f"no {model.__tablename__} row {keys} to decrease")
        return
    increase = _increase_statement(model, connection.dialect.name, tuple(keys), tuple(amounts))
    connection.execute(increase, {**keys, **amounts})


# Rollups change on every lead write: their statements are built once, not per call (building
# and cache-keying a fresh upsert cost more than the round trip it sends).
@cache
def _decrease_statement(
    model: type[Base], keys: tuple[str, ...], amounts: tuple[str, ...]
) -> Update:
    return (
        update(model)
        .where(*[getattr(model, name) == bindparam(f"key_{name}") for name in keys])
        .values({name: getattr(model, name) + bindparam(f"add_{name}") for name in amounts})
    )


@cache
def _increase_statement(
    model: type[Base], dialect_name: str, keys: tuple[str, ...], amounts: tuple[str, ...]
) -> Executable:
    statement = db.upsert(model, dialect_name)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(model, name) + statement.excluded[name] for name in amounts},
    )


def count_lead(
    session: Session,
    *,
    partner_id: int,
    created_at: datetime,
    status: LeadStatus,
    delta: int,
    program: bool = True,
) -> None:
    """A lead joins (delta=1) or leaves (delta=-1) its partner's count for its status and
    month, and (unless it only changes hands) the whole program's."""
    keys = {"month": _month(created_at), "status": status}
    _upsert(session, PartnerLeadStats, {"partner_id": partner_id, **keys}, {"lead_count": delta})
    if program:
        _upsert(session, ProgramLeadStats, keys, {"lead_count": delta})


def count_partner(session: Session, *, status: PartnerStatus, delta: int) -> None:
    """A partner joins (1) or leaves (-1) the program's count for a status."""
    _upsert(session, ProgramPartnerStats, {"status": status}, {"partner_count": delta})


def move_partner(session: Session, *, from_status: PartnerStatus, to: PartnerStatus) -> None:
    """A partner's status changed: its count moves, rows touched in status-name order (as
    lead moves do) so two changes at once cannot lock them crosswise."""
    for status, delta in sorted([(from_status, -1), (to, 1)], key=lambda change: change[0].value):
        count_partner(session, status=status, delta=delta)


def count_referral(session: Session, *, partner_id: int, delta: int) -> None:
    """A lead is registered for (1) or taken from (-1) a partner."""
    session.execute(
        update(Partner)
        .where(Partner.id == partner_id)
        .values(total_referrals=Partner.total_referrals + delta)
    )


def count_conversion(
    session: Session, *, partner_id: int, converted_at: datetime, commission: Decimal, sign: int
) -> None:
    """A conversion is made (sign=1) or undone (sign=-1), with its commission."""
    amount = commission * sign
    _upsert(
        session,
        PartnerConversionStats,
        {"partner_id": partner_id, "day": converted_at.date()},
        {"conversions": sign, "commission": amount},
    )
    _upsert(
        session,
        ProgramConversionStats,
        {"day": converted_at.date()},
        {"conversions": sign, "commission": amount},
    )
    session.execute(
        update(Partner)
        .where(Partner.id == partner_id)
        .values(total_earnings=Partner.total_earnings + amount)
    )


def track_lead_move(session: Session, lead: Lead, *, from_status: LeadStatus) -> None:
    """Move a lead's count from its old status to its new one: one statement for the
    partner's rollup and one for the program's, each an upsert of both rows.

    Each statement proposes its two rows in status-name order and PostgreSQL locks them in
    the order proposed, so concurrent moves in opposite directions cannot lock each other's
    rows crosswise (a deadlock). The row the lead leaves is proposed with a count of 0 (a
    proposed -1 would trip the CHECK before ON CONFLICT is considered) and decreased by the
    update; it exists whenever the rollups agree with the leads, which `integrity` checks.
    """
    first, second = sorted((from_status, lead.status), key=lambda status: status.value)
    parameters = {
        "partner_id": lead.partner_id,
        "month": _month(lead.created_at),
        "first_status": first,
        "first_count": int(first is lead.status),
        "second_status": second,
        "second_count": int(second is lead.status),
        "leaving": from_status,
    }
    connection = db.connection(session)
    for model, keys in (
        (PartnerLeadStats, ("partner_id", "month")),
        (ProgramLeadStats, ("month",)),
    ):
        connection.execute(_move_statement(model, connection.dialect.name, keys), parameters)


@cache
def _move_statement(
    model: type[PartnerLeadStats] | type[ProgramLeadStats], dialect_name: str, keys: tuple[str, ...]
) -> Executable:
    """Built once, as an INSERT … SELECT: SQLAlchemy caches its compiled form (a multi-row
    VALUES insert it compiles anew at every call, which cost more than the round trip saved)."""
    columns = model.__table__.c

    def proposed(row: str) -> Any:
        values = [bindparam(name, type_=columns[name].type) for name in keys]
        values += [
            bindparam(f"{row}_status", type_=columns.status.type),
            bindparam(f"{row}_count", type_=columns.lead_count.type),
        ]
        # SQLite needs a WHERE in an upsert's SELECT to tell its ON CONFLICT from a join's ON.
        return select(*values).where(true())

    statement = db.upsert(model, dialect_name).from_select(
        [*keys, "status", "lead_count"], union_all(proposed("first"), proposed("second"))
    )
    leaving = statement.excluded.status == bindparam("leaving", type_=columns.status.type)
    return statement.on_conflict_do_update(
        index_elements=[*keys, "status"],
        set_={"lead_count": model.lead_count + case((leaving, -1), else_=1)},
    )


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: int
    rate: Decimal


def tiers(rules: ProgramRules) -> list[Tier]:
    """The program's tiers, lowest first."""
    return [Tier(name, threshold, rate) for name, threshold, rate in rules.tiers]


def tier_for(conversions: int, rules: ProgramRules) -> tuple[Tier, Tier | None]:
    """The tier reached with this many trailing conversions, and the next one (if any)."""
    ladder = tiers(rules)
    reached = [tier for tier in ladder if conversions >= tier.threshold]
    current = reached[-1]
    higher = [tier for tier in ladder if tier.threshold > current.threshold]
    return current, (higher[0] if higher else None)


def trailing_conversions(session: Session, partner_id: int, today: date) -> int:
    """Conversions in the 365 days ending today (the tier window)."""
    return (
        session.scalar(
            select(func.coalesce(func.sum(PartnerConversionStats.conversions), 0)).where(
                PartnerConversionStats.partner_id == partner_id,
                PartnerConversionStats.day > today - timedelta(days=TRAILING_DAYS),
            )
        )
        or 0
    )


@dataclass(frozen=True)
class Conversion:
    """One conversion of a partner, for `rates_at_conversion`: when it was made and, if it
    was reversed, when (a reversed conversion stops counting toward the tier from then)."""

    key: int
    at: datetime
    reversed_at: datetime | None = None


def rates_at_conversion(
    conversions: Sequence[Conversion], rules: program.Timeline, pinned: Decimal | None = None
) -> dict[int, Decimal]:
    """The rate each of one partner's conversions earned when it was made, by the rule
    `effective_rate` applies at that moment: the pinned rate, else the rate, in the tier table
    then in force, of the tier that the partner's conversions made earlier, in the trailing
    year by day and not reversed by then, reach. The seed and the generator rate their
    conversions with it; `integrity` checks the ledger against it."""
    if pinned is not None:
        return {conversion.key: pinned for conversion in conversions}
    ordered = sorted(conversions, key=lambda conversion: conversion.at)
    days = [conversion.at.date() for conversion in ordered]
    reversed_ones = [
        (index, conversion.reversed_at)
        for index, conversion in enumerate(ordered)
        if conversion.reversed_at is not None
    ]
    rates = {}
    for index, conversion in enumerate(ordered):
        # The earlier conversions whose day lies in the trailing year: a sorted run of them.
        first = min(bisect_right(days, days[index] - timedelta(days=TRAILING_DAYS)), index)
        counted = (
            index
            - first
            - sum(
                1
                for at, reversed_at in reversed_ones
                if first <= at < index and reversed_at <= conversion.at
            )
        )
        rates[conversion.key] = tier_for(counted, rules.at(conversion.at))[0].rate
    return rates


def effective_rate(session: Session, partner: Partner) -> Decimal:
    """The rate a conversion earns now: the pinned rate, else the tier's rate in the partner's
    group's terms."""
    if partner.commission_rate is not None:
        return partner.commission_rate
    rules = program.terms_of(session, partner.group_id)  # the tier rates of its group
    tier, _ = tier_for(trailing_conversions(session, partner.id, utc_now().date()), rules)
    return tier.rate


@dataclass(frozen=True)
class MonthCount:
    month: date
    status: LeadStatus
    count: int


@dataclass(frozen=True)
class MonthEarnings:
    month: date
    conversions: int
    commission: Decimal


@dataclass(frozen=True)
class PartnerStatistics:
    """Everything the partner dashboard shows as figures and charts."""

    partner_id: int
    company_name: str
    status: PartnerStatus
    total_referrals: int
    converted: int
    conversion_rate: Decimal
    total_earnings: Decimal
    paid_earnings: Decimal
    pending_earnings: Decimal
    rank: int | None
    ranked_partners: int
    tier: str
    next_tier: str | None
    trailing_conversions: int
    conversions_to_next_tier: int
    tier_progress: float
    effective_rate: Decimal
    rate_pinned: bool
    pipeline: dict[LeadStatus, int] = field(default_factory=dict)
    leads_by_month: list[MonthCount] = field(default_factory=list)
    earnings_by_month: list[MonthEarnings] = field(default_factory=list)


def conversion_rate(converted: int, total: int) -> Decimal:
    """Converted ÷ total referrals as a fraction with 4 places; 0 when there are none."""
    if total == 0:
        return Decimal("0.0000")
    return (Decimal(converted) / Decimal(total)).quantize(Decimal("0.0001"))


def _rank_columns() -> tuple[Any, Any]:
    """Read with the partner: how many active partners earned more (its competition rank,
    "1224", is one more), counted from an index, and how many active partners there are."""
    rival = aliased(Partner)
    ahead = (
        select(func.count())
        .where(rival.status == PartnerStatus.ACTIVE, rival.total_earnings > Partner.total_earnings)
        .correlate(Partner)
        .scalar_subquery()
    )
    ranked = (
        select(ProgramPartnerStats.partner_count)
        .where(ProgramPartnerStats.status == PartnerStatus.ACTIVE)
        .scalar_subquery()
    )
    return ahead, ranked


_RANK = _rank_columns()
# A partner's statistics are read on every dashboard: their statements are built once (with
# plain columns, no ORM objects), not per call.
_PARTNER_WITH_RANK = select(
    Partner.id,
    Partner.company_name,
    Partner.status,
    Partner.total_referrals,
    Partner.total_earnings,
    Partner.paid_earnings,
    Partner.commission_rate,
    Partner.group_id,
    *_RANK,
).where(Partner.id == bindparam("partner_id"))
_LEAD_ROLLUP = (
    select(PartnerLeadStats.month, PartnerLeadStats.status, PartnerLeadStats.lead_count)
    .where(PartnerLeadStats.partner_id == bindparam("partner_id"))
    .order_by(PartnerLeadStats.month, PartnerLeadStats.status)
)
_YEAR = extract("year", PartnerConversionStats.day)
_MONTH_NUMBER = extract("month", PartnerConversionStats.day)
# Conversions are rolled up by day; the database sums them by month (and over the tier's
# trailing window) so a few rows come back instead of a year and a half of days.
_CONVERSIONS_BY_MONTH = (
    select(
        _YEAR,
        _MONTH_NUMBER,
        func.sum(PartnerConversionStats.conversions),
        func.sum(PartnerConversionStats.commission),
        func.sum(
            case(
                (
                    PartnerConversionStats.day > bindparam("trailing_start"),
                    PartnerConversionStats.conversions,
                ),
                else_=0,
            )
        ),
    )
    .where(
        PartnerConversionStats.partner_id == bindparam("partner_id"),
        PartnerConversionStats.day >= bindparam("since"),
    )
    .group_by(_YEAR, _MONTH_NUMBER)
    .order_by(_YEAR, _MONTH_NUMBER)
)


def partner_statistics(
    session: Session, *, actor: Actor, partner_id: int | None = None
) -> PartnerStatistics:
    """A partner's statistics from its rollups; a partner may read only its own."""
    partner_id = one_partner_id(refresh(session, actor), partner_id)  # (refresh flushes)
    connection = db.connection(session)
    partner = connection.execute(_PARTNER_WITH_RANK, {"partner_id": partner_id}).one_or_none()
    if partner is None:
        raise NotFound("Partner not found.")
    ahead, ranked = partner[-2:]

    today = utc_now().date()
    first_month = (today.replace(day=1) - timedelta(days=31 * (CHART_MONTHS - 1))).replace(day=1)
    # A partner's lead rollups are a few rows per month: one read gives both the all-time
    # pipeline and the chart's months.
    pipeline = {status: 0 for status in LeadStatus}
    leads_by_month = []
    for month, status, count in connection.execute(_LEAD_ROLLUP, {"partner_id": partner.id}):
        pipeline[status] += count
        if month >= first_month and count > 0:
            leads_by_month.append(MonthCount(month=month, status=status, count=count))
    trailing_start = today - timedelta(days=TRAILING_DAYS)
    trailing = 0
    earnings_by_month = []
    for year_value, month_value, conversions, commission, in_window in connection.execute(
        _CONVERSIONS_BY_MONTH,
        {
            "partner_id": partner.id,
            "trailing_start": trailing_start,
            "since": min(first_month, trailing_start),
        },
    ):
        trailing += int(in_window)
        month = date(int(year_value), int(month_value), 1)
        if month >= first_month:
            earnings_by_month.append(
                MonthEarnings(month=month, conversions=int(conversions), commission=commission)
            )

    tier, next_tier = tier_for(trailing, program.terms_of(session, partner.group_id))
    if next_tier is None:
        to_next, progress = 0, 1.0
    else:
        to_next = next_tier.threshold - trailing
        span = next_tier.threshold - tier.threshold
        progress = (trailing - tier.threshold) / span
    rank = ahead + 1 if partner.status is PartnerStatus.ACTIVE else None
    total = partner.total_referrals
    converted = pipeline[LeadStatus.CONVERTED]
    return PartnerStatistics(
        partner_id=partner.id,
        company_name=partner.company_name,
        status=partner.status,
        total_referrals=total,
        converted=converted,
        conversion_rate=conversion_rate(converted, total),
        total_earnings=partner.total_earnings,
        paid_earnings=partner.paid_earnings,
        pending_earnings=partner.total_earnings - partner.paid_earnings,
        rank=rank,
        ranked_partners=ranked or 0,
        tier=tier.name,
        next_tier=next_tier.name if next_tier else None,
        trailing_conversions=trailing,
        conversions_to_next_tier=to_next,
        tier_progress=progress,
        effective_rate=partner.commission_rate
        if partner.commission_rate is not None
        else tier.rate,
        rate_pinned=partner.commission_rate is not None,
        pipeline=pipeline,
        leads_by_month=leads_by_month,
        earnings_by_month=earnings_by_month,
    )
