"""Where a payout's money goes: the details fixed on the payout, the file that pays it (its
route), and the text and dates each format's rulebook allows.

Routes (DOMAIN.md, "Money leaving the program"):
- a US bank account, in USD → `nacha` (ACH credit entries: CCD for a business, PPD for a person);
- an IBAN of a SEPA country, in EUR → `sepa` (the SEPA credit transfer scheme);
- any other IBAN → `cross_border` (an ISO 20022 credit transfer with the bank's BIC, both
  parties' addresses and shared charges);
- PayPal, Wise and checks → their own files.
A payout that fits no route is not paid, and the reason says what is missing.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import holidays
from anyascii import anyascii
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from portal.core.crypto import decrypt
from portal.core.models import BankAccountType, PaymentMethod


class FileFormat(enum.StrEnum):
    SEPA = "sepa"
    CROSS_BORDER = "cross_border"
    NACHA = "nacha"
    PAYPAL = "paypal"
    WISE = "wise"
    CHECKS = "checks"


class Details(Protocol):
    """What a route needs: a partner's profile, or the details fixed on a payout."""

    @property
    def payment_method(self) -> PaymentMethod | None: ...
    @property
    def bank_scheme(self) -> str | None: ...
    @property
    def bank_code(self) -> str | None: ...
    @property
    def bank_account_encrypted(self) -> str | None: ...
    @property
    def bank_account_type(self) -> BankAccountType | None: ...


@dataclass(frozen=True)
class Route:
    """The file a payout goes in, or why it fits none (and what would fix it)."""

    file_format: FileFormat | None
    reason: str = ""
    remedy: str = ""


def iban_on_file(details: Details) -> IBAN | None:
    """The IBAN on file, decrypted only to read its country and SEPA reach, never shown."""
    if details.bank_scheme != "iban" or details.bank_account_encrypted is None:
        return None
    try:
        return IBAN(decrypt(details.bank_account_encrypted))
    except SchwiftyException:
        return None


def route_of(details: Details, *, currency: str, address_country: str | None) -> Route:
    """The file that pays these details in `currency`."""
    method = details.payment_method
    if method is PaymentMethod.PAYPAL:
        return Route(FileFormat.PAYPAL)
    if method is PaymentMethod.WISE:
        return Route(FileFormat.WISE)
    if method is PaymentMethod.CHECK:
        return Route(FileFormat.CHECKS)
    if method is not PaymentMethod.BANK_TRANSFER:
        return Route(None, "no payout method on file", "Choose a payout method on your Profile.")
    if details.bank_scheme == "us":
        if currency != "USD":
            return Route(
                None,
                f"a US bank account is paid in USD, not {currency}",
                "Enter an IBAN, or choose PayPal, Wise or a check, on your Profile page.",
            )
        if details.bank_account_type is None:
            return Route(
                None,
                "the US account's type (checking or savings) is not on file",
                "Say whether your US account is a checking or a savings account on your "
                "Profile page.",
            )
        return Route(FileFormat.NACHA)
    iban = iban_on_file(details)
    if iban is None:
        return Route(None, "no valid bank account on file", "Enter your IBAN on your Profile.")
    if currency == "EUR" and iban.in_sepa_zone:
        return Route(FileFormat.SEPA)
    country = iban.country_code
    if not details.bank_code or not address_country:
        return Route(
            None,
            f"a transfer to a {country} IBAN in {currency} goes cross-border and needs the "
            "bank's BIC and the partner's postal address",
            "Enter your bank's BIC and your postal address (with its country) on your "
            "Profile page.",
        )
    return Route(FileFormat.CROSS_BORDER)


# --- text each format allows ----------------------------------------------------------------

SEPA_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
)
_REPLACEMENTS = {"&": "+"}  # the usual stand-in where a rulebook has no ampersand


class Unrepresentable(ValueError):
    """Text with nothing left once put into a format's character set (an emoji-only name)."""


def _plain(value: str) -> str:
    """Letters, digits and punctuation spelled in ASCII; symbols and emoji dropped; every
    kind of space, line or paragraph separator and control character made one space."""
    kept = []
    for char in value:
        category = unicodedata.category(char)
        if category[0] in "ZC":
            kept.append(" ")
        elif category in ("So", "Sk", "Cs", "Co", "Cn"):
            continue  # anyascii spells emoji as :shortcodes:, which names nobody
        else:
            kept.append(char)
    return anyascii("".join(kept))


def _fitted(text: str, allowed: frozenset[str], max_length: int) -> str:
    text = "".join(_REPLACEMENTS.get(char, char) for char in text)
    text = "".join(char if char in allowed else " " for char in text)
    text = re.sub(r"\s+", " ", text).strip()[:max_length].rstrip()
    if not any(char.isalnum() for char in text):
        raise Unrepresentable(text)
    return text


def sepa_text(value: str, max_length: int) -> str:
    """`value` in the SEPA character set (EPC rulebook), transliterated, at most `max_length`
    characters; raises Unrepresentable when no letter or digit is left."""
    return _fitted(_plain(value), SEPA_CHARACTERS, max_length)


ACH_CHARACTERS = frozenset(chr(code) for code in range(0x20, 0x7F))


def ach_text(value: str, max_length: int) -> str:
    """`value` as an ACH alphanumeric field: upper-case printable ASCII, transliterated."""
    return _fitted(_plain(value).upper(), ACH_CHARACTERS, max_length)


def one_line(value: str, max_length: int) -> str:
    """Free text for a provider's CSV: one line, no control characters, within its length."""
    text = "".join(" " if unicodedata.category(char)[0] in "ZC" else char for char in value)
    return re.sub(r"\s+", " ", text).strip()[:max_length]


# --- business days --------------------------------------------------------------------------


class Calendar(enum.StrEnum):
    TARGET = "XECB"  # the euro area's payment system: SEPA settles on its business days
    FEDWIRE = "XFED"  # the Federal Reserve: ACH settles on its business days


def next_business_day(after: date, calendar: Calendar) -> date:
    """The first business day of the calendar strictly after `after`."""
    closed = holidays.financial_holidays(calendar.value, years=(after.year, after.year + 1))
    day = after + timedelta(days=1)
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return day
