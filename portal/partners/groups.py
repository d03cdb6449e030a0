"""Partner groups: partners on terms of their own. A group may override the tier rates, the
hold days and the minimum payout; what it leaves empty follows the program settings
(`program.with_group`). Every partner is in one group: a partner in none is in the default
group, on the program's terms. Terms apply from the moment they change, as the program
settings do: a conversion keeps the rate and hold it was made with.

Managers only; a change of terms, or of who is in a group, needs the two-factor step-up as
any rate change does, and is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.core import audit, program, two_factor
from portal.core.access import Actor, one_partner_id, refresh, require_manager
from portal.core.config import ProgramRules
from portal.core.errors import NotFound, ValidationError
from portal.core.models import Partner, PartnerGroup
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_decimal, clean_text

DEFAULT_NAME = "Default group"
# In an audience (announcements, resources): the partners in no group.
DEFAULT_GROUP = 0
MAX_RATE = Decimal("0.5")
MAX_HOLD_DAYS = 3650
MAX_MIN_PAYOUT = Decimal("1000000")


@dataclass(frozen=True)
class GroupView:
    id: int | None  # None: the default group
    name: str
    description: str
    tier_rates: dict[str, Decimal]  # only the tiers whose rate the group changes
    hold_days: int | None
    min_payout: Decimal | None
    partners: int


@dataclass(frozen=True)
class PartnerTerms:
    """The terms a partner is paid by, and which of them its group sets."""

    group: str
    hold_days: int
    min_payout: Decimal
    tier_rates: dict[str, Decimal]
    overridden: tuple[str, ...]  # "tier rates", "hold days", "minimum payout"

    @property
    def sentence(self) -> str:
        if not self.overridden:
            return f"You are in the {self.group}: the program's standard terms apply."
        return (
            f"You are in the {self.group}, whose own "
            + " and ".join(self.overridden)
            + " apply to you; the rest follows the program's standard terms."
        )


def percent_to_rate(text: str) -> str:
    """A rate typed in per cent ("12.5") as the share the service takes ("0.125"); empty stays
    empty, and what is no number is passed on for the service to refuse by name."""
    typed = text.strip()
    if not typed:
        return ""
    try:
        return str(Decimal(typed.replace(",", "")) / 100)
    except InvalidOperation:
        return typed


def _view(group: PartnerGroup, partners: int) -> GroupView:
    return GroupView(
        id=group.id,
        name=group.name,
        description=group.description,
        tier_rates={tier: Decimal(str(rate)) for tier, rate in (group.tier_rates or {}).items()},
        hold_days=group.hold_days,
        min_payout=group.min_payout,
        partners=partners,
    )


def list_groups(session: Session, *, actor: Actor) -> list[GroupView]:
    """The default group, then every group by name, with how many partners each holds."""
    require_manager(session, actor)
    counts = dict(
        session.execute(select(Partner.group_id, func.count()).group_by(Partner.group_id)).all()
    )
    groups = list(session.scalars(select(PartnerGroup).order_by(PartnerGroup.name)))
    known = {group.id for group in groups}
    in_default = sum(count for group_id, count in counts.items() if group_id not in known)
    default = GroupView(
        None, DEFAULT_NAME, "The program's standard terms.", {}, None, None, in_default
    )
    return [
        default,
        *(_view(group, counts.get(group.id, 0)) for group in groups),
    ]


def _clean_terms(
    errors: FieldErrors,
    rules: ProgramRules,
    tier_rates: Mapping[str, object],
    hold_days: object,
    min_payout: object,
) -> tuple[dict[str, str], int | None, Decimal | None]:
    rates: dict[str, str] = {}
    for tier, given in tier_rates.items():
        if given is None or str(given).strip() == "":
            continue  # the program's rate for that tier
        if tier not in rules.tier_rates:
            known = ", ".join(rules.tier_rates)
            errors.add("tier_rates", f"There is no tier {tier!r}; the tiers are: {known}.")
            continue
        rate = clean_decimal(
            errors,
            "tier_rates",
            given,
            label=f"The {tier} rate (a share: 0.15 is 15 %)",
            places=4,
            minimum=Decimal(0),
            maximum=MAX_RATE,
        )
        if rate is not None:
            rates[tier] = str(rate)
    days: int | None = None
    if hold_days is not None and str(hold_days).strip() != "":
        text = str(hold_days).strip()
        if not text.isdigit() or int(text) > MAX_HOLD_DAYS:
            errors.add("hold_days", f"Hold days must be a whole number from 0 to {MAX_HOLD_DAYS}.")
        else:
            days = int(text)
    minimum = None
    if min_payout is not None and str(min_payout).strip() != "":
        minimum = clean_decimal(
            errors,
            "min_payout",
            min_payout,
            label="Minimum payout",
            places=2,
            minimum=Decimal(0),
            maximum=MAX_MIN_PAYOUT,
        )
    return rates, days, minimum


def save_group(
    session: Session,
    *,
    actor: Actor,
    name: str,
    description: str = "",
    tier_rates: Mapping[str, object] | None = None,
    hold_days: object = None,
    min_payout: object = None,
    group_id: int | None = None,
) -> GroupView:
    """Create a group (no `group_id`) or change one: its name and its terms, each override
    empty to follow the program. Every wrong field is named at once; nothing is written."""
    manager = require_manager(session, actor)
    two_factor.require(session, manager)
    rules = program.current(session)
    errors = FieldErrors()
    clean_name = clean_text(errors, "name", name, label="Name", max_length=80, required=True)
    words = clean_text(
        errors, "description", description, label="Description", max_length=500, multiline=True
    )
    rates, days, minimum = _clean_terms(errors, rules, tier_rates or {}, hold_days, min_payout)
    group = None
    if group_id is not None:
        group = session.get(PartnerGroup, group_id, with_for_update=True)
        if group is None:
            raise NotFound("Partner group not found.")
    if clean_name is not None:
        taken = session.scalar(
            select(PartnerGroup.id).where(
                func.lower(PartnerGroup.name) == clean_name.casefold(),
                PartnerGroup.id != (group_id or 0),
            )
        )
        if taken is not None or clean_name.casefold() == DEFAULT_NAME.casefold():
            errors.add("name", f"A group is called {clean_name!r} already.")
    errors.raise_if_any()
    assert clean_name is not None
    before = None
    now = utc_now()
    if group is None:
        group = PartnerGroup(name=clean_name, created_at=now)
        session.add(group)
    else:
        before = _audited(group)
    group.name, group.description = clean_name, words or ""
    group.tier_rates, group.hold_days, group.min_payout = rates, days, minimum
    group.updated_at = now
    session.flush()
    audit.record_by(
        session,
        manager,
        "group.saved",
        "partner_group",
        group.id,
        before=before,
        after=_audited(group),
    )
    count = session.scalar(select(func.count()).where(Partner.group_id == group.id)) or 0
    return _view(group, count)


def _audited(group: PartnerGroup) -> dict[str, object]:
    """A group as the audit log keeps it: each tier rate its own field (`rate_gold`), as the
    log keeps plain values (`integrity.verify` reads them back)."""
    return {
        "name": group.name,
        **{f"rate_{tier}": rate for tier, rate in (group.tier_rates or {}).items()},
        "hold_days": group.hold_days,
        "min_payout": None if group.min_payout is None else str(group.min_payout),
    }


def delete_group(session: Session, *, actor: Actor, group_id: int) -> int:
    """Remove a group; its partners go to the default group (each audited). How many moved."""
    manager = require_manager(session, actor)
    two_factor.require(session, manager)
    group = session.get(PartnerGroup, group_id, with_for_update=True)
    if group is None:
        raise NotFound("Partner group not found.")
    members = list(session.scalars(select(Partner.id).where(Partner.group_id == group_id)))
    moved = _move(session, manager, members, None)
    audit.record_by(
        session, manager, "group.deleted", "partner_group", group.id, before=_audited(group)
    )
    session.delete(group)
    return moved


def move_partners(
    session: Session, *, actor: Actor, partner_ids: Sequence[int], group_id: int | None
) -> int:
    """Put partners in a group (None: the default group); each move audited. How many moved
    (a partner already there is left as it is)."""
    manager = require_manager(session, actor)
    two_factor.require(session, manager)
    if not partner_ids:
        raise ValidationError({"partners": "Choose at least one partner."})
    if group_id is not None and session.get(PartnerGroup, group_id) is None:
        raise NotFound("Partner group not found.")
    return _move(session, manager, partner_ids, group_id)


def _move(
    session: Session, manager: Actor, partner_ids: Sequence[int], group_id: int | None
) -> int:
    rows = session.execute(
        select(Partner.id, Partner.group_id)
        .where(Partner.id.in_(sorted(set(partner_ids))))
        .order_by(Partner.id)
        .with_for_update()
    ).all()
    missing = sorted(set(partner_ids) - {row.id for row in rows})
    if missing:
        raise NotFound(f"Partner #{missing[0]} not found.")
    moving = [row for row in rows if row.group_id != group_id]
    if not moving:
        return 0
    session.execute(
        update(Partner)
        .where(Partner.id.in_([row.id for row in moving]))
        .values(group_id=group_id, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    audit.record_changes_by(
        session,
        manager,
        "partner.group_moved",
        "partner",
        [(row.id, {"group_id": row.group_id}, {"group_id": group_id}) for row in moving],
    )
    return len(moving)


def terms(session: Session, *, actor: Actor, partner_id: int | None = None) -> PartnerTerms:
    """The terms the partner is paid by (its own, for a partner's user) and which of them its
    group sets: the tracker and the dashboard say so."""
    actor = refresh(session, actor)
    partner_id = one_partner_id(actor, partner_id)
    group_id = session.scalar(select(Partner.group_id).where(Partner.id == partner_id))
    group = session.get(PartnerGroup, group_id) if group_id else None
    rules = program.current(session)
    applied = program.with_group(rules, group)
    overridden = []
    if group is not None:
        if group.tier_rates:
            overridden.append("tier rates")
        if group.hold_days is not None:
            overridden.append("hold days")
        if group.min_payout is not None:
            overridden.append("minimum payout")
    return PartnerTerms(
        group=f"“{group.name}” group" if group else DEFAULT_NAME.lower(),
        hold_days=applied.hold_days,
        min_payout=applied.min_payout,
        tier_rates=dict(applied.tier_rates),
        overridden=tuple(overridden),
    )


# --- audiences: what is addressed to every partner, or to some groups' ----------------------


def membership(session: Session, partner_id: int | None) -> int:
    """The group a partner is in, as an audience names it (DEFAULT_GROUP: none, or one that
    no longer exists)."""
    group_id = session.scalar(select(Partner.group_id).where(Partner.id == partner_id))
    if group_id is None or session.get(PartnerGroup, group_id) is None:
        return DEFAULT_GROUP
    return group_id


def reaches(audience: Sequence[int], group: int) -> bool:
    """Whether an audience (empty: every partner) includes the partners of `group`."""
    return not audience or group in audience


def clean_audience(session: Session, errors: FieldErrors, audience: Sequence[int]) -> list[int]:
    """An audience as stored: the groups' ids, sorted, each one that exists."""
    groups = sorted(set(audience))
    known = set(session.scalars(select(PartnerGroup.id))) | {DEFAULT_GROUP}
    unknown = [group for group in groups if group not in known]
    if unknown:
        errors.add("audience", f"There is no partner group #{unknown[0]}.")
    return groups


def group_names(session: Session) -> dict[int, str]:
    """Every group's name by its id in an audience (the default group's too), read once for
    a list of things addressed to groups."""
    names = dict(session.execute(select(PartnerGroup.id, PartnerGroup.name)).all())
    return {**names, DEFAULT_GROUP: DEFAULT_NAME}


def audience_names(audience: Sequence[int], names: Mapping[int, str]) -> tuple[str, ...]:
    """An audience in words, from `group_names`: its groups' names (empty: every partner)."""
    return tuple(names.get(group_id, f"group #{group_id}") for group_id in audience)
