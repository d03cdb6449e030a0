"""Payout files a bank or a payout provider accepts, for one batch's scheduled payouts.

A payout is paid once (DOMAIN.md, "Money leaving the program"): making a file takes its
payouts out of the pool, so a second file for the same payouts is refused, naming the file
that holds them, until a manager voids that file with a reason. Files pay the details fixed on
each payout when it was scheduled; a payout whose partner changed them since is held and goes
in no file until a manager re-approves or cancels it. With `PORTAL_PAYOUT_APPROVALS=2` only
payouts a second manager approved go in a file.

Formats, each by its own rulebook (checked in the tests by an independent parser or schema):
- `nacha`: a NACHA ACH file (94-character records, blocking factor 10, one batch per SEC code:
  CCD for businesses, PPD for people), built with achkit; effective on the next Federal Reserve
  business day.
- `sepa`: a SEPA credit transfer, ISO 20022 pain.001.001.03 built and schema-checked by
  sepaxml: EUR only, SEPA-country IBANs only, names in the SEPA character set, the debtor's
  address, executed on the next TARGET business day.
- `cross_border`: the same message without the SEPA service level, for other IBANs and
  currencies: shared charges (SHAR), the creditor's BIC and both parties' addresses.
- `paypal`, `wise`: the providers' batch CSVs. What they read as data (emails, amounts,
  currency codes, ids) goes out exactly as stored: these files are uploaded to the provider,
  never opened in a spreadsheet, so no formula guard rewrites them.
- `checks`: a printable list with check numbers, each number used once, from
  `PORTAL_CHECK_FIRST_NUMBER`; `positive_pay_file` gives the bank's Positive Pay list for it.

Full account numbers are decrypted only here, only for managers, only into the file in memory.
Each file is recorded (`payout_files`) with its SHA-256 and audited.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import achkit
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sepaxml import SepaTransfer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.core import audit, two_factor
from portal.core.access import Actor, require_manager
from portal.core.config import ConfigurationError, get_settings
from portal.core.crypto import decrypt
from portal.core.errors import NotFound, ValidationError
from portal.core.models import (
    PayeeType,
    Payout,
    PayoutFile,
    PayoutFileStatus,
    PayoutStatus,
    User,
)
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_text
from portal.money.payment_details import (
    Calendar,
    FileFormat,
    Unrepresentable,
    ach_text,
    next_business_day,
    one_line,
    route_of,
    sepa_text,
)
from portal.money.payouts import checked_cutoff


@dataclass(frozen=True)
class FormatSpec:
    label: str
    extension: str
    media_type: str


FORMATS = {
    FileFormat.SEPA: FormatSpec(
        "SEPA credit transfer, EUR (ISO 20022 XML)", "xml", "application/xml"
    ),
    FileFormat.CROSS_BORDER: FormatSpec(
        "Cross-border credit transfer (ISO 20022 XML)", "xml", "application/xml"
    ),
    FileFormat.NACHA: FormatSpec("US ACH credits (NACHA)", "ach", "text/plain"),
    FileFormat.PAYPAL: FormatSpec("PayPal Payouts payment file (CSV)", "csv", "text/csv"),
    FileFormat.WISE: FormatSpec("Wise batch payment, send by email (CSV)", "csv", "text/csv"),
    FileFormat.CHECKS: FormatSpec("Checks to print, numbered (HTML)", "html", "text/html"),
}


@dataclass(frozen=True)
class PayoutFileResult:
    """A generated file: its bytes (secrets included) and what it pays."""

    file_id: int
    cutoff: date
    file_format: FileFormat
    content: bytes
    file_name: str
    media_type: str
    payouts: int
    total: Decimal
    currency: str
    sha256: str


def reference(payout_id: int) -> str:
    """A payout's end-to-end reference in every file and on the bank's statement."""
    return f"PAYOUT-{payout_id}"


def _checked_format(file_format: FileFormat | str) -> FileFormat:
    try:
        return FileFormat(file_format)
    except ValueError:
        allowed = ", ".join(member.value for member in FileFormat)
        raise ValidationError({"format": f"Format must be one of: {allowed}."}) from None


def payout_route(payout: Payout) -> FileFormat | None:
    """The file that pays a payout's fixed details in its currency."""
    address = payout.payee_address or {}
    return route_of(
        payout, currency=payout.payout_currency, address_country=address.get("country")
    ).file_format


