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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import achkit
from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.orm import Session

from portal.core import audit, program, two_factor
from portal.core.access import Actor, refresh, require_manager, scoped_partner_id
from portal.core.config import ProgramRules, get_settings
from portal.core.crypto import masked
from portal.core.db import rows_changed
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from portal.core.models import (
    MAX_ID,
    Commission,
    CommissionStatus,
    NotificationKind,
    Partner,
    PartnerProfile,
    PayeeType,
    PaymentMethod,
    Payout,
    PayoutStatus,
)
from portal.core.pagination import Listing, Page, page_of
from portal.core.types import utc_now
from portal.core.uploads import read_csv, upload_text
from portal.core.validation import FieldErrors, clean_date, clean_text
from portal.messaging.notifications import notify_partner
from portal.money.commissions import PROFILE_DETAILS, payout_eligibility, settled_by
from portal.money.currencies import Quote, check_jumps, convert, payout_currency_of
from portal.risk import center as risk_center

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
    amount: Decimal  # in the program currency
    lines: int
    reasons: list[str] = field(default_factory=list)  # empty when it will be paid
    payout_currency: str = ""
    payout_amount: Decimal | None = None  # what arrives, at the batch's rate
    quote: Quote | None = None  # None: the program currency


@dataclass(frozen=True)
class PayoutPlan:
    cutoff: date
    currency: str
    paid: list[PlannedPayout]
    left_out: list[PlannedPayout]
    rates_needed: tuple[str, ...] = ()  # payout currencies in use that are not the program's

    @property
    def total(self) -> Decimal:
        return sum((payout.amount for payout in self.paid), Decimal("0.00"))

    @property
    def totals_paid(self) -> dict[str, Decimal]:
        """What the batch pays in each payout currency."""
        totals: dict[str, Decimal] = {}
        for payout in self.paid:
            assert payout.payout_amount is not None
            totals[payout.payout_currency] = (
                totals.get(payout.payout_currency, Decimal("0.00")) + payout.payout_amount
            )
        return totals


def _priced(
    planned: PlannedPayout, currency: str, rates: Mapping[str, Quote], program: str
) -> PlannedPayout:
    """The planned payout in its payout currency, or left out for want of a rate."""
    if currency == program:
        return replace(planned, payout_currency=currency, payout_amount=planned.amount)
    quote = rates.get(currency)
    if quote is None:
        return replace(
            planned,
            payout_currency=currency,
            reasons=[*planned.reasons, f"no exchange rate for {currency} given for this batch"],
        )
    return replace(
        planned,
        payout_currency=currency,
        payout_amount=convert(planned.amount, quote.rate),
        quote=quote,
    )


def _plan(
    session: Session,
    cutoff: date,
    now: datetime,
    rates: Mapping[str, Quote],
    rules: ProgramRules,
) -> PayoutPlan:
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
            Partner.group_id,
            *PROFILE_DETAILS,
        )
        .join(Partner, Partner.id == owed.c.partner_id)
        .outerjoin(PartnerProfile, PartnerProfile.partner_id == Partner.id)
        .order_by(owed.c.partner_id)
    )
    paid: list[PlannedPayout] = []
    left_out: list[PlannedPayout] = []
    needed: set[str] = set()
    held = risk_center.held_partner_ids(session, rules)
    terms = program.terms_by_group(session, rules)  # each group's minimum payout
    for row in rows:
        amount = Decimal(row.amount).quantize(Decimal("0.01"))
        eligibility = payout_eligibility(
            status=row.status,
            profile=row,
            owed=amount,
            today=now.date(),
            rules=terms.get(row.group_id, rules),
            under_review=row.partner_id in held,
        )
        currency = payout_currency_of(row, rules)
        planned = _priced(
            PlannedPayout(row.partner_id, row.company_name, amount, row.lines, eligibility.reasons),
            currency,
            rates,
            settings.currency,
        )
        if eligibility.will_be_paid and currency != settings.currency:
            needed.add(currency)
        (paid if not planned.reasons else left_out).append(planned)
    return PayoutPlan(
        cutoff=cutoff,
        currency=settings.currency,
        paid=paid,
        left_out=left_out,
        rates_needed=tuple(sorted(needed)),
    )


