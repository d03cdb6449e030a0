"""Leads: registration with claims, the pipeline, the timeline, reassignment.

Rules (DOMAIN.md), as enforced here:
- A registration claims its client for `claim_days`. A lead that reached `qualified` keeps
  its claim while it stays qualified; a converted or lost lead claims nothing. While a claim is
  live, the same client (email trimmed and case-folded, or phone in E.164) cannot be
  registered again by any partner, and the refusal never says by whom.
- Moves follow `PARTNER_MOVES` and `MANAGER_MOVES`; a move to the same status is a no-op.
- Every edit names the version it was made against; a stale one is refused.
- A converted lead cannot be reassigned: reverse the conversion first, so its commission is
  never silently moved between partners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from portal.core import audit, db, program
from portal.core.access import (
    Actor,
    listed_partner_id,
    readable_leads,
    refresh,
    require_active_partner_or_manager,
    require_manager,
    scoped_partner_id,
)
from portal.core.config import ProgramRules, get_settings
from portal.core.errors import NotFound, PermissionDenied, StaleVersion, ValidationError
from portal.core.models import (
    CommissionStatus,
    Lead,
    LeadEvent,
    LeadEventKind,
    LeadStatus,
    LostReason,
    NotificationKind,
    Partner,
    PartnerStatus,
    User,
)
from portal.core.pagination import Listing, Page, page_of
from portal.core.rows import RowOutcome, apply_each
from portal.core.types import to_cents, utc_now
from portal.core.validation import (
    FieldErrors,
    clean_choice,
    clean_decimal,
    clean_email,
    clean_phone,
    clean_text,
    contains_pattern,
    email_key,
    filter_text,
)
from portal.messaging.notifications import notify_partner
from portal.money import commissions
from portal.reporting import statistics
from portal.risk import center as risk_center
from portal.risk.rules import is_self_referral, own_addresses

S = LeadStatus
PARTNER_MOVES: dict[LeadStatus, tuple[LeadStatus, ...]] = {
    S.PENDING: (S.CONTACTED, S.QUALIFIED, S.LOST),
    S.CONTACTED: (S.QUALIFIED, S.LOST),
    S.QUALIFIED: (S.LOST,),
    S.CONVERTED: (),
    S.LOST: (),
}
MANAGER_MOVES: dict[LeadStatus, tuple[LeadStatus, ...]] = {
    S.PENDING: (S.CONTACTED, S.QUALIFIED, S.LOST),
    S.CONTACTED: (S.QUALIFIED, S.LOST),
    S.QUALIFIED: (S.CONVERTED, S.LOST),
    S.CONVERTED: (S.QUALIFIED,),
    S.LOST: (S.PENDING,),
}
STALE_VERSION = "This lead changed since you loaded it; reload it to see the latest."
LEAD_NOT_FOUND = "Lead not found."
MAX_NOTES = 5000


def allowed_moves(actor: Actor, status: LeadStatus) -> tuple[LeadStatus, ...]:
    """The statuses this actor may move a lead in `status` to."""
    return (MANAGER_MOVES if actor.is_manager else PARTNER_MOVES)[status]


def in_words(statuses: Sequence[LeadStatus]) -> str:
    """`(contacted, qualified, lost)` → "contacted, qualified or lost"."""
    names = [status.value for status in statuses]
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def transition_refusal(actor: Actor, current: LeadStatus, target: LeadStatus) -> str:
    """Why this actor may not move a `current` lead to `target`, with what it may do."""
    moves = allowed_moves(actor, current)
    who = "a manager" if actor.is_manager else "a partner"
    if not moves:
        return (
            f"A {current.value} lead cannot be moved to {target.value} by {who}; "
            "it cannot be moved at all. Ask your partner manager."
        )
    return (
        f"A {current.value} lead cannot be moved to {target.value} by {who}; "
        f"it can move to {in_words(moves)}."
    )


def claim_is_live(status: LeadStatus, claim_expires_at: datetime, now: datetime) -> bool:
    """Whether a lead still claims its client."""
    if status is S.QUALIFIED:
        return True
    return status in (S.PENDING, S.CONTACTED) and claim_expires_at > now


def _live_claims(now: datetime) -> ColumnElement[bool]:
    return or_(
        Lead.status == S.QUALIFIED,
        Lead.status.in_([S.PENDING, S.CONTACTED]) & (Lead.claim_expires_at > now),
    )


def awaiting_contact_since(now: datetime, rules: ProgramRules) -> datetime:
    """A lead still pending that was registered at or before this moment awaits contact
    past the program's number of days."""
    return now - timedelta(days=rules.awaiting_contact_days)


