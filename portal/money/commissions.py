"""The commission ledger: lines made by conversions, voids and clawbacks, and their states.

States, all derived from the stored line so they are consistent at every moment:
`on_hold` (open, hold not yet over) → `payable` (open, hold over; a clawback is payable at
once) → `in_payout` (held by a scheduled payout) → `paid`; `void` when the conversion was
reversed before payment. Reversing after payment keeps the paid line and adds a negative
clawback line that the partner's next payout nets off. A line in a scheduled payout cannot be
reversed: cancel or fail that payout first.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from sqlalchemy import BindParameter, ColumnElement, bindparam, case, func, select, true
from sqlalchemy.orm import Session

from portal.core import db, program
from portal.core.access import Actor, listed_partner_id, one_partner_id, refresh, scoped_partner_id
from portal.core.config import ProgramRules, get_settings
from portal.core.errors import NotFound, ValidationError
from portal.core.models import (
    BankAccountType,
    Commission,
    CommissionKind,
    CommissionStatus,
    Lead,
    Partner,
    PartnerProfile,
    PartnerStatus,
    PaymentMethod,
    Payout,
    PayoutStatus,
    TaxForm,
)
from portal.core.pagination import Listing, Page, page_of
from portal.core.types import utc_now
from portal.money import tax_forms
from portal.money.currencies import payout_currency_of
from portal.money.payment_details import route_of
from portal.reporting import statistics
from portal.risk import center as risk_center

ZERO = Decimal("0.00")


class PayoutDetails(Protocol):
    """What a payout needs from a profile: a PartnerProfile, or a row with these columns."""

    payment_method: PaymentMethod | None
    bank_account_encrypted: str | None
    payment_email: str | None
    bank_scheme: str | None
    bank_code: str | None
    bank_account_type: BankAccountType | None
    payout_currency: str | None
    address: str | None
    city: str | None
    zip: str | None
    country: str | None
    tax_form: TaxForm | None
    tax_form_expires_on: date | None
    tax_form_pending: bool


class CommissionState(enum.StrEnum):
    ON_HOLD = "on_hold"
    PAYABLE = "payable"
    IN_PAYOUT = "in_payout"
    PAID = "paid"
    VOID = "void"


class PayoutOutlook(enum.StrEnum):
    """What the next payout day holds for a partner, as the tracker, the dashboard and the API
    say it (payouts already scheduled are listed beside it)."""

    NOTHING_EARNED = "nothing_earned"  # no commission yet
    DUE = "due"  # paid on the next payout day
    HELD = "held"  # owed by the next payout day and held back: the blockers say why
    ON_HOLD = "on_hold"  # earned, every part still in its hold period
    SCHEDULED = "scheduled"  # nothing more due: what was owed is in a scheduled payout
    PAID_UP = "paid_up"  # everything earned has been paid


def on_hold(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """The rule `state_of` applies to one line, for a query: open, its hold not over at `now`
    (a moment, or a parameter bound at execution). Every query that tells held from payable
    asks this."""
    return (Commission.status == CommissionStatus.OPEN) & (Commission.hold_until > now)


def payable(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Open, its hold over at `now`: owed, in the next batch that settles it."""
    return (Commission.status == CommissionStatus.OPEN) & (Commission.hold_until <= now)


def state_of(status: CommissionStatus, hold_until: datetime, now: datetime) -> CommissionState:
    """The state a partner sees for a stored line at a moment."""
    if status is not CommissionStatus.OPEN:
        return CommissionState(status.value)
    return CommissionState.ON_HOLD if hold_until > now else CommissionState.PAYABLE


def record_conversion(session: Session, lead: Lead, hold_days: int) -> Commission:
    """Add the open commission line of a lead that has just converted, held for the hold
    days in force now for its partner (its group's terms: a later change of them leaves its
    end as it is)."""
    assert lead.converted_at is not None and lead.commission is not None
    line = Commission(
        partner_id=lead.partner_id,
        lead_id=lead.id,
        kind=CommissionKind.COMMISSION,
        amount=lead.commission,
        deal_value=lead.deal_value,
        rate=lead.commission_rate,
        earned_at=lead.converted_at,
        hold_until=lead.converted_at + timedelta(days=hold_days),
        created_at=lead.converted_at,
    )
    session.add(line)
    statistics.count_conversion(
        session,
        partner_id=lead.partner_id,
        converted_at=lead.converted_at,
        commission=lead.commission,
        sign=1,
    )
    return line