def preview(
    session: Session,
    *,
    actor: Actor,
    cutoff: date | str,
    rates: Mapping[str, Quote] | None = None,
) -> PayoutPlan:
    """Who a batch for this cut-off would pay, how much (in the program currency and in each
    partner's payout currency at `rates`), and who is left out and why."""
    require_manager(session, actor)
    return _plan(session, checked_cutoff(cutoff), utc_now(), rates or {}, program.current(session))


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
    held_reason: str = ""  # why no file takes it (its payment details changed)
    payout_file_id: int | None = None  # the live file that pays it
    approved: bool = False
    destination: str = ""  # where it is paid: a masked account, an e-mail, a town
    payout_currency: str = ""  # what arrives: payout_amount in payout_currency
    payout_amount: Decimal = Decimal("0.00")
    exchange_rate: Decimal = Decimal(1)  # payout currency per unit of the program currency
    rate_date: date | None = None
    rate_source: str = ""
    returned_at: datetime | None = None
    return_reason: str = ""


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
        held_reason=payout.held_reason,
        payout_file_id=payout.payout_file_id,
        approved=payout.approved_by is not None,
        destination=_destination(payout),
        payout_currency=payout.payout_currency,
        payout_amount=payout.payout_amount,
        exchange_rate=payout.exchange_rate,
        rate_date=payout.rate_date,
        rate_source=payout.rate_source,
        returned_at=payout.returned_at,
        return_reason=payout.return_reason,
    )


def _destination(payout: Payout) -> str:
    if payout.payment_method is PaymentMethod.BANK_TRANSFER:
        return masked(payout.bank_account_last4) if payout.bank_account_last4 else ""
    if payout.payment_method is PaymentMethod.CHECK:
        address = payout.payee_address or {}
        return ", ".join(address[k] for k in ("city", "country") if address.get(k))
    return payout.payee_email or ""


def fix_details(payout: Payout, *, company_name: str, profile: PartnerProfile) -> None:
    """Fix where a payout's money goes: the profile's details as they are now. Files pay these,
    never the profile as it is when a file is made."""
    payout.payment_method = profile.payment_method or payout.payment_method
    payout.payee_name = company_name
    payout.payee_email = profile.payment_email
    payout.payee_type = profile.payee_type or PayeeType.BUSINESS
    payout.payee_address = {
        key: value
        for key, value in (
            ("address", profile.address),
            ("city", profile.city),
            ("state", profile.state),
            ("zip", profile.zip),
            ("country", profile.country),
        )
        if value
    } or None
    # A bank account is part of a payout's details only when a bank transfer pays it.
    by_bank = payout.payment_method is PaymentMethod.BANK_TRANSFER
    payout.bank_scheme = profile.bank_scheme if by_bank else None
    payout.bank_code = profile.bank_code if by_bank else None
    payout.bank_account_encrypted = profile.bank_account_encrypted if by_bank else None
    payout.bank_account_last4 = profile.bank_account_last4 if by_bank else None
    payout.bank_account_type = profile.bank_account_type if by_bank else None


@dataclass(frozen=True)
class BatchResult:
    cutoff: date
    scheduled: list[PayoutView]
    left_out: list[PlannedPayout]


def plan_at(session: Session, cutoff: date, rules: ProgramRules) -> PayoutPlan:
    """The plan of a batch for `cutoff` under `rules` (without exchange rates: amounts in the
    program currency), for saying what a change of the rules would do before it is saved."""
    return _plan(session, cutoff, utc_now(), {}, rules)