# --- what a batch holds, and what still waits -----------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """Payouts of a batch that no file takes yet, and why."""

    file_format: FileFormat | None
    payout_ids: tuple[int, ...]
    total: Decimal
    reason: str


@dataclass(frozen=True)
class PayoutFileRecord:
    id: int
    cutoff: date
    file_format: str
    payouts: int
    total: Decimal
    currency: str
    sha256: str
    created_by: str
    created_at: datetime
    status: PayoutFileStatus
    payout_ids: tuple[int, ...]
    message_id: str
    first_check: int | None
    voided_by: str
    voided_at: datetime | None
    void_reason: str


@dataclass(frozen=True)
class BatchOverview:
    """One batch as the Payouts page shows it: its files, approvals and what waits."""

    cutoff: date
    scheduled: int
    approved: int
    approvals_required: bool
    ready: dict[FileKey, tuple[int, Decimal]]  # a file can be made now: payouts, total
    waiting: list[Waiting]
    files: list[PayoutFileRecord]


def _scheduled(session: Session, cutoff: date, *, lock: bool = False) -> Sequence[Payout]:
    query = (
        select(Payout)
        .where(Payout.cutoff == cutoff, Payout.status == PayoutStatus.SCHEDULED)
        .order_by(Payout.id)
    )
    if lock:  # fresh rows: another manager's file may have taken some since they were read
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).all()


FileKey = tuple[FileFormat, str]  # a file pays one format in one currency


def _sort(
    payouts: Iterable[Payout], approvals_required: bool
) -> tuple[dict[FileKey, list[Payout]], list[Waiting]]:
    """Scheduled payouts split into those a file may take now, by format and currency, and
    those waiting."""
    ready: dict[FileKey, list[Payout]] = {}
    waiting: dict[tuple[FileFormat | None, str], list[Payout]] = {}
    for payout in payouts:
        route = payout_route(payout)
        if payout.payout_file_id is not None:
            continue  # in a live file already
        if payout.held_reason:
            reason = f"held: {payout.held_reason}; re-approve or cancel it"
        elif route is None:
            reason = "fits no payout file: its details are incomplete"
        elif approvals_required and payout.approved_by is None:
            reason = "waits for a second manager's approval"
        else:
            ready.setdefault((route, payout.payout_currency), []).append(payout)
            continue
        waiting.setdefault((route, reason), []).append(payout)
    return ready, [
        Waiting(
            file_format,
            tuple(p.id for p in items),
            sum((p.payout_amount for p in items), Decimal("0.00")),
            reason,
        )
        for (file_format, reason), items in waiting.items()
    ]


def _user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {user_id for user_id in ids if user_id is not None}
    if not wanted:
        return {}
    return dict(
        session.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all()
    )


def _records(session: Session, files: Sequence[PayoutFile]) -> list[PayoutFileRecord]:
    names = _user_names(session, [f.created_by for f in files] + [f.voided_by for f in files])
    return [
        PayoutFileRecord(
            id=row.id,
            cutoff=row.cutoff,
            file_format=row.format,
            payouts=row.payout_count,
            total=row.total,
            currency=row.currency,
            sha256=row.sha256,
            created_by=names.get(row.created_by or 0, ""),
            created_at=row.created_at,
            status=row.status,
            payout_ids=tuple(row.payout_ids or ()),
            message_id=row.message_id,
            first_check=row.first_check,
            voided_by=names.get(row.voided_by or 0, ""),
            voided_at=row.voided_at,
            void_reason=row.void_reason,
        )
        for row in files
    ]


def batch_overview(session: Session, *, actor: Actor, cutoff: date | str) -> BatchOverview:
    """A batch's files (live or void), approvals, and what waits for a file; managers only."""
    require_manager(session, actor)
    day = checked_cutoff(cutoff)
    approvals_required = get_settings().payout_approvals >= 2
    payouts = _scheduled(session, day)
    ready, waiting = _sort(payouts, approvals_required)
    files = session.scalars(
        select(PayoutFile).where(PayoutFile.cutoff == day).order_by(PayoutFile.id.desc())
    ).all()
    return BatchOverview(
        cutoff=day,
        scheduled=len(payouts),
        approved=sum(1 for p in payouts if p.approved_by is not None),
        approvals_required=approvals_required,
        ready={
            key: (len(items), sum((p.payout_amount for p in items), Decimal("0.00")))
            for key, items in sorted(ready.items())
        },
        waiting=waiting,
        files=_records(session, files),
    )


