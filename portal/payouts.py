"""Payouts: the monthly batch, its pre-flight, and marking payouts paid, failed or canceled.

A batch for a cut-off date pays every line whose hold ended by the end of that day (UTC) and
by the moment the batch runs, and every open clawback whatever its date. Each partner that
`commissions.payout_eligibility` clears (active, payout details and a verified tax form on
file, a net above zero that reaches the minimum) gets one `scheduled` payout holding exactly
those lines; everyone else is listed with the reasons. Running a batch again pays nothing twice:
lines in a payout are no longer open. Two batches at once serialise on each partner's row lock,
and a line only joins a payout through an UPDATE that requires it to be open and unassigned.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select, update
from sqlalchemy.orm import Session

from portal import audit
from portal.access import Actor, refresh, require_manager, scoped_partner_id
from portal.commissions import PROFILE_DETAILS, payout_eligibility, settled_by
from portal.config import get_settings
from portal.db import rows_changed
from portal.errors import Conflict, NotFound, ValidationError
from portal.models import (
    MAX_ID,
    Commission,
    CommissionStatus,
    Partner,
    PartnerProfile,
    Payout,
    PayoutStatus,
)
from portal.notifications import notify_partner
from portal.pagination import Page, after_cursor, check_limit, cursor_values, page_of
from portal.types import utc_now
from portal.validation import FieldErrors, clean_date, clean_text

MAX_REFERENCE = 100


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _payable_by(cutoff: date, now: datetime) -> ColumnElement[bool]:
    return settled_by(_end_of(cutoff), now)


def checked_cutoff(cutoff: date | str) -> date:
    if isinstance(cutoff, str):
        errors = FieldErrors()
        parsed = clean_date(errors, "cutoff", cutoff, label="Cut-off")
        errors.raise_if_any()
        assert parsed is not None
        cutoff = parsed
    if cutoff > utc_now().date():
        raise ValidationError({"cutoff": "Cut-off cannot be in the future (dates are UTC)."})
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


def _plan(session: Session, cutoff: date, now: datetime) -> PayoutPlan:
    settings = get_settings()
    owed = (
        select(
            Commission.partner_id,
            func.sum(Commission.amount).label("amount"),
            func.count().label("lines"),
        )
        .where(_payable_by(cutoff, now))
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
            *PROFILE_DETAILS,
        )
        .join(Partner, Partner.id == owed.c.partner_id)
        .outerjoin(PartnerProfile, PartnerProfile.partner_id == Partner.id)
        .order_by(owed.c.partner_id)
    )
    paid: list[PlannedPayout] = []
    left_out: list[PlannedPayout] = []
    for row in rows:
        amount = Decimal(row.amount).quantize(Decimal("0.01"))
        eligibility = payout_eligibility(
            status=row.status, profile=row, owed=amount, today=now.date()
        )
        planned = PlannedPayout(
            row.partner_id, row.company_name, amount, row.lines, eligibility.reasons
        )
        (paid if eligibility.will_be_paid else left_out).append(planned)
    return PayoutPlan(cutoff=cutoff, currency=settings.currency, paid=paid, left_out=left_out)


def preview(session: Session, *, actor: Actor, cutoff: date | str) -> PayoutPlan:
    """Who a batch for this cut-off would pay, how much, and who is left out and why."""
    require_manager(session, actor)
    return _plan(session, checked_cutoff(cutoff), utc_now())


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
    cutoff = checked_cutoff(cutoff)
    now = utc_now()
    plan = _plan(session, cutoff, now)
    settings = get_settings()
    scheduled = []
    left_out = list(plan.left_out)
    for planned in plan.paid:  # in partner id order, so concurrent batches lock alike
        partner = session.get(Partner, planned.partner_id, with_for_update=True)
        assert partner is not None
        lines = session.execute(
            select(Commission.id, Commission.amount)
            .where(Commission.partner_id == partner.id, _payable_by(cutoff, now))
            .with_for_update()
        ).all()
        amount = sum((line_amount for _, line_amount in lines), Decimal("0.00"))
        profile = session.scalar(
            select(PartnerProfile).where(PartnerProfile.partner_id == partner.id)
        )
        recheck = payout_eligibility(
            status=partner.status, profile=profile, owed=amount, today=now.date()
        )
        if not recheck.will_be_paid or profile is None or profile.payment_method is None:
            # Another batch, a status or a profile change came between the plan and the lock.
            left_out.append(
                PlannedPayout(
                    partner.id,
                    partner.company_name,
                    amount,
                    len(lines),
                    ["changed while this batch ran", *recheck.reasons],
                )
            )
            continue
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
        taken = rows_changed(
            session,
            update(Commission)
            .where(
                Commission.id.in_([line_id for line_id, _ in lines]),
                Commission.status == CommissionStatus.OPEN,
                Commission.payout_id.is_(None),
            )
            .values(status=CommissionStatus.IN_PAYOUT, payout_id=payout.id)
            .execution_options(synchronize_session=False),
        )
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


def _clean_reference(errors: FieldErrors, field: str, reference: str) -> str:
    return (
        clean_text(
            errors,
            field,
            reference,
            label="Payment reference",
            max_length=MAX_REFERENCE,
            required=True,
        )
        or ""
    )


def _reference_owner(session: Session, reference: str) -> int | None:
    return session.scalar(select(Payout.id).where(Payout.reference == reference))


def _paid_moment(
    errors: FieldErrors, field: str, paid_on: date | str | None, payout: Payout, now: datetime
) -> datetime:
    if paid_on is None or paid_on == "":
        return now
    day = clean_date(errors, field, paid_on, label="Paid date")
    if day is None:
        return now
    if day > now.date():
        errors.add(field, "Paid date cannot be in the future (dates are UTC).")
    elif day < payout.created_at.date():
        errors.add(
            field,
            f"Paid date is before payout #{payout.id} was scheduled "
            f"({payout.created_at.date().isoformat()}).",
        )
    # A bank statement gives a day; noon UTC keeps that day in every time zone near UTC.
    return datetime.combine(day, time(12), tzinfo=UTC)


def mark_paid(
    session: Session,
    *,
    actor: Actor,
    payout_id: int,
    reference: str,
    paid_on: date | str | None = None,
) -> PayoutView:
    """Record that a scheduled payout reached the partner, with the transfer's reference.

    A reference names one transfer, so it may settle one payout only. Recording the same
    payout paid with the same reference again changes nothing (a repeated click or upload).
    """
    actor = require_manager(session, actor)
    errors = FieldErrors()
    ref = _clean_reference(errors, "reference", reference)
    errors.raise_if_any()
    payout = session.get(Payout, payout_id, with_for_update=True)
    if payout is None:
        raise NotFound("Payout not found.")
    if payout.status is PayoutStatus.PAID and payout.reference == ref:
        return _view(payout, _company_name(session, payout.partner_id))
    owner = _reference_owner(session, ref)
    if owner is not None and owner != payout.id:
        raise ValidationError(
            {"reference": f"Reference {ref} is already recorded on payout #{owner}."}
        )
    payout, partner = _scheduled_payout(session, payout_id)
    now = utc_now()
    paid_at = _paid_moment(errors, "paid_on", paid_on, payout, now)
    errors.raise_if_any()
    held = session.scalar(
        select(func.sum(Commission.amount)).where(Commission.payout_id == payout.id)
    )
    if held != payout.amount:
        raise Conflict(f"Payout #{payout.id} no longer matches its commissions; not paid.")
    session.execute(
        update(Commission)
        .where(Commission.payout_id == payout.id)
        .values(status=CommissionStatus.PAID)
        .execution_options(synchronize_session=False)
    )
    payout.status = PayoutStatus.PAID
    payout.reference = ref
    payout.paid_at = paid_at
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
        after={
            "status": "paid",
            "reference": payout.reference,
            "amount": str(payout.amount),
            **({"paid_on": paid_at.date().isoformat()} if paid_at is not now else {}),
        },
    )
    return _view(payout, partner.company_name)


def _company_name(session: Session, partner_id: int) -> str:
    return session.scalar(select(Partner.company_name).where(Partner.id == partner_id)) or ""


STATEMENT_COLUMNS = ("payout_id", "reference", "paid_date")
MAX_STATEMENT_ROWS = 5000
MAX_STATEMENT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class StatementRow:
    """One line of a remittance file as it will be applied."""

    payout_id: int
    reference: str
    paid_on: date
    company_name: str
    amount: Decimal
    already_paid: bool


def read_statement(session: Session, *, actor: Actor, content: bytes | str) -> list[StatementRow]:
    """Check a bank statement / remittance CSV (payout_id, reference, paid_date) row by row.

    Nothing is written. Every refused row is named in one ValidationError on `statement`.
    """
    require_manager(session, actor)
    if len(content) > MAX_STATEMENT_BYTES:
        raise ValidationError(
            {"statement": f"The file is larger than {MAX_STATEMENT_BYTES // 1048576} MB; split it."}
        )
    try:
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    except UnicodeDecodeError:
        raise ValidationError({"statement": "The file is not UTF-8 text."}) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in STATEMENT_COLUMNS if name not in header]
    if missing:
        raise ValidationError(
            {
                "statement": "The file needs a header row with the columns "
                f"{', '.join(STATEMENT_COLUMNS)}; missing: {', '.join(missing)}."
            }
        )
    reader.fieldnames = header
    problems: list[str] = []
    rows: list[StatementRow] = []
    seen_payouts: dict[int, int] = {}
    seen_references: dict[str, int] = {}
    now = utc_now()
    try:
        records = list(reader)
    except csv.Error as error:
        raise ValidationError({"statement": f"The file is not valid CSV ({error})."}) from None
    # Every payout and reference the file names, in two queries rather than three per row.
    named = records[:MAX_STATEMENT_ROWS]
    wanted_ids = {
        int(text)
        for text in ((r.get("payout_id") or "").strip().lstrip("#") for r in named)
        if text.isdigit() and 1 <= int(text) <= MAX_ID
    }
    payouts_named = {
        payout.id: (payout, company)
        for payout, company in session.execute(
            select(Payout, Partner.company_name)
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.id.in_(wanted_ids))
        )
    }
    wanted_refs = {(r.get("reference") or "").strip() for r in named} - {""}
    reference_owners: dict[str, int] = {
        reference: payout_id
        for reference, payout_id in session.execute(
            select(Payout.reference, Payout.id).where(Payout.reference.in_(wanted_refs))
        )
    }
    for number, raw in enumerate(records, start=2):
        if number - 1 > MAX_STATEMENT_ROWS:
            problems.append(f"more than {MAX_STATEMENT_ROWS} rows; split the file")
            break
        errors = FieldErrors()
        where = f"row {number}"
        raw_id = (raw.get("payout_id") or "").strip().lstrip("#")
        if not raw_id.isdigit() or not 1 <= int(raw_id) <= MAX_ID:
            problems.append(f"{where}: payout_id {raw_id!r} is not a payout number")
            continue
        payout_id = int(raw_id)
        where = f"row {number} (payout #{payout_id})"
        ref = _clean_reference(errors, "reference", raw.get("reference") or "")
        if payout_id not in payouts_named:
            problems.append(f"{where}: no such payout")
            continue
        payout, company_name = payouts_named[payout_id]
        paid_at = _paid_moment(errors, "paid_date", raw.get("paid_date") or "", payout, now)
        if not (raw.get("paid_date") or "").strip():
            errors.add("paid_date", "Paid date is required.")
        if errors.errors:
            problems.append(f"{where}: " + " ".join(errors.errors.values()))
            continue
        if payout_id in seen_payouts:
            problems.append(f"{where}: the payout is also on row {seen_payouts[payout_id]}")
            continue
        if ref in seen_references:
            problems.append(f"{where}: reference {ref} is also on row {seen_references[ref]}")
            continue
        seen_payouts[payout_id] = seen_references[ref] = number
        already = payout.status is PayoutStatus.PAID and payout.reference == ref
        if not already and payout.status is not PayoutStatus.SCHEDULED:
            problems.append(f"{where}: it is {payout.status.value}, not scheduled")
            continue
        owner = reference_owners.get(ref)
        if owner is not None and owner != payout_id:
            problems.append(f"{where}: reference {ref} is already recorded on payout #{owner}")
            continue
        rows.append(
            StatementRow(
                payout_id=payout_id,
                reference=ref,
                paid_on=paid_at.date(),
                company_name=company_name,
                amount=payout.amount,
                already_paid=already,
            )
        )
    if not rows and not problems:
        problems.append("the file holds no payouts")
    if problems:
        raise ValidationError(
            {
                "statement": f"Nothing was recorded; {len(problems)} row(s) refused: "
                + "; ".join(problems)
                + "."
            }
        )
    return rows


def settle_statement(session: Session, *, actor: Actor, content: bytes | str) -> list[PayoutView]:
    """Mark every payout of a remittance CSV paid, all or nothing (see `read_statement`)."""
    rows = read_statement(session, actor=actor, content=content)
    # In payout id order, so two uploads at once lock alike.
    return [
        mark_paid(
            session,
            actor=actor,
            payout_id=row.payout_id,
            reference=row.reference,
            paid_on=row.paid_on,
        )
        for row in sorted(rows, key=lambda row: row.payout_id)
    ]


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


# The conditions a payouts page may use; its statement is built once per set of them.
_PAYOUT_CONDITIONS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "partner_id": lambda: Payout.partner_id == bindparam("partner_id"),
    "status": lambda: Payout.status == bindparam("status"),
    "after": lambda: after_cursor(Payout.created_at, Payout.id),
}


@cache
def _payouts_page(conditions: tuple[str, ...]) -> Select[Payout, str]:
    return (
        select(Payout, Partner.company_name)
        .join(Partner, Partner.id == Payout.partner_id)
        .where(*[_PAYOUT_CONDITIONS[name]() for name in conditions])
        .order_by(Payout.created_at.desc(), Payout.id.desc())
        .limit(bindparam("limit"))
    )


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
    conditions: list[str] = []
    values: dict[str, Any] = {"limit": limit + 1}
    if partner_id is not None:
        conditions.append("partner_id")
        values["partner_id"] = partner_id
    if status is not None:
        conditions.append("status")
        values["status"] = PayoutStatus(status)
    if after:
        conditions.append("after")
        values |= cursor_values(after)
    rows = session.execute(_payouts_page(tuple(conditions)), values).all()
    items = [_view(payout, name) for payout, name in rows[:limit]]
    return page_of(items, has_more=len(rows) > limit, moment=lambda item: item.created_at)