@dataclass(frozen=True)
class LeadView:
    """A lead as its partner (or a manager) sees it."""

    id: int
    partner_id: int
    partner_name: str | None  # filled for managers only
    client_name: str
    client_email: str
    client_phone: str | None
    company: str | None
    service: str
    notes: str
    status: LeadStatus
    lost_reason: LostReason | None
    lost_note: str | None
    deal_value: Decimal | None
    commission: Decimal | None
    commission_rate: Decimal | None
    created_at: datetime
    contacted_at: datetime | None
    qualified_at: datetime | None
    converted_at: datetime | None
    updated_at: datetime
    claim_expires_at: datetime
    claim_live: bool
    awaiting_contact: bool
    self_referral: bool | None  # None for partners: the flag is for managers
    version: int


LEAD_COLUMNS = tuple(Lead.__table__.columns)


def lead_views(
    rows: Iterable[tuple[Mapping[Any, Any], str | None]], actor: Actor, rules: ProgramRules
) -> list[LeadView]:
    """Views of leads given as (column values by name, partner name) pairs.

    Pages of 50 go through here on every rerun: values are read by key (a Row's attribute
    access costs several times more), what is the same for every lead is worked out once,
    and each view's fields are filled in at once: a frozen dataclass's own `__init__` sets
    them one by one past its frozen guard, which cost 0.14 ms of a page's 0.6 (every field is
    given here; `tests/leads/test_leads.py` checks each view equals one built the usual way).
    """
    now = utc_now()
    pending_since = awaiting_contact_since(now, rules)
    manager = actor.is_manager
    views = []
    for lead, partner_name in rows:
        status = lead["status"]
        view = object.__new__(LeadView)
        views.append(view)
        view.__dict__.update(
            id=lead["id"],
            partner_id=lead["partner_id"],
            partner_name=partner_name if manager else None,
            client_name=lead["client_name"],
            client_email=lead["client_email"],
            client_phone=lead["client_phone"],
            company=lead["company"],
            service=lead["service"],
            notes=lead["notes"] if manager or not lead["reassigned_at"] else _hidden(lead["notes"]),
            status=status,
            lost_reason=lead["lost_reason"],
            lost_note=lead["lost_note"]
            if manager or not _before_reassignment(lead["lost_at"], lead["reassigned_at"])
            else _hidden(lead["lost_note"]),
            deal_value=lead["deal_value"],
            commission=lead["commission"],
            commission_rate=lead["commission_rate"],
            created_at=lead["created_at"],
            contacted_at=lead["contacted_at"],
            qualified_at=lead["qualified_at"],
            converted_at=lead["converted_at"],
            updated_at=lead["updated_at"],
            claim_expires_at=lead["claim_expires_at"],
            claim_live=claim_is_live(status, lead["claim_expires_at"], now),
            awaiting_contact=status is S.PENDING and lead["created_at"] <= pending_since,
            self_referral=lead["self_referral"] if manager else None,
            version=lead["version"],
        )
    return views


PREVIOUS_OWNERS_NOTE = "Note by the previous owner (hidden)"


def _hidden(note: str | None) -> str:
    """What a partner sees of another partner's note on a lead now its own."""
    return PREVIOUS_OWNERS_NOTE if note else ""


def _before_reassignment(written: datetime | None, reassigned: datetime | None) -> bool:
    return written is not None and reassigned is not None and written <= reassigned


def loaded_views(
    loaded: Iterable[tuple[Lead, str | None]], actor: Actor, rules: ProgramRules
) -> list[LeadView]:
    """Views of loaded leads, each with its partner's name (or None)."""
    return lead_views(
        [
            ({column.key: getattr(lead, column.key) for column in LEAD_COLUMNS}, partner_name)
            for lead, partner_name in loaded
        ],
        actor,
        rules,
    )


def lead_view(
    session: Session, lead: Lead, actor: Actor, partner_name: str | None = None
) -> LeadView:
    """The view of one loaded lead."""
    return loaded_views([(lead, partner_name)], actor, program.current(session))[0]


def _events(
    session: Session,
    leads: Sequence[Lead],
    actor: Actor,
    kind: LeadEventKind,
    *,
    from_status: LeadStatus | None = None,
    note: str = "",
) -> None:
    # A plain INSERT: every lead write records one, and nothing reads the event back.
    db.connection(session).execute(
        _INSERT_EVENT,
        [
            {
                "lead_id": lead.id,
                "actor_user_id": actor.user_id,
                "kind": kind,
                "from_status": from_status,
                "to_status": lead.status,
                "note": note,
            }
            for lead in leads
        ],
    )


_INSERT_EVENT = insert(LeadEvent)


