"""The program's rules as its managers set them: hold days, minimum payout, payout day,
claim and awaiting-contact days, the tier table, the service catalogue and the payout
currencies (`config.ProgramRules`).

Every change is a new version holding every rule, stored with who made it, when and why,
and audited with the values before and after. The configuration (`PORTAL_HOLD_DAYS`…)
gives the first values only: before any change, the rules are what it says; the first
change stores those as version 1, so the history says what applied before. Changes apply
forward: a conversion keeps the rate and hold end it was made with, a claim its end date,
a scheduled payout its currency — each is stored when made.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pydantic
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.core import audit, two_factor
from portal.core.access import Actor, require_manager
from portal.core.config import ProgramRules, get_settings
from portal.core.errors import Conflict, ValidationError
from portal.core.models import PartnerGroup, ProgramSettingsVersion
from portal.core.types import utc_now

# The keys, in the order the page and `settings show` list them, with their words.
LABELS = {
    "hold_days": "Hold days",
    "min_payout": "Minimum payout",
    "payout_day": "Payout day",
    "claim_days": "Claim days",
    "awaiting_contact_days": "Awaiting-contact days",
    "tier_thresholds": "Tier thresholds",
    "tier_rates": "Tier rates",
    "services": "Services",
    "payout_currencies": "Payout currencies",
    "risk_holds": "Risk rules that hold payouts",
    "risk_burst_per_hour": "Referrals an hour that raise a risk event",
}
assert set(LABELS) == set(ProgramRules.model_fields)


MAX_REASON = 500


@dataclass(frozen=True)
class Version:
    """One stored version, as the history lists it."""

    version: int
    rules: ProgramRules
    changed_at: datetime
    changed_by: str
    reason: str
    changes: tuple[str, ...] = ()  # what it changed from the version before, in words


def configured() -> ProgramRules:
    """The rules as the configuration gives them (the first values)."""
    settings = get_settings()
    return ProgramRules.model_validate({key: getattr(settings, key) for key in LABELS})


def in_force(session: Session) -> tuple[int, ProgramRules]:
    """The version in force (0 while the configuration's values apply) and its rules, in one
    read."""
    latest = session.execute(
        select(ProgramSettingsVersion.version, ProgramSettingsVersion.rules)
        .order_by(ProgramSettingsVersion.version.desc())
        .limit(1)
    ).one_or_none()
    if latest is None:
        return 0, configured()
    return latest.version, ProgramRules.model_validate(latest.rules)


def current(session: Session) -> ProgramRules:
    """The rules in force now. A service reads them once per action and passes them on."""
    return in_force(session)[1]


def current_version(session: Session) -> int:
    """The number of the version in force (0 while the configuration's values apply)."""
    return in_force(session)[0]


def with_group(rules: ProgramRules, group: PartnerGroup | None) -> ProgramRules:
    """The terms a partner of `group` is paid and credited by: each override the group sets
    (tier rates, hold days, minimum payout) over the program's rules; the default group
    (None) has none."""
    if group is None:
        return rules
    changes: dict[str, Any] = {}
    if group.hold_days is not None:
        changes["hold_days"] = group.hold_days
    if group.min_payout is not None:
        changes["min_payout"] = group.min_payout
    rates = {
        tier: Decimal(str(rate))
        for tier, rate in (group.tier_rates or {}).items()
        if tier in rules.tier_rates
    }
    if rates:
        changes["tier_rates"] = {**rules.tier_rates, **rates}
    return rules.model_copy(update=changes) if changes else rules


def terms_of(
    session: Session, group_id: int | None, rules: ProgramRules | None = None
) -> ProgramRules:
    """The terms of the partners of one group (`Partner.group_id`; None: the default group),
    over `rules` (read now if not given)."""
    rules = rules if rules is not None else current(session)
    return with_group(rules, session.get(PartnerGroup, group_id) if group_id else None)


def terms_by_group(session: Session, rules: ProgramRules) -> dict[int | None, ProgramRules]:
    """Every group's terms (None: the default group's), for work over many partners."""
    return {None: rules} | {
        group.id: with_group(rules, group) for group in session.scalars(select(PartnerGroup))
    }


@dataclass(frozen=True)
class Timeline:
    """The rules over time: `at(moment)` gives those in force then (the first version's for
    moments before any change was saved)."""

    starts: Sequence[datetime]
    rules: Sequence[ProgramRules]

    def at(self, moment: datetime) -> ProgramRules:
        return self.rules[max(bisect_right(self.starts, moment) - 1, 0)]

    @classmethod
    def always(cls, rules: ProgramRules) -> Timeline:
        """The same rules at every moment."""
        return cls(starts=[datetime.min.replace(tzinfo=UTC)], rules=[rules])


def timeline(session: Session) -> Timeline:
    """Every version in order, for checks over a whole history (`integrity.verify`)."""
    rows = session.execute(
        select(ProgramSettingsVersion.changed_at, ProgramSettingsVersion.rules).order_by(
            ProgramSettingsVersion.version
        )
    ).all()
    if not rows:
        return Timeline(
            starts=[datetime.min.replace(tzinfo=utc_now().tzinfo)], rules=[configured()]
        )
    return Timeline(
        starts=[row.changed_at for row in rows],
        rules=[ProgramRules.model_validate(row.rules) for row in rows],
    )


def history(session: Session, *, actor: Actor) -> list[Version]:
    """Every stored version, newest first, each with what it changed (managers only)."""
    require_manager(session, actor)
    versions: list[Version] = []
    earlier: ProgramRules | None = None
    for row in session.scalars(
        select(ProgramSettingsVersion).order_by(ProgramSettingsVersion.version)
    ):
        rules = ProgramRules.model_validate(row.rules)
        versions.append(
            Version(
                version=row.version,
                rules=rules,
                changed_at=row.changed_at,
                changed_by=row.changed_by_label,
                reason=row.reason,
                changes=tuple(
                    f"{LABELS[key]}: {shown(key, earlier)} → {shown(key, rules)}"
                    for key in changed_keys(earlier, rules)
                )
                if earlier is not None
                else (),
            )
        )
        earlier = rules
    return versions[::-1]


def tier_table(rows: Sequence[tuple[str, object, object]]) -> dict[str, Any]:
    """The tier settings from a table of (name, converted leads from, rate in percent), as
    the page's editor gives it: the two settings `tier_thresholds` and `tier_rates`, rates as
    fractions. A rate that is not a number is refused here, naming the tier."""
    thresholds: dict[str, object] = {}
    rates: dict[str, object] = {}
    problems = []
    for name, threshold, percent in rows:
        tier = " ".join(str(name or "").split())
        try:
            rate = Decimal(str(percent).strip().rstrip("%")) / 100
        except InvalidOperation:
            problems.append(f"The rate of {tier or 'a tier'} must be a number of percent.")
            continue
        if tier in thresholds:
            problems.append(f"Two tiers are called {tier}.")
        thresholds[tier], rates[tier] = threshold, rate
    if problems:
        raise ValidationError({"tier_rates": " ".join(problems)})
    return {"tier_thresholds": thresholds, "tier_rates": rates}


# --- proposing a change -------------------------------------------------------------------------


def parse(key: str, text: str) -> Any:
    """A value typed on the command line, in the form `settings show` prints: numbers as
    written, lists comma-separated, tier tables as `name=value` pairs."""
    if key not in LABELS:
        raise ValidationError(
            {"key": f"There is no setting {key!r}; the settings are: {', '.join(LABELS)}."}
        )
    if key == "risk_holds":  # none at all is a choice: ""
        return [part.strip() for part in text.split(",") if part.strip()]
    if key in ("services", "payout_currencies"):
        return [part.strip() for part in text.split(",")]
    if key in ("tier_thresholds", "tier_rates"):
        pairs: dict[str, str] = {}
        for part in text.split(","):
            name, equals, value = part.partition("=")
            if not equals:
                written = f"(got {part.strip()!r})"
                raise ValidationError(
                    {key: f"{LABELS[key]} are written name=value, name=value {written}."}
                )
            pairs[name.strip()] = value.strip()
        return pairs
    return text.strip()


def shown(key: str, rules: ProgramRules) -> str:
    """A rule's value as `settings show` prints it and `parse` reads it back."""
    value = getattr(rules, key)
    if isinstance(value, dict):
        return ", ".join(f"{name}={amount}" for name, amount in value.items())
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)


_PYDANTIC_WORDS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "decimal_parsing": "must be a number",
    "decimal_type": "must be a number",
    "decimal_max_places": "has too many decimal places",
    "decimal_max_digits": "has too many digits",
    "finite_number": "must be a number",
    "too_short": "needs at least one entry",
    "string_type": "must be text",
    "dict_type": "must be a table of names and values",
    "tuple_type": "must be a list",
}