def run_batch(
    session: Session,
    *,
    actor: Actor,
    cutoff: date | str,
    rates: Mapping[str, Quote] | None = None,
    confirm_rate_jumps: bool = False,
) -> BatchResult:
    """Schedule one payout per eligible partner for the cut-off, each in the partner's payout
    currency at the batch's rate for it (a partner whose currency has no rate is left out);
    managers only. A rate far from the last one used is refused unless confirmed."""
    actor = require_manager(session, actor)
    cutoff = checked_cutoff(cutoff)
    now = utc_now()
    rates = rates or {}
    rules = program.current(session)
    plan = _plan(session, cutoff, now, rates, rules)
    check_jumps(
        session,
        {code: quote for code, quote in rates.items() if code in plan.rates_needed},
        confirmed=confirm_rate_jumps,
    )
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
            status=partner.status,
            profile=profile,
            owed=amount,
            today=now.date(),
            rules=program.terms_of(session, partner.group_id, rules),
            under_review=risk_center.under_review(session, partner.id, rules),
        )
        currency = payout_currency_of(profile, rules)
        if (
            not recheck.will_be_paid
            or profile is None
            or profile.payment_method is None
            or currency != planned.payout_currency
        ):
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
        quote = planned.quote
        payout = Payout(
            partner_id=partner.id,
            cutoff=cutoff,
            amount=amount,
            currency=settings.currency,
            payout_currency=currency,
            payout_amount=convert(amount, quote.rate) if quote else amount,
            exchange_rate=quote.rate if quote else Decimal(1),
            rate_date=quote.on if quote else None,
            rate_source=quote.source if quote else "program currency",
            item_count=len(lines),
            payment_method=profile.payment_method,
            scheduled_by=actor.user_id,
        )
        fix_details(payout, company_name=partner.company_name, profile=profile)
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
            caused_by=actor,
            partner_id=partner.id,
            kind=NotificationKind.PAYOUT_SCHEDULED,
            message=f"A payout of {amount:,.2f} {settings.currency} has been scheduled for the "
            f"payout day {cutoff}"
            + (
                f": {payout.payout_amount:,.2f} {currency} at {quote.rate.normalize()} "
                f"({quote.source}, {quote.on.isoformat()})."
                if quote
                else "."
            ),
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
                "paid": f"{payout.payout_amount} {currency}",
                "rate": str(payout.exchange_rate),
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


def _release_lines(session: Session, payout_id: int) -> list[int]:
    """Return a payout's ledger lines to open (payable: their holds are over); their ids."""
    released = list(
        session.scalars(select(Commission.id).where(Commission.payout_id == payout_id)).all()
    )
    session.execute(
        update(Commission)
        .where(Commission.payout_id == payout_id)
        .values(status=CommissionStatus.OPEN, payout_id=None)
        .execution_options(synchronize_session=False)
    )
    return released