# --- the formats ------------------------------------------------------------------------------


def _refuse_unrepresentable(problems: list[str]) -> None:
    if problems:
        raise ValidationError(
            {
                "payouts": "Cannot make the file: "
                + "; ".join(problems)
                + ". Have the partner correct it, or cancel the payout."
            }
        )


def _unrepresentable(payouts: Sequence[Payout], fmt: FileFormat) -> list[str]:
    """Every payee name (and, cross-border, address part) the format's character set cannot
    carry: checked before anything is recorded."""
    if fmt in (FileFormat.SEPA, FileFormat.CROSS_BORDER):
        fitted, charset = sepa_text, "the SEPA character set"
    elif fmt is FileFormat.NACHA:
        fitted, charset = ach_text, "an ACH file"
    else:
        return []
    problems = []
    for payout in payouts:
        texts = [("payee name", payout.payee_name)]
        if fmt is FileFormat.CROSS_BORDER:
            address = _address(payout)
            texts += [
                (part, address[part]) for part in ("address", "city", "zip") if part in address
            ]
        for what, text in texts:
            try:
                fitted(text, 70)
            except Unrepresentable:
                problems.append(
                    f"payout #{payout.id}: the {what} {text!r} has no letter or digit "
                    f"{charset} can carry"
                )
    return problems


def _address(payout: Payout) -> dict[str, str]:
    return {k: v for k, v in (payout.payee_address or {}).items() if v}


def _needs(what: str, **settings: str) -> None:
    """Refuse a file whose paying account is not configured, naming the settings."""
    missing = [name for name, value in settings.items() if not value]
    if missing:
        raise ConfigurationError(f"{what} needs {', '.join(missing)}")


def _debtor() -> dict[str, Any]:
    settings = get_settings()
    try:
        iban = IBAN(settings.payout_debtor_iban).compact
        bic = BIC(settings.payout_debtor_bic).compact if settings.payout_debtor_bic else ""
    except SchwiftyException:
        raise ConfigurationError(
            "PORTAL_PAYOUT_DEBTOR_IBAN / PORTAL_PAYOUT_DEBTOR_BIC are not a valid IBAN and BIC"
        ) from None
    _needs(
        "The paying account",
        PORTAL_PAYOUT_DEBTOR_NAME=settings.payout_debtor_name,
        PORTAL_PAYOUT_DEBTOR_TOWN=settings.payout_debtor_town,
        PORTAL_PAYOUT_DEBTOR_COUNTRY=settings.payout_debtor_country,
    )
    config: dict[str, Any] = {
        "name": sepa_text(settings.payout_debtor_name, 70),
        "IBAN": iban,
        "batch": True,
        "address": {
            key: sepa_text(value, limit)
            for key, value, limit in (
                ("street_name", settings.payout_debtor_street, 70),
                ("postcode", settings.payout_debtor_postcode, 16),
                ("town", settings.payout_debtor_town, 35),
                ("country", settings.payout_debtor_country.upper(), 2),
            )
            if value
        },
    }
    if bic:
        config["BIC"] = bic
    return config