def _words(error: Mapping[str, Any]) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    if kind == "greater_than_equal":
        return f"must be at least {context['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {context['le']}"
    return _PYDANTIC_WORDS.get(kind, str(error["msg"]).lower())


def proposed(before: ProgramRules, changes: Mapping[str, Any]) -> ProgramRules:
    """The rules `before` with `changes` applied, validated; every wrong field is named at
    once (ValidationError keyed by setting)."""
    unknown = [key for key in changes if key not in LABELS]
    if unknown:
        raise ValidationError({key: f"There is no setting {key!r}." for key in unknown})
    try:
        rules = ProgramRules.model_validate({**before.model_dump(), **changes})
    except pydantic.ValidationError as error:
        problems: dict[str, str] = {}
        for item in error.errors():
            key = str(item["loc"][0]) if item["loc"] else "tier_thresholds"
            words = _words(item)
            label = LABELS.get(key, key)
            problems.setdefault(key, words if words[:1].isupper() else f"{label} {words}.")
        raise ValidationError(problems) from None
    except (InvalidOperation, TypeError):
        raise ValidationError({"settings": "A value could not be read."}) from None
    program_currency = get_settings().currency
    if program_currency not in rules.payout_currencies:
        raise ValidationError(
            {
                "payout_currencies": f"Payout currencies must include the program currency, "
                f"{program_currency}: commissions are earned in it."
            }
        )
    return rules