def live_line(session: Session, lead_id: int) -> Commission:
    """The locked commission line of a converted lead (not void, not clawed back)."""
    clawed_back = select(Commission.reverses_id).where(Commission.reverses_id.is_not(None))
    line = session.scalar(
        select(Commission)
        .where(
            Commission.lead_id == lead_id,
            Commission.kind == CommissionKind.COMMISSION,
            Commission.status != CommissionStatus.VOID,
            Commission.id.not_in(clawed_back),
        )
        .with_for_update()
    )
    if line is None:
        raise RuntimeError(f"converted lead {lead_id} has no live commission line")
    return line


def ensure_reversible(line: Commission) -> None:
    """Refuse to reverse a conversion whose commission sits in a scheduled payout."""
    if line.status is CommissionStatus.IN_PAYOUT:
        raise ValidationError(
            {
                "status": f"This commission is in scheduled payout #{line.payout_id}; "
                "cancel or fail that payout before reversing the conversion."
            }
        )


def reverse(session: Session, line: Commission, now: datetime) -> CommissionStatus:
    """Undo a conversion's commission: void it if unpaid, else add a clawback line."""
    statistics.count_conversion(
        session,
        partner_id=line.partner_id,
        converted_at=line.earned_at,
        commission=line.amount,
        sign=-1,
    )
    if line.status is CommissionStatus.OPEN:
        line.status = CommissionStatus.VOID
        line.voided_at = now
        return CommissionStatus.VOID
    session.add(
        Commission(
            partner_id=line.partner_id,
            lead_id=line.lead_id,
            kind=CommissionKind.CLAWBACK,
            amount=-line.amount,
            earned_at=now,
            hold_until=now,
            reverses_id=line.id,
            created_at=now,
        )
    )
    return CommissionStatus.PAID


# --- what the partner sees ------------------------------------------------------------------


def next_payout_date(today: date, rules: ProgramRules) -> date:
    """The next scheduled payout day on or after today."""
    day = rules.payout_day
    this_month = today.replace(day=day)
    if today <= this_month:
        return this_month
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return date(year, month, day)


@dataclass(frozen=True)
class Blocker:
    """One reason a partner is not paid: as the pre-flight lists it, and what to do about it;
    `kind` tells those that are not about payment details apart: the partner's standing
    (the pages' banner says it), nothing owed (the tracker's outlook says it) and a pending
    review (the risk center)."""

    reason: str
    remedy: str
    kind: str = "details"  # "standing", "review", "nothing_owed" or "details"


@dataclass(frozen=True)
class PayoutEligibility:
    """Whether a partner owed `owed` is paid by a batch, and every reason it is not."""

    owed: Decimal
    blockers: tuple[Blocker, ...]

    @property
    def will_be_paid(self) -> bool:
        return not self.blockers

    @property
    def reasons(self) -> list[str]:
        return [blocker.reason for blocker in self.blockers]