def _locked_payout(
    session: Session,
    payout_id: int,
    status: PayoutStatus = PayoutStatus.SCHEDULED,
    may: str = "marked paid, failed or canceled",
) -> tuple[Payout, Partner]:
    """The payout and its partner, locked; refused unless the payout is in `status`."""
    payout = session.get(Payout, payout_id, with_for_update=True)
    if payout is None:
        raise NotFound("Payout not found.")
    if payout.status is not status:
        raise ValidationError(
            {
                "status": f"Payout #{payout.id} is "
                + ("already " if status is PayoutStatus.SCHEDULED else "")
                + f"{payout.status.value}; only a {status.value} payout can be {may}."
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


def check_outcome(outcome: str, *, reference: str = "", reason: str = "") -> None:
    """What recording a payout's outcome needs, checked before it is asked for: a paid payout
    its payment reference, a failed or canceled one a reason of bounded length. Raises a
    ValidationError naming each field wrong (the same checks `mark_paid` and `close_unpaid`
    make)."""
    errors = FieldErrors()
    if outcome == PayoutStatus.PAID.value:
        _clean_reference(errors, "reference", reference)
    elif outcome in (PayoutStatus.FAILED.value, PayoutStatus.CANCELED.value):
        clean_text(errors, "reason", reason, label="Reason", max_length=1000, multiline=True)
    else:
        errors.add("status", "A payout is recorded as paid, failed or canceled.")
    errors.raise_if_any()


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
    amount: Decimal | None = None,
    currency: str | None = None,
) -> PayoutView:
    """Record that a scheduled payout reached the partner, with the transfer's reference.

    A reference names one transfer, so it may settle one payout only. Recording the same
    payout paid with the same reference again changes nothing (a repeated click or upload).
    The amount and currency the bank reports, when given, must be the payout's own.
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
    payout, partner = _locked_payout(session, payout_id)
    now = utc_now()
    paid_at = _paid_moment(errors, "paid_on", paid_on, payout, now)
    if amount is not None or currency is not None:
        _money_matches(errors, payout, amount, currency)
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
        caused_by=actor,
        partner_id=partner.id,
        kind=NotificationKind.PAYOUT_PAID,
        message=f"Payout #{payout.id} of {payout.amount:,.2f} {payout.currency} was paid "
        + (
            f"as {payout.payout_amount:,.2f} {payout.payout_currency} "
            if payout.payout_currency != payout.currency
            else ""
        )
        + f"(reference {payout.reference}).",
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


STATEMENT_COLUMNS = ("payout_id", "reference", "paid_date", "amount", "currency")
MAX_STATEMENT_ROWS = 5000
MAX_STATEMENT_BYTES = 2 * 1024 * 1024
_PAYOUT_NUMBER = re.compile(r"(?:#|PAYOUT-)?([0-9]{1,10})", re.IGNORECASE)
_AMOUNT = re.compile(r"-?[0-9]{1,10}(?:\.[0-9]{1,2})?")


@dataclass(frozen=True)
class StatementEntry:
    """One line of a bank's report as read from the file, before it is matched."""

    where: str  # "row 3", "entry 2": how the manager finds it in the file
    payout: str  # the payout number or end-to-end reference as written
    reference: str
    paid_on: str
    amount: str
    currency: str


@dataclass(frozen=True)
class StatementRow:
    """One line of a bank's report as it will be applied."""

    payout_id: int
    reference: str
    paid_on: date
    company_name: str
    amount: Decimal
    currency: str
    already_paid: bool


@dataclass(frozen=True)
class StatementReading:
    """What a statement settles, and the entries it holds that name no payout (listed)."""

    rows: list[StatementRow]
    ignored: list[str]


def parse_statement(content: bytes | str) -> tuple[list[StatementEntry], list[str]]:
    """The entries of a bank statement: an ISO 20022 camt.053 / camt.054 report (XML), or a
    CSV with the columns payout_id, reference, paid_date, amount, currency. Returns the entries
    that name a payout and a note for each one that does not."""
    text = upload_text(content, field="statement", what="The file", max_bytes=MAX_STATEMENT_BYTES)
    if text.lstrip().startswith("<"):
        return _parse_camt(text)
    return _parse_csv(text), []


def _parse_csv(text: str) -> list[StatementEntry]:
    table = read_csv(text, field="statement", what="The file", max_rows=MAX_STATEMENT_ROWS)
    table.require("statement", STATEMENT_COLUMNS)
    return [
        StatementEntry(
            where=f"row {line}",
            **{name: record[column].strip() for name, column in _CSV_FIELDS},
        )
        for line, record in table.records()
    ]


_CSV_FIELDS = (
    ("payout", "payout_id"),
    ("reference", "reference"),
    ("paid_on", "paid_date"),
    ("amount", "amount"),
    ("currency", "currency"),
)


def _parse_camt(text: str) -> tuple[list[StatementEntry], list[str]]:
    """Read a camt.053 (or camt.052/054) report with pycamt: each booked debit whose
    end-to-end id is a payout's reference is an entry; anything else is noted and left."""
    from lxml.etree import LxmlError
    from pycamt.parser import Camt053ParseError, Camt053Parser

    try:
        transactions = Camt053Parser(text.encode("utf-8")).get_transactions()
    except (Camt053ParseError, LxmlError, ValueError, AttributeError, TypeError):
        raise ValidationError(
            {"statement": "The file is neither a CSV nor an ISO 20022 camt statement."}
        ) from None
    debtor = get_settings().payout_debtor_iban.replace(" ", "").upper()
    entries: list[StatementEntry] = []
    ignored: list[str] = []
    for number, tx in enumerate(transactions, start=1):
        if number > MAX_STATEMENT_ROWS:
            raise ValidationError(
                {"statement": f"The file has more than {MAX_STATEMENT_ROWS} entries; split it."}
            )
        where = f"entry {number}"
        end_to_end = (tx.get("EndToEndId") or "").strip()
        account = (tx.get("AccountIBAN") or "").replace(" ", "").upper()
        if account and debtor and account != debtor:
            raise ValidationError(
                {
                    "statement": f"The statement is for the account ending {account[-4:]}, not "
                    f"the program's paying account (ending {debtor[-4:]}); nothing was recorded."
                }
            )
        if not end_to_end.upper().startswith("PAYOUT-"):
            ignored.append(f"{where}: names no payout ({end_to_end or 'no end-to-end id'})")
            continue
        if (tx.get("Status") or "BOOK").upper() != "BOOK":
            ignored.append(f"{where}: {end_to_end} is not booked yet ({tx.get('Status')})")
            continue
        if (tx.get("CreditDebitIndicator") or "").upper() != "DBIT" or (
            (tx.get("ReversalIndicator") or "").lower() == "true"
        ):
            ignored.append(
                f"{where}: a credit for {end_to_end}: if the bank returned it, record the return"
            )
            continue
        bank_reference = (tx.get("TransactionID") or "").strip()
        entries.append(
            StatementEntry(
                where=where,
                payout=end_to_end,
                reference=f"{bank_reference}/{end_to_end}" if bank_reference else end_to_end,
                paid_on=(tx.get("BookingDate") or tx.get("ValueDate") or "")[:10],
                amount=tx.get("Amount") or "",
                currency=tx.get("Currency") or "",
            )
        )
    return entries, ignored


def _payout_number(text: str) -> int | None:
    matched = _PAYOUT_NUMBER.fullmatch(text)
    if matched is None or not 1 <= int(matched.group(1)) <= MAX_ID:
        return None
    return int(matched.group(1))


def _look_up(
    session: Session, entries: list[StatementEntry]
) -> tuple[dict[int, tuple[Payout, str]], dict[str, int]]:
    """Every payout and reference the entries name, in two queries."""
    wanted = {number for e in entries if (number := _payout_number(e.payout)) is not None}
    payouts = {
        payout.id: (payout, company)
        for payout, company in session.execute(
            select(Payout, Partner.company_name)
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.id.in_(wanted))
        )
    }
    references = {e.reference for e in entries} - {""}
    owners = dict(
        session.execute(
            select(Payout.reference, Payout.id).where(Payout.reference.in_(references))
        ).all()
    )
    return payouts, owners