def _iso20022(payouts: Sequence[Payout], file_id: int, currency: str, *, sepa: bool) -> bytes:
    """A pain.001.001.03 credit transfer: SEPA (EUR, service level SEPA, charges SLEV) or
    cross-border (any currency, no service level, shared charges, creditor BIC and address)."""
    config = _debtor() | {"currency": currency, "domestic": not sepa}
    transfer = SepaTransfer(config, schema="pain.001.001.03")
    execution = next_business_day(utc_now().date(), Calendar.TARGET)
    for payout in payouts:
        assert payout.bank_account_encrypted is not None
        name = sepa_text(payout.payee_name, 70)
        address = _address(payout)
        payment: dict[str, Any] = {
            "name": name,
            "IBAN": IBAN(decrypt(payout.bank_account_encrypted)).compact,
            "amount": int(payout.payout_amount * 100),
            "currency": currency,
            "execution_date": execution,
            "description": f"Partner payout {reference(payout.id)}",
            "endtoend_id": reference(payout.id),
        }
        if payout.bank_code:
            payment["BIC"] = payout.bank_code
        postal = {}
        for key, source, limit in (
            ("town", "city", 35),
            ("postcode", "zip", 16),
            ("street_name", "address", 70),
        ):
            if address.get(source):
                try:
                    postal[key] = sepa_text(address[source], limit)
                except Unrepresentable:
                    continue  # optional in a SEPA file; a cross-border one was checked before
        if address.get("country"):
            postal["country"] = address["country"].upper()
        if postal:
            payment["address"] = postal
        transfer.add_payment(payment)
    content: bytes = transfer.export(validate=True, pretty_print=True)
    # The message id a bank's duplicate check sees: one per file, never reused (sepaxml
    # draws a random one).
    content = content.replace(
        f"<MsgId>{transfer.msg_id}</MsgId>".encode(),
        f"<MsgId>PORTAL-FILE-{file_id}</MsgId>".encode(),
    )
    if not sepa:  # sepaxml writes SLEV, which only the SEPA scheme knows
        content = content.replace(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>SHAR</ChrgBr>")
    return content


_FILE_ID_MODIFIERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _nacha(session: Session, payouts: Sequence[Payout]) -> tuple[bytes, str]:
    """A NACHA file of ACH credits; returns it and its file id modifier."""
    settings = get_settings()
    _needs(
        "An ACH file",
        PORTAL_ACH_ODFI_ROUTING=settings.ach_odfi_routing,
        PORTAL_ACH_COMPANY_ID=settings.ach_company_id,
        PORTAL_ACH_COMPANY_NAME=settings.ach_company_name,
    )
    if not achkit.is_valid_routing(settings.ach_odfi_routing):
        raise ConfigurationError("PORTAL_ACH_ODFI_ROUTING is not a valid ABA routing number")
    now = utc_now()
    # Files sent the same day are told apart by the modifier (A, B, …).
    same_day = (
        session.scalar(
            select(func.count())
            .select_from(PayoutFile)
            .where(PayoutFile.format == FileFormat.NACHA.value)
            .where(
                PayoutFile.created_at
                >= datetime.combine(now.date(), datetime.min.time(), now.tzinfo)
            )
        )
        or 0
    )
    modifier = _FILE_ID_MODIFIERS[(same_day - 1) % len(_FILE_ID_MODIFIERS)]
    company_name = ach_text(settings.ach_company_name, 16)
    ach = achkit.AchFile.create(
        origin_dfi=settings.ach_odfi_routing,
        company_id=settings.ach_company_id,
        destination_name=ach_text(settings.ach_bank_name or "BANK", 23),
        origin_name=company_name,
        file_id_modifier=modifier,
        creation_date=now.replace(tzinfo=None),
    )
    effective = next_business_day(now.date(), Calendar.FEDWIRE).isoformat()
    by_sec: dict[str, list[tuple[Payout, str]]] = {}
    for payout in payouts:
        sec = "PPD" if payout.payee_type is PayeeType.INDIVIDUAL else "CCD"
        by_sec.setdefault(sec, []).append((payout, ach_text(payout.payee_name, 22)))
    for sec in sorted(by_sec):
        batch = ach.batch(
            sec=sec,
            description=ach_text(settings.ach_entry_description, 10),
            effective_date=effective,
            company_name=company_name,
        )
        for payout, name in by_sec[sec]:
            assert payout.bank_account_encrypted is not None and payout.bank_code is not None
            assert payout.bank_account_type is not None
            batch.credit(
                name=name,
                routing=payout.bank_code,
                account=decrypt(payout.bank_account_encrypted),
                amount_cents=int(payout.payout_amount * 100),
                account_type=payout.bank_account_type.value,
                id_number=_ach_id(payout.id),
            )
    return _unique_traces(ach.render(), settings.ach_odfi_routing[:8]).encode("ascii"), modifier


def _ach_id(payout_id: int) -> str:
    """The entry's individual id (15 characters): the payout reference while it fits."""
    text = reference(payout_id)
    return text if len(text) <= 15 else f"P{payout_id}"


def _unique_traces(text: str, odfi8: str) -> str:
    """achkit numbers trace numbers from 1 in each batch; NACHA wants them unique in the file
    (and ascending in each batch), so entries are numbered through the whole file."""
    lines = text.split("\n")
    sequence = 0
    for number, line in enumerate(lines):
        if line.startswith("6"):
            sequence += 1
            lines[number] = line[:79] + odfi8 + f"{sequence:07d}"
    return "\n".join(lines)


def _csv(rows: list[list[str]], header: list[str] | None) -> bytes:
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\r\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return sink.getvalue().encode("utf-8")


def _paypal(payouts: Sequence[Payout]) -> bytes:
    return _csv(
        [
            [
                payout.payee_email or "",
                f"{payout.payout_amount:.2f}",
                payout.payout_currency,
                reference(payout.id),
                f"Partner payout {reference(payout.id)}",
                "PAYPAL",
            ]
            for payout in payouts
        ],
        header=None,  # PayPal reads the first row as a payment
    )


def _wise(payouts: Sequence[Payout]) -> bytes:
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
            one_line(payout.payee_name, 140),
            payout.payee_email or "",
            reference(payout.id),
            "PRIVATE" if payout.payee_type is PayeeType.INDIVIDUAL else "BUSINESS",
            "target",
            f"{payout.payout_amount:.2f}",
            payout.payout_currency,
            payout.payout_currency,
            "EMAIL",
        ]
        for payout in payouts
    ]
    return _csv(rows, header)


