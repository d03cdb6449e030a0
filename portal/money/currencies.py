"""Payout currencies and the exchange rates a batch pays them at (DOMAIN.md, "Payout currency").

Commissions are earned, netted and judged against the minimum in the program currency
(`PORTAL_CURRENCY`). Each partner is paid in a currency the program enables
(`PORTAL_PAYOUT_CURRENCIES`): the one it chose on its profile, else the currency of its bank
account's country when enabled, else the program currency. A batch takes one rate per payout
currency in use — typed by a manager, or read from the European Central Bank's reference
rates (`eurofxref-daily.xml`) or a CSV `currency,rate` — and records it on each payout with its
date and source; the amount paid is the base amount × rate, rounded half-up to cents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from babel.numbers import get_territory_currencies
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.core.config import NOT_TWO_DECIMALS, ProgramRules, get_settings
from portal.core.crypto import decrypt
from portal.core.errors import ValidationError
from portal.core.models import PaymentMethod, Payout
from portal.core.types import utc_now
from portal.core.uploads import read_csv, upload_text
from portal.core.validation import FieldErrors

CENT = Decimal("0.01")
RATE_QUANTUM = Decimal("0.00000001")
MAX_RATES_BYTES = 512 * 1024
MAX_RATES_ROWS = 1000  # the world has fewer currencies
_RATE = re.compile(r"[0-9]{1,7}(?:\.[0-9]{1,12})?")
_CODE = re.compile(r"[A-Z]{3}")


class HasPayoutCurrency(Protocol):
    @property
    def payment_method(self) -> PaymentMethod | None: ...
    @property
    def payout_currency(self) -> str | None: ...
    @property
    def bank_scheme(self) -> str | None: ...
    @property
    def bank_account_encrypted(self) -> str | None: ...


@dataclass(frozen=True)
class Quote:
    """An exchange rate for a batch: units of the payout currency per unit of the program
    currency, the day it was published and where it came from."""

    rate: Decimal
    on: date
    source: str


def program_currency() -> str:
    return get_settings().currency


def enabled(rules: ProgramRules) -> tuple[str, ...]:
    """The currencies partners may be paid in, the program currency first."""
    program = program_currency()
    return (program, *[code for code in rules.payout_currencies if code != program])


def payable_codes() -> list[str]:
    """Every ISO 4217 currency the portal can pay in (counted in cents), for choosing the
    payout currencies."""
    import pycountry  # schwifty's own dependency: the ISO 4217 list

    return sorted(
        currency.alpha_3
        for currency in pycountry.currencies
        if currency.alpha_3 not in NOT_TWO_DECIMALS and not currency.alpha_3.startswith("X")
    )


def default_for(details: HasPayoutCurrency, rules: ProgramRules) -> str:
    """For a bank transfer, the currency of the account's country when the program pays in
    it; else the program currency."""
    if details.payment_method is not PaymentMethod.BANK_TRANSFER:
        local = ""
    elif details.bank_scheme == "us":
        local = "USD"
    elif details.bank_scheme == "iban" and details.bank_account_encrypted:
        try:
            country = IBAN(decrypt(details.bank_account_encrypted)).country_code
        except SchwiftyException:
            country = ""
        # The currency in use there today, from the Unicode CLDR (Bulgaria: EUR since 2026).
        used = get_territory_currencies(country, start_date=utc_now().date()) if country else []
        local = used[0] if used else ""
    else:
        local = ""
    return local if local in enabled(rules) else program_currency()


def payout_currency_of(details: HasPayoutCurrency | None, rules: ProgramRules) -> str:
    """The currency a partner is paid in now: its choice while the program pays in it."""
    if details is None:
        return program_currency()
    chosen = details.payout_currency
    return chosen if chosen in enabled(rules) else default_for(details, rules)


def convert(amount: Decimal, rate: Decimal) -> Decimal:
    """What `amount` in the program currency pays at `rate`, rounded half-up to cents."""
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


# --- reading rates ------------------------------------------------------------------------------


def _rate_of(text: str) -> Decimal | None:
    text = text.strip()
    if not _RATE.fullmatch(text):
        return None
    rate = Decimal(text)
    return rate if rate > 0 else None


def clean_rate(errors: FieldErrors, field: str, value: object, *, label: str) -> Decimal | None:
    """A typed exchange rate: a positive decimal number such as 0.9234."""
    rate = _rate_of(value) if isinstance(value, str) else None
    if isinstance(value, Decimal) and value.is_finite() and value > 0:
        rate = value
    if rate is None:
        errors.add(field, f"{label} must be a positive decimal number such as 0.9234.")
        return None
    return rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def read_rates(content: bytes | str, *, today: date) -> dict[str, Quote]:
    """Rates from the program currency to every currency a rates file names: the ECB's
    `eurofxref-daily.xml` (euro reference rates, crossed through the euro when the program
    currency is not EUR), or a CSV with the columns currency,rate (dated `today`)."""
    text = upload_text(content, field="rates", what="The rates file", max_bytes=MAX_RATES_BYTES)
    if text.lstrip().startswith("<"):
        return _ecb(text)
    return _csv_rates(text, today)


def _ecb(text: str) -> dict[str, Quote]:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError:
        raise ValidationError({"rates": "The rates file is not well-formed XML."}) from None
    days = [cube for cube in root.iter() if _local(cube.tag) == "Cube" and cube.get("time")]
    if len(days) != 1:
        raise ValidationError(
            {"rates": "This is not the ECB's daily reference rates file (eurofxref-daily.xml)."}
        )
    (day,) = days
    try:
        published = date.fromisoformat(day.get("time", ""))
    except ValueError:
        raise ValidationError({"rates": "The rates file's date is not a date."}) from None
    per_euro: dict[str, Decimal] = {"EUR": Decimal(1)}
    for cube in day:
        code, rate = (cube.get("currency") or "").upper(), _rate_of(cube.get("rate") or "")
        if _CODE.fullmatch(code) and rate is not None:
            per_euro[code] = rate
    program = program_currency()
    if program not in per_euro:
        raise ValidationError({"rates": f"The ECB file has no rate for {program}."})
    return {
        code: Quote(
            (rate / per_euro[program]).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP),
            published,
            "ECB reference rate" + ("" if program == "EUR" else f" via EUR/{program}"),
        )
        for code, rate in per_euro.items()
        if code != program
    }


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _csv_rates(text: str, today: date) -> dict[str, Quote]:
    table = read_csv(text, field="rates", what="The rates file", max_rows=MAX_RATES_ROWS)
    if table.columns[:2] != ["currency", "rate"]:
        raise ValidationError(
            {"rates": "The rates file needs the header row currency,rate (or the ECB XML)."}
        )
    quotes: dict[str, Quote] = {}
    problems = []
    for line, row in table.records():
        code, rate = row["currency"].strip().upper(), _rate_of(row["rate"])
        if not _CODE.fullmatch(code) or rate is None:
            problems.append(f"row {line}: {code or '?'} {row['rate']!r}")
            continue
        quotes[code] = Quote(rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP), today, "CSV")
    if problems:
        raise ValidationError(
            {"rates": "Rates must be positive decimal numbers: " + "; ".join(problems) + "."}
        )
    return quotes


def last_rates(session: Session, currencies: set[str]) -> dict[str, Decimal]:
    """The rate the latest payout in each currency was made at."""
    found: dict[str, Decimal] = {}
    for code in sorted(currencies):
        rate = session.scalar(
            select(Payout.exchange_rate)
            .where(Payout.payout_currency == code, Payout.currency != code)
            .order_by(Payout.created_at.desc(), Payout.id.desc())
            .limit(1)
        )
        if rate is not None:
            found[code] = rate
    return found


def check_jumps(session: Session, quotes: Mapping[str, Quote], *, confirmed: bool) -> None:
    """Refuse a rate that moved more than `PORTAL_RATE_MAX_CHANGE` from the last one used for
    its currency (a typo such as 9.2 for 0.92), unless the manager confirmed it."""
    if confirmed:
        return
    limit = get_settings().rate_max_change
    jumps = []
    for code, last in last_rates(session, set(quotes)).items():
        change = abs(quotes[code].rate - last) / last
        if change > limit:
            jumps.append(
                f"{code} {quotes[code].rate} is {change:.0%} away from {last}, the last rate used"
            )
    if jumps:
        raise ValidationError(
            {
                "rates": "; ".join(jumps)
                + f" (more than {limit:.0%}). Check the rate, or confirm it to use it."
            }
        )
