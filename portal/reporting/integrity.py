"""Integrity: what is stored, checked against what it must equal.

The rollups (partner counters and the monthly and daily statistics) must equal a
recomputation from the leads; the ledger, the payouts and the partner totals must agree
(DOMAIN.md: sum(commissions) = paid + in_payout + payable + on_hold, and every paid payout's
amount is the sum of its lines). `verify` lists every difference; `rebuild_statistics`
rewrites the rollups from the leads (after a bulk load). Run by `python -m portal verify`
and by the property-based tests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from portal.core import program
from portal.core.models import (
    AuditEntry,
    Commission,
    CommissionKind,
    CommissionStatus,
    Lead,
    LeadStatus,
    Partner,
    PartnerConversionStats,
    PartnerGroup,
    PartnerLeadStats,
    PartnerStatus,
    Payout,
    PayoutFile,
    PayoutFileStatus,
    ProgramConversionStats,
    ProgramLeadStats,
    ProgramPartnerStats,
)
from portal.core.types import day_start, month_start, to_cents
from portal.money.currencies import convert
from portal.reporting import statistics

ZERO = Decimal("0.00")


def verify(session: Session) -> list[str]:
    """Every difference: the statistics against the leads, the ledger against the rest, and
    each commission's rate against the program's rule."""
    return verify_statistics(session) + verify_ledger(session) + verify_commission_rates(session)


def verify_commission_rates(session: Session) -> list[str]:
    """Each conversion's commission whose rate is neither the tier rate its partner had
    earned at that moment in the tier table then in force (`statistics.rates_at_conversion`,
    reversals counted from when they were made) nor a rate pinned for the partner (now, or
    before, by the audit log)."""
    clawed_back: dict[int, list[Any]] = defaultdict(list)
    for lead_id, at in session.execute(
        select(Commission.lead_id, Commission.created_at)
        .where(Commission.kind == CommissionKind.CLAWBACK)
        .order_by(Commission.created_at)
    ):
        clawed_back[lead_id].append(at)
    pins: dict[int, set[Decimal]] = defaultdict(set)
    for partner_id, rate in session.execute(
        select(Partner.id, Partner.commission_rate).where(Partner.commission_rate.is_not(None))
    ):
        if rate is not None:
            pins[partner_id].add(Decimal(rate))
    for object_id, before, after in session.execute(
        select(AuditEntry.object_id, AuditEntry.before, AuditEntry.after).where(
            AuditEntry.action == "partner.pin_rate"
        )
    ):
        for values in (before, after):
            rate = (values or {}).get("commission_rate")
            if rate is not None and object_id and object_id.isdigit():
                pins[int(object_id)].add(Decimal(str(rate)))
    group_rates = _group_rates(session)
    by_partner: dict[int, list[Any]] = defaultdict(list)
    for line in session.execute(
        select(
            Commission.id,
            Commission.partner_id,
            Commission.lead_id,
            Commission.rate,
            Commission.earned_at,
            Commission.voided_at,
        ).where(Commission.kind == CommissionKind.COMMISSION)
    ):
        by_partner[line.partner_id].append(line)
    problems = []
    timeline = program.timeline(session)
    for partner_id, lines in sorted(by_partner.items()):
        conversions = []
        for line in lines:
            reversed_at = line.voided_at or next(
                (at for at in clawed_back.get(line.lead_id, []) if at >= line.earned_at), None
            )
            conversions.append(statistics.Conversion(line.id, line.earned_at, reversed_at))
        earned = statistics.rates_at_conversion(conversions, timeline)
        for line in sorted(lines, key=lambda line: line.id):
            allowed = {
                earned[line.id],
                *pins.get(partner_id, set()),
                *group_rates.get(partner_id, set()),
            }
            if Decimal(line.rate) not in allowed:
                problems.append(
                    f"partner {partner_id}: commission #{line.id} at {Decimal(line.rate):%} is "
                    f"neither its tier's rate then ({earned[line.id]:%}), nor a pinned rate, "
                    "nor a rate of a group it was in"
                )
    return problems


def _group_rates(session: Session) -> dict[int, set[Decimal]]:
    """Per partner, every tier rate of every group it has been in (now, or before, by the
    audit log), as each group's rates are now or were before a change."""
    rates: dict[int, set[Decimal]] = defaultdict(set)
    for group_id, table in session.execute(select(PartnerGroup.id, PartnerGroup.tier_rates)):
        rates[group_id] |= {Decimal(str(rate)) for rate in (table or {}).values()}
    for object_id, before, after in session.execute(
        select(AuditEntry.object_id, AuditEntry.before, AuditEntry.after).where(
            AuditEntry.action == "group.saved"
        )
    ):
        for values in (before, after):
            if object_id and object_id.isdigit():
                rates[int(object_id)] |= {
                    Decimal(str(rate))
                    for field, rate in (values or {}).items()
                    if field.startswith("rate_") and rate is not None
                }
    memberships: dict[int, set[int]] = defaultdict(set)
    for partner_id, current in session.execute(
        select(Partner.id, Partner.group_id).where(Partner.group_id.is_not(None))
    ):
        if current is not None:
            memberships[partner_id].add(current)
    for object_id, before, after in session.execute(
        select(AuditEntry.object_id, AuditEntry.before, AuditEntry.after).where(
            AuditEntry.action == "partner.group_moved"
        )
    ):
        for values in (before, after):
            member_of = (values or {}).get("group_id")
            if member_of is not None and object_id and object_id.isdigit():
                memberships[int(object_id)].add(int(member_of))
    return {
        partner_id: set().union(*(rates.get(group, set()) for group in groups))
        for partner_id, groups in memberships.items()
    }


