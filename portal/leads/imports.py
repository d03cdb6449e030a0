"""Bulk lead registration from an uploaded CSV: valid rows are registered, each refused row
is listed with its reason, and a file that cannot be read as a whole is refused whole.

The file is read and every row checked before the first query; the rows are then written in
one transaction of a handful of statements, so on SQLite (one writer at a time) an import
holds the write lock for milliseconds, not for the length of the file."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from portal.core.access import Actor
from portal.core.errors import ValidationError
from portal.core.uploads import read_csv, upload_text
from portal.leads.leads import Registration, check_registration, register_leads

MAX_BYTES = 1_000_000
MAX_ROWS = 1_000
REQUIRED = ("client_name", "client_email", "service")
OPTIONAL = ("client_phone", "company", "notes")
TEMPLATE = ",".join(REQUIRED + OPTIONAL) + "\n"


@dataclass(frozen=True)
class ImportResult:
    imported: list[tuple[int, int]] = field(default_factory=list)  # (line, lead id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _rows(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    text = upload_text(data, field="file", what="The file", max_bytes=MAX_BYTES)
    table = read_csv(text, field="file", what="The file", max_rows=MAX_ROWS)
    table.require("file", REQUIRED, OPTIONAL)
    return table.columns, table.rows


@dataclass(frozen=True)
class LeadFile:
    """An uploaded file, read and checked without the database: the rows that may be
    registered and the rows already refused, each with its line."""

    registrations: list[tuple[int, Registration]]
    refused: list[tuple[int, str]]


def read_leads_csv(data: bytes) -> LeadFile:
    """Every row checked before the first query: fields, and the same client twice in the file."""
    columns, rows = _rows(data)
    registrations: list[tuple[int, Registration]] = []
    refused: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for line, values in rows:
        if len(values) != len(columns):
            refused.append((line, f"has {len(values)} values; the header has {len(columns)}"))
            continue
        row = dict(zip(columns, values, strict=True))
        try:
            registration = check_registration(
                **{name: row.get(name, "") for name in REQUIRED + OPTIONAL}
            )
        except ValidationError as error:
            refused.append((line, _reasons(error)))
            continue
        client = [registration.email_key, registration.client_phone or registration.email_key]
        earlier = min((first_line[key] for key in client if key in first_line), default=None)
        if earlier is not None:
            refused.append((line, f"the same client is on line {earlier} of this file"))
            continue
        for key in client:
            first_line[key] = line
        registrations.append((line, registration))
    return LeadFile(registrations, refused)


def register_lead_file(
    session: Session, *, actor: Actor, lead_file: LeadFile, partner_id: int | None = None
) -> ImportResult:
    """Register a checked file's rows in one short transaction: each row's lead, or why its
    client is already claimed."""
    lines = [line for line, _ in lead_file.registrations]
    outcomes = register_leads(
        session,
        actor=actor,
        registrations=[registration for _, registration in lead_file.registrations],
        partner_id=partner_id,
    )
    result = ImportResult(refused=list(lead_file.refused))
    for line, outcome in zip(lines, outcomes, strict=True):
        if isinstance(outcome, ValidationError):
            result.refused.append((line, _reasons(outcome)))
        else:
            result.imported.append((line, outcome.id))
    result.refused.sort()
    return result


def _reasons(error: ValidationError) -> str:
    return "; ".join(f"{name}: {message}" for name, message in error.errors.items())