def payout_eligibility(
    *,
    status: PartnerStatus,
    profile: PayoutDetails | None,
    owed: Decimal,
    today: date,
    rules: ProgramRules,
    under_review: bool = False,
) -> PayoutEligibility:
    """The one decision of whether a partner is paid, used by the batch, the pre-flight, the
    tracker and the dashboard. A partner is paid when it is active and not under review (an
    open risk event of a rule that holds payouts: `risk.center.held_partner_ids`), its payout
    method has its details, a partner manager verified its tax form (and a W-8 has not
    lapsed), and its net owed amount is above zero and reaches the minimum."""
    settings = get_settings()
    blockers: list[Blocker] = []
    if under_review:  # which rule is for managers to know: the partner is told a review is on
        blockers.append(
            Blocker(
                "under review",
                "A review of your account is pending, so payouts are held; what you are owed "
                "is kept for you and paid once the review is complete.",
                kind="review",
            )
        )
    if status is PartnerStatus.SUSPENDED:
        blockers.append(
            Blocker(
                "partner is suspended",
                "Your account is suspended, so payouts are held; what you are owed is kept "
                "for you. Contact your partner manager to have it reactivated.",
                kind="standing",
            )
        )
    elif status is not PartnerStatus.ACTIVE:
        blockers.append(
            Blocker(
                f"partner is {status.value}",
                "Your application is still under review; payouts start once it is approved.",
                kind="standing",
            )
        )
    method = profile.payment_method if profile else None
    if method is None:
        blockers.append(
            Blocker(
                "no payout method on file",
                "Choose a payout method and enter its details on your Profile page.",
            )
        )
    elif not payout_details_complete(method, profile):
        words = method.value.replace("_", " ")
        blockers.append(
            Blocker(
                f"payout details for {words} are incomplete",
                f"Enter the {DETAILS_NEEDED[method]} for {words} on your Profile page.",
            )
        )
    else:
        assert profile is not None
        route = route_of(
            profile, currency=payout_currency_of(profile, rules), address_country=profile.country
        )
        if route.file_format is None:
            blockers.append(Blocker(route.reason, route.remedy))
    blockers.extend(_tax_form_blockers(profile, today))
    if owed < 0:
        blockers.append(
            Blocker(
                f"nothing to pay (net {owed:,.2f})",
                "Clawbacks of reversed conversions exceed what is owed; new commissions are "
                "paid once they exceed them.",
                kind="nothing_owed",
            )
        )
    elif owed == 0:
        blockers.append(
            Blocker("nothing to pay (net 0.00)", "Nothing is owed yet.", kind="nothing_owed")
        )
    elif owed < rules.min_payout:
        blockers.append(
            Blocker(
                f"below the {rules.min_payout:,.2f} minimum",
                f"Payouts start at {rules.min_payout:,.2f} {settings.currency}; smaller "
                "balances roll over to a later payout.",
            )
        )
    return PayoutEligibility(owed=owed, blockers=tuple(blockers))


DETAILS_NEEDED = {
    PaymentMethod.BANK_TRANSFER: "bank account (IBAN, or US account and routing number)",
    PaymentMethod.PAYPAL: "payment email of your PayPal account",
    PaymentMethod.WISE: "payment email of your Wise account",
    PaymentMethod.CHECK: "postal address (street, city, postal code and country)",
}


def _tax_form_blockers(profile: PayoutDetails | None, today: date) -> list[Blocker]:
    if profile is not None and profile.tax_form is not None:
        expires = profile.tax_form_expires_on
        if expires is None or expires >= today:
            return []
        return [
            Blocker(
                f"tax form expired on {expires.isoformat()}",
                "Your W-8 form has lapsed; upload a new one on your Profile page.",
            )
        ]
    if profile is not None and profile.tax_form_pending:
        return [
            Blocker(
                "tax form awaits verification",
                "A partner manager is reviewing the tax form you uploaded; payouts start "
                "once it is verified.",
            )
        ]
    return [
        Blocker(
            "no verified tax form on file",
            "Upload your W-9 (US) or W-8BEN / W-8BEN-E (outside the US) on your Profile page.",
        )
    ]


def payout_details_complete(method: PaymentMethod, profile: PayoutDetails | None) -> bool:
    """Whether the profile holds what the payout method needs."""
    if profile is None:
        return False
    if method is PaymentMethod.BANK_TRANSFER:
        if profile.bank_account_encrypted is None or profile.bank_scheme is None:
            return False
        return profile.bank_scheme != "us" or bool(profile.bank_code)
    if method is PaymentMethod.CHECK:
        return bool(profile.address and profile.city and profile.zip and profile.country)
    return bool(profile.payment_email)


def settled_by(
    cutoff_end: datetime | BindParameter[datetime], now: datetime | BindParameter[datetime]
) -> ColumnElement[bool]:
    """The ledger lines a payout made at `now` for a cut-off ending at `cutoff_end` settles:
    every open clawback, whatever its date (it is netted from the next payout), and every
    open commission whose hold has ended both by the cut-off and by now."""
    return (Commission.status == CommissionStatus.OPEN) & (
        (Commission.kind == CommissionKind.CLAWBACK)
        | ((Commission.hold_until < cutoff_end) & (Commission.hold_until <= now))
    )