def _checks(payouts: Sequence[Payout], cutoff: date, first_check: int) -> bytes:
    def cell(value: object) -> str:
        return f"<td>{html.escape(str(value or ''))}</td>"

    rows = []
    for number, payout in enumerate(payouts, start=first_check):
        address = _address(payout)
        place = " ".join(
            address.get(part, "") for part in ("city", "state", "zip") if address.get(part)
        )
        lines = "<br>".join(
            html.escape(one_line(part, 300))
            for part in (address.get("address", ""), place, address.get("country", ""))
            if part
        )
        rows.append(
            "<tr>"
            + cell(number)
            + cell(reference(payout.id))
            + cell(one_line(payout.payee_name, 200))
            + f"<td>{lines}</td>"
            + f'<td class="amount">{html.escape(_money(payout))}</td>'
            + "</tr>"
        )
    total = sum((payout.payout_amount for payout in payouts), Decimal("0.00"))
    last = first_check + len(payouts) - 1
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Checks {first_check}–{last} for the payouts of {cutoff.isoformat()}</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #999;padding:6px;vertical-align:top;text-align:left}"
        ".amount{text-align:right;white-space:nowrap}</style></head><body>"
        f"<h1>Checks {first_check}–{last} for the payouts of {cutoff.isoformat()}</h1>"
        f"<p>{len(payouts)} checks, {total:,.2f} {payouts[0].payout_currency} in all.</p>"
        "<table><thead><tr><th>Check</th><th>Memo</th><th>Pay to the order of</th>"
        "<th>Postal address</th><th>Amount</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>\n"
    ).encode("utf-8")


def _money(payout: Payout) -> str:
    return f"{payout.payout_amount:,.2f} {payout.payout_currency}"


def _next_check_number(session: Session) -> int:
    used = session.scalar(select(func.max(PayoutFile.last_check))) or 0
    return max(used + 1, get_settings().check_first_number)


# --- making, voiding and listing files ---------------------------------------------------------


def _describe(record: PayoutFile, names: dict[int, str]) -> str:
    who = names.get(record.created_by, "a manager") if record.created_by else "the command line"
    made = f"{record.created_at:%Y-%m-%d %H:%M} UTC"
    return f"file #{record.id} ({record.format}, made by {who} on {made})"