@dataclass
class Recomputed:
    """Every rollup as computed from the leads themselves."""

    referrals: dict[int, int]
    earnings: dict[int, Decimal]
    lead_counts: dict[tuple[int, date, LeadStatus], int]
    conversions: dict[tuple[int, date], tuple[int, Decimal]]
    partners_by_status: dict[PartnerStatus, int]

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
        partner_id: to_cents(total or ZERO)
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
        (partner_id, _as_date(day_value)): (count, to_cents(total or ZERO))
        for partner_id, day_value, count, total in session.execute(
            select(Lead.partner_id, day, func.count(), func.sum(Lead.commission))
            .where(converted)
            .group_by(Lead.partner_id, day)
        )
    }
    partners_by_status = dict(
        session.execute(select(Partner.status, func.count()).group_by(Partner.status)).all()
    )
    return Recomputed(referrals, earnings, lead_counts, conversions, partners_by_status)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def verify_statistics(session: Session) -> list[str]:
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
        for count_key in sorted(set(stored_counts) | set(expected.lead_counts), key=str):
            if stored_counts.get(count_key, 0) != expected.lead_counts.get(count_key, 0):
                problems.append(
                    f"lead count {count_key}: stored {stored_counts.get(count_key, 0)},"
                    f" recomputed {expected.lead_counts.get(count_key, 0)}"
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
    stored_partners = dict(
        session.execute(
            select(ProgramPartnerStats.status, ProgramPartnerStats.partner_count).where(
                ProgramPartnerStats.partner_count != 0
            )
        ).all()
    )
    if stored_partners != expected.partners_by_status:
        problems.append(
            f"partners by status: stored {stored_partners},"
            f" recomputed {expected.partners_by_status}"
        )
    return problems


def rebuild_statistics(session: Session) -> None:
    """Rewrite every rollup from the leads and the ledger (after a bulk load)."""
    expected = recompute(session)
    for rollup in (
        PartnerLeadStats,
        PartnerConversionStats,
        ProgramLeadStats,
        ProgramConversionStats,
        ProgramPartnerStats,
    ):
        session.execute(delete(rollup))
    if expected.partners_by_status:
        session.execute(
            insert(ProgramPartnerStats),
            [
                {"status": status, "partner_count": count}
                for status, count in expected.partners_by_status.items()
            ],
        )
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
            insert(PartnerLeadStats),
            [
                {"partner_id": p, "month": m, "status": s, "lead_count": c}
                for (p, m, s), c in expected.lead_counts.items()
            ],
        )
    if expected.lead_counts:
        session.execute(
            insert(ProgramLeadStats),
            [
                {"month": m, "status": s, "lead_count": c}
                for (m, s), c in expected.program_lead_counts().items()
            ],
        )
    if expected.conversions:
        session.execute(
            insert(ProgramConversionStats),
            [
                {"day": d, "conversions": c, "commission": amount}
                for d, (c, amount) in expected.program_conversions().items()
            ],
        )
        session.execute(
            insert(PartnerConversionStats),
            [
                {"partner_id": p, "day": d, "conversions": c, "commission": amount}
                for (p, d), (c, amount) in expected.conversions.items()
            ],
        )


