"""Formatting for display: money, rates, dates, and user text made inert for Markdown."""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from decimal import Decimal

import phonenumbers
from ua_parser import parse as parse_user_agent

from portal.core.config import get_settings
from portal.core.types import utc_now

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")
WORD_JOINER = "\u2060"
# The first character of what GFM autolinks: a scheme's "://" (escaped as ":\/\/" or not),
# "www." and the "@" of an address.
_AUTOLINKED = re.compile(r"(?i):(?=\\?/\\?/)|w(?=ww\\?\.)|@")


def money(amount: Decimal | None, *, currency: bool = True) -> str:
    """`1,234.50 USD` (or `—` when there is none)."""
    if amount is None:
        return "—"
    text = f"{amount:,.2f}"
    return f"{text} {get_settings().currency}" if currency else text


def money_in(amount: Decimal | None, code: str) -> str:
    """An amount in a payout currency: `92.17 EUR`."""
    return "—" if amount is None else f"{amount:,.2f} {code}"


def arrives(amount: Decimal, code: str, rate: Decimal) -> str:
    """What a payout in another currency than the program's brings: `92.17 EUR at 0.9217`;
    empty for a payout in the program currency."""
    if code == get_settings().currency:
        return ""
    return f"{money_in(amount, code)} at {rate.normalize()}"


def program_currency() -> str:
    return get_settings().currency


def rate(value: Decimal | None) -> str:
    """A commission rate as a percentage: `12.5%`."""
    if value is None:
        return "—"
    return f"{(value * 100).normalize():f}%"


def percent(value: Decimal | float) -> str:
    return f"{float(value):.1%}"


def day(value: datetime | date | None) -> str:
    """A date as `2026-11-23` (UTC for timestamps)."""
    if value is None:
        return "—"
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def utc_today() -> date:
    """Today's date in UTC, the calendar every stored day and cut-off uses."""
    return utc_now().date()


def moment(value: datetime | None) -> str:
    """A timestamp as `2026-11-23 21:51 UTC`."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def inert(text: str) -> str:
    """User text for a Markdown widget (captions, alerts, help): every Markdown special
    character escaped, so links, images and emphasis show as typed — and the bare URLs, `www.`
    names and email addresses that Streamlit's Markdown links by itself broken up with an
    invisible word joiner, since escaping does not stop those."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    return _AUTOLINKED.sub(lambda match: match.group(0) + WORD_JOINER, escaped)


METHOD_NAMES = {
    "bank_transfer": "Bank transfer",
    "paypal": "PayPal",
    "wise": "Wise",
    "check": "Check",
}


def method(value: str) -> str:
    """A payout method as its provider writes it: `paypal` → `PayPal`."""
    return METHOD_NAMES.get(value, label(value))


def chart_text(text: str) -> str:
    """User text for a plotly label or hover text: plotly reads `<a href>`, `<b>`, `<br>` and
    the like in them, so `&`, `<` and `>` go in as entities, which it shows as typed."""
    return html.escape(text, quote=False)


def label(value: str) -> str:
    """`bank_transfer` → `Bank transfer`."""
    return value.replace("_", " ").capitalize()


def browser(user_agent: str | None) -> str:
    """A browser as people name it, `Chrome on Windows`, from its User-Agent header."""
    found = parse_user_agent(user_agent or "")
    name = found.user_agent.family if found.user_agent else ""
    system = found.os.family if found.os and found.os.family != "Other" else ""
    if not name or name == "Other":
        return "an unknown browser" if not system else f"a browser on {system}"
    return f"{name} on {system}" if system else name


def size(number_of_bytes: int) -> str:
    """A file's size as people read it: `312 bytes`, `48 KB`, `3.4 MB`."""
    if number_of_bytes < 1024:
        return count(number_of_bytes, "byte")
    if number_of_bytes < 1024 * 1024:
        return f"{number_of_bytes / 1024:,.0f} KB"
    return f"{number_of_bytes / 1048576:,.1f} MB"


def count(number: int, noun: str, plural: str = "") -> str:
    """A count with its noun in the right number: `1 partner`, `1,234 leads` (`plural` for
    a noun that does not take an -s: `count(2, "entry", "entries")`)."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def phone(number: str | None) -> str:
    """A stored phone (E.164, `+442079460958`) as people write it: `+44 20 7946 0958`;
    `—` when there is none, and as stored when it is not a number phonenumbers knows."""
    if not number:
        return "—"
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
