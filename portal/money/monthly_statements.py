"""A partner's monthly statement.

A partner's balance at a moment is what it is owed then: ledger lines earned before it,
less lines voided before it, less payouts paid before it. A statement lists every movement of
one UTC calendar month between its opening and closing balance; the closing balance of a month
is the opening balance of the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from portal.core import db
from portal.core.access import Actor, one_partner_id, refresh
from portal.core.config import get_settings
from portal.core.errors import NotFound, ValidationError
from portal.core.models import (
    Commission,
    CommissionKind,
    CommissionStatus,
    Lead,
    Partner,
    Payout,
    PayoutStatus,
)

ZERO = Decimal("0.00")


def recent_months(today: date, count: int) -> list[date]:
    """The first days of this month and the `count - 1` before it, newest first."""
    months, month = [], today.replace(day=1)
    for _ in range(count):
        months.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    return months


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime.combine(month.replace(day=1), time.min, tzinfo=UTC)
    next_month = (
        date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)
    )
    return start, datetime.combine(next_month, time.min, tzinfo=UTC)


def _balance_sums(partner_id: Any, moment: Any) -> tuple[Any, Any, Any]:
    """What the partner had earned, had voided and was paid before a moment: three sums, to
    be read as columns of a statement (`_balance` makes the balance of them)."""
    earned = select(func.coalesce(func.sum(Commission.amount), 0)).where(
        Commission.partner_id == partner_id, Commission.earned_at < moment
    )
    voided = select(func.coalesce(func.sum(Commission.amount), 0)).where(
        Commission.partner_id == partner_id,
        Commission.status == CommissionStatus.VOID,
        Commission.voided_at < moment,
    )
    paid = select(func.coalesce(func.sum(Payout.amount), 0)).where(
        Payout.partner_id == partner_id,
        Payout.status == PayoutStatus.PAID,
        Payout.paid_at < moment,
    )
    return earned.scalar_subquery(), voided.scalar_subquery(), paid.scalar_subquery()


def _balance(earned: Any, voided: Any, paid: Any) -> Decimal:
    earned_sum, voided_sum, paid_sum = (Decimal(value or 0) for value in (earned, voided, paid))
    return (earned_sum - voided_sum - paid_sum).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class StatementLine:
    at: datetime
    kind: str  # commission, clawback, reversal, payout
    description: str
    amount: Decimal


@dataclass(frozen=True)
class Statement:
    partner_id: int
    company_name: str
    month: date
    currency: str
    opening_balance: Decimal
    closing_balance: Decimal
    lines: list[StatementLine] = field(default_factory=list)

    def total(self, kind: str) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind == kind), ZERO)


# A statement's reads, built once (the Commissions page reads one on every view), with plain
# rows, not ORM objects: a statement is read, never changed. Parameters: partner_id, and the
# month as [start, end).
_PARTNER_AND_OPENING = select(
    Partner.id, Partner.company_name, *_balance_sums(Partner.id, bindparam("start"))
).where(Partner.id == bindparam("partner_id"))
# A line earned, voided, or both in the month.
_LINES_OF_MONTH = (
    select(
        Commission.kind,
        Commission.amount,
        Commission.deal_value,
        Commission.rate,
        Commission.earned_at,
        Commission.status,
        Commission.voided_at,
        Lead.client_name,
    )
    .join(Lead, Lead.id == Commission.lead_id)
    .where(
        Commission.partner_id == bindparam("partner_id"),
        or_(
            and_(
                Commission.earned_at >= bindparam("start"), Commission.earned_at < bindparam("end")
            ),
            and_(
                Commission.status == CommissionStatus.VOID,
                Commission.voided_at >= bindparam("start"),
                Commission.voided_at < bindparam("end"),
            ),
        ),
    )
)
_PAYOUTS_OF_MONTH = select(
    Payout.id,
    Payout.paid_at,
    Payout.reference,
    Payout.amount,
    Payout.currency,
    Payout.payout_amount,
    Payout.payout_currency,
    Payout.exchange_rate,
).where(
    Payout.partner_id == bindparam("partner_id"),
    Payout.status == PayoutStatus.PAID,
    Payout.paid_at >= bindparam("start"),
    Payout.paid_at < bindparam("end"),
)


def monthly_statement(
    session: Session, *, actor: Actor, month: date | str, partner_id: int | None = None
) -> Statement:
    """Opening balance, commissions, clawbacks, reversals, payouts and closing balance."""
    actor = refresh(session, actor)
    if isinstance(month, str):
        try:
            month = date.fromisoformat(
                month.strip() + "-01" if len(month.strip()) == 7 else month.strip()
            )
        except ValueError:
            raise ValidationError({"month": "Month must look like 2026-11."}) from None
    if not 2000 <= month.year <= 2100:
        raise ValidationError({"month": "Month must be between 2000-01 and 2100-12."})
    partner_id = one_partner_id(actor, partner_id)
    start, end = _month_bounds(month)
    month_of = {"partner_id": partner_id, "start": start, "end": end}
    connection = db.connection(session)
    partner = connection.execute(_PARTNER_AND_OPENING, month_of).one_or_none()
    if partner is None:
        raise NotFound("Partner not found.")
    lines: list[StatementLine] = []
    reversals: list[StatementLine] = []
    for line in connection.execute(_LINES_OF_MONTH, month_of):
        if start <= line.earned_at < end:
            if line.kind is CommissionKind.COMMISSION:
                text = (
                    f"Commission: {line.client_name} "
                    f"(deal {line.deal_value:,.2f} at {line.rate:.2%})"
                )
                lines.append(StatementLine(line.earned_at, "commission", text, line.amount))
            else:
                lines.append(
                    StatementLine(
                        line.earned_at,
                        "clawback",
                        f"Clawback: conversion of {line.client_name} reversed after payment",
                        line.amount,
                    )
                )
        voided_at = line.voided_at
        if line.status is CommissionStatus.VOID and voided_at and start <= voided_at < end:
            reversals.append(
                StatementLine(
                    voided_at,
                    "reversal",
                    f"Reversed before payment: {line.client_name}",
                    -line.amount,
                )
            )
    lines += reversals
    for payout in connection.execute(_PAYOUTS_OF_MONTH, month_of):
        assert payout.paid_at is not None
        lines.append(
            StatementLine(
                payout.paid_at,
                "payout",
                f"Payout #{payout.id} (reference {payout.reference})"
                + (
                    f": {payout.payout_amount:,.2f} {payout.payout_currency} at "
                    f"{payout.exchange_rate.normalize()}"
                    if payout.payout_currency != payout.currency
                    else ""
                ),
                -payout.amount,
            )
        )
    lines.sort(key=lambda line: line.at)
    opening = _balance(*partner[2:])
    closing = opening + sum((line.amount for line in lines), ZERO)
    return Statement(
        partner_id=partner.id,
        company_name=partner.company_name,
        month=start.date(),
        currency=get_settings().currency,
        opening_balance=opening,
        closing_balance=closing,
        lines=lines,
    )
