"""Partner statistics: rollups kept in the same transaction as each lead change.

A partner's dashboard reads a few dozen rollup rows instead of scanning its leads (a partner
may hold 100,000). `verify` recomputes everything from the leads and reports any difference;
`rebuild` rewrites the rollups from the leads (after a bulk load).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.access import Actor, refresh, scoped_partner_id
from portal.config import get_settings
from portal.errors import NotFound
from portal.models import (
    Commission,
    CommissionStatus,
    Lead,
    LeadStatus,
    Partner,
    PartnerConversionStats,
    PartnerLeadStats,
    PartnerStatus,
    ProgramConversionStats,
    ProgramLeadStats,
)
from portal.types import day_start, month_start, to_cents, utc_now

ZERO = Decimal("0.00")
TRAILING_DAYS = 365
CHART_MONTHS = 18


def _month(moment: datetime) -> date:
    return moment.date().replace(day=1)


def _upsert(session: Session, model: Any, keys: dict[str, Any], amounts: dict[str, Any]) -> None:
    """Add `amounts` to the row with `keys`, creating it if needed, in one atomic statement.

    A decrease updates the row that the matching increase made: an INSERT of a negative
    count would trip the CHECK constraints before ON CONFLICT is considered.
    """
    if any(amount < 0 for amount in amounts.values()):
        key_columns = [getattr(model, name) == value for name, value in keys.items()]
        changes = {name: getattr(model, name) + amount for name, amount in amounts.items()}
        updated = session.execute(update(model).where(*key_columns).values(changes))
        if updated.rowcount != 1:
            raise RuntimeError(f"no {model.__tablename__} row {keys} to decrease")
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(model).values(**keys, **amounts)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(model, name) + statement.excluded[name] for name in amounts},
    )
    session.execute(statement)


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
    """Move a lead's count from its old status to its new one.

    The two rows are always touched in the same (status name) order, so concurrent moves in
    opposite directions cannot lock each other's rows crosswise (a deadlock).
    """
    changes = sorted([(from_status, -1), (lead.status, 1)], key=lambda change: change[0].value)
    for status, delta in changes:
        count_lead(
            session,
            partner_id=lead.partner_id,
            created_at=lead.created_at,
            status=status,
            delta=delta,
        )


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: int
    rate: Decimal


def tiers() -> list[Tier]:
    """The configured tiers, lowest first."""
    return [Tier(name, threshold, rate) for name, threshold, rate in get_settings().tiers]


def tier_for(conversions: int) -> tuple[Tier, Tier | None]:
    """The tier reached with this many trailing conversions, and the next one (if any)."""
    ladder = tiers()
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


def effective_rate(session: Session, partner: Partner) -> Decimal:
    """The rate a conversion earns now: the pinned rate, else the tier's default."""
    if partner.commission_rate is not None:
        return partner.commission_rate
    tier, _ = tier_for(trailing_conversions(session, partner.id, utc_now().date()))
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


def _rank(session: Session, partner: Partner) -> tuple[int | None, int]:
    """Competition rank ("1224") by total earnings among active partners, and how many."""
    active = Partner.status == PartnerStatus.ACTIVE
    ranked = session.scalar(select(func.count()).select_from(Partner).where(active)) or 0
    if partner.status is not PartnerStatus.ACTIVE:
        return None, ranked
    ahead = (
        session.scalar(
            select(func.count())
            .select_from(Partner)
            .where(active, Partner.total_earnings > partner.total_earnings)
        )
        or 0
    )
    return ahead + 1, ranked