def build_payout_file(
    session: Session,
    *,
    actor: Actor,
    cutoff: date | str,
    file_format: FileFormat | str,
    currency: str | None = None,
) -> PayoutFileResult:
    """The payout file of one format, in one payout currency, for a batch's payouts that no
    live file holds yet; managers only. The payouts it pays are locked to it until it is
    voided. `currency` may be left out when the format's payouts are all in one."""
    actor = require_manager(session, actor)
    two_factor.require(session, actor)
    fmt = _checked_format(file_format)
    day = checked_cutoff(cutoff)
    settings = get_settings()
    payouts = _scheduled(session, day, lock=True)
    ready, waiting = _sort(payouts, settings.payout_approvals >= 2)
    currencies = sorted(code for kind, code in ready if kind is fmt)
    if currency is None and len(currencies) > 1:
        raise ValidationError(
            {
                "currency": f"The {fmt.value} payouts of this batch are in "
                f"{', '.join(currencies)}: choose the currency of the file."
            }
        )
    currency = currency.upper() if currency else (currencies[0] if currencies else "")
    chosen = ready.get((fmt, currency), [])
    if not chosen:
        _refuse_empty(session, day, fmt, payouts, waiting)
    _refuse_unrepresentable(_unrepresentable(chosen, fmt))
    record = PayoutFile(
        cutoff=day,
        format=fmt.value,
        payout_count=len(chosen),
        total=sum((payout.payout_amount for payout in chosen), Decimal("0.00")),
        currency=currency,
        sha256="",
        created_by=actor.user_id,
        payout_ids=[payout.id for payout in chosen],
    )
    if fmt is FileFormat.CHECKS:
        record.first_check = _next_check_number(session)
        record.last_check = record.first_check + len(chosen) - 1
    session.add(record)
    session.flush()
    if fmt in (FileFormat.SEPA, FileFormat.CROSS_BORDER):
        content = _iso20022(chosen, record.id, currency, sepa=fmt is FileFormat.SEPA)
        record.message_id = f"PORTAL-FILE-{record.id}"
    elif fmt is FileFormat.NACHA:
        content, modifier = _nacha(session, chosen)
        record.message_id = f"{record.created_at:%y%m%d}-{modifier}"
    elif fmt is FileFormat.PAYPAL:
        content = _paypal(chosen)
    elif fmt is FileFormat.WISE:
        content = _wise(chosen)
    else:
        assert record.first_check is not None
        content = _checks(chosen, day, record.first_check)
    record.sha256 = hashlib.sha256(content).hexdigest()
    for payout in chosen:  # locked and read fresh by _scheduled: no other file has them
        payout.payout_file_id = record.id
    audit.record_by(
        session,
        actor,
        "payout.file",
        "payout_file",
        record.id,
        after={
            "cutoff": day.isoformat(),
            "format": fmt.value,
            "payouts": record.payout_ids,
            "total": str(record.total),
            "currency": currency,
            "sha256": record.sha256,
            **({"checks": [record.first_check, record.last_check]} if record.first_check else {}),
        },
    )
    spec = FORMATS[fmt]
    return PayoutFileResult(
        file_id=record.id,
        cutoff=day,
        file_format=fmt,
        content=content,
        file_name=f"payouts-{day.isoformat()}-{fmt.value}-{currency}-{record.id}.{spec.extension}",
        media_type=spec.media_type,
        payouts=len(chosen),
        total=record.total,
        currency=currency,
        sha256=record.sha256,
    )


def _refuse_empty(
    session: Session,
    day: date,
    fmt: FileFormat,
    payouts: Sequence[Payout],
    waiting: list[Waiting],
) -> None:
    in_files = {p.payout_file_id for p in payouts if payout_route(p) is fmt and p.payout_file_id}
    if in_files:
        files = session.scalars(select(PayoutFile).where(PayoutFile.id.in_(in_files))).all()
        names = _user_names(session, [f.created_by for f in files])
        held = "; ".join(_describe(record, names) for record in files)
        raise ValidationError(
            {
                "payouts": f"The {fmt.value} payouts of the batch of {day.isoformat()} are "
                f"already in {held}. A payout is paid once: void that file (with the reason) "
                "before making it again."
            }
        )
    waits = [w for w in waiting if w.file_format is fmt]
    if waits:
        raise ValidationError(
            {
                "payouts": f"No {fmt.value} payouts of the batch of {day.isoformat()} can be "
                "filed now: "
                + "; ".join(
                    f"{len(w.payout_ids)} {w.reason} (#{', #'.join(map(str, w.payout_ids))})"
                    for w in waits
                )
                + "."
            }
        )
    raise NotFound(f"No scheduled {fmt.value} payouts in the batch of {day.isoformat()}.")