def reason_problem(reason: str) -> str | None:
    """What is wrong with the reason given for a change, if anything."""
    cleaned = " ".join(reason.split())
    if not cleaned:
        return "Reason is required: say why the rules change."
    if len(cleaned) > MAX_REASON:
        return f"Reason has at most {MAX_REASON} characters."
    return None


def clean_reason(reason: str) -> str:
    problem = reason_problem(reason)
    if problem:
        raise ValidationError({"reason": problem})
    return " ".join(reason.split())


def changed_keys(before: ProgramRules, after: ProgramRules) -> list[str]:
    return [key for key in LABELS if getattr(before, key) != getattr(after, key)]


def change(
    session: Session,
    *,
    actor: Actor,
    changes: Mapping[str, Any],
    reason: str,
    based_on: int,
) -> ProgramRules:
    """Save `changes` as the next version (managers only). `based_on` is the version the
    manager reviewed: if another change was saved since, nothing is written and the manager
    reviews again."""
    manager = require_manager(session, actor)
    two_factor.require(session, manager)
    reason = clean_reason(reason)
    in_force_version, before = in_force(session)
    if in_force_version != based_on:
        raise Conflict(
            "Another manager changed the program settings while you were reviewing yours; "
            "review the change again against the settings now in force."
        )
    after = proposed(before, changes)
    keys = changed_keys(before, after)
    if not keys:
        raise ValidationError({"settings": "Nothing would change: every value is as it is now."})
    now = utc_now()
    rows = []
    if in_force_version == 0:  # keep what the configuration said until now
        rows.append(
            ProgramSettingsVersion(
                version=1,
                rules=before.model_dump(mode="json"),
                changed_at=now,
                changed_by_label="the configuration",
                reason="The values the configuration gave before the first change.",
            )
        )
    version = (rows[0].version if rows else in_force_version) + 1
    rows.append(
        ProgramSettingsVersion(
            version=version,
            rules=after.model_dump(mode="json"),
            changed_at=now,
            changed_by=manager.user_id,
            changed_by_label=manager.username,
            reason=reason,
        )
    )
    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    except IntegrityError:
        raise Conflict(
            "Another manager saved a change to the program settings at the same moment; "
            "review the change again against the settings now in force."
        ) from None
    dumped_before, dumped_after = before.model_dump(mode="json"), after.model_dump(mode="json")
    audit.record_by(
        session,
        manager,
        "program_settings.changed",
        "program_settings",
        version,
        before={key: dumped_before[key] for key in keys} | {"version": in_force_version},
        after={key: dumped_after[key] for key in keys} | {"reason": reason},
    )
    return after