def partner_statistics(
    session: Session, *, actor: Actor, partner_id: int | None = None
) -> PartnerStatistics:
    """A partner's statistics from its rollups; a partner may read only its own."""
    partner_id = scoped_partner_id(refresh(session, actor), partner_id)
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    if partner is None:
        raise NotFound("Partner not found.")

    today = utc_now().date()
    first_month = (today.replace(day=1) - timedelta(days=31 * (CHART_MONTHS - 1))).replace(day=1)
    pipeline = {status: 0 for status in LeadStatus}
    for status, count in session.execute(
        select(PartnerLeadStats.status, func.sum(PartnerLeadStats.lead_count))
        .where(PartnerLeadStats.partner_id == partner.id)
        .group_by(PartnerLeadStats.status)
    ):
        pipeline[status] = int(count)
    leads_by_month = [
        MonthCount(month=row.month, status=row.status, count=row.lead_count)
        for row in session.scalars(
            select(PartnerLeadStats)
            .where(
                PartnerLeadStats.partner_id == partner.id,
                PartnerLeadStats.month >= first_month,
                PartnerLeadStats.lead_count > 0,
            )
            .order_by(PartnerLeadStats.month, PartnerLeadStats.status)
        )
    ]
    monthly: dict[date, list[Any]] = defaultdict(lambda: [0, ZERO])
    trailing = 0
    trailing_start = today - timedelta(days=TRAILING_DAYS)
    for day, conversions, commission in session.execute(
        select(
            PartnerConversionStats.day,
            PartnerConversionStats.conversions,
            PartnerConversionStats.commission,
        ).where(
            PartnerConversionStats.partner_id == partner.id,
            PartnerConversionStats.day >= min(first_month, trailing_start),
        )
    ):
        if day > trailing_start:
            trailing += conversions
        if day >= first_month:
            monthly[day.replace(day=1)][0] += conversions
            monthly[day.replace(day=1)][1] += commission
    earnings_by_month = [
        MonthEarnings(month=month, conversions=values[0], commission=values[1])
        for month, values in sorted(monthly.items())
    ]

    tier, next_tier = tier_for(trailing)
    if next_tier is None:
        to_next, progress = 0, 1.0
    else:
        to_next = next_tier.threshold - trailing
        span = next_tier.threshold - tier.threshold
        progress = (trailing - tier.threshold) / span
    rank, ranked = _rank(session, partner)
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
        ranked_partners=ranked,
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


# --- recomputation -------------------------------------------------------------------------


@dataclass
class Recomputed:
    """Every rollup as computed from the leads themselves."""

    referrals: dict[int, int]
    earnings: dict[int, Decimal]
    lead_counts: dict[tuple[int, date, LeadStatus], int]
    conversions: dict[tuple[int, date], tuple[int, Decimal]]

    def program_lead_counts(self) -> dict[tuple[date, LeadStatus], int]:
        totals: dict[tuple[date, LeadStatus], int] = defaultdict(int)
        for (_, month, status), count in self.lead_counts.items():
            totals[month, status] += count
        return dict(totals)

    def program_conversions(self) -> dict[date, tuple[int, Decimal]]:
        totals: dict[date, list[Any]] = defaultdict(lambda: [0, ZERO])
        for (_, day), (count, amount) in self.conversions.items():
            totals[day][0] += count
            totals[day][1] += amount
        return {day: (values[0], values[1]) for day, values in totals.items()}


