"""Payouts: the monthly batch, its pre-flight, and marking payouts paid, failed or canceled.

A batch for a cut-off date pays every line whose hold ended by the end of that day (UTC) and
every open clawback. Each active partner with a payout method, its details and a tax form on
file, whose net payable total reaches the minimum, gets one `scheduled` payout holding exactly
those lines; everyone else is listed with the reason. Running a batch again pays nothing twice:
lines in a payout are no longer open. Two batches at once serialise on each partner's row lock,
and a line only joins a payout through an UPDATE that requires it to be open and unassigned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal import audit
from portal.access import Actor, refresh, require_manager, scoped_partner_id
from portal.commissions import payout_blockers
from portal.config import get_settings
from portal.errors import Conflict, NotFound, ValidationError
from portal.models import (
    Commission,
    CommissionStatus,
    Partner,
    PartnerProfile,
    PartnerStatus,
    Payout,
    PayoutStatus,
)
from portal.notifications import notify_partner
from portal.pagination import Page, before, check_limit, page_of
from portal.types import utc_now
from portal.validation import FieldErrors, clean_text

MAX_REFERENCE = 100


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _payable_by(cutoff: date) -> object:
    return (Commission.status == CommissionStatus.OPEN) & (Commission.hold_until < _end_of(cutoff))


def _checked_cutoff(cutoff: date | str) -> date:
    if isinstance(cutoff, str):
        try:
            cutoff = date.fromisoformat(cutoff.strip())
        except ValueError:
            raise ValidationError(
                {"cutoff": "Cut-off must be a date such as 2026-11-15."}
            ) from None
    if cutoff > utc_now().date():
        raise ValidationError({"cutoff": "Cut-off cannot be in the future."})
    return cutoff


@dataclass(frozen=True)
class PlannedPayout:
    partner_id: int
    company_name: str
    amount: Decimal
    lines: int
    reasons: list[str] = field(default_factory=list)  # empty when it will be paid


@dataclass(frozen=True)
class PayoutPlan:
    cutoff: date
    currency: str
    paid: list[PlannedPayout]
    left_out: list[PlannedPayout]

    @property
    def total(self) -> Decimal:
        return sum((payout.amount for payout in self.paid), Decimal("0.00"))


def _plan(session: Session, cutoff: date) -> PayoutPlan:
    settings = get_settings()
    owed = (
        select(
            Commission.partner_id,
            func.sum(Commission.amount).label("amount"),
            func.count().label("lines"),
        )
        .where(_payable_by(cutoff))
        .group_by(Commission.partner_id)
        .subquery()
    )
    # Plain rows, not ORM objects: a batch may concern thousands of partners.
    rows = session.execute(
        select(
            owed.c.partner_id,
            owed.c.amount,
            owed.c.lines,
            Partner.company_name,
            Partner.status,
            PartnerProfile.payment_method,
            PartnerProfile.bank_account_encrypted,
            PartnerProfile.payment_email,
            PartnerProfile.address,
            PartnerProfile.city,
            PartnerProfile.tax_form,
        )
        .join(Partner, Partner.id == owed.c.partner_id)
        .outerjoin(PartnerProfile, PartnerProfile.partner_id == Partner.id)
        .order_by(owed.c.partner_id)
    )
    paid, left_out = [], []
    for row in rows:
        amount = Decimal(row.amount).quantize(Decimal("0.01"))
        reasons = payout_blockers(row.status, row)
        if amount < settings.min_payout:
            reasons.append(f"below the {settings.min_payout:,.2f} minimum")
        planned = PlannedPayout(row.partner_id, row.company_name, amount, row.lines, reasons)
        (left_out if reasons else paid).append(planned)
    return PayoutPlan(cutoff=cutoff, currency=settings.currency, paid=paid, left_out=left_out)


def preview(session: Session, *, actor: Actor, cutoff: date | str) -> PayoutPlan:
    """Who a batch for this cut-off would pay, how much, and who is left out and why."""
    require_manager(session, actor)
    return _plan(session, _checked_cutoff(cutoff))


@dataclass(frozen=True)
class PayoutView:
    id: int
    partner_id: int
    company_name: str
    cutoff: date
    amount: Decimal
    currency: str
    lines: int
    status: PayoutStatus
    payment_method: str
    reference: str
    failure_reason: str
    created_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None


def _view(payout: Payout, company_name: str) -> PayoutView:
    return PayoutView(
        id=payout.id,
        partner_id=payout.partner_id,
        company_name=company_name,
        cutoff=payout.cutoff,
        amount=payout.amount,
        currency=payout.currency,
        lines=payout.item_count,
        status=payout.status,
        payment_method=payout.payment_method.value,
        reference=payout.reference,
        failure_reason=payout.failure_reason,
        created_at=payout.created_at,
        paid_at=payout.paid_at,
        closed_at=payout.closed_at,
    )


@dataclass(frozen=True)
class BatchResult:
    cutoff: date
    scheduled: list[PayoutView]
    left_out: list[PlannedPayout]


def run_batch(session: Session, *, actor: Actor, cutoff: date | str) -> BatchResult:
    """Schedule one payout per eligible partner for the cut-off; managers only."""
    actor = require_manager(session, actor)
    cutoff = _checked_cutoff(cutoff)
    plan = _plan(session, cutoff)
    settings = get_settings()
    scheduled = []
    left_out = list(plan.left_out)
    for planned in plan.paid:  # in partner id order, so concurrent batches lock alike
        partner = session.get(Partner, planned.partner_id, with_for_update=True)
        assert partner is not None
        lines = session.execute(
            select(Commission.id, Commission.amount)
            .where(Commission.partner_id == partner.id, _payable_by(cutoff))
            .with_for_update()
        ).all()
        amount = sum((line_amount for _, line_amount in lines), Decimal("0.00"))
        if amount < settings.min_payout or partner.status is not PartnerStatus.ACTIVE:
            # Another batch took these lines between the plan and the lock.
            left_out.append(
                PlannedPayout(
                    partner.id,
                    partner.company_name,
                    amount,
                    len(lines),
                    ["changed while this batch ran (another batch or a status change)"],
                )
            )
            continue
        profile = session.scalar(
            select(PartnerProfile).where(PartnerProfile.partner_id == partner.id)
        )
        assert profile is not None and profile.payment_method is not None
        payout = Payout(
            partner_id=partner.id,
            cutoff=cutoff,
            amount=amount,
            currency=settings.currency,
            item_count=len(lines),
            payment_method=profile.payment_method,
        )
        session.add(payout)
        session.flush()
        taken = session.execute(
            update(Commission)
            .where(
                Commission.id.in_([line_id for line_id, _ in lines]),
                Commission.status == CommissionStatus.OPEN,
                Commission.payout_id.is_(None),
            )
            .values(status=CommissionStatus.IN_PAYOUT, payout_id=payout.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != len(lines):
            raise Conflict("Another payout batch is running; try again in a moment.")
        notify_partner(
            session,
            partner_id=partner.id,
            kind="payout_scheduled",
            message=f"A payout of {amount:,.2f} {settings.currency} has been scheduled.",
        )
        audit.record_by(
            session,
            actor,
            "payout.schedule",
            "payout",
            payout.id,
            after={
                "partner_id": partner.id,
                "amount": str(amount),
                "lines": len(lines),
                "cutoff": cutoff.isoformat(),
            },
        )
        scheduled.append(_view(payout, partner.company_name))
    audit.record_by(
        session,
        actor,
        "payout.run_batch",
        "payout_batch",
        cutoff.isoformat(),
        after={"scheduled": len(scheduled), "left_out": len(left_out)},
    )
    return BatchResult(cutoff=cutoff, scheduled=scheduled, left_out=left_out)


def _scheduled_payout(session: Session, payout_id: int) -> tuple[Payout, Partner]:
    payout = session.get(Payout, payout_id, with_for_update=True)
    if payout is None:
        raise NotFound("Payout not found.")
    if payout.status is not PayoutStatus.SCHEDULED:
        raise ValidationError(
            {
                "status": f"Payout #{payout.id} is already {payout.status.value}; only a "
                "scheduled payout can be marked paid, failed or canceled."
            }
        )
    partner = session.get(Partner, payout.partner_id, with_for_update=True)
    assert partner is not None
    return payout, partner


def mark_paid(session: Session, *, actor: Actor, payout_id: int, reference: str) -> PayoutView:
    """Record that a scheduled payout reached the partner, with the transfer's reference."""
    actor = require_manager(session, actor)
    errors = FieldErrors()
    ref = clean_text(
        errors,
        "reference",
        reference,
        label="Payment reference",
        max_length=MAX_REFERENCE,
        required=True,
    )
    errors.raise_if_any()
    payout, partner = _scheduled_payout(session, payout_id)
    held = session.scalar(
        select(func.sum(Commission.amount)).where(Commission.payout_id == payout.id)
    )
    if held != payout.amount:
        raise Conflict(f"Payout #{payout.id} no longer matches its commissions; not paid.")
    now = utc_now()
    session.execute(
        update(Commission)
        .where(Commission.payout_id == payout.id)
        .values(status=CommissionStatus.PAID)
        .execution_options(synchronize_session=False)
    )
    payout.status = PayoutStatus.PAID
    payout.reference = ref or ""
    payout.paid_at = now
    payout.closed_at = now
    partner.paid_earnings = partner.paid_earnings + payout.amount
    notify_partner(
        session,
        partner_id=partner.id,
        kind="payout_paid",
        message=f"Payout #{payout.id} of {payout.amount:,.2f} {payout.currency} was paid "
        f"(reference {payout.reference}).",
    )
    audit.record_by(
        session,
        actor,
        "payout.mark_paid",
        "payout",
        payout.id,
        before={"status": "scheduled"},
        after={"status": "paid", "reference": payout.reference, "amount": str(payout.amount)},
    )
    return _view(payout, partner.company_name)


