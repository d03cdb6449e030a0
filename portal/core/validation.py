"""Field validation shared by every service: each failure names its field."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TypeVar
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from portal.core.config import get_settings
from portal.core.errors import ValidationError

E = TypeVar("E", bound=Enum)


class FieldErrors:
    """Collects one message per field, then raises them together."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


# Bidirectional embeddings, overrides and isolates reorder how the text around them reads
# ("exe.txt" shown for "txt.exe"); nobody needs them in a name, an address or a note.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _has_control_characters(value: str, *, allow_newlines: bool) -> bool:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(
        (unicodedata.category(char) in {"Cc", "Cs"} or char in BIDI_CONTROLS)
        and char not in allowed
        for char in value
    )


def is_text(value: str) -> bool:
    """Whether a str is real text: no lone surrogates (what undecodable bytes become)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _given(
    errors: FieldErrors, field: str, value: str | None, *, label: str, required: bool
) -> str | None:
    """The value trimmed, or None when empty (a refusal recorded if it was required). A value
    that is not text (a number, a list from JSON), or text with lone surrogates (bytes that
    were not UTF-8), is refused naming the field."""
    if value is not None and not isinstance(value, str):
        errors.add(field, f"{label} must be text.")
        return None
    if value is not None and not is_text(value):
        errors.add(field, f"{label} contains characters that are not valid text.")
        return None
    text = (value or "").strip()
    if not text and required:
        errors.add(field, f"{label} is required.")
    return text or None


def clean_text(
    errors: FieldErrors,
    field: str,
    value: str | None,
    *,
    label: str,
    max_length: int,
    required: bool = False,
    multiline: bool = False,
) -> str | None:
    """Trimmed text, or None when empty; records why it is refused."""
    text = _given(errors, field, value, label=label, required=required)
    if text is None:
        return None
    if len(text) > max_length:
        errors.add(field, f"{label} must be at most {max_length} characters.")
        return None
    if _has_control_characters(text, allow_newlines=multiline):
        errors.add(field, f"{label} contains control characters.")
        return None
    return text


def clean_email(
    errors: FieldErrors,
    field: str,
    value: str | None,
    *,
    label: str,
    required: bool = False,
    mailed: bool = False,
) -> str | None:
    """A syntactically valid email address in its normalised form, or None when empty. An
    address the portal mails to (`mailed`) must have an ASCII part before the @: a mail
    server without SMTPUTF8 cannot take any other, so it is refused here, not found
    undeliverable later. Its domain may be internationalised (sent as IDNA)."""
    text = _given(errors, field, value, label=label, required=required)
    if text is None:
        return None
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        errors.add(field, f"{label} is not a valid email address ({error}).")
        return None
    if mailed and not checked.local_part.isascii():
        errors.add(
            field,
            f"{label} must use plain letters, digits and dots before the @ (such as "
            "j.muller@…): our mail cannot reach other addresses yet.",
        )
        return None
    return checked.ascii_email if mailed and checked.ascii_email else checked.normalized


def email_key(email: str) -> str:
    """What two registrations of the same client share: the email trimmed and case-folded."""
    return email.strip().casefold()


def email_domain(email: str) -> str:
    """The domain part of an email address, case-folded."""
    return email.rpartition("@")[2].strip().casefold()


def clean_phone(
    errors: FieldErrors, field: str, value: str | None, *, label: str, required: bool = False
) -> str | None:
    """A phone number in E.164, or None when empty."""
    text = _given(errors, field, value, label=label, required=required)
    if text is None:
        return None
    message = (
        f"{label} is not a valid phone number; include the country code, e.g. +1 415 555 0100."
    )
    if len(text) > 40:
        errors.add(field, message)
        return None
    try:
        number = phonenumbers.parse(text, get_settings().default_phone_region)
    except phonenumbers.NumberParseException:
        errors.add(field, message)
        return None
    if not phonenumbers.is_valid_number(number):
        errors.add(field, message)
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_website(errors: FieldErrors, field: str, value: str | None, *, label: str) -> str | None:
    """An http or https URL with a host, or None when empty."""
    text = _given(errors, field, value, label=label, required=False)
    if text is None:
        return None
    if len(text) > 500 or _has_control_characters(text, allow_newlines=False) or " " in text:
        errors.add(field, f"{label} must be a web address starting with http:// or https://.")
        return None
    parts = urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        errors.add(field, f"{label} must be a web address starting with http:// or https://.")
        return None
    return text


def clean_choice(
    errors: FieldErrors,
    field: str,
    value: object,
    choices: type[E],
    *,
    label: str,
    required: bool = True,
) -> E | None:
    """A member of an enum given by value (or the member itself)."""
    if value is None or value == "":
        if required:
            errors.add(field, f"{label} is required.")
        return None
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in choices)
        errors.add(field, f"{label} must be one of: {allowed}.")
        return None


def clean_decimal(
    errors: FieldErrors,
    field: str,
    value: object,
    *,
    label: str,
    places: int,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
    exclusive_minimum: bool = False,
) -> Decimal | None:
    """A finite decimal with at most `places` decimal places, within bounds."""
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        errors.add(field, f"{label} must be a number.")
        return None
    if not number.is_finite():
        errors.add(field, f"{label} must be a number.")
        return None
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        errors.add(field, f"{label} may have at most {places} decimal places.")
        return None
    too_low = minimum is not None and (number <= minimum if exclusive_minimum else number < minimum)
    if too_low:
        word = "greater than" if exclusive_minimum else "at least"
        errors.add(field, f"{label} must be {word} {minimum}.")
        return None
    if maximum is not None and number > maximum:
        errors.add(field, f"{label} must be at most {maximum}.")
        return None
    return number


ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_day(text: str) -> date:
    """A calendar day written exactly as YYYY-MM-DD; ValueError says which part is wrong.

    `date.fromisoformat` also takes `20261101` and ISO week dates (`2026-W45-1`): a form that
    asks for 2026-11-15 accepts only that shape, and tells a wrong shape from a day that does
    not exist (2026-02-29).
    """
    match = ISO_DAY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a date written as YYYY-MM-DD, e.g. 2026-11-15")
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"there is no such date as {text.strip()}") from None


def clean_date(errors: FieldErrors, field: str, value: object, *, label: str) -> date | None:
    """A day given as a date or as YYYY-MM-DD text, or None (with the reason recorded)."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value
    try:
        return parse_day(str(value or ""))
    except ValueError as error:
        errors.add(field, f"{label}: {error}.")
        return None


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its wildcards escaped with a backslash."""
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filter_text(field: str, value: str | None, *, label: str, max_length: int = 200) -> str:
    """Text typed into a filter: trimmed, bounded, no control characters (PostgreSQL cannot
    even compare a NUL), or a ValidationError naming the field."""
    errors = FieldErrors()
    text = clean_text(errors, field, value, label=label, max_length=max_length)
    errors.raise_if_any()
    return text or ""