def _money_matches(
    errors: FieldErrors, payout: Payout, amount: Decimal | None, currency: str | None
) -> None:
    """What the bank paid is what the partner is paid: the payout's own amount in its payout
    currency (either may be left unchecked with None)."""
    if amount is not None and abs(amount) != payout.payout_amount:
        errors.add(
            "amount",
            f"the bank paid {abs(amount):,.2f}, the payout is {payout.payout_amount:,.2f}",
        )
    if currency is not None and currency.upper() != payout.payout_currency:
        errors.add(
            "currency",
            f"the bank paid in {currency or 'no currency'}, the payout is in "
            f"{payout.payout_currency}",
        )


def _check(
    entries: list[StatementEntry],
    payouts: dict[int, tuple[Payout, str]],
    owners: dict[str, int],
    now: datetime,
) -> tuple[list[StatementRow], list[str]]:
    rows: list[StatementRow] = []
    problems: list[str] = []
    seen_payouts: dict[int, str] = {}
    seen_references: dict[str, str] = {}
    for entry in entries:
        payout_id = _payout_number(entry.payout)
        if payout_id is None:
            problems.append(f"{entry.where}: payout {entry.payout!r} is not a payout number")
            continue
        where = f"{entry.where} (payout #{payout_id})"
        if payout_id not in payouts:
            problems.append(f"{where}: no such payout")
            continue
        payout, company_name = payouts[payout_id]
        errors = FieldErrors()
        ref = _clean_reference(errors, "reference", entry.reference)
        if not entry.paid_on:
            errors.add("paid_date", "Paid date is required.")
        paid_at = _paid_moment(errors, "paid_date", entry.paid_on, payout, now)
        if _AMOUNT.fullmatch(entry.amount):
            _money_matches(errors, payout, Decimal(entry.amount), entry.currency)
        else:
            errors.add("amount", f"amount {entry.amount!r} is not an amount such as 1234.50")
            _money_matches(errors, payout, None, entry.currency)
        if errors.errors:
            problems.append(f"{where}: " + "; ".join(errors.errors.values()))
            continue
        if payout_id in seen_payouts:
            problems.append(f"{where}: the payout is also on {seen_payouts[payout_id]}")
            continue
        if ref in seen_references:
            problems.append(f"{where}: reference {ref} is also on {seen_references[ref]}")
            continue
        seen_payouts[payout_id] = seen_references[ref] = entry.where
        already = payout.status is PayoutStatus.PAID and payout.reference == ref
        if not already and payout.status is not PayoutStatus.SCHEDULED:
            problems.append(f"{where}: it is {payout.status.value}, not scheduled")
            continue
        owner = owners.get(ref)
        if owner is not None and owner != payout_id:
            problems.append(f"{where}: reference {ref} is already recorded on payout #{owner}")
            continue
        rows.append(
            StatementRow(
                payout_id=payout_id,
                reference=ref,
                paid_on=paid_at.date(),
                company_name=company_name,
                amount=payout.payout_amount,
                currency=payout.payout_currency,
                already_paid=already,
            )
        )
    return rows, problems