def close_unpaid(
    session: Session,
    *,
    actor: Actor,
    payout_id: int,
    status: PayoutStatus | str,
    reason: str = "",
) -> PayoutView:
    """Mark a scheduled payout failed or canceled; its lines return to payable."""
    actor = require_manager(session, actor)
    errors = FieldErrors()
    try:
        outcome = PayoutStatus(status)
    except ValueError:
        outcome = None
    if outcome not in (PayoutStatus.FAILED, PayoutStatus.CANCELED):
        errors.add("status", "A payout can be closed as failed or canceled.")
    note = clean_text(errors, "reason", reason, label="Reason", max_length=1000, multiline=True)
    errors.raise_if_any()
    assert outcome is not None
    payout, partner = _scheduled_payout(session, payout_id)
    released = session.scalars(select(Commission.id).where(Commission.payout_id == payout.id)).all()
    session.execute(
        update(Commission)
        .where(Commission.payout_id == payout.id)
        .values(status=CommissionStatus.OPEN, payout_id=None)
        .execution_options(synchronize_session=False)
    )
    payout.status = outcome
    payout.failure_reason = note or ""
    payout.closed_at = utc_now()
    notify_partner(
        session,
        partner_id=partner.id,
        kind=f"payout_{outcome.value}",
        message=f"Payout #{payout.id} of {payout.amount:,.2f} {payout.currency} was "
        f"{outcome.value}; the amount returns to your next payout.",
    )
    audit.record_by(
        session,
        actor,
        f"payout.mark_{outcome.value}",
        "payout",
        payout.id,
        before={"status": "scheduled", "lines": released},
        after={"status": outcome.value, "reason": payout.failure_reason},
    )
    return _view(payout, partner.company_name)


def list_payouts(
    session: Session,
    *,
    actor: Actor,
    partner_id: int | None = None,
    status: PayoutStatus | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[PayoutView]:
    """Payouts newest first; a partner sees only its own."""
    actor = refresh(session, actor)
    check_limit(limit)
    partner_id = scoped_partner_id(actor, partner_id)
    query = select(Payout, Partner.company_name).join(Partner, Partner.id == Payout.partner_id)
    if partner_id is not None:
        query = query.where(Payout.partner_id == partner_id)
    if status is not None:
        query = query.where(Payout.status == PayoutStatus(status))
    if after:
        query = query.where(before(Payout.created_at, Payout.id, after))
    rows = session.execute(
        query.order_by(Payout.created_at.desc(), Payout.id.desc()).limit(limit + 1)
    ).all()
    items = [_view(payout, name) for payout, name in rows[:limit]]
    return page_of(items, has_more=len(rows) > limit, moment=lambda item: item.created_at)
