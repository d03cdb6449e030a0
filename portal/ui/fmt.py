"""Formatting for display: money, rates, dates, and user text made inert for Markdown."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from portal.config import get_settings
from portal.types import utc_now

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def money(amount: Decimal | None, *, currency: bool = True) -> str:
    """`1,234.50 USD` (or `—` when there is none)."""
    if amount is None:
        return "—"
    text = f"{amount:,.2f}"
    return f"{text} {get_settings().currency}" if currency else text


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
    """User text for a Markdown widget: every Markdown special character escaped, so links,
    images and emphasis show as typed."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


METHOD_NAMES = {
    "bank_transfer": "Bank transfer",
    "paypal": "PayPal",
    "wise": "Wise",
    "check": "Check",
}


def method(value: str) -> str:
    """A payout method as its provider writes it: `paypal` → `PayPal`."""
    return METHOD_NAMES.get(value, label(value))


def label(value: str) -> str:
    """`bank_transfer` → `Bank transfer`."""
    return value.replace("_", " ").capitalize()
