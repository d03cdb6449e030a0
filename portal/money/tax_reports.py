"""The yearly tax report and the filing file of the 1099 lists (DOMAIN.md, "Tax reporting")."""

from __future__ import annotations

import csv
import enum
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.core import audit
from portal.core.access import Actor, require_manager
from portal.core.config import get_settings
from portal.core.crypto import decrypt, masked
from portal.core.errors import ValidationError
from portal.core.models import (
    Partner,
    PartnerProfile,
    PaymentMethod,
    Payout,
    PayoutStatus,
    TaxForm,
)


class TaxList(enum.StrEnum):
    """The lists of the yearly tax report (DOMAIN.md, "Tax reporting")."""

    NEC = "1099-NEC"  # US payees (W-9) paid at least the year's threshold outside PayPal
    PAYPAL = "1099-K"  # US payees' PayPal payouts: PayPal reports them, shown apart
    FOREIGN = "1042-S"  # foreign payees (W-8BEN, W-8BEN-E)


@dataclass(frozen=True)
class TaxReportRow:
    partner_id: int
    company_name: str  # the legal name the partner registered under
    paid_total: Decimal  # in the program currency, by paid date, returned payouts left out
    payouts: int
    tax_id: str  # masked
    tin_type: str  # SSN, EIN, foreign, or missing
    tax_form: str
    tax_form_received_at: datetime | None
    address: str
    city: str
    state: str
    zip: str
    country: str


@dataclass(frozen=True)
class TaxReport:
    year: int
    threshold: Decimal
    nec: list[TaxReportRow]
    paypal: list[TaxReportRow]
    foreign: list[TaxReportRow]


PAID_TOTAL = func.sum(Payout.amount)
_US_FORMS = (TaxForm.W9,)
_FOREIGN_FORMS = (TaxForm.W8BEN, TaxForm.W8BENE)
TAX_COLUMNS = (
    PartnerProfile.tax_id_last4,
    PartnerProfile.tax_id_type,
    PartnerProfile.tax_form,
    PartnerProfile.tax_form_received_at,
    PartnerProfile.tax_form_expires_on,
    PartnerProfile.address,
    PartnerProfile.city,
    PartnerProfile.state,
    PartnerProfile.zip,
    PartnerProfile.country,
)


def tax_threshold(year: int) -> Decimal:
    """The year's 1099-NEC threshold: the configured year's, else the latest before it (600.00
    for payments made through 2025, 2,000.00 for 2026, indexed from 2027 by configuration)."""
    table = get_settings().tax_thresholds
    earlier = [listed for listed in table if listed <= year]
    return table[max(earlier)] if earlier else table[min(table)]


def paid_in_year(year: int, tax_list: TaxList = TaxList.NEC) -> Select[Any]:
    """Partners with their payouts paid in a calendar year (UTC) that belong on `tax_list`,
    grouped by partner and profile; columns are the caller's to choose. Returned payouts are
    not paid, so they count nowhere."""
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    query = (
        select()
        .select_from(Partner)
        .join(Payout, Payout.partner_id == Partner.id)
        .join(PartnerProfile, PartnerProfile.partner_id == Partner.id)
        .where(Payout.status == PayoutStatus.PAID, Payout.paid_at >= start, Payout.paid_at < end)
        .group_by(Partner.id, Partner.company_name, *TAX_COLUMNS)
    )
    if tax_list is TaxList.FOREIGN:
        return query.where(PartnerProfile.tax_form.in_(_FOREIGN_FORMS))
    query = query.where(PartnerProfile.tax_form.in_(_US_FORMS))  # a W-9 on file
    if tax_list is TaxList.PAYPAL:
        return query.where(Payout.payment_method == PaymentMethod.PAYPAL)
    return query.where(Payout.payment_method != PaymentMethod.PAYPAL).having(
        tax_threshold(year) <= PAID_TOTAL
    )


def _checked_year(year: int) -> int:
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationError({"year": "Year must be between 2000 and 2100."})
    return year


def _tax_rows(session: Session, year: int, tax_list: TaxList) -> list[TaxReportRow]:
    rows = session.execute(
        paid_in_year(year, tax_list)
        .add_columns(
            Partner.id, Partner.company_name, PAID_TOTAL, func.count(Payout.id), *TAX_COLUMNS
        )
        .order_by(Partner.company_name, Partner.id)
    )
    return [
        TaxReportRow(
            partner_id=row.id,
            company_name=row.company_name,
            paid_total=Decimal(row[2]).quantize(Decimal("0.01")),
            payouts=row[3],
            tax_id=masked(row.tax_id_last4),
            tin_type=row.tax_id_type.value.upper() if row.tax_id_type else "missing",
            tax_form=row.tax_form.value if row.tax_form else "missing",
            tax_form_received_at=row.tax_form_received_at,
            address=row.address or "",
            city=row.city or "",
            state=row.state or "",
            zip=row.zip or "",
            country=row.country or "",
        )
        for row in rows
    ]


def tax_report(session: Session, *, actor: Actor, year: int) -> TaxReport:
    """A calendar year's (UTC) tax lists: US payees paid at least the year's threshold outside
    PayPal (1099-NEC), their PayPal payouts apart (PayPal files 1099-K), foreign payees
    (1042-S). Tax ids masked; managers only."""
    require_manager(session, actor)
    year = _checked_year(year)
    return TaxReport(
        year=year,
        threshold=tax_threshold(year),
        nec=_tax_rows(session, year, TaxList.NEC),
        paypal=_tax_rows(session, year, TaxList.PAYPAL),
        foreign=_tax_rows(session, year, TaxList.FOREIGN),
    )


FILING_COLUMNS = (
    "form",
    "legal_name",
    "tin_type",
    "tin",
    "address",
    "city",
    "state",
    "zip",
    "country",
    "paid_total",
    "currency",
    "payouts",
    "tax_form",
)


@dataclass(frozen=True)
class FilingFile:
    year: int
    content: bytes
    rows: int
    sha256: str
    file_name: str


def tax_filing_file(session: Session, *, actor: Actor, year: int) -> FilingFile:
    """The year's tax lists with full taxpayer ids, for the filer: decrypted only into this
    file, for managers only, audited with its SHA-256 (never the ids)."""
    actor = require_manager(session, actor)
    year = _checked_year(year)
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(FILING_COLUMNS)
    count = 0
    currency = get_settings().currency
    for tax_list in TaxList:
        listed = _tax_rows(session, year, tax_list)
        secrets = dict(
            session.execute(
                select(PartnerProfile.partner_id, PartnerProfile.tax_id_encrypted).where(
                    PartnerProfile.partner_id.in_([row.partner_id for row in listed])
                )
            ).all()
        )
        for row in listed:
            secret = secrets.get(row.partner_id)
            writer.writerow(
                [
                    tax_list.value,
                    row.company_name,
                    row.tin_type,
                    decrypt(secret) if secret else "",
                    row.address,
                    row.city,
                    row.state,
                    row.zip,
                    row.country,
                    f"{row.paid_total:.2f}",
                    currency,
                    row.payouts,
                    row.tax_form,
                ]
            )
            count += 1
    content = sink.getvalue().encode("utf-8")
    digest = hashlib.sha256(content).hexdigest()
    audit.record_by(
        session,
        actor,
        "tax.filing_file",
        "tax_year",
        str(year),
        after={"rows": count, "sha256": digest},
    )
    return FilingFile(
        year=year,
        content=content,
        rows=count,
        sha256=digest,
        file_name=f"tax-filing-{year}.csv",
    )