@dataclass(frozen=True)
class Registration:
    """A client referral whose fields passed every check that needs no database."""

    client_name: str
    client_email: str
    service: str
    client_phone: str | None
    company: str | None
    notes: str

    @property
    def email_key(self) -> str:
        return email_key(self.client_email)


def _check_service(errors: FieldErrors, service: str, catalogue: Sequence[str]) -> None:
    if service not in catalogue:
        errors.add("service", f"Service must be one of: {', '.join(catalogue)}.")


def _check_registration(
    errors: FieldErrors,
    *,
    catalogue: Sequence[str] | None,
    client_name: str,
    client_email: str,
    service: str,
    client_phone: str | None,
    company: str | None,
    notes: str | None,
) -> Registration | None:
    name = clean_text(
        errors, "client_name", client_name, label="Client name", max_length=200, required=True
    )
    email = clean_email(errors, "client_email", client_email, label="Client email", required=True)
    phone = clean_phone(errors, "client_phone", client_phone, label="Client phone")
    company_name = clean_text(errors, "company", company, label="Company", max_length=200)
    note_text = clean_text(
        errors, "notes", notes, label="Notes", max_length=MAX_NOTES, multiline=True
    )
    if not (service or "").strip():
        errors.add("service", "Service is required.")
    elif catalogue is not None:
        _check_service(errors, service, catalogue)
    if name is None or email is None or errors.errors:
        return None
    return Registration(name, email, service, phone, company_name, note_text or "")


def check_registration(
    *,
    client_name: str,
    client_email: str,
    service: str,
    client_phone: str | None = None,
    company: str | None = None,
    notes: str | None = None,
) -> Registration:
    """The registration's fields cleaned, or every refused field at once; no database, so
    the service is checked against the catalogue when the lead is registered."""
    errors = FieldErrors()
    registration = _check_registration(
        errors,
        catalogue=None,
        client_name=client_name,
        client_email=client_email,
        service=service,
        client_phone=client_phone,
        company=company,
        notes=notes,
    )
    errors.raise_if_any()
    assert registration is not None
    return registration


def _registering_partner(
    session: Session, actor: Actor, partner_id: int | None, errors: FieldErrors
) -> Partner | None:
    partner_id = scoped_partner_id(actor, partner_id)
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    if partner is None:
        errors.add("partner_id", "Choose the partner this lead belongs to.")
    elif partner.status is not PartnerStatus.ACTIVE:
        errors.add("partner_id", "Leads can be registered only for an active partner.")
    return partner


def _live_claim_refusals(
    session: Session,
    clients: Sequence[tuple[str, str | None]],
    now: datetime,
    *,
    except_lead_id: int | None = None,
) -> list[ValidationError | None]:
    """For each client (email key, phone), the refusal its earliest live claim gives (never
    saying whose), or None; one query for the whole list, in which an entry also claims its
    client for the entries after it."""
    keys = sorted({key for key, _ in clients})
    phones = sorted({phone for _, phone in clients if phone})
    if session.get_bind().dialect.name == "postgresql":
        # Serialise registrations of the same client, so two at once cannot both pass; taken
        # in one order so two overlapping batches cannot wait on each other crosswise.
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtext(key)) "
                "FROM (SELECT key FROM unnest(CAST(:keys AS text[])) AS key ORDER BY key) AS keys"
            ),
            {"keys": sorted(set(keys + phones))},
        )
    same_client: ColumnElement[bool] = Lead.client_email_key.in_(keys)
    if phones:
        same_client = same_client | Lead.client_phone.in_(phones)
    by_key: dict[str, datetime] = {}
    by_phone: dict[str, datetime] = {}
    query = select(Lead.client_email_key, Lead.client_phone, Lead.created_at).where(
        same_client, _live_claims(now)
    )
    if except_lead_id is not None:
        query = query.where(Lead.id != except_lead_id)
    for key, phone, created_at in session.execute(query):
        if key not in by_key or created_at < by_key[key]:
            by_key[key] = created_at
        if phone is not None and (phone not in by_phone or created_at < by_phone[phone]):
            by_phone[phone] = created_at
    refusals: list[ValidationError | None] = []
    for key, phone in clients:
        claimed = [
            (claimed_at, field_name)
            for claimed_at, field_name in (
                (by_key.get(key), "client_email"),
                (by_phone.get(phone or ""), "client_phone"),
            )
            if claimed_at is not None
        ]
        if not claimed:
            refusals.append(None)
            by_key[key] = now
            if phone:
                by_phone[phone] = now
            continue
        claimed_at, field_name = min(claimed)
        refusals.append(
            ValidationError(
                {field_name: f"This client was already registered on {claimed_at.date()}."}
            )
        )
    return refusals