def read_statement(session: Session, *, actor: Actor, content: bytes | str) -> StatementReading:
    """Check a bank's report (camt.053 or CSV, see `parse_statement`) entry by entry: each
    names a payout (its number or end-to-end reference PAYOUT-<id>) whose amount and currency
    it must equal. Nothing is written. Every refused entry is named in one ValidationError on
    `statement`; entries that name no payout are listed in the reading."""
    require_manager(session, actor)
    entries, ignored = parse_statement(content)
    payouts, owners = _look_up(session, entries)
    rows, problems = _check(entries, payouts, owners, utc_now())
    if not rows and not problems:
        problems.append("the file holds no payouts")
    if problems:
        raise ValidationError(
            {
                "statement": f"Nothing was recorded; {len(problems)} "
                f"{'entry' if len(problems) == 1 else 'entries'} refused: "
                + "; ".join(problems)
                + "."
            }
        )
    return StatementReading(rows=rows, ignored=ignored)


def settle_statement(session: Session, *, actor: Actor, content: bytes | str) -> list[PayoutView]:
    """Mark every payout of a bank's report paid, all or nothing (see `read_statement`)."""
    reading = read_statement(session, actor=actor, content=content)
    # In payout id order, so two uploads at once lock alike.
    return [
        mark_paid(
            session,
            actor=actor,
            payout_id=row.payout_id,
            reference=row.reference,
            paid_on=row.paid_on,
            amount=row.amount,
            currency=row.currency,
        )
        for row in sorted(reading.rows, key=lambda row: row.payout_id)
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
    payout, partner = _locked_payout(session, payout_id)
    if outcome is PayoutStatus.CANCELED and payout.payout_file_id is not None:
        raise ValidationError(
            {
                "status": f"Payout #{payout.id} is in live payout file #{payout.payout_file_id}, "
                "which the bank may still pay: void that file first, or mark the payout "
                "failed if the bank refused it."
            }
        )
    released = _release_lines(session, payout.id)
    payout.status = outcome
    payout.failure_reason = note or ""
    payout.closed_at = utc_now()
    notify_partner(
        session,
        caused_by=actor,
        partner_id=partner.id,
        kind=NotificationKind(f"payout_{outcome.value}"),
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


# --- after scheduling: changed details, approvals, returns ------------------------------------


def hold_for_new_details(session: Session, *, partner_id: int, fields: list[str]) -> int:
    """Hold a partner's scheduled payouts after it changed where its money goes: no file takes
    them until a manager re-approves them with the new details or cancels them."""
    what = ", ".join(name.replace("_", " ") for name in fields)
    return rows_changed(
        session,
        update(Payout)
        .where(
            Payout.partner_id == partner_id,
            Payout.status == PayoutStatus.SCHEDULED,
            Payout.held_reason == "",
        )
        .values(
            held_reason=f"the partner changed its payment details ({what}) on "
            f"{utc_now().date().isoformat()}, after the payout was scheduled"
        )
        .execution_options(synchronize_session=False),
    )


def reapprove(session: Session, *, actor: Actor, payout_id: int) -> PayoutView:
    """Release a held payout with the partner's payment details as they are now; managers
    only. With two approvals required, another manager must then approve it again."""
    actor = require_manager(session, actor)
    payout, partner = _locked_payout(session, payout_id)
    if not payout.held_reason:
        raise ValidationError({"payout": f"Payout #{payout.id} is not held."})
    if payout.payout_file_id is not None:
        raise ValidationError(
            {
                "payout": f"Payout #{payout.id} is in live payout file #{payout.payout_file_id}, "
                "made with the old details: void that file first."
            }
        )
    profile = session.scalar(select(PartnerProfile).where(PartnerProfile.partner_id == partner.id))
    rules = program.current(session)
    check = payout_eligibility(
        status=partner.status,
        profile=profile,
        owed=payout.amount,
        today=utc_now().date(),
        # The payout passed the minimum when it was scheduled; a later change of it applies
        # to later batches.
        rules=rules.model_copy(update={"min_payout": Decimal(0)}),
        under_review=risk_center.under_review(session, partner.id, rules),
    )
    if profile is None or profile.payment_method is None or not check.will_be_paid:
        raise ValidationError(
            {
                "payout": f"Payout #{payout.id} cannot be paid with the new details: "
                + "; ".join(check.reasons or ["no payout method on file"])
                + ". Cancel it, or wait for the partner to complete them."
            }
        )
    if payout_currency_of(profile, rules) != payout.payout_currency:
        raise ValidationError(
            {
                "payout": f"Payout #{payout.id} was priced in {payout.payout_currency}; the "
                f"partner is now paid in {payout_currency_of(profile, rules)}. Cancel it: the next "
                "batch pays it at that currency's rate."
            }
        )
    before = {"method": payout.payment_method.value, "to": _destination(payout)}
    fix_details(payout, company_name=partner.company_name, profile=profile)
    payout.held_reason = ""
    payout.scheduled_by = actor.user_id
    payout.approved_by = None
    payout.approved_at = None
    audit.record_by(
        session,
        actor,
        "payout.reapprove",
        "payout",
        payout.id,
        before=before,
        after={"method": payout.payment_method.value, "to": _destination(payout)},
    )
    return _view(payout, partner.company_name)


def approve_batch(session: Session, *, actor: Actor, cutoff: date | str) -> list[PayoutView]:
    """The second pair of eyes (`PORTAL_PAYOUT_APPROVALS=2`): a manager who did not schedule
    them approves a batch's scheduled payouts, after which their files may be made."""
    actor = require_manager(session, actor)
    two_factor.require(session, actor)
    day = checked_cutoff(cutoff)
    rows = session.execute(
        select(Payout, Partner.company_name)
        .join(Partner, Partner.id == Payout.partner_id)
        .where(
            Payout.cutoff == day,
            Payout.status == PayoutStatus.SCHEDULED,
            Payout.approved_by.is_(None),
            Payout.held_reason == "",
        )
        .order_by(Payout.id)
        .with_for_update(of=Payout)
    ).all()
    if not rows:
        raise NotFound(f"Nothing in the batch of {day.isoformat()} waits for approval.")
    if actor.user_id is None:
        raise PermissionDenied(
            "A batch is approved by a signed-in manager, who is named in the audit."
        )
    own = [payout.id for payout, _ in rows if payout.scheduled_by == actor.user_id]
    if own:
        raise PermissionDenied(
            f"You scheduled {'payouts' if len(own) > 1 else 'payout'} "
            f"#{', #'.join(map(str, own))} of this batch: another "
            "manager must approve it."
        )
    now = utc_now()
    for payout, _ in rows:
        payout.approved_by = actor.user_id
        payout.approved_at = now
    audit.record_by(
        session,
        actor,
        "payout.approve_batch",
        "payout_batch",
        day.isoformat(),
        after={
            "payouts": [payout.id for payout, _ in rows],
            "total": str(sum((payout.amount for payout, _ in rows), Decimal("0.00"))),
        },
    )
    return [_view(payout, name) for payout, name in rows]


# What the receiving bank says when it sends a payment back: NACHA return codes (ACH) and
# ISO 20022 return reasons (SEPA and other credit transfers).
RETURN_REASONS: dict[str, str] = {
    **achkit.RETURN_CODES,
    "AC01": "Incorrect account number",
    "AC03": "Invalid creditor account number",
    "AC04": "Closed account number",
    "AC06": "Blocked account",
    "AG01": "Transaction forbidden on this type of account",
    "AG02": "Invalid bank operation code",
    "AM05": "Duplication",
    "BE04": "Missing creditor address",
    "CNOR": "Creditor bank is not registered",
    "FOCR": "Return following a cancellation request",
    "MD07": "End customer deceased",
    "MS02": "Not specified, reason generated by the customer",
    "MS03": "Not specified, reason generated by the agent",
    "RC01": "Bank identifier incorrect",
    "RR03": "Missing creditor name or address",
    "RR04": "Regulatory reason",
    "OTHER": "Other reason (given in the note)",
}


def mark_returned(
    session: Session, *, actor: Actor, payout_id: int, reason_code: str, note: str = ""
) -> PayoutView:
    """Record that a paid payout came back from the partner's bank, with the bank's reason:
    its lines become payable again, the partner's paid total drops, and the partner is told
    to check its payment details. Managers only."""
    actor = require_manager(session, actor)
    errors = FieldErrors()
    code = str(reason_code or "").strip().upper() if isinstance(reason_code, str) else ""
    if code not in RETURN_REASONS:
        errors.add(
            "reason_code",
            "Return reason must be the bank's code, such as R01–R31 (ACH) or AC01, AC04, MS03 "
            "(ISO 20022), or OTHER.",
        )
    words = clean_text(errors, "note", note, label="Note", max_length=150, required=code == "OTHER")
    errors.raise_if_any()
    payout, partner = _locked_payout(session, payout_id, PayoutStatus.PAID, may="marked returned")
    released = _release_lines(session, payout.id)
    now = utc_now()
    payout.status = PayoutStatus.RETURNED
    payout.returned_at = now
    payout.closed_at = now
    payout.return_reason = f"{code} {RETURN_REASONS[code]}" + (f": {words}" if words else "")
    partner.paid_earnings = partner.paid_earnings - payout.amount
    notify_partner(
        session,
        caused_by=actor,
        partner_id=partner.id,
        kind=NotificationKind.PAYOUT_RETURNED,
        message=f"Payout #{payout.id} of {payout.amount:,.2f} {payout.currency} came back from "
        f"your bank ({RETURN_REASONS[code]}). Check your payment details on your Profile page; "
        "the amount is paid again with your next payout.",
    )
    audit.record_by(
        session,
        actor,
        "payout.mark_returned",
        "payout",
        payout.id,
        before={"status": "paid", "reference": payout.reference},
        after={"status": "returned", "reason": payout.return_reason, "lines": released},
    )
    return _view(payout, partner.company_name)


_PAYOUTS = Listing(
    lambda: select(Payout, Partner.company_name).join(Partner, Partner.id == Payout.partner_id),
    Payout.created_at,
    Payout.id,
    {
        "partner_id": lambda: Payout.partner_id == bindparam("partner_id"),
        "status": lambda: Payout.status == bindparam("status"),
    },
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
    partner_id = scoped_partner_id(actor, partner_id)
    conditions: list[str] = []
    chosen: dict[str, Any] = {}
    if partner_id is not None:
        conditions.append("partner_id")
        chosen["partner_id"] = partner_id
    if status is not None:
        conditions.append("status")
        chosen["status"] = PayoutStatus(status)
    query, values = _PAYOUTS.query(conditions, after=after, limit=limit)
    rows = session.execute(query, values | chosen).all()
    items = [_view(payout, name) for payout, name in rows[:limit]]
    return page_of(items, has_more=len(rows) > limit, moment=lambda item: item.created_at)