@dataclass(frozen=True)
class CommissionSummary:
    """The commission tracker's figures: totals per state and the next payout.

    `owed_next_payout` is what the lines due by the next payout day net to;
    `expected_next_payout` is what that payout will really carry: the same amount when the
    partner will be paid, else zero, with `blockers` saying why and what to do. `outlook` says
    which case this is and `headline` says it in a sentence; `held_reasons` add the rest.
    """

    partner_id: int
    currency: str
    totals: dict[CommissionState, Decimal]
    total_earned: Decimal  # every line not voided (clawbacks net it down)
    pending_commission: Decimal  # earned, not yet paid: on hold, payable or in a payout
    paid_commission: Decimal
    next_payout_date: date
    owed_next_payout: Decimal
    expected_next_payout: Decimal
    min_payout: Decimal
    next_release: datetime | None
    blockers: tuple[Blocker, ...] = ()
    held_reasons: list[str] = field(default_factory=list)
    scheduled: tuple[ScheduledPayout, ...] = ()  # payouts on their way
    paid_in: str = ""  # the partner's payout currency now
    outlook: PayoutOutlook = PayoutOutlook.NOTHING_EARNED
    headline: str = ""


@dataclass(frozen=True)
class ScheduledPayout:
    """A payout already scheduled: what it carries, and what arrives at the batch's rate."""

    id: int
    cutoff: date
    amount: Decimal  # in the program currency
    payout_currency: str
    payout_amount: Decimal
    exchange_rate: Decimal
    rate_date: date | None
    held: bool  # waits for a manager to confirm changed payment details


# What a payout needs of a profile (`PayoutDetails`), as columns.
PROFILE_DETAILS = (
    PartnerProfile.payment_method,
    PartnerProfile.bank_account_encrypted,
    PartnerProfile.bank_scheme,
    PartnerProfile.bank_code,
    PartnerProfile.bank_account_type,
    PartnerProfile.payout_currency,
    PartnerProfile.payment_email,
    PartnerProfile.address,
    PartnerProfile.city,
    PartnerProfile.zip,
    PartnerProfile.country,
    PartnerProfile.tax_form,
    PartnerProfile.tax_form_expires_on,
    PartnerProfile.tax_form_pending,
)


def _summary_statement() -> Any:
    """The partner, its profile's payout details and its ledger's sums per kind of line, in
    one statement (a row per kind of line, or one row without a kind for a partner with no
    lines yet): one pass over the lines gives the totals, what is owed by payday and the next
    release. Built once: the dashboard and the tracker read it."""
    held = on_hold(bindparam("now"))
    due = settled_by(bindparam("payday_end"), bindparam("payday_end"))
    lines = (
        select(
            Commission.status,
            held.label("held"),
            func.sum(Commission.amount),
            func.sum(case((due, Commission.amount), else_=ZERO)),
            func.min(Commission.hold_until),
        )
        .where(Commission.partner_id == bindparam("partner_id"))
        .group_by(Commission.status, held)
        .subquery()
    )
    return (
        select(
            Partner.status.label("partner_status"),
            Partner.group_id,
            PartnerProfile.partner_id.label("profile_of"),
            *PROFILE_DETAILS,
            *lines.c,
        )
        .outerjoin(PartnerProfile, PartnerProfile.partner_id == Partner.id)
        .outerjoin(lines, true())
        .where(Partner.id == bindparam("partner_id"))
    )


_SUMMARY = _summary_statement()


def _outlook(
    totals: dict[CommissionState, Decimal],
    owed: Decimal,
    eligibility: PayoutEligibility,
    payday: date,
    next_release: datetime | None,
    scheduled: tuple[ScheduledPayout, ...],
    currency: str,
) -> tuple[PayoutOutlook, str]:
    """Which case the next payout day is, and the sentence that says it."""
    held = totals[CommissionState.ON_HOLD]
    if owed > 0:
        if eligibility.will_be_paid:
            return PayoutOutlook.DUE, f"{owed:,.2f} {currency} will be paid on {payday}."
        return PayoutOutlook.HELD, f"{owed:,.2f} {currency} owed by {payday} is held back."
    if scheduled:
        more = f"; {held:,.2f} {currency} more is on hold" if held > 0 else ""
        return PayoutOutlook.SCHEDULED, f"Your payout is on its way{more}."
    if owed < 0:
        return PayoutOutlook.HELD, f"Nothing will be paid on {payday}: clawbacks exceed it."
    if held > 0 and next_release is not None:
        return PayoutOutlook.ON_HOLD, (
            f"{held:,.2f} {currency} is on hold; the first part is released on "
            f"{next_release.date()} and paid on the payout day after it."
        )
    if totals[CommissionState.PAID] > 0:
        return PayoutOutlook.PAID_UP, "Everything you have earned has been paid."
    return PayoutOutlook.NOTHING_EARNED, (
        "Nothing earned yet: a commission is added when one of your leads converts."
    )