def register_leads(
    session: Session,
    *,
    actor: Actor,
    registrations: Sequence[Registration],
    partner_id: int | None = None,
) -> list[Lead | ValidationError]:
    """Register checked referrals for the actor's company (a manager names the partner): for
    each, the new lead or why its client is claimed. A handful of statements however many
    there are, so a whole file holds the write lock only briefly."""
    actor = require_active_partner_or_manager(session, actor)
    errors = FieldErrors()
    partner = _registering_partner(session, actor, partner_id, errors)
    errors.raise_if_any()
    assert partner is not None
    if not registrations:
        return []
    now = utc_now()
    rules = program.current(session)
    claim_expires_at = now + timedelta(days=rules.claim_days)
    owned = own_addresses(session, [partner.id])[partner.id]
    refusals = [
        _service_refusal(registration.service, rules.services) or refusal
        for registration, refusal in zip(
            registrations,
            _live_claim_refusals(
                session, [(r.email_key, r.client_phone) for r in registrations], now
            ),
            strict=True,
        )
    ]
    accepted = [r for r, refusal in zip(registrations, refusals, strict=True) if refusal is None]
    if not accepted:
        return [refusal for refusal in refusals if refusal is not None]
    # One multi-row INSERT … RETURNING: the ORM's unit of work would insert a versioned row at
    # a time, and so would SQLite for rows returned in order; each client is in the list once.
    created = {
        lead.client_email_key: lead
        for lead in session.scalars(
            insert(Lead).returning(Lead),
            [
                {
                    "partner_id": partner.id,
                    "client_name": registration.client_name,
                    "client_email": registration.client_email,
                    "client_email_key": registration.email_key,
                    "client_phone": registration.client_phone,
                    "company": registration.company,
                    "service": registration.service,
                    "notes": registration.notes,
                    "status": S.PENDING,
                    "self_referral": is_self_referral(registration.client_email, owned),
                    "created_at": now,
                    "updated_at": now,
                    "claim_expires_at": claim_expires_at,
                    "version": 1,
                }
                for registration in accepted
            ],
        )
    }
    outcomes: list[Lead | ValidationError] = [
        created[registration.email_key] if refusal is None else refusal
        for registration, refusal in zip(registrations, refusals, strict=True)
    ]
    new_leads = [outcome for outcome in outcomes if isinstance(outcome, Lead)]
    _events(session, new_leads, actor, LeadEventKind.REGISTERED)
    risk_center.check_new_leads(session, new_leads, rules)
    statistics.count_referral(session, partner_id=partner.id, delta=len(new_leads))
    statistics.count_lead(
        session, partner_id=partner.id, created_at=now, status=S.PENDING, delta=len(new_leads)
    )
    audit.record_many_by(
        session,
        actor,
        "lead.register",
        "lead",
        [
            (
                lead.id,
                {
                    "partner_id": partner.id,
                    "client_name": lead.client_name,
                    "client_email": lead.client_email,
                    "client_phone": lead.client_phone,
                    "service": lead.service,
                },
            )
            for lead in new_leads
        ],
    )
    return outcomes


def _service_refusal(service: str, catalogue: Sequence[str]) -> ValidationError | None:
    errors = FieldErrors()
    _check_service(errors, service, catalogue)
    return ValidationError(errors.errors) if errors.errors else None


def service_catalogue(session: Session, *, actor: Actor) -> list[str]:
    """The services a lead may name (the program settings): anyone signed in may read them."""
    refresh(session, actor)
    return list(program.current(session).services)


def register_lead(
    session: Session,
    *,
    actor: Actor,
    client_name: str,
    client_email: str,
    service: str,
    client_phone: str | None = None,
    company: str | None = None,
    notes: str | None = None,
    partner_id: int | None = None,
) -> LeadView:
    """Register a client referral for the actor's company (a manager names the partner)."""
    actor = require_active_partner_or_manager(session, actor)
    errors = FieldErrors()
    partner = _registering_partner(session, actor, partner_id, errors)
    registration = _check_registration(
        errors,
        catalogue=program.current(session).services,
        client_name=client_name,
        client_email=client_email,
        service=service,
        client_phone=client_phone,
        company=company,
        notes=notes,
    )
    errors.raise_if_any()
    assert partner is not None and registration is not None
    [outcome] = register_leads(
        session, actor=actor, registrations=[registration], partner_id=partner.id
    )
    if isinstance(outcome, ValidationError):
        raise outcome
    return lead_view(session, outcome, actor, partner.company_name)


def _visible_lead(session: Session, actor: Actor, lead_id: int, *, for_update: bool) -> Lead:
    query = readable_leads(actor).where(Lead.id == lead_id)
    lead = session.scalar(query.with_for_update() if for_update else query)
    if lead is None:
        raise NotFound(LEAD_NOT_FOUND)
    return lead


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: LeadEventKind
    actor: str
    from_status: LeadStatus | None
    to_status: LeadStatus | None
    note: str


