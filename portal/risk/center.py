"""The risk center: the events the rules raise (`portal.risk.rules`), a manager's review of
each (resolved or dismissed, with a reason, audited), and the payout hold of a partner with an
open event of a rule the program settings say holds payouts (`ProgramRules.risk_holds`).

The rules run where their facts change — a registration, a change of payout details or
website, an application — and over everything with `scan` (`python -m portal risk scan`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.core import audit, db, program
from portal.core.access import Actor, require_manager
from portal.core.config import ProgramRules
from portal.core.errors import ValidationError
from portal.core.models import (
    Lead,
    Partner,
    RiskEvent,
    RiskRule,
    RiskSeverity,
    RiskStatus,
    User,
)
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_text
from portal.risk import rules as risk_rules
from portal.risk.rules import DESCRIPTIONS, Finding

MAX_REASON = 500
SEVERITY_ORDER = {RiskSeverity.HIGH: 0, RiskSeverity.MEDIUM: 1, RiskSeverity.LOW: 2}


def record(session: Session, findings: Sequence[Finding]) -> int:
    """Store what the rules found as open events; one found before (open or decided) is not
    raised again. How many are new."""
    if not findings:
        return 0
    now = utc_now()
    # Two actions finding the same thing at once: the unique key keeps one, neither fails.
    created = session.scalars(
        db.upsert_into(session, RiskEvent)
        .values(
            [
                {
                    "partner_id": finding.partner_id,
                    "rule": finding.rule,
                    "severity": finding.severity,
                    "subject": finding.subject,
                    "evidence": finding.evidence,
                    "lead_id": finding.lead_id,
                    "status": RiskStatus.OPEN,
                    "raised_at": now,
                }
                for finding in {(f.partner_id, f.rule, f.subject): f for f in findings}.values()
            ]
        )
        .on_conflict_do_nothing(index_elements=["partner_id", "rule", "subject"])
        .returning(RiskEvent.id)
    ).all()
    return len(created)


# --- where the facts change -----------------------------------------------------------------


def check_new_leads(session: Session, leads: Sequence[Lead], rules: ProgramRules) -> None:
    """After a registration (or a reassignment): self-referrals (the flag the registration
    set against the partner's own addresses), disposable client addresses, a burst."""
    if not leads:
        return
    facts = [risk_rules.LeadFacts.of(lead) for lead in leads]
    record(
        session,
        risk_rules.lead_findings(facts, {})
        + risk_rules.registration_bursts(
            session, rules.risk_burst_per_hour, {lead.partner_id for lead in leads}, utc_now()
        ),
    )


def check_partner(session: Session, partner_id: int) -> None:
    """After a partner's payout details, website or address changed, or it applied."""
    ids = {partner_id}
    record(
        session,
        risk_rules.shared_payout_methods(session, ids)
        + risk_rules.website_mismatches(session, ids)
        + risk_rules.applications_from_one_address(session, ids),
    )


def findings(session: Session, rules: ProgramRules) -> list[Finding]:
    """What every rule finds in all the program's data."""
    leads = risk_rules.every_lead(session)
    return (
        risk_rules.lead_findings(
            leads, risk_rules.own_addresses(session, {lead.partner_id for lead in leads})
        )
        + risk_rules.shared_payout_methods(session)
        + risk_rules.registration_bursts(session, rules.risk_burst_per_hour)
        + risk_rules.website_mismatches(session)
        + risk_rules.applications_from_one_address(session)
    )


def scan(session: Session, *, actor: Actor) -> dict[RiskRule, int]:
    """Run every rule over all the program's data; managers only. New events by rule (what
    was raised before is not raised again)."""
    actor = require_manager(session, actor)
    found = findings(session, program.current(session))
    new = {rule: record(session, [f for f in found if f.rule is rule]) for rule in RiskRule}
    audit.record_by(
        session, actor, "risk.scan", "risk_event", after={r.value: n for r, n in new.items()}
    )
    return new


# --- what managers see ----------------------------------------------------------------------


@dataclass(frozen=True)
class EventView:
    id: int
    partner_id: int
    partner_name: str
    rule: RiskRule
    rule_words: str
    severity: RiskSeverity
    evidence: str
    lead_id: int | None
    status: RiskStatus
    raised_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    holds_payouts: bool


@dataclass(frozen=True)
class EventGroup:
    """A partner's open events of one rule, as the risk center lists them."""

    partner_id: int
    partner_name: str
    rule: RiskRule
    rule_words: str
    severity: RiskSeverity
    events: int
    first_raised_at: datetime
    last_raised_at: datetime
    holds_payouts: bool


def events(
    session: Session,
    *,
    actor: Actor,
    status: RiskStatus | None = RiskStatus.OPEN,
    partner_id: int | None = None,
    rule: RiskRule | None = None,
) -> list[EventView]:
    """Events, most severe and newest first; managers only."""
    require_manager(session, actor)

    holds = set(program.current(session).risk_holds)
    query = (
        select(RiskEvent, Partner.company_name, User.username)
        .join(Partner, Partner.id == RiskEvent.partner_id)
        .outerjoin(User, User.id == RiskEvent.decided_by_user_id)
        .order_by(RiskEvent.raised_at.desc(), RiskEvent.id.desc())
    )
    if status is not None:
        query = query.where(RiskEvent.status == status)
    if partner_id is not None:
        query = query.where(RiskEvent.partner_id == partner_id)
    if rule is not None:
        query = query.where(RiskEvent.rule == rule)
    views = [
        EventView(
            id=event.id,
            partner_id=event.partner_id,
            partner_name=company,
            rule=event.rule,
            rule_words=DESCRIPTIONS[event.rule],
            severity=event.severity,
            evidence=event.evidence,
            lead_id=event.lead_id,
            status=event.status,
            raised_at=event.raised_at,
            decided_at=event.decided_at,
            decided_by=username,
            decision_reason=event.decision_reason,
            holds_payouts=event.status is RiskStatus.OPEN and event.rule.value in holds,
        )
        for event, company, username in session.execute(query)
    ]
    return sorted(views, key=lambda view: SEVERITY_ORDER[view.severity])


def open_groups(session: Session, *, actor: Actor) -> list[EventGroup]:
    """Open events grouped by partner and rule: most severe first, then the newest."""
    require_manager(session, actor)

    holds = set(program.current(session).risk_holds)
    rows = session.execute(
        select(
            RiskEvent.partner_id,
            Partner.company_name,
            RiskEvent.rule,
            func.min(RiskEvent.severity),
            func.count(),
            func.min(RiskEvent.raised_at),
            func.max(RiskEvent.raised_at),
        )
        .join(Partner, Partner.id == RiskEvent.partner_id)
        .where(RiskEvent.status == RiskStatus.OPEN)
        .group_by(RiskEvent.partner_id, Partner.company_name, RiskEvent.rule)
    ).all()
    groups = [
        EventGroup(
            partner_id=partner_id,
            partner_name=company,
            rule=rule,
            rule_words=DESCRIPTIONS[rule],
            severity=severity,  # one rule raises events of one severity
            events=count,
            first_raised_at=first,
            last_raised_at=last,
            holds_payouts=rule.value in holds,
        )
        for partner_id, company, rule, severity, count, first, last in rows
    ]
    groups.sort(key=lambda group: group.last_raised_at, reverse=True)
    groups.sort(key=lambda group: SEVERITY_ORDER[group.severity])
    return groups


def decide(
    session: Session,
    *,
    actor: Actor,
    event_ids: Sequence[int],
    outcome: RiskStatus,
    reason: str,
) -> int:
    """Resolve (a real problem, dealt with) or dismiss (not a problem) open events, with a
    reason; managers only, each audited. How many were decided."""
    actor = require_manager(session, actor)
    errors = FieldErrors()
    if outcome is RiskStatus.OPEN:
        errors.add("outcome", "An event is resolved or dismissed.")
    why = clean_text(
        errors,
        "reason",
        reason,
        label="Reason",
        max_length=MAX_REASON,
        required=True,
        multiline=True,
    )
    if not event_ids:
        errors.add("events", "Choose at least one event.")
    errors.raise_if_any()
    wanted = sorted(set(event_ids))
    found = session.scalars(
        select(RiskEvent).where(RiskEvent.id.in_(wanted)).order_by(RiskEvent.id).with_for_update()
    ).all()
    missing = sorted(set(wanted) - {event.id for event in found})
    if missing:
        raise ValidationError({"events": f"There is no risk event #{missing[0]}."})
    decided = [event for event in found if event.status is not RiskStatus.OPEN]
    if decided:
        raise ValidationError(
            {
                "events": f"Risk event #{decided[0].id} was already {decided[0].status.value}; "
                "refresh the list."
            }
        )
    now = utc_now()
    session.execute(
        update(RiskEvent)
        .where(RiskEvent.id.in_(wanted))
        .values(
            status=outcome,
            decided_at=now,
            decided_by_user_id=actor.user_id,
            decision_reason=why,
        )
        .execution_options(synchronize_session=False)
    )
    audit.record_changes_by(
        session,
        actor,
        f"risk.{outcome.value}",
        "risk_event",
        [
            (
                event.id,
                {"status": RiskStatus.OPEN.value},
                {
                    "status": outcome.value,
                    "partner_id": event.partner_id,
                    "rule": event.rule.value,
                    "reason": why,
                },
            )
            for event in found
        ],
    )
    return len(found)


# --- the payout hold ------------------------------------------------------------------------


def held_partner_ids(
    session: Session, rules: ProgramRules, partner_ids: Collection[int] | None = None
) -> set[int]:
    """Partners with an open event of a rule that holds payouts."""
    if not rules.risk_holds:
        return set()
    query = select(RiskEvent.partner_id).where(
        RiskEvent.status == RiskStatus.OPEN,
        RiskEvent.rule.in_([RiskRule(name) for name in rules.risk_holds]),
    )
    if partner_ids is not None:
        query = query.where(RiskEvent.partner_id.in_(partner_ids))
    return set(session.scalars(query.distinct()))


def under_review(session: Session, partner_id: int, rules: ProgramRules) -> bool:
    return bool(held_partner_ids(session, rules, [partner_id]))
