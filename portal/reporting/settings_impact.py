"""What a change of the program settings would affect, said before it is saved: the Program
settings page shows it in the confirmation, from the same rules the services apply."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.core import fmt, program
from portal.core.access import Actor, require_manager
from portal.core.config import ProgramRules
from portal.core.errors import ValidationError
from portal.core.models import (
    Commission,
    CommissionStatus,
    Lead,
    LeadStatus,
    Partner,
    PartnerConversionStats,
    PartnerProfile,
    PartnerStatus,
)
from portal.core.types import utc_now
from portal.leads.leads import awaiting_contact_since
from portal.money import commissions, currencies, payouts
from portal.reporting import statistics
from portal.risk import center as risk_center


@dataclass(frozen=True)
class Change:
    key: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Impact:
    """A reviewed change: each rule's old and new value, what it would affect, and the
    version it was reviewed against (saving refuses if another change came since)."""

    changes: list[Change]
    effects: list[str]
    based_on: int
    proposed: dict[str, Any]  # the changed rules, validated: what saving stores


def review(
    session: Session,
    *,
    actor: Actor,
    changes: Mapping[str, Any],
    reason: str,
    tier_rows: Sequence[tuple[str, object, object]] | None = None,
) -> Impact:
    """Validate `changes` — with the tier table as the page's editor gives it, if given —
    and the reason, every wrong field at once, and say what the change would affect;
    managers only, nothing is written."""
    require_manager(session, actor)
    version, before = program.in_force(session)
    problems: dict[str, str] = {}
    changes = dict(changes)
    if tier_rows is not None:
        try:
            changes |= program.tier_table(tier_rows)
        except ValidationError as refused:
            problems |= refused.errors
    try:
        after = program.proposed(before, changes)
    except ValidationError as refused:
        problems = refused.errors | problems
    reason_problem = program.reason_problem(reason)
    if reason_problem:
        problems["reason"] = reason_problem
    if problems:
        raise ValidationError(problems)
    keys = program.changed_keys(before, after)
    if not keys:
        raise ValidationError({"settings": "Nothing would change: every value is as it is now."})
    effects: list[str] = []
    for key in keys:
        if key in _EFFECTS:
            effects += _EFFECTS[key](session, before, after)
    if {"tier_thresholds", "tier_rates"} & set(keys):
        effects += _tier_effects(session, before, after)
    return Impact(
        changes=[
            Change(key, program.LABELS[key], program.shown(key, before), program.shown(key, after))
            for key in keys
        ],
        effects=effects,
        based_on=version,
        proposed={key: after.model_dump(mode="json")[key] for key in keys},
    )


def _hold(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    now = utc_now()
    held = session.scalar(
        select(func.count())
        .select_from(Commission)
        .where(Commission.status == CommissionStatus.OPEN, Commission.hold_until > now)
    )
    return [
        f"Conversions from now on are held {fmt.count(after.hold_days, 'day')} (until now "
        f"{fmt.count(before.hold_days, 'day')}); the {fmt.count(held or 0, 'commission')} on "
        "hold keep the release dates they have."
    ]


def _minimum(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    low, high = sorted((before.min_payout, after.min_payout))
    plan = payouts.plan_at(session, utc_now().date(), after)
    between = sum(1 for planned in [*plan.paid, *plan.left_out] if low <= planned.amount < high)
    owed = f"{fmt.count(between, 'partner')} owed from {low:,.2f} to under {high:,.2f} today"
    if after.min_payout > before.min_payout:
        return [f"{owed} would no longer be paid in a batch; their balances roll over."]
    return [f"{owed} would now be paid in a batch, if nothing else holds them."]


def _payday(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    today = utc_now().date()
    return [
        f"The next payout day moves from {commissions.next_payout_date(today, before)} to "
        f"{commissions.next_payout_date(today, after)}."
    ]


def _claims(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    now = utc_now()
    live = session.scalar(
        select(func.count())
        .select_from(Lead)
        .where(
            Lead.status.in_([LeadStatus.PENDING, LeadStatus.CONTACTED]),
            Lead.claim_expires_at > now,
        )
    )
    return [
        f"Registrations from now on claim their client for {fmt.count(after.claim_days, 'day')} "
        f"(until now {fmt.count(before.claim_days, 'day')}); the "
        f"{fmt.count(live or 0, 'open claim')} keep their end dates."
    ]


def _awaiting(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    now = utc_now()

    def waiting(rules: ProgramRules) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(Lead)
                .where(
                    Lead.status == LeadStatus.PENDING,
                    Lead.created_at <= awaiting_contact_since(now, rules),
                )
            )
            or 0
        )

    return [
        f"{fmt.count(waiting(after), 'pending lead')} would be flagged as awaiting contact "
        f"(now {waiting(before):,})."
    ]


def _services(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    effects = []
    added = [service for service in after.services if service not in before.services]
    if added:
        effects.append(f"New leads can name: {', '.join(added)}.")
    for service in before.services:
        if service not in after.services:
            named = session.scalar(
                select(func.count()).select_from(Lead).where(Lead.service == service)
            )
            effects.append(
                f"New leads can no longer name {service}; the "
                f"{fmt.count(named or 0, 'lead')} that name it keep it."
            )
    return effects


def _currencies(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    moved: Counter[tuple[str, str]] = Counter()
    for profile in session.scalars(
        select(PartnerProfile).where(PartnerProfile.payment_method.is_not(None))
    ):
        old, new = (
            currencies.payout_currency_of(profile, before),
            currencies.payout_currency_of(profile, after),
        )
        if old != new:
            moved[(old, new)] += 1
    effects = [
        f"{fmt.count(count, 'partner')} paid in {old} would be paid in {new} from the next "
        "batch; payouts already scheduled keep their currency."
        for (old, new), count in sorted(moved.items())
    ]
    return effects or ["No partner's payout currency changes."]


def _tier_effects(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    today = utc_now().date()
    trailing = (
        select(
            PartnerConversionStats.partner_id,
            func.sum(PartnerConversionStats.conversions).label("conversions"),
        )
        .where(PartnerConversionStats.day > today - timedelta(days=statistics.TRAILING_DAYS))
        .group_by(PartnerConversionStats.partner_id)
        .subquery()
    )
    rows = session.execute(
        select(Partner.commission_rate, func.coalesce(trailing.c.conversions, 0))
        .outerjoin(trailing, trailing.c.partner_id == Partner.id)
        .where(Partner.status == PartnerStatus.ACTIVE)
    ).all()
    pinned = sum(1 for rate, _ in rows if rate is not None)
    moves: Counter[tuple[str, Decimal, str, Decimal]] = Counter()
    for rate, conversions in rows:
        if rate is not None:
            continue
        old, _ = statistics.tier_for(int(conversions), before)
        new, _ = statistics.tier_for(int(conversions), after)
        if (old.name, old.rate) != (new.name, new.rate):
            moves[(old.name, old.rate, new.name, new.rate)] += 1
    effects = [
        "Conversions from now on earn the new rates; every conversion made before keeps the "
        "rate it was made with."
    ]
    effects += [
        f"{fmt.count(count, 'active partner')} would earn {fmt.rate(new_rate)} ({new_name}) "
        f"instead of {fmt.rate(old_rate)} ({old_name})."
        for (old_name, old_rate, new_name, new_rate), count in sorted(moves.items())
    ]
    if pinned:
        effects.append(f"Pinned rates are unaffected ({fmt.count(pinned, 'active partner')}).")
    return effects


def _risk_holds(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    held_before = risk_center.held_partner_ids(session, before)
    held_after = risk_center.held_partner_ids(session, after)
    return [
        f"{fmt.count(len(held_after - held_before), 'partner')} with an open risk event would "
        f"have payouts held until a review; {fmt.count(len(held_before - held_after), 'partner')} "
        "held now would be paid again, if nothing else holds them."
    ]


def _burst(session: Session, before: ProgramRules, after: ProgramRules) -> list[str]:
    return [
        f"A partner registering {after.risk_burst_per_hour:,} referrals within an hour raises a "
        f"risk event from now on (until now {before.risk_burst_per_hour:,}); events raised "
        "stay."
    ]


_EFFECTS: dict[str, Callable[[Session, ProgramRules, ProgramRules], list[str]]] = {
    "hold_days": _hold,
    "min_payout": _minimum,
    "payout_day": _payday,
    "claim_days": _claims,
    "awaiting_contact_days": _awaiting,
    "services": _services,
    "payout_currencies": _currencies,
    "risk_holds": _risk_holds,
    "risk_burst_per_hour": _burst,
}