def commission_summary(
    session: Session, *, actor: Actor, partner_id: int | None = None
) -> CommissionSummary:
    """Totals per state, the next payout date and amount, and why anything is held."""
    actor = refresh(session, actor)
    partner_id = one_partner_id(actor, partner_id)
    settings = get_settings()
    program_rules = program.current(session)
    now = utc_now()
    payday = next_payout_date(now.date(), program_rules)
    # A batch run on payday settles what is due by the end of that day.
    payday_end = datetime.combine(payday + timedelta(days=1), datetime.min.time(), now.tzinfo)
    rows = (
        db.connection(session)
        .execute(_SUMMARY, {"partner_id": partner_id, "now": now, "payday_end": payday_end})
        .all()
    )
    if not rows:
        raise NotFound("Partner not found.")
    partner = rows[0]
    rules = program.terms_of(session, partner.group_id, program_rules)  # its group's minimum
    profile = partner if partner.profile_of is not None else None
    totals = {state: ZERO for state in CommissionState}
    owed = ZERO
    next_release = None
    for row in rows:
        status, is_held, amount, amount_due, first_hold_end = row[-5:]
        if status is None:  # no lines yet
            continue
        if status is CommissionStatus.OPEN:
            state = CommissionState.ON_HOLD if is_held else CommissionState.PAYABLE
        else:
            state = CommissionState(status.value)
        totals[state] += amount
        owed += Decimal(amount_due or 0)
        if state is CommissionState.ON_HOLD:
            next_release = first_hold_end
    owed = owed.quantize(Decimal("0.01"))
    eligibility = payout_eligibility(
        status=partner.partner_status,
        profile=profile,
        owed=owed,
        today=payday,
        rules=rules,
        under_review=risk_center.under_review(session, partner_id, rules),
    )
    reasons = []
    if totals[CommissionState.ON_HOLD] > 0 and next_release is not None:
        reasons.append(
            f"{totals[CommissionState.ON_HOLD]:,.2f} {settings.currency} is on hold after "
            "conversion; the next part is released on "
            f"{next_release.date().isoformat()}."
        )
    scheduled = tuple(
        ScheduledPayout(*row)
        for row in session.execute(
            select(
                Payout.id,
                Payout.cutoff,
                Payout.amount,
                Payout.payout_currency,
                Payout.payout_amount,
                Payout.exchange_rate,
                Payout.rate_date,
                Payout.held_reason != "",
            )
            .where(Payout.partner_id == partner_id, Payout.status == PayoutStatus.SCHEDULED)
            .order_by(Payout.id)
        )
    )
    # Nothing owed is not a reason anything is held: the outlook says it. Clawbacks that
    # exceed what is owed are, unless a payout is on its way.
    reasons += [
        blocker.remedy
        for blocker in eligibility.blockers
        if not (blocker.kind == "nothing_owed" and (owed == 0 or scheduled))
    ]
    lapse = tax_forms.expiry_warning(profile.tax_form_expires_on if profile else None, now.date())
    if lapse:
        reasons.append(lapse)
    outlook, headline = _outlook(
        totals, owed, eligibility, payday, next_release, scheduled, settings.currency
    )
    return CommissionSummary(
        partner_id=partner_id,
        currency=settings.currency,
        outlook=outlook,
        headline=headline,
        totals=totals,
        total_earned=sum(
            (amount for state, amount in totals.items() if state is not CommissionState.VOID), ZERO
        ),
        pending_commission=totals[CommissionState.ON_HOLD]
        + totals[CommissionState.PAYABLE]
        + totals[CommissionState.IN_PAYOUT],
        paid_commission=totals[CommissionState.PAID],
        next_payout_date=payday,
        owed_next_payout=owed,
        expected_next_payout=owed if eligibility.will_be_paid else ZERO,
        min_payout=rules.min_payout,
        next_release=next_release if totals[CommissionState.ON_HOLD] > 0 else None,
        blockers=eligibility.blockers,
        held_reasons=reasons,
        scheduled=scheduled,
        paid_in=payout_currency_of(profile, rules),
    )


@dataclass(frozen=True)
class CommissionLine:
    id: int
    lead_id: int
    client_name: str
    kind: CommissionKind
    amount: Decimal
    deal_value: Decimal | None
    rate: Decimal | None
    earned_at: datetime
    hold_until: datetime
    state: CommissionState
    payout_id: int | None
    paid_at: datetime | None
    voided_at: datetime | None