def recompute(session: Session) -> Recomputed:
    """All rollups recomputed from partner_leads with GROUP BY queries."""
    referrals = dict(
        session.execute(select(Lead.partner_id, func.count()).group_by(Lead.partner_id)).all()
    )
    converted = Lead.status == LeadStatus.CONVERTED
    earnings = {
        partner_id: to_cents(total)
        for partner_id, total in session.execute(
            select(Lead.partner_id, func.sum(Lead.commission))
            .where(converted)
            .group_by(Lead.partner_id)
        )
    }
    month = month_start(Lead.created_at)
    lead_counts = {
        (partner_id, _as_date(month_value), status): count
        for partner_id, month_value, status, count in session.execute(
            select(Lead.partner_id, month, Lead.status, func.count()).group_by(
                Lead.partner_id, month, Lead.status
            )
        )
    }
    day = day_start(Lead.converted_at)
    conversions = {
        (partner_id, _as_date(day_value)): (count, to_cents(total))
        for partner_id, day_value, count, total in session.execute(
            select(Lead.partner_id, day, func.count(), func.sum(Lead.commission))
            .where(converted)
            .group_by(Lead.partner_id, day)
        )
    }
    return Recomputed(referrals, earnings, lead_counts, conversions)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def verify(session: Session) -> list[str]:
    """Each difference between the stored statistics and a recomputation from the leads."""
    expected = recompute(session)
    problems: list[str] = []
    for partner in session.execute(
        select(
            Partner.id,
            Partner.total_referrals,
            Partner.total_earnings,
            Partner.paid_earnings,
            Partner.pending_earnings,
        )
    ):
        want_referrals = expected.referrals.get(partner.id, 0)
        if partner.total_referrals != want_referrals:
            problems.append(
                f"partner {partner.id}: total_referrals {partner.total_referrals}"
                f" but {want_referrals} leads"
            )
        want_earnings = expected.earnings.get(partner.id, ZERO)
        if partner.total_earnings != want_earnings:
            problems.append(
                f"partner {partner.id}: total_earnings {partner.total_earnings}"
                f" but converted commissions sum to {want_earnings}"
            )
        if partner.pending_earnings != partner.total_earnings - partner.paid_earnings:
            problems.append(f"partner {partner.id}: pending_earnings is not total − paid")
    stored_counts = {
        (row.partner_id, row.month, row.status): row.lead_count
        for row in session.scalars(select(PartnerLeadStats).where(PartnerLeadStats.lead_count != 0))
    }
    if stored_counts != expected.lead_counts:
        for key in sorted(set(stored_counts) | set(expected.lead_counts), key=str):
            if stored_counts.get(key, 0) != expected.lead_counts.get(key, 0):
                problems.append(
                    f"lead count {key}: stored {stored_counts.get(key, 0)},"
                    f" recomputed {expected.lead_counts.get(key, 0)}"
                )
    stored_conversions = {
        (row.partner_id, row.day): (row.conversions, row.commission)
        for row in session.scalars(
            select(PartnerConversionStats).where(
                (PartnerConversionStats.conversions != 0)
                | (PartnerConversionStats.commission != ZERO)
            )
        )
    }
    if stored_conversions != expected.conversions:
        for key in sorted(set(stored_conversions) | set(expected.conversions), key=str):
            if stored_conversions.get(key) != expected.conversions.get(key):
                problems.append(
                    f"conversions {key}: stored {stored_conversions.get(key)},"
                    f" recomputed {expected.conversions.get(key)}"
                )
    stored_program = {
        (row.month, row.status): row.lead_count
        for row in session.scalars(select(ProgramLeadStats).where(ProgramLeadStats.lead_count != 0))
    }
    if stored_program != expected.program_lead_counts():
        problems.append("program lead counts differ from a recomputation")
    stored_days = {
        row.day: (row.conversions, row.commission)
        for row in session.scalars(
            select(ProgramConversionStats).where(
                (ProgramConversionStats.conversions != 0)
                | (ProgramConversionStats.commission != ZERO)
            )
        )
    }
    if stored_days != expected.program_conversions():
        problems.append("program conversions differ from a recomputation")
    return problems


def rebuild(session: Session) -> None:
    """Rewrite every rollup from the leads and the ledger (after a bulk load)."""
    expected = recompute(session)
    for rollup in (
        PartnerLeadStats,
        PartnerConversionStats,
        ProgramLeadStats,
        ProgramConversionStats,
    ):
        session.execute(delete(rollup))
    session.execute(
        update(Partner).values(total_referrals=0, total_earnings=ZERO, paid_earnings=ZERO)
    )
    paid_lines = session.execute(
        select(Commission.partner_id, func.sum(Commission.amount))
        .where(Commission.status == CommissionStatus.PAID)
        .group_by(Commission.partner_id)
    ).all()
    for partner_id, paid in paid_lines:
        session.execute(update(Partner).where(Partner.id == partner_id).values(paid_earnings=paid))
    for partner_id, count in expected.referrals.items():
        session.execute(
            update(Partner).where(Partner.id == partner_id).values(total_referrals=count)
        )
    for partner_id, total in expected.earnings.items():
        session.execute(
            update(Partner).where(Partner.id == partner_id).values(total_earnings=total)
        )
    if expected.lead_counts:
        session.execute(
            PartnerLeadStats.__table__.insert(),
            [
                {"partner_id": p, "month": m, "status": s, "lead_count": c}
                for (p, m, s), c in expected.lead_counts.items()
            ],
        )
    if expected.lead_counts:
        session.execute(
            ProgramLeadStats.__table__.insert(),
            [
                {"month": m, "status": s, "lead_count": c}
                for (m, s), c in expected.program_lead_counts().items()
            ],
        )
    if expected.conversions:
        session.execute(
            ProgramConversionStats.__table__.insert(),
            [
                {"day": d, "conversions": c, "commission": amount}
                for d, (c, amount) in expected.program_conversions().items()
            ],
        )
        session.execute(
            PartnerConversionStats.__table__.insert(),
            [
                {"partner_id": p, "day": d, "conversions": c, "commission": amount}
                for (p, d), (c, amount) in expected.conversions.items()
            ],
        )