def void_payout_file(
    session: Session, *, actor: Actor, file_id: int, reason: str
) -> PayoutFileRecord:
    """Withdraw a live file (the bank refused it, it was lost): its payouts that are still
    scheduled return to the pool for a new file. Paid payouts stay paid. Managers only."""
    actor = require_manager(session, actor)
    errors = FieldErrors()
    why = clean_text(
        errors, "reason", reason, label="Reason", max_length=1000, multiline=True, required=True
    )
    errors.raise_if_any()
    record = session.get(PayoutFile, file_id, with_for_update=True)
    if record is None:
        raise NotFound("Payout file not found.")
    if record.status is PayoutFileStatus.VOID:
        raise ValidationError({"file": f"File #{record.id} is already void."})
    settled = session.scalars(
        select(Payout.id).where(
            Payout.payout_file_id == record.id, Payout.status != PayoutStatus.SCHEDULED
        )
    ).all()
    if settled:
        raise ValidationError(
            {
                "file": "The bank already paid or failed "
                + ("payouts #" if len(settled) > 1 else "payout #")
                + ", #".join(map(str, settled))
                + f" of file #{record.id}: it took the file, so it cannot be voided. Mark the "
                "payouts it did not pay as failed instead."
            }
        )
    freed = session.scalars(
        select(Payout)
        .where(Payout.payout_file_id == record.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for payout in freed:
        payout.payout_file_id = None
    returned = [payout.id for payout in freed]
    record.status = PayoutFileStatus.VOID
    record.voided_by = actor.user_id
    record.voided_at = utc_now()
    record.void_reason = why or ""
    audit.record_by(
        session,
        actor,
        "payout.file_void",
        "payout_file",
        record.id,
        before={"status": "live"},
        after={"status": "void", "reason": record.void_reason, "returned": list(returned)},
    )
    (view,) = _records(session, [record])
    return view


def list_payout_files(
    session: Session, *, actor: Actor, cutoff: date | None = None, limit: int = 50
) -> list[PayoutFileRecord]:
    """Payout files made so far, newest first; managers only."""
    require_manager(session, actor)
    query = select(PayoutFile).order_by(PayoutFile.id.desc()).limit(min(max(limit, 1), 500))
    if cutoff is not None:
        query = query.where(PayoutFile.cutoff == cutoff)
    return _records(session, session.scalars(query).all())


POSITIVE_PAY_COLUMNS = (
    "account_number",
    "check_number",
    "amount",
    "issue_date",
    "payee_name",
    "void",
)


def positive_pay_file(session: Session, *, actor: Actor, file_id: int) -> PayoutFileResult:
    """The bank's Positive Pay list of a checks file: every check's account, number, amount,
    issue date and payee, so the bank honours only these; a void file's checks marked void.
    Managers only; audited."""
    actor = require_manager(session, actor)
    record = session.get(PayoutFile, file_id)
    if record is None or record.first_check is None:
        raise NotFound("No checks file with that number.")
    account = get_settings().check_account
    if not account:
        raise ConfigurationError("Positive Pay needs PORTAL_CHECK_ACCOUNT")
    payouts = {
        p.id: p for p in session.scalars(select(Payout).where(Payout.id.in_(record.payout_ids)))
    }
    rows = [
        [
            account,
            str(record.first_check + index),
            f"{payouts[payout_id].payout_amount:.2f}",
            record.created_at.date().isoformat(),
            one_line(payouts[payout_id].payee_name, 200),
            "V" if record.status is PayoutFileStatus.VOID else "",
        ]
        for index, payout_id in enumerate(record.payout_ids)
    ]
    content = _csv(rows, list(POSITIVE_PAY_COLUMNS))
    digest = hashlib.sha256(content).hexdigest()
    audit.record_by(
        session,
        actor,
        "payout.positive_pay",
        "payout_file",
        record.id,
        after={"checks": [record.first_check, record.last_check], "sha256": digest},
    )
    return PayoutFileResult(
        file_id=record.id,
        cutoff=record.cutoff,
        file_format=FileFormat.CHECKS,
        content=content,
        file_name=f"positive-pay-{record.cutoff.isoformat()}-{record.id}.csv",
        media_type="text/csv",
        payouts=len(rows),
        total=record.total,
        currency=record.currency,
        sha256=digest,
    )
