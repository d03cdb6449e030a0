"""CSV exports: one engine writes any export kind to a text sink, streaming.

Format: UTF-8, a header row, RFC 4180 quoting with LF line ends, timestamps in ISO-8601 UTC
(`2026-11-23T21:51:13Z`), amounts with 2 decimals, sensitive fields masked. Every text cell
that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` so no
spreadsheet runs it as a formula (OWASP CSV injection); number cells the portal formats itself
(amounts, counts, ids) are left as numbers.

On PostgreSQL the rows stream through `COPY (SELECT …) TO STDOUT`, formatted by the database;
elsewhere the same SELECT runs in keyset pages and Python formats the rows. Both give the same
bytes for the same data. Memory stays flat whatever the row count.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any
from typing import cast as type_cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Enum,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from portal.core import db
from portal.core.access import Actor, refresh, scoped_partner_id
from portal.core.errors import PermissionDenied, ValidationError
from portal.core.models import (
    AuditEntry,
    Commission,
    CommissionStatus,
    Lead,
    LeadStatus,
    Partner,
    PartnerProfile,
    PartnerStatus,
    Payout,
    PayoutStatus,
)
from portal.core.types import Expression, FixedPoint, utc_now
from portal.money import commissions
from portal.money.monthly_statements import Statement
from portal.money.tax_reports import PAID_TOTAL, paid_in_year

if TYPE_CHECKING:
    import psycopg
from portal.core.validation import filter_text

PAGE_SIZE = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_CODES = [ord(start) for start in FORMULA_STARTS]
# A signed number a spreadsheet reads, not runs (an E.164 phone `+14155550705`, a clawback
# `-100.00`): digits, spaces, dots, hyphens and brackets after the sign, nothing that names a
# function, a cell or another program. It is kept as written.
PLAIN_NUMBER = r"^[+-][0-9][0-9 ().-]*$"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)
MASK_PREFIX = "•••• "


class Format(enum.Enum):
    TEXT = "text"
    MONEY = "money"
    NUMBER = "number"
    TIME = "time"
    DATE = "date"
    BOOL = "bool"
    JSON = "json"


@dataclass(frozen=True)
class Column:
    header: str
    expression: Expression[Any]
    format: Format = Format.TEXT
    managers_only: bool = False


@dataclass(frozen=True)
class Filters:
    """What an export may be narrowed by; each kind uses the filters that make sense for it."""

    partner_id: int | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    year: int | None = None


@dataclass(frozen=True)
class ExportKind:
    name: str
    title: str
    columns: Callable[[datetime], list[Column]]
    source: Callable[[Filters, datetime], Select[Any]]  # FROM/JOIN/WHERE, no columns chosen
    key: Expression[int]  # unique, for keyset pages and order
    date_column: Expression[Any] | None
    statuses: tuple[str, ...] | None = ()  # None: any value (the audit log's action names)
    partners_allowed: bool = False
    needs_year: bool = False


def neutralise(value: Any) -> str:
    """A text cell no spreadsheet will run as a formula: one that starts as a formula does
    is marked as text with a leading apostrophe, unless it is a plain signed number."""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class _RowWriter:
    """csv.writer with LF line ends that still quotes fields holding a carriage return.

    The csv module quotes only the characters of its line terminator, so with "\n" a bare
    "\r" would go out unquoted (and differ from COPY, which quotes it). Rows are written
    with "\r\n", which makes it quote both, and the terminator is then cut back to "\n".
    """

    def __init__(self, sink: IO[str]) -> None:
        self.sink = sink
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def writerow(self, row: list[str]) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(row)
        self.sink.write(self.buffer.getvalue()[:-2] + "\n")


def _python_cell(value: Any, kind: Format) -> str:
    if value is None or value == "":
        return ""
    if kind is Format.MONEY:
        return f"{Decimal(value):.2f}"
    if kind is Format.NUMBER:
        return str(value)
    if kind is Format.TIME:
        moment: datetime = value
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind is Format.DATE:
        return (value if isinstance(value, date) else date.fromisoformat(value)).isoformat()
    if kind is Format.BOOL:
        return "true" if value else "false"
    if kind is Format.JSON:
        return neutralise(json.dumps(value))
    if isinstance(value, enum.Enum):
        value = value.value
    return neutralise(value)


def _sql_cell(expression: Expression[Any], kind: Format) -> Expression[Any]:
    """The same formatting as `_python_cell`, done by PostgreSQL for COPY.

    COPY prints numbers and text as their casts to text would, so only what differs from that
    is spelled out: every extra function call here is paid a million times in a big export.
    """
    if kind is Format.MONEY:
        exact = isinstance(expression.type, FixedPoint) and expression.type.scale == 2
        return expression if exact else cast(expression, postgresql.NUMERIC(14, 2))
    if kind is Format.NUMBER:
        return expression
    if kind is Format.TIME:
        return func.to_char(func.timezone("UTC", expression), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    if kind is Format.DATE:
        return func.to_char(expression, "YYYY-MM-DD")
    if kind is Format.BOOL:
        return case(
            (expression.is_(None), None), (cast(expression, Boolean), "true"), else_="false"
        )
    if isinstance(expression.type, Enum):
        return expression  # a fixed set of values, none of which starts a formula
    text = expression if isinstance(expression.type, String) else cast(expression, String)
    runs = func.ascii(text).in_(FORMULA_CODES) & ~text.regexp_match(PLAIN_NUMBER)
    return case((runs, literal("'") + text), else_=func.nullif(text, ""))


def _masked(last4: Expression[Any]) -> ColumnElement[Any]:
    return case((last4.is_(None), None), else_=literal(MASK_PREFIX) + last4)


def _day_range(column: Expression[Any], filters: Filters) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.date_from is not None:
        conditions.append(column >= datetime.combine(filters.date_from, time.min, UTC))
    if filters.date_to is not None:
        end = datetime.combine(filters.date_to + timedelta(days=1), time.min, UTC)
        conditions.append(column < end)
    return conditions


def _narrowed(
    query: Select[Any],
    filters: Filters,
    *,
    partner: Callable[[int], ColumnElement[bool]],
    status: Callable[[str], ColumnElement[bool]],
    day: Expression[Any],
) -> Select[Any]:
    """`query` narrowed to the filters: one partner, one status, a range of days of `day`."""
    if filters.partner_id is not None:
        query = query.where(partner(filters.partner_id))
    if filters.status:
        query = query.where(status(filters.status))
    return query.where(*_day_range(day, filters))


# --- the kinds ------------------------------------------------------------------------------


def _lead_columns(_: datetime) -> list[Column]:
    return [
        Column("lead_id", Lead.id, Format.NUMBER),
        Column("partner_id", Lead.partner_id, Format.NUMBER),
        Column("partner", Partner.company_name, managers_only=True),
        Column("client_name", Lead.client_name),
        Column("client_email", Lead.client_email),
        Column("client_phone", Lead.client_phone),
        Column("company", Lead.company),
        Column("service", Lead.service),
        Column("status", Lead.status),
        Column("lost_reason", Lead.lost_reason),
        Column("deal_value", Lead.deal_value, Format.MONEY),
        Column("commission", Lead.commission, Format.MONEY),
        Column("commission_rate", Lead.commission_rate, Format.NUMBER),
        Column("self_referral", Lead.self_referral, Format.BOOL, managers_only=True),
        Column("created_at", Lead.created_at, Format.TIME),
        Column("converted_at", Lead.converted_at, Format.TIME),
        Column("updated_at", Lead.updated_at, Format.TIME),
        Column("claim_expires_at", Lead.claim_expires_at, Format.TIME),
    ]


def _lead_source(filters: Filters, _: datetime) -> Select[Any]:
    return _narrowed(
        select().select_from(Lead).join(Partner, Partner.id == Lead.partner_id),
        filters,
        partner=lambda partner_id: Lead.partner_id == partner_id,
        status=lambda status: Lead.status == LeadStatus(status),
        day=Lead.created_at,
    )


def _commission_state(now: datetime) -> ColumnElement[str]:
    return case(
        (commissions.on_hold(now), "on_hold"),
        (Commission.status == CommissionStatus.OPEN, "payable"),
        else_=cast(Commission.status, String),
    )


def _commission_columns(now: datetime) -> list[Column]:
    return [
        Column("line_id", Commission.id, Format.NUMBER),
        Column("partner_id", Commission.partner_id, Format.NUMBER),
        Column("partner", Partner.company_name, managers_only=True),
        Column("lead_id", Commission.lead_id, Format.NUMBER),
        Column("client_name", Lead.client_name),
        Column("kind", Commission.kind),
        Column("state", _commission_state(now)),
        Column("amount", Commission.amount, Format.MONEY),
        Column("deal_value", Commission.deal_value, Format.MONEY),
        Column("rate", Commission.rate, Format.NUMBER),
        Column("earned_at", Commission.earned_at, Format.TIME),
        Column("hold_until", Commission.hold_until, Format.TIME),
        Column("payout_id", Commission.payout_id, Format.NUMBER),
        Column("voided_at", Commission.voided_at, Format.TIME),
    ]


def _commission_source(filters: Filters, now: datetime) -> Select[Any]:
    return _narrowed(
        select()
        .select_from(Commission)
        .join(Lead, Lead.id == Commission.lead_id)
        .join(Partner, Partner.id == Commission.partner_id),
        filters,
        partner=lambda partner_id: Commission.partner_id == partner_id,
        status=lambda status: _commission_state(now) == status,
        day=Commission.earned_at,
    )


def _payout_columns(_: datetime) -> list[Column]:
    return [
        Column("payout_id", Payout.id, Format.NUMBER),
        Column("partner_id", Payout.partner_id, Format.NUMBER),
        Column("partner", Partner.company_name),
        Column("cutoff", Payout.cutoff, Format.DATE),
        Column("amount", Payout.amount, Format.MONEY),
        Column("currency", Payout.currency),
        Column("lines", Payout.item_count, Format.NUMBER),
        Column("status", Payout.status),
        Column("payment_method", Payout.payment_method),
        Column("payment_email", PartnerProfile.payment_email),
        Column("bank_account", _masked(PartnerProfile.bank_account_last4)),
        Column("reference", Payout.reference),
        Column("created_at", Payout.created_at, Format.TIME),
        Column("paid_at", Payout.paid_at, Format.TIME),
    ]


def _payout_source(filters: Filters, _: datetime) -> Select[Any]:
    return _narrowed(
        select()
        .select_from(Payout)
        .join(Partner, Partner.id == Payout.partner_id)
        .outerjoin(PartnerProfile, PartnerProfile.partner_id == Payout.partner_id),
        filters,
        partner=lambda partner_id: Payout.partner_id == partner_id,
        status=lambda status: Payout.status == PayoutStatus(status),
        day=Payout.created_at,
    )


def _partner_columns(_: datetime) -> list[Column]:
    return [
        Column("partner_id", Partner.id, Format.NUMBER),
        Column("company_name", Partner.company_name),
        Column("email", Partner.email),
        Column("status", Partner.status),
        Column("pinned_rate", Partner.commission_rate, Format.NUMBER),
        Column("total_referrals", Partner.total_referrals, Format.NUMBER),
        Column("total_earnings", Partner.total_earnings, Format.MONEY),
        Column("paid_earnings", Partner.paid_earnings, Format.MONEY),
        Column("pending_earnings", Partner.pending_earnings, Format.MONEY),
        Column("payment_method", PartnerProfile.payment_method),
        Column("tax_id", _masked(PartnerProfile.tax_id_last4)),
        Column("tax_form", PartnerProfile.tax_form),
        Column("created_at", Partner.created_at, Format.TIME),
        Column("approved_at", Partner.approved_at, Format.TIME),
    ]


def _partner_source(filters: Filters, _: datetime) -> Select[Any]:
    return _narrowed(
        select()
        .select_from(Partner)
        .outerjoin(PartnerProfile, PartnerProfile.partner_id == Partner.id),
        filters,
        partner=lambda partner_id: Partner.id == partner_id,
        status=lambda status: Partner.status == PartnerStatus(status),
        day=Partner.created_at,
    )


def _audit_columns(_: datetime) -> list[Column]:
    return [
        Column("entry_id", AuditEntry.id, Format.NUMBER),
        Column("created_at", AuditEntry.created_at, Format.TIME),
        Column("actor_user_id", AuditEntry.actor_user_id, Format.NUMBER),
        Column("actor", AuditEntry.actor_label),
        Column("action", AuditEntry.action),
        Column("object_type", AuditEntry.object_type),
        Column("object_id", AuditEntry.object_id),
        Column("before", AuditEntry.before, Format.JSON),
        Column("after", AuditEntry.after, Format.JSON),
    ]


def _audit_source(filters: Filters, _: datetime) -> Select[Any]:
    return _narrowed(
        select().select_from(AuditEntry),
        filters,
        partner=lambda partner_id: and_(
            AuditEntry.object_type == "partner", AuditEntry.object_id == str(partner_id)
        ),
        status=lambda action: AuditEntry.action == action,
        day=AuditEntry.created_at,
    )


def _tax_columns(_: datetime) -> list[Column]:
    return [
        Column("partner_id", Partner.id, Format.NUMBER),
        Column("company_name", Partner.company_name),
        Column("paid_total", PAID_TOTAL, Format.MONEY),
        Column("payouts", func.count(Payout.id), Format.NUMBER),
        Column("tax_id", _masked(PartnerProfile.tax_id_last4)),
        Column("tin_type", func.coalesce(cast(PartnerProfile.tax_id_type, String), "missing")),
        # Cast first: the enum column type would read 'missing' back as a member and fail.
        Column("tax_form", func.coalesce(cast(PartnerProfile.tax_form, String), "missing")),
        Column("tax_form_expires_on", PartnerProfile.tax_form_expires_on, Format.DATE),
        Column("tax_form_received_at", PartnerProfile.tax_form_received_at, Format.TIME),
        Column("address", PartnerProfile.address),
        Column("city", PartnerProfile.city),
        Column("state", PartnerProfile.state),
        Column("zip", PartnerProfile.zip),
        Column("country", PartnerProfile.country),
    ]


def _tax_source(filters: Filters, _: datetime) -> Select[Any]:
    assert filters.year is not None
    query = paid_in_year(filters.year)
    if filters.partner_id is not None:
        query = query.where(Partner.id == filters.partner_id)
    return query


KINDS: dict[str, ExportKind] = {
    kind.name: kind
    for kind in (
        ExportKind(
            "leads",
            "Leads",
            _lead_columns,
            _lead_source,
            Lead.id,
            Lead.created_at,
            tuple(status.value for status in LeadStatus),
            partners_allowed=True,
        ),
        ExportKind(
            "commissions",
            "Commissions ledger",
            _commission_columns,
            _commission_source,
            Commission.id,
            Commission.earned_at,
            ("on_hold", "payable", "in_payout", "paid", "void"),
            partners_allowed=True,
        ),
        ExportKind(
            "payouts",
            "Payouts",
            _payout_columns,
            _payout_source,
            Payout.id,
            Payout.created_at,
            tuple(status.value for status in PayoutStatus),
        ),
        ExportKind(
            "partners",
            "Partners summary",
            _partner_columns,
            _partner_source,
            Partner.id,
            Partner.created_at,
            tuple(s.value for s in PartnerStatus),
        ),
        ExportKind(
            "audit",
            "Audit log",
            _audit_columns,
            _audit_source,
            AuditEntry.id,
            AuditEntry.created_at,
            statuses=None,
        ),
        ExportKind(
            "tax",
            "Yearly tax report (1099-NEC list; tax ids masked)",
            _tax_columns,
            _tax_source,
            Partner.id,
            None,
            needs_year=True,
        ),
    )
}


@dataclass(frozen=True)
class Prepared:
    kind: ExportKind
    columns: list[Column]
    query: Select[Any]


def _prepare(session: Session, actor: Actor, kind_name: str, filters: Filters) -> Prepared:
    actor = refresh(session, actor)
    kind = KINDS.get(kind_name)
    if kind is None:
        raise ValidationError({"kind": f"Export must be one of: {', '.join(KINDS)}."})
    if actor.is_partner and not kind.partners_allowed:
        raise PermissionDenied("Only a program manager can export this.")
    filter_text("status", filters.status, label="Status", max_length=64)
    if filters.status and kind.statuses is not None and filters.status not in kind.statuses:
        allowed = ", ".join(kind.statuses) or "none"
        raise ValidationError({"status": f"Status must be one of: {allowed}."})
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ValidationError({"date_to": "The end date is before the start date."})
    if kind.needs_year and not (filters.year and 2000 <= filters.year <= 2100):
        raise ValidationError({"year": "Year must be between 2000 and 2100."})
    filters = Filters(
        partner_id=scoped_partner_id(actor, filters.partner_id),
        status=filters.status,
        date_from=filters.date_from,
        date_to=filters.date_to,
        year=filters.year,
    )
    now = utc_now()
    columns = [c for c in kind.columns(now) if actor.is_manager or not c.managers_only]
    return Prepared(kind, columns, kind.source(filters, now))


def count_rows(session: Session, *, actor: Actor, kind: str, filters: Filters) -> int:
    """How many rows an export would have (shown before a download)."""
    prepared = _prepare(session, actor, kind, filters)
    counted = prepared.query.add_columns(prepared.kind.key).subquery()
    return session.scalar(select(func.count()).select_from(counted)) or 0


def write_csv(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    sink: IO[str],
    filters: Filters | None = None,
    progress: Callable[[int], None] | None = None,
    use_copy: bool | None = None,
) -> int:
    """Stream an export to `sink` as CSV; returns the number of data rows written."""
    prepared = _prepare(session, actor, kind, filters or Filters())
    postgres = session.get_bind().dialect.name == "postgresql"
    if use_copy is None:
        use_copy = postgres
    if use_copy and not postgres:
        raise ValueError("COPY needs PostgreSQL")
    headers = [column.header for column in prepared.columns]
    if use_copy:
        return _copy(session, prepared, sink, progress)
    writer = _RowWriter(sink)
    writer.writerow(headers)
    key = prepared.kind.key
    last: int | None = None
    written = 0
    while True:
        query = prepared.query.add_columns(*[column.expression for column in prepared.columns], key)
        if last is not None:
            query = query.where(key > last)
        rows = session.execute(query.order_by(key).limit(PAGE_SIZE)).all()
        for row in rows:
            writer.writerow(
                [
                    _python_cell(value, column.format)
                    for value, column in zip(row, prepared.columns, strict=False)
                ]
            )
        written += len(rows)
        if progress:
            progress(written)
        if len(rows) < PAGE_SIZE:
            return written
        last = rows[-1][-1]


def _copy(
    session: Session, prepared: Prepared, sink: IO[str], progress: Callable[[int], None] | None
) -> int:
    query = prepared.query.add_columns(
        *[
            _sql_cell(column.expression, column.format).label(column.header)
            for column in prepared.columns
        ]
    ).order_by(prepared.kind.key)
    sql = str(
        query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    )
    # The driver's own connection, for its COPY support (this path runs on PostgreSQL only).
    raw = type_cast("psycopg.Connection[Any]", db.connection(session).connection.dbapi_connection)
    written_bytes = 0
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for chunk in copy:
                text = bytes(chunk).decode("utf-8")
                sink.write(text)
                written_bytes += len(text)
                if progress:
                    progress(-written_bytes)  # rows are not known until COPY ends
        return max(0, cursor.rowcount)


def statement_csv(statement: Statement) -> str:
    """A monthly statement as CSV: opening balance, each movement, closing balance."""
    sink = io.StringIO()
    writer = _RowWriter(sink)
    writer.writerow(["date", "kind", "description", f"amount_{statement.currency.lower()}"])
    writer.writerow(
        [statement.month.isoformat(), "opening_balance", "", f"{statement.opening_balance:.2f}"]
    )
    for line in statement.lines:
        writer.writerow(
            [
                _python_cell(line.at, Format.TIME),
                line.kind,
                neutralise(line.description),
                f"{line.amount:.2f}",
            ]
        )
    writer.writerow(["", "closing_balance", "", f"{statement.closing_balance:.2f}"])
    return sink.getvalue()