@dataclass(frozen=True)
class LeadDetail:
    lead: LeadView
    timeline: list[TimelineEntry] = field(default_factory=list)
    allowed_moves: tuple[LeadStatus, ...] = ()


def get_lead(session: Session, *, actor: Actor, lead_id: int) -> LeadDetail:
    """A lead the actor may see, with its timeline and the moves the actor may make."""
    actor = refresh(session, actor)
    lead = _visible_lead(session, actor, lead_id, for_update=False)
    partner_name = session.scalar(select(Partner.company_name).where(Partner.id == lead.partner_id))
    rows = session.execute(
        select(LeadEvent, User.display_name, User.role, User.partner_id)
        .outerjoin(User, User.id == LeadEvent.actor_user_id)
        .where(LeadEvent.lead_id == lead.id)
        .order_by(LeadEvent.id)
    )
    timeline = []
    for event, name, role, author_partner_id in rows:
        if name is None:
            label = "System"
        elif actor.is_manager or author_partner_id == actor.partner_id:
            label = name
        elif role is not None and role.value == "manager":
            label = f"{name} (partner manager)"
        else:
            label = "Previous owner"  # another partner's user: never show who, nor what
        timeline.append(
            TimelineEntry(
                at=event.created_at,
                kind=event.kind,
                actor=label,
                from_status=event.from_status,
                to_status=event.to_status,
                note=_hidden(event.note) if label == "Previous owner" else event.note,
            )
        )
    can_move = actor.is_manager or actor.partner_status is PartnerStatus.ACTIVE
    return LeadDetail(
        lead=lead_view(session, lead, actor, partner_name),
        timeline=timeline,
        allowed_moves=allowed_moves(actor, lead.status) if can_move else (),
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


_CONDITIONS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "partner_id": lambda: Lead.partner_id == bindparam("partner_id"),
    "status": lambda: Lead.status == bindparam("status"),
    "search": lambda: (
        Lead.client_name.ilike(bindparam("search"), escape="\\")
        | Lead.client_email.ilike(bindparam("search"), escape="\\")
        | Lead.company.ilike(bindparam("search"), escape="\\")
    ),
    "self_referral": lambda: Lead.self_referral == bindparam("self_referral"),
    "awaiting": lambda: (
        (Lead.status == S.PENDING) & (Lead.created_at <= bindparam("pending_since"))
    ),
    "created_from": lambda: Lead.created_at >= bindparam("created_from"),
    "created_to": lambda: Lead.created_at < bindparam("created_before"),
}
# A partner's listing, and a manager's, which names each lead's partner.
_LEADS = Listing(lambda: select(*LEAD_COLUMNS), Lead.created_at, Lead.id, _CONDITIONS)
_LEADS_WITH_PARTNER = Listing(
    lambda: select(*LEAD_COLUMNS, Partner.company_name).join(
        Partner, Partner.id == Lead.partner_id
    ),
    Lead.created_at,
    Lead.id,
    _CONDITIONS,
)