# Each state's condition at a moment (a datetime, or a parameter bound at execution).
_STATE_FILTERS: dict[CommissionState, Callable[[Any], ColumnElement[bool]]] = {
    CommissionState.VOID: lambda now: Commission.status == CommissionStatus.VOID,
    CommissionState.PAID: lambda now: Commission.status == CommissionStatus.PAID,
    CommissionState.IN_PAYOUT: lambda now: Commission.status == CommissionStatus.IN_PAYOUT,
    CommissionState.ON_HOLD: on_hold,
    CommissionState.PAYABLE: payable,
}


def _in_state(state: CommissionState) -> ColumnElement[bool]:
    return _STATE_FILTERS[state](bindparam("now", type_=Commission.hold_until.type))


_LEDGER_COLUMNS: tuple[Any, ...] = (
    Commission.id,
    Commission.lead_id,
    Commission.kind,
    Commission.amount,
    Commission.deal_value,
    Commission.rate,
    Commission.earned_at,
    Commission.hold_until,
    Commission.status,
    Commission.payout_id,
    Commission.voided_at,
    Lead.client_name,
    Payout.paid_at,
)


_LEDGER = Listing(
    lambda: (
        select(*_LEDGER_COLUMNS)
        .join(Lead, Lead.id == Commission.lead_id)
        .outerjoin(Payout, Payout.id == Commission.payout_id)
    ),
    Commission.earned_at,
    Commission.id,
    {
        "partner_id": lambda: Commission.partner_id == bindparam("partner_id"),
        "lead_id": lambda: Commission.lead_id == bindparam("lead_id"),
        **{state.value: partial(_in_state, state) for state in CommissionState},
    },
)


def paid_lead_ids(session: Session, *, actor: Actor, lead_ids: Collection[int]) -> set[int]:
    """Which of these leads (among those the actor may read) had their commission paid: the
    conversion's line is paid (the original design's `commission_paid`)."""
    scope = listed_partner_id(refresh(session, actor), None)
    if not lead_ids:
        return set()
    # The lead ids alone select (a lead has a line or three): with the partner and the state
    # bound too, PostgreSQL's generic plan for the prepared statement (from its sixth run)
    # read all of a big partner's paid lines instead, 20 ms a call.
    rows = session.execute(
        select(Commission.lead_id, Commission.partner_id, Commission.kind, Commission.status).where(
            Commission.lead_id.in_(list(lead_ids))
        )
    )
    return {
        lead_id
        for lead_id, partner_id, kind, status in rows
        if kind is CommissionKind.COMMISSION
        and status is CommissionStatus.PAID
        and scope in (None, partner_id)
    }


def list_commissions(
    session: Session,
    *,
    actor: Actor,
    partner_id: int | None = None,
    state: CommissionState | None = None,
    lead_id: int | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page[CommissionLine]:
    """Ledger lines, newest first, with their lead and payout; a partner sees only its own."""
    actor = refresh(session, actor)
    partner_id = scoped_partner_id(actor, partner_id)
    now = utc_now()
    conditions: list[str] = []
    chosen: dict[str, Any] = {"now": now}
    if partner_id is not None:
        conditions.append("partner_id")
        chosen["partner_id"] = partner_id
    if state is not None:
        conditions.append(CommissionState(state).value)
    if lead_id is not None:
        conditions.append("lead_id")
        chosen["lead_id"] = lead_id
    query, values = _LEDGER.query(conditions, after=after, limit=limit)
    # Plain rows, not ORM objects: a page is read, never changed.
    rows = (
        db.connection(session)  # past the ORM's execution layer
        .execute(query, values | chosen)
        .all()
    )
    items = [
        CommissionLine(
            id=line.id,
            lead_id=line.lead_id,
            client_name=line.client_name,
            kind=line.kind,
            amount=line.amount,
            deal_value=line.deal_value,
            rate=line.rate,
            earned_at=line.earned_at,
            hold_until=line.hold_until,
            state=state_of(line.status, line.hold_until, now),
            payout_id=line.payout_id,
            paid_at=line.paid_at,
            voided_at=line.voided_at,
        )
        for line in rows[:limit]
    ]
    return page_of(items, has_more=len(rows) > limit, moment=lambda item: item.earned_at)
