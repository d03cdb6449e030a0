"""Bulk lead registration from an uploaded CSV: valid rows are registered, each refused row
is listed with its reason, and a file that cannot be read as a whole is refused whole."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from portal.access import Actor, require_active_partner_or_manager, scoped_partner_id
from portal.errors import PortalError, ValidationError
from portal.leads import register_lead

MAX_BYTES = 1_000_000
MAX_ROWS = 1_000
REQUIRED = ("client_name", "client_email", "service")
OPTIONAL = ("client_phone", "company", "notes")
TEMPLATE = ",".join(REQUIRED + OPTIONAL) + "\n"


@dataclass(frozen=True)
class ImportResult:
    imported: list[tuple[int, int]] = field(default_factory=list)  # (line, lead id)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _header(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def _rows(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if len(data) > MAX_BYTES:
        raise ValidationError(
            {"file": f"The file is {len(data) / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:g} MB."}
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(
            {"file": f"The file is not UTF-8 text (byte {error.start}); save it as “CSV UTF-8”."}
        ) from None
    if "\x00" in text:
        raise ValidationError({"file": "The file contains NUL bytes; it is not a CSV file."})
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ValidationError({"file": "The file is empty."})
        columns = [_header(name) for name in header]
        missing = [name for name in REQUIRED if name not in columns]
        unknown = [name for name in columns if name not in REQUIRED + OPTIONAL]
        if missing or unknown or len(set(columns)) != len(columns):
            raise ValidationError(
                {
                    "file": (
                        f"Columns must be {', '.join(REQUIRED)} "
                        f"and optionally {', '.join(OPTIONAL)}"
                        + (f"; missing: {', '.join(missing)}" if missing else "")
                        + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                        + ("; a column is repeated" if len(set(columns)) != len(columns) else "")
                        + "."
                    )
                }
            )
        rows = []
        for values in reader:
            if len(rows) >= MAX_ROWS:
                raise ValidationError(
                    {
                        "file": f"The file has more than {MAX_ROWS} rows; "
                        "split it into smaller files."
                    }
                )
            if not any(value.strip() for value in values):
                continue
            rows.append((reader.line_num, values))
    except csv.Error as error:
        raise ValidationError(
            {"file": f"Line {reader.line_num}: the CSV quoting is broken ({error})."}
        ) from None
    return columns, rows


def import_leads_csv(
    session: Session, *, actor: Actor, data: bytes, partner_id: int | None = None
) -> ImportResult:
    """Register each valid row in its own savepoint of one transaction."""
    actor = require_active_partner_or_manager(session, actor)
    partner_id = scoped_partner_id(actor, partner_id)
    columns, rows = _rows(data)
    result = ImportResult()
    for line, values in rows:
        if len(values) != len(columns):
            result.refused.append(
                (line, f"has {len(values)} values; the header has {len(columns)}")
            )
            continue
        row = dict(zip(columns, values, strict=True))
        try:
            with session.begin_nested():
                lead = register_lead(
                    session,
                    actor=actor,
                    partner_id=partner_id,
                    **{name: row.get(name, "") for name in REQUIRED + OPTIONAL},
                )
        except ValidationError as error:
            result.refused.append(
                (line, "; ".join(f"{name}: {message}" for name, message in error.errors.items()))
            )
        except PortalError as error:
            result.refused.append((line, str(error)))
        else:
            result.imported.append((line, lead.id))
    return result