def _filters(
    actor: Actor,
    rules: ProgramRules,
    *,
    status: LeadStatus | None,
    search: str,
    created_from: date | None,
    created_to: date | None,
    partner_id: int | None,
    self_referral: bool | None = None,
    awaiting: bool = False,
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The validated filters in use: the names of their conditions, and the values to bind."""
    if created_from and created_to and created_from > created_to:
        raise ValidationError({"created_to": "The end date is before the start date."})
    conditions: list[str] = []
    values: dict[str, Any] = {}
    scope = listed_partner_id(actor, partner_id)
    if scope is not None:
        conditions.append("partner_id")
        values["partner_id"] = scope
    if status is not None:
        conditions.append("status")
        values["status"] = status
    search = filter_text("search", search, label="Search text")
    if search:
        conditions.append("search")
        values["search"] = contains_pattern(search)
    if self_referral is not None and actor.is_manager:
        conditions.append("self_referral")
        values["self_referral"] = self_referral
    if awaiting:
        conditions.append("awaiting")
        values["pending_since"] = awaiting_contact_since(utc_now(), rules)
    if created_from is not None:
        conditions.append("created_from")
        values["created_from"] = _start_of(created_from)
    if created_to is not None and created_to < date.max:  # (the last day bounds nothing)
        conditions.append("created_to")
        values["created_before"] = _start_of(created_to + timedelta(days=1))
    return tuple(conditions), values


def list_leads(
    session: Session,
    *,
    actor: Actor,
    status: LeadStatus | None = None,
    search: str = "",
    created_from: date | None = None,
    created_to: date | None = None,
    partner_id: int | None = None,
    self_referral: bool | None = None,
    awaiting: bool = False,
    after: str | None = None,
    limit: int = 50,
) -> Page[LeadView]:
    """Leads the actor may see, newest first, one keyset page at a time."""
    actor = refresh(session, actor)
    rules = program.current(session)
    conditions, chosen = _filters(
        actor,
        rules,
        status=status,
        search=search,
        created_from=created_from,
        created_to=created_to,
        partner_id=partner_id,
        self_referral=self_referral,
        awaiting=awaiting,
    )
    listing = _LEADS_WITH_PARTNER if actor.is_manager else _LEADS
    query, values = listing.query(conditions, after=after, limit=limit)
    # Plain rows through the connection, not ORM objects: a page is read, never changed, and
    # skipping the ORM's loading layer makes it markedly cheaper. (So no autoflush: flush.)
    session.flush()
    result = db.connection(session).execute(query, values | chosen).mappings().all()
    rows = [(row, row["company_name"] if actor.is_manager else None) for row in result]
    items = lead_views(rows[:limit], actor, rules)
    return page_of(items, has_more=len(rows) > limit, moment=lambda item: item.created_at)


def _check_version(lead: Lead, expected_version: int) -> None:
    if lead.version != expected_version:
        raise StaleVersion(STALE_VERSION)


@dataclass(frozen=True)
class _Move:
    """A status change that passed the shared checks, with what its handler may need."""

    target: LeadStatus
    now: datetime
    lost_reason: LostReason | str | None
    lost_note: str
    deal_value: Decimal | str | None


# A kind of move: checks what only it needs (every query before the lead is touched: an
# autoflush in between would write the lead twice and bump its version twice), then changes
# the lead. It may return what to do once the lead is written, which gives the partner's
# message.
_Finish = Callable[[], str]
_Handler = Callable[[Session, Lead, _Move], _Finish | None]


def _clean_deal_value(value: Decimal | str | None) -> Decimal:
    errors = FieldErrors()
    cleaned = clean_decimal(
        errors,
        "deal_value",
        value if value is not None else "",
        label="Deal value",
        places=2,
        minimum=Decimal(0),
        exclusive_minimum=True,
        maximum=get_settings().max_deal_value,
    )
    errors.raise_if_any()
    assert cleaned is not None
    return cleaned


def _convert(session: Session, lead: Lead, move: _Move) -> _Finish:
    settings = get_settings()
    value = _clean_deal_value(move.deal_value)
    # Money moves take the partner's lock: it orders them against the partner's payout
    # batches and makes concurrent conversions see each other's tier counts.
    partner = session.get_one(Partner, lead.partner_id, with_for_update=True)
    rate = statistics.effective_rate(session, partner)
    lead.deal_value, lead.commission_rate = value, rate
    lead.commission = to_cents(value * rate)
    lead.converted_at = move.now

    def finish() -> str:
        line = commissions.record_conversion(
            session, lead, program.terms_of(session, partner.group_id).hold_days
        )
        return (
            f"Lead “{lead.client_name}” converted: commission {line.amount:,.2f} "
            f"{settings.currency}, on hold until {line.hold_until.date().isoformat()}."
        )

    return finish


def _reverse(session: Session, lead: Lead, move: _Move) -> _Finish | None:
    session.get_one(Partner, lead.partner_id, with_for_update=True)  # as `_convert` does
    line = commissions.live_line(session, lead.id)
    if line is not None:
        commissions.ensure_reversible(line)
    lead.deal_value = lead.commission = lead.commission_rate = lead.converted_at = None
    if line is None:
        return None
    reversed_line = line

    def finish() -> str:
        outcome = commissions.reverse(session, reversed_line, move.now)
        fate = "voided" if outcome is CommissionStatus.VOID else "clawed back from your next payout"
        return (
            f"The conversion of “{lead.client_name}” was reversed; its commission of "
            f"{reversed_line.amount:,.2f} {get_settings().currency} was {fate}."
        )

    return finish


def _lose(session: Session, lead: Lead, move: _Move) -> None:
    errors = FieldErrors()
    reason = clean_choice(errors, "lost_reason", move.lost_reason, LostReason, label="Lost reason")
    reason_note = clean_text(
        errors,
        "lost_note",
        move.lost_note,
        label="Lost note",
        max_length=MAX_NOTES,
        multiline=True,
    )
    errors.raise_if_any()
    lead.lost_reason, lead.lost_note, lead.lost_at = reason, reason_note, move.now


def _reopen(session: Session, lead: Lead, move: _Move) -> None:
    """A fresh claim, unless someone else claimed the client since."""
    [refusal] = _live_claim_refusals(
        session, [(lead.client_email_key, lead.client_phone)], move.now, except_lead_id=lead.id
    )
    if refusal is not None:
        raise refusal
    claim_days = program.current(session).claim_days
    lead.lost_reason = lead.lost_note = lead.lost_at = None
    lead.claim_expires_at = move.now + timedelta(days=claim_days)


def _advance(session: Session, lead: Lead, move: _Move) -> None:
    if move.target is S.CONTACTED:
        lead.contacted_at = move.now
    elif move.target is S.QUALIFIED:
        lead.qualified_at = move.now


def _handler(current: LeadStatus, target: LeadStatus) -> _Handler:
    """The handler of an allowed move (a converted lead only goes back to qualified, a lost
    one only to pending)."""
    if target is S.CONVERTED:
        return _convert
    if current is S.CONVERTED:
        return _reverse
    if target is S.LOST:
        return _lose
    if current is S.LOST:
        return _reopen
    return _advance


def change_lead_status(
    session: Session,
    *,
    actor: Actor,
    lead_id: int,
    to: LeadStatus | str,
    expected_version: int,
    note: str = "",
    lost_reason: LostReason | str | None = None,
    lost_note: str = "",
    deal_value: Decimal | str | None = None,
) -> LeadView:
    """Move a lead along the pipeline, enforcing the transition table in DOMAIN.md: load and
    lock, check version and move, the move's own handler, then one epilogue (event, rollups,
    notification, audit)."""
    actor = require_active_partner_or_manager(session, actor)
    errors = FieldErrors()
    target = clean_choice(errors, "status", to, LeadStatus, label="Status")
    note_text = (
        clean_text(errors, "note", note, label="Note", max_length=MAX_NOTES, multiline=True) or ""
    )
    errors.raise_if_any()
    assert target is not None
    found = session.execute(
        readable_leads(actor)
        .add_columns(Partner.company_name)
        .join(Partner, Partner.id == Lead.partner_id)
        .where(Lead.id == lead_id)
        .with_for_update(of=Lead)
    ).first()
    if found is None:
        raise NotFound(LEAD_NOT_FOUND)
    lead, partner_name = found
    _check_version(lead, expected_version)
    current = lead.status
    if target is current:
        return lead_view(session, lead, actor, partner_name)
    if target not in allowed_moves(actor, current):
        raise PermissionDenied(transition_refusal(actor, current, target))

    before = {"status": current.value, "version": lead.version}
    move = _Move(target, utc_now(), lost_reason, lost_note, deal_value)
    finish = _handler(current, target)(session, lead, move)
    lead.status = target
    lead.updated_at = move.now
    session.flush()  # one write of the lead, one version bump
    message = (
        finish()
        if finish is not None
        else f"Lead “{lead.client_name}” moved from {current.value} to {target.value}."
    )

    _events(
        session, [lead], actor, LeadEventKind.STATUS_CHANGED, from_status=current, note=note_text
    )
    statistics.track_lead_move(session, lead, from_status=current)
    notify_partner(
        session,
        caused_by=actor,
        partner_id=lead.partner_id,
        kind=(
            NotificationKind.COMMISSION_EARNED
            if target is S.CONVERTED
            else NotificationKind.COMMISSION_REVERSED
            if current is S.CONVERTED
            else NotificationKind.LEAD_STATUS
        ),
        lead_id=lead.id,
        message=message,
    )
    after: dict[str, Any] = {"status": target.value, "version": lead.version}
    if target is S.LOST:
        after["lost_reason"] = lead.lost_reason.value if lead.lost_reason else None
    if target is S.CONVERTED:
        after |= {
            "deal_value": str(lead.deal_value),
            "commission": str(lead.commission),
            "commission_rate": str(lead.commission_rate),
        }
    audit.record_by(
        session, actor, "lead.change_status", "lead", lead.id, before=before, after=after
    )
    return lead_view(session, lead, actor, partner_name)


def reassign_lead(
    session: Session,
    *,
    actor: Actor,
    lead_id: int,
    partner_id: int,
    expected_version: int,
    note: str = "",
) -> LeadView:
    """Move a lead to another partner; managers only, never a converted lead."""
    actor = require_manager(session, actor)
    lead = _visible_lead(session, actor, lead_id, for_update=True)
    _check_version(lead, expected_version)
    if lead.partner_id == partner_id:
        return lead_view(session, lead, actor)
    if lead.status is S.CONVERTED:
        raise ValidationError(
            {"partner_id": "A converted lead cannot be reassigned; reverse the conversion first."}
        )
    errors = FieldErrors()
    note_text = (
        clean_text(errors, "note", note, label="Note", max_length=MAX_NOTES, multiline=True) or ""
    )
    target = session.get(Partner, partner_id)
    if target is None:
        errors.add("partner_id", "Partner not found.")
    errors.raise_if_any()
    assert target is not None
    old_partner_id = lead.partner_id
    statistics.count_referral(session, partner_id=old_partner_id, delta=-1)
    statistics.count_lead(
        session,
        partner_id=old_partner_id,
        created_at=lead.created_at,
        status=lead.status,
        delta=-1,
        program=False,
    )
    lead.partner_id = target.id
    lead.self_referral = is_self_referral(
        lead.client_email, own_addresses(session, [target.id])[target.id]
    )
    lead.updated_at = lead.reassigned_at = utc_now()
    session.flush()
    risk_center.check_new_leads(session, [lead], program.current(session))
    statistics.count_referral(session, partner_id=target.id, delta=1)
    statistics.count_lead(
        session,
        partner_id=target.id,
        created_at=lead.created_at,
        status=lead.status,
        delta=1,
        program=False,
    )
    _events(
        session, [lead], actor, LeadEventKind.REASSIGNED, from_status=lead.status, note=note_text
    )
    notify_partner(
        session,
        caused_by=actor,
        partner_id=old_partner_id,
        kind=NotificationKind.LEAD_REASSIGNED,
        message=f"Lead “{lead.client_name}” was moved out of your account by a partner manager.",
    )
    notify_partner(
        session,
        caused_by=actor,
        partner_id=target.id,
        kind=NotificationKind.LEAD_REASSIGNED,
        lead_id=lead.id,
        message=f"Lead “{lead.client_name}” was assigned to you.",
    )
    audit.record_by(
        session,
        actor,
        "lead.reassign",
        "lead",
        lead.id,
        before={"partner_id": old_partner_id},
        after={"partner_id": target.id, "version": lead.version},
    )
    return lead_view(session, lead, actor, target.company_name)


@dataclass(frozen=True)
class ConversionPreview:
    """What a conversion would earn, before a manager confirms it."""

    deal_value: Decimal
    rate: Decimal
    rate_pinned: bool
    commission: Decimal
    hold_days: int  # the hold the commission would start


def preview_conversion(
    session: Session, *, actor: Actor, lead_id: int, deal_value: Decimal | str | None
) -> ConversionPreview:
    """The commission converting this lead at `deal_value` earns at its partner's rate
    today, computed as the conversion computes it; managers only, nothing is written."""
    require_manager(session, actor)
    value = _clean_deal_value(deal_value)
    partner = session.scalar(
        select(Partner).join(Lead, Lead.partner_id == Partner.id).where(Lead.id == lead_id)
    )
    if partner is None:
        raise NotFound(LEAD_NOT_FOUND)
    rate = statistics.effective_rate(session, partner)
    return ConversionPreview(
        deal_value=value,
        rate=rate,
        rate_pinned=partner.commission_rate is not None,
        commission=to_cents(value * rate),
        hold_days=program.terms_of(session, partner.group_id).hold_days,
    )


@dataclass(frozen=True)
class LeadEdit:
    """One row's edit from a lead table, made against `expected_version`: a move (with what
    it needs) and, for managers, a new owner."""

    lead_id: int
    expected_version: int
    to: LeadStatus | str | None = None
    lost_reason: LostReason | str | None = None
    lost_note: str = ""
    deal_value: Decimal | str | None = None
    reassign_to: int | None = None
    note: str = ""


def apply_edits(session: Session, *, actor: Actor, edits: list[LeadEdit]) -> list[RowOutcome]:
    """Save several rows in one transaction; each refused row is undone alone and explained."""

    def apply(edit: LeadEdit) -> str:
        if edit.to is None and edit.reassign_to is None:
            raise ValidationError({"status": "Nothing to save: change the status or the owner."})
        version, done = edit.expected_version, []
        if edit.to is not None:
            lead = change_lead_status(
                session,
                actor=actor,
                lead_id=edit.lead_id,
                to=edit.to,
                expected_version=version,
                note=edit.note,
                lost_reason=edit.lost_reason,
                lost_note=edit.lost_note,
                deal_value=edit.deal_value,
            )
            version = lead.version
            done.append(f"now {lead.status.value}")
        if edit.reassign_to is not None:
            lead = reassign_lead(
                session,
                actor=actor,
                lead_id=edit.lead_id,
                partner_id=edit.reassign_to,
                expected_version=version,
                note=edit.note,
            )
            done.append(f"now with partner {lead.partner_id}")
        return "Saved: " + ", ".join(done) + "."

    return apply_each(session, edits, key=lambda edit: edit.lead_id, apply=apply)