def verify_ledger(session: Session) -> list[str]:
    """Every difference between the ledger, the payouts, the leads and the partner totals."""
    problems: list[str] = []
    not_void = Commission.status != CommissionStatus.VOID
    paid = Commission.status == CommissionStatus.PAID
    sums = {
        partner_id: (total, paid_total)
        for partner_id, total, paid_total in session.execute(
            select(
                Commission.partner_id,
                func.sum(case((not_void, Commission.amount), else_=0)),
                func.sum(case((paid, Commission.amount), else_=0)),
            ).group_by(Commission.partner_id)
        )
    }
    for partner_id, total_earnings, paid_earnings in session.execute(
        select(Partner.id, Partner.total_earnings, Partner.paid_earnings)
    ):
        total, paid_total = sums.get(partner_id, (0, 0))
        if total_earnings != Decimal(total).quantize(Decimal("0.01")):
            problems.append(
                f"partner {partner_id}: total_earnings {total_earnings} but the ledger sums"
                f" to {total}"
            )
        if paid_earnings != Decimal(paid_total).quantize(Decimal("0.01")):
            problems.append(
                f"partner {partner_id}: paid_earnings {paid_earnings} but paid lines sum"
                f" to {paid_total}"
            )
    for payout_id, status, amount, count, line_sum, line_count, wrong_state in session.execute(
        select(
            Payout.id,
            Payout.status,
            Payout.amount,
            Payout.item_count,
            func.coalesce(func.sum(Commission.amount), 0),
            func.count(Commission.id),
            func.count(Commission.id).filter(
                Commission.status
                != case(
                    (Payout.status == "paid", "paid"),
                    else_="in_payout",
                )
            ),
        )
        .outerjoin(Commission, Commission.payout_id == Payout.id)
        .group_by(Payout.id, Payout.status, Payout.amount, Payout.item_count)
    ):
        live = status.value in ("scheduled", "paid")
        want_sum = Decimal(line_sum).quantize(Decimal("0.01"))
        if live and (amount != want_sum or count != line_count):
            problems.append(
                f"payout {payout_id} ({status.value}): amount {amount} in {count} lines, but"
                f" holds {line_count} lines summing to {want_sum}"
            )
        if live and wrong_state:
            problems.append(f"payout {payout_id}: {wrong_state} lines in the wrong state")
        if not live and line_count:
            problems.append(f"payout {payout_id} ({status.value}) still holds {line_count} lines")
    live_rows = session.execute(
        select(Commission.lead_id, Commission.amount).where(
            Commission.kind == CommissionKind.COMMISSION,
            not_void,
            Commission.id.not_in(
                select(Commission.reverses_id).where(Commission.reverses_id.is_not(None))
            ),
        )
    ).all()
    live_lines = dict(live_rows)
    if len(live_lines) != len(live_rows):
        problems.append("some leads have more than one live commission line")
    converted = dict(
        session.execute(select(Lead.id, Lead.commission).where(Lead.status == "converted")).all()
    )
    if live_lines != converted:
        for lead_id in sorted(set(live_lines) | set(converted)):
            if live_lines.get(lead_id) != converted.get(lead_id):
                problems.append(
                    f"lead {lead_id}: commission {converted.get(lead_id)} but live ledger"
                    f" line {live_lines.get(lead_id)}"
                )
    return problems + verify_payout_amounts(session) + verify_payout_files(session)


def verify_payout_amounts(session: Session) -> list[str]:
    """Every payout pays its base amount at its rate, rounded half-up to cents; a payout in
    the program currency pays exactly its base amount at a rate of 1."""
    problems = []
    for row in session.execute(
        select(
            Payout.id,
            Payout.amount,
            Payout.currency,
            Payout.payout_amount,
            Payout.payout_currency,
            Payout.exchange_rate,
        )
    ):
        expected = convert(row.amount, row.exchange_rate)
        same = row.currency == row.payout_currency
        if row.payout_amount != expected or (same and row.exchange_rate != 1):
            problems.append(
                f"payout {row.id}: pays {row.payout_amount} {row.payout_currency} for "
                f"{row.amount} {row.currency} at {row.exchange_rate} (expected {expected})"
            )
    return problems


def verify_payout_files(session: Session) -> list[str]:
    """A payout is in at most one live file, the one it points to; every file's count and
    total are those of the payouts it lists."""
    problems: list[str] = []
    files = session.execute(
        select(
            PayoutFile.id,
            PayoutFile.status,
            PayoutFile.payout_ids,
            PayoutFile.payout_count,
            PayoutFile.total,
        )
    ).all()
    listed = {payout_id for row in files for payout_id in row.payout_ids or ()}
    payouts = {
        row.id: row
        for row in session.execute(
            select(Payout.id, Payout.payout_amount, Payout.payout_file_id).where(
                Payout.id.in_(listed) | Payout.payout_file_id.is_not(None)
            )
        )
    }
    live_file_of: dict[int, int] = {}
    for row in files:
        ids = list(row.payout_ids or ())
        total = sum((payouts[i].payout_amount for i in ids if i in payouts), Decimal("0.00"))
        if len(ids) != row.payout_count or total != row.total:
            problems.append(
                f"payout file {row.id}: {row.payout_count} payouts, {row.total}, but it lists "
                f"{len(ids)} summing to {total}"
            )
        if row.status is not PayoutFileStatus.LIVE:
            continue
        for payout_id in ids:
            if payout_id in live_file_of:
                problems.append(
                    f"payout {payout_id} is in live files {live_file_of[payout_id]} and {row.id}"
                )
            live_file_of[payout_id] = row.id
    for payout in payouts.values():
        if (
            payout.payout_file_id is not None
            and live_file_of.get(payout.id) != payout.payout_file_id
        ):
            problems.append(
                f"payout {payout.id} points to file {payout.payout_file_id}, which is not a live "
                "file listing it"
            )
    return problems
