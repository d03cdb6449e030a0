"""Payout files a bank or a payout provider accepts, for one batch's scheduled payouts.

One file per payout method of a batch (the batch is the cut-off date):
- `sepa`: ISO 20022 customer credit transfer (pain.001.001.03), built and checked against its
  schema by sepaxml, for bank transfers to IBAN accounts. In a EUR program it carries the SEPA
  service level; in another currency it is a plain ISO 20022 credit transfer in that currency.
- `nacha`: US ACH credit entries as CSV (routing number, account number, amount) for bank
  transfers to US accounts, the layout US banks' bulk-ACH uploads take.
- `paypal`: PayPal Payouts Web's payment file (no header; recipient, amount, currency,
  customer id, note, wallet).
- `wise`: Wise's batch "send by email" template (name, recipientEmail, paymentReference, …).
- `checks`: a printable HTML list of payees with their postal addresses.

Full account numbers are decrypted only here, only for managers, only into the file in memory.
Each generation writes an audit entry and a `payout_files` row holding the file's SHA-256, so
a file found later can be matched to who made it and what it paid.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import html
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.access import Actor, require_manager
from portal.commissions import payout_details_complete
from portal.config import ConfigurationError, get_settings
from portal.crypto import decrypt
from portal.errors import NotFound, ValidationError
from portal.exports import neutralise
from portal.models import (
    Partner,
    PartnerProfile,
    PaymentMethod,
    Payout,
    PayoutFile,
    PayoutStatus,
)
from portal.payouts import checked_cutoff
from portal.types import utc_now


class FileFormat(enum.StrEnum):
    SEPA = "sepa"
    NACHA = "nacha"
    PAYPAL = "paypal"
    WISE = "wise"
    CHECKS = "checks"


@dataclass(frozen=True)
class FormatSpec:
    label: str
    method: PaymentMethod
    bank_scheme: str | None  # bank transfers split by account kind
    extension: str
    media_type: str


FORMATS = {
    FileFormat.SEPA: FormatSpec(
        "SEPA / ISO 20022 credit transfer (XML)",
        PaymentMethod.BANK_TRANSFER,
        "iban",
        "xml",
        "application/xml",
    ),
    FileFormat.NACHA: FormatSpec(
        "US ACH credit entries (CSV)", PaymentMethod.BANK_TRANSFER, "us", "csv", "text/csv"
    ),
    FileFormat.PAYPAL: FormatSpec(
        "PayPal Payouts payment file (CSV)", PaymentMethod.PAYPAL, None, "csv", "text/csv"
    ),
    FileFormat.WISE: FormatSpec(
        "Wise batch payment, send by email (CSV)", PaymentMethod.WISE, None, "csv", "text/csv"
    ),
    FileFormat.CHECKS: FormatSpec(
        "Checks to print, with postal addresses (HTML)",
        PaymentMethod.CHECK,
        None,
        "html",
        "text/html",
    ),
}


@dataclass(frozen=True)
class PayoutFileResult:
    """A generated file: its bytes (secrets included) and what it pays."""

    cutoff: date
    file_format: FileFormat
    content: bytes
    file_name: str
    media_type: str
    payouts: int
    total: Decimal
    currency: str
    sha256: str


@dataclass(frozen=True)
class _Line:
    payout_id: int
    partner_id: int
    name: str
    amount: Decimal
    currency: str
    profile: PartnerProfile


def _reference(payout_id: int) -> str:
    return f"PAYOUT-{payout_id}"


def _checked_format(file_format: FileFormat | str) -> FileFormat:
    try:
        return FileFormat(file_format)
    except ValueError:
        allowed = ", ".join(member.value for member in FileFormat)
        raise ValidationError({"format": f"Format must be one of: {allowed}."}) from None


def _lines(session: Session, cutoff: date, spec: FormatSpec) -> list[_Line]:
    rows = session.execute(
        select(Payout, Partner.company_name, PartnerProfile)
        .join(Partner, Partner.id == Payout.partner_id)
        .join(PartnerProfile, PartnerProfile.partner_id == Payout.partner_id)
        .where(
            Payout.cutoff == cutoff,
            Payout.status == PayoutStatus.SCHEDULED,
            Payout.payment_method == spec.method,
        )
        .order_by(Payout.id)
    ).all()
    lines, problems = [], []
    for payout, name, profile in rows:
        if spec.bank_scheme is not None and profile.bank_scheme not in (spec.bank_scheme, None):
            continue  # the other kind of bank account: it goes in the other bank file
        if not payout_details_complete(spec.method, profile):
            problems.append(
                f"payout #{payout.id} ({name}): the partner's {spec.method.value.replace('_', ' ')}"
                " details are incomplete now"
            )
            continue
        lines.append(
            _Line(payout.id, payout.partner_id, name, payout.amount, payout.currency, profile)
        )
    if problems:
        raise ValidationError(
            {
                "payouts": "Cannot make the file: "
                + "; ".join(problems)
                + ". Cancel those payouts or have the partners complete their details."
            }
        )
    return lines


def _sepa(lines: list[_Line], currency: str) -> bytes:
    settings = get_settings()
    try:
        debtor_iban = IBAN(settings.payout_debtor_iban).compact
        debtor_bic = BIC(settings.payout_debtor_bic).compact if settings.payout_debtor_bic else ""
    except SchwiftyException:
        raise ConfigurationError(
            "PORTAL_PAYOUT_DEBTOR_IBAN / PORTAL_PAYOUT_DEBTOR_BIC are not a valid IBAN and BIC"
        ) from None
    if not settings.payout_debtor_name:
        raise ConfigurationError("PORTAL_PAYOUT_DEBTOR_NAME names no account holder")
    config: dict[str, Any] = {
        "name": settings.payout_debtor_name,
        "IBAN": debtor_iban,
        "batch": True,
        "currency": currency,
        # SEPA is a EUR scheme: other currencies go as a plain ISO 20022 transfer.
        "domestic": currency != "EUR",
    }
    if debtor_bic:
        config["BIC"] = debtor_bic
    transfer = SepaTransfer(config, schema="pain.001.001.03")
    execution = utc_now().date()
    for line in lines:
        assert line.profile.bank_account_encrypted is not None
        payment: dict[str, Any] = {
            "name": line.name,
            "IBAN": decrypt(line.profile.bank_account_encrypted),
            "amount": int(line.amount * 100),
            "execution_date": execution,
            "description": f"Partner payout {_reference(line.payout_id)}",
            "endtoend_id": _reference(line.payout_id),
        }
        if line.profile.bank_code:
            payment["BIC"] = line.profile.bank_code
        transfer.add_payment(payment)
    content: bytes = transfer.export(validate=True, pretty_print=True)
    return content


def _csv(rows: list[list[str]], header: list[str] | None) -> bytes:
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\r\n")
    if header:
        writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return sink.getvalue().encode("utf-8")


def _nacha(lines: list[_Line]) -> bytes:
    rows = []
    for line in lines:
        assert line.profile.bank_account_encrypted is not None and line.profile.bank_code
        rows.append(
            [
                _reference(line.payout_id),
                line.name[:22],  # an ACH entry's receiver name holds 22 characters
                line.profile.bank_code,
                decrypt(line.profile.bank_account_encrypted),
                "checking",
                "credit",
                f"{line.amount:.2f}",
                line.currency,
                "PAYOUT",
            ]
        )
    header = [
        "individual_id",
        "receiver_name",
        "routing_number",
        "account_number",
        "account_type",
        "transaction",
        "amount",
        "currency",
        "entry_description",
    ]
    return _csv(rows, header)


def _paypal(lines: list[_Line]) -> bytes:
    return _csv(
        [
            [
                str(line.profile.payment_email),
                f"{line.amount:.2f}",
                line.currency,
                _reference(line.payout_id),
                f"Partner payout {_reference(line.payout_id)}",
                "PAYPAL",
            ]
            for line in lines
        ],
        header=None,  # PayPal reads the first row as a payment
    )


def _wise(lines: list[_Line]) -> bytes:
    header = [
        "name",
        "recipientEmail",
        "paymentReference",
        "receiverType",
        "amountCurrency",
        "amount",
        "sourceCurrency",
        "targetCurrency",
        "type",
    ]
    rows = [
        [
            line.name,
            str(line.profile.payment_email),
            _reference(line.payout_id),
            "BUSINESS",
            "target",
            f"{line.amount:.2f}",
            line.currency,
            line.currency,
            "EMAIL",
        ]
        for line in lines
    ]
    return _csv(rows, header)


def _checks(lines: list[_Line], cutoff: date) -> bytes:
    def cell(value: object) -> str:
        return f"<td>{html.escape(str(value or ''))}</td>"

    rows = []
    for line in lines:
        profile = line.profile
        place = " ".join(part for part in (profile.city, profile.state, profile.zip) if part)
        address = "<br>".join(
            html.escape(part) for part in (profile.address, place, profile.country) if part
        )
        rows.append(
            "<tr>"
            + cell(_reference(line.payout_id))
            + cell(line.name)
            + f"<td>{address}</td>"
            + f'<td class="amount">{html.escape(f"{line.amount:,.2f} {line.currency}")}</td>'
            + "</tr>"
        )
    total = sum((line.amount for line in lines), Decimal("0.00"))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Checks for the payouts of {cutoff.isoformat()}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #999;padding:6px;vertical-align:top;text-align:left}"
        ".amount{text-align:right;white-space:nowrap}</style></head><body>"
        f"<h1>Checks for the payouts of {cutoff.isoformat()}</h1>"
        f"<p>{len(lines)} checks, {total:,.2f} {lines[0].currency} in all.</p>"
        "<table><thead><tr><th>Memo</th><th>Pay to the order of</th><th>Postal address</th>"
        "<th>Amount</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>\n"
    ).encode("utf-8")


def build_payout_file(
    session: Session, *, actor: Actor, cutoff: date | str, file_format: FileFormat | str
) -> PayoutFileResult:
    """The payout file of one method for a batch's scheduled payouts; managers only."""
    actor = require_manager(session, actor)
    fmt = _checked_format(file_format)
    day = checked_cutoff(cutoff)
    spec = FORMATS[fmt]
    lines = _lines(session, day, spec)
    if not lines:
        raise NotFound(
            f"No scheduled payouts for {spec.method.value.replace('_', ' ')}"
            + (" to IBAN accounts" if spec.bank_scheme == "iban" else "")
            + (" to US accounts" if spec.bank_scheme == "us" else "")
            + f" in the batch of {day.isoformat()}."
        )
    currency = lines[0].currency
    if fmt is FileFormat.SEPA:
        content = _sepa(lines, currency)
    elif fmt is FileFormat.NACHA:
        content = _nacha(lines)
    elif fmt is FileFormat.PAYPAL:
        content = _paypal(lines)
    elif fmt is FileFormat.WISE:
        content = _wise(lines)
    else:
        content = _checks(lines, day)
    total = sum((line.amount for line in lines), Decimal("0.00"))
    digest = hashlib.sha256(content).hexdigest()
    record = PayoutFile(
        cutoff=day,
        format=fmt.value,
        payout_count=len(lines),
        total=total,
        currency=currency,
        sha256=digest,
        created_by=actor.user_id,
    )
    session.add(record)
    session.flush()
    audit.record_by(
        session,
        actor,
        "payout.file",
        "payout_batch",
        day.isoformat(),
        after={
            "format": fmt.value,
            "payouts": [line.payout_id for line in lines],
            "total": str(total),
            "sha256": digest,
        },
    )
    return PayoutFileResult(
        cutoff=day,
        file_format=fmt,
        content=content,
        file_name=f"payouts-{day.isoformat()}-{fmt.value}.{spec.extension}",
        media_type=spec.media_type,
        payouts=len(lines),
        total=total,
        currency=currency,
        sha256=digest,
    )


@dataclass(frozen=True)
class PayoutFileRecord:
    id: int
    cutoff: date
    file_format: str
    payouts: int
    total: Decimal
    currency: str
    sha256: str
    created_by: int | None
    created_at: datetime


def list_payout_files(
    session: Session, *, actor: Actor, cutoff: date | None = None, limit: int = 50
) -> list[PayoutFileRecord]:
    """Payout files generated so far, newest first; managers only."""
    require_manager(session, actor)
    query = select(PayoutFile).order_by(PayoutFile.id.desc()).limit(min(max(limit, 1), 500))
    if cutoff is not None:
        query = query.where(PayoutFile.cutoff == cutoff)
    return [
        PayoutFileRecord(
            id=row.id,
            cutoff=row.cutoff,
            file_format=row.format,
            payouts=row.payout_count,
            total=row.total,
            currency=row.currency,
            sha256=row.sha256,
            created_by=row.created_by,
            created_at=row.created_at,
        )
        for row in session.scalars(query)
    ]
