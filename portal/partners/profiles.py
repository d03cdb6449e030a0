"""Partner profiles: payment, tax and contact details; secrets encrypted, shown masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

import phonenumbers
from schwifty import BIC, IBAN
from schwifty.exceptions import InvalidChecksumDigits, SchwiftyException
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.us import ein, rtn, ssn

from portal.accounts import users
from portal.core import audit, program
from portal.core.access import Actor, one_partner_id, partner_status_refusal, refresh
from portal.core.config import ProgramRules
from portal.core.crypto import encrypt, last4, masked
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import (
    ApiScope,
    BankAccountType,
    Partner,
    PartnerProfile,
    PartnerStatus,
    PayeeType,
    PaymentMethod,
    TaxForm,
    TaxIdType,
)
from portal.core.types import utc_now
from portal.core.validation import (
    FieldErrors,
    clean_choice,
    clean_email,
    clean_phone,
    clean_text,
    clean_website,
)
from portal.messaging import mail
from portal.money import currencies, payouts
from portal.risk import center as risk_center

TEXT_FIELDS = {
    "contact_name": ("Contact name", 200),
    "address": ("Address", 300),
    "city": ("City", 100),
    "state": ("State or region", 100),
    "zip": ("ZIP or postal code", 20),
}
EMAIL_FIELDS = {"payment_email": "Payment email", "contact_email": "Contact email"}
FLAG_FIELDS = {
    "notifications_enabled": "Notifications",
    "email_notifications": "Email notifications",
    "monthly_reports": "Monthly reports",
    "email_digest": "Daily digest",
    "announcement_emails": "Announcement emails",
}
EDITABLE_FIELDS = (
    set(TEXT_FIELDS)
    | set(EMAIL_FIELDS)
    | set(FLAG_FIELDS)
    | {
        "payment_method",
        "bank_account",
        "bank_code",
        "bank_account_type",
        "payee_type",
        "payout_currency",
        "tax_id",
        "tax_id_type",
        "contact_phone",
        "website",
        "country",
    }
)
# Where the money goes: a change to any of them holds the partner's scheduled payouts until a
# manager re-approves them with the new details (DOMAIN.md, "Money leaving the program").
PAYMENT_FIELDS = frozenset(
    {
        "payment_method",
        "payment_email",
        "bank_account",
        "bank_scheme",
        "bank_code",
        "bank_account_type",
        "payee_type",
        "payout_currency",
        "address",
        "city",
        "state",
        "zip",
        "country",
    }
)
# Where the money goes, narrowly: a change needs proof it is the user (password or a key's
# scope) and is mailed to every user of the partner.
MONEY_DESTINATION = frozenset(
    {"payment_method", "payment_email", "bank_account", "bank_code", "bank_account_type"}
)
FIELD_WORDS = {
    "payment_method": "payout method",
    "payment_email": "payment e-mail",
    "bank_account": "bank account",
    "bank_code": "bank code (BIC or routing number)",
    "bank_account_type": "account type",
}
COUNTRIES = frozenset(code for code in phonenumbers.SUPPORTED_REGIONS if code.isalpha())


@dataclass(frozen=True)
class ProfileView:
    """A profile as anyone may see it: the bank account and tax id only masked."""

    partner_id: int
    payment_email: str | None
    payment_method: PaymentMethod | None
    bank_account: str
    bank_scheme: str | None
    bank_code: str | None
    bank_account_type: BankAccountType | None
    payee_type: PayeeType
    payout_currency: str | None  # chosen on the profile; None: by its bank account's country
    paid_in: str  # the currency it is paid in now
    tax_id: str
    tax_id_type: TaxIdType | None
    tax_form: TaxForm | None  # the verified form on file
    tax_form_received_at: datetime | None
    tax_form_expires_on: date | None
    tax_form_pending: bool
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    website: str | None
    address: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None
    notifications_enabled: bool
    email_notifications: bool
    monthly_reports: bool
    email_digest: bool
    announcement_emails: bool
    updated_at: datetime
    currency_choices: tuple[str, ...] = ()  # what the partner may choose to be paid in
    changed: tuple[str, ...] = ()  # after an update: the fields it changed


def _view(profile: PartnerProfile, rules: ProgramRules) -> ProfileView:
    return ProfileView(
        partner_id=profile.partner_id,
        payment_email=profile.payment_email,
        payment_method=profile.payment_method,
        bank_account=masked(profile.bank_account_last4),
        bank_scheme=profile.bank_scheme,
        bank_code=profile.bank_code,
        bank_account_type=profile.bank_account_type,
        payee_type=profile.payee_type or PayeeType.BUSINESS,
        payout_currency=profile.payout_currency,
        paid_in=currencies.payout_currency_of(profile, rules),
        currency_choices=currencies.enabled(rules),
        tax_id=masked(profile.tax_id_last4),
        tax_id_type=profile.tax_id_type,
        tax_form=profile.tax_form,
        tax_form_received_at=profile.tax_form_received_at,
        tax_form_expires_on=profile.tax_form_expires_on,
        tax_form_pending=profile.tax_form_pending,
        contact_name=profile.contact_name,
        contact_email=profile.contact_email,
        contact_phone=profile.contact_phone,
        website=profile.website,
        address=profile.address,
        city=profile.city,
        state=profile.state,
        zip=profile.zip,
        country=profile.country,
        notifications_enabled=profile.notifications_enabled,
        email_notifications=profile.email_notifications,
        monthly_reports=profile.monthly_reports,
        email_digest=profile.email_digest,
        announcement_emails=profile.announcement_emails,
        updated_at=profile.updated_at,
    )


def _load(session: Session, partner_id: int, *, for_update: bool = False) -> PartnerProfile:
    query = select(PartnerProfile).where(PartnerProfile.partner_id == partner_id)
    profile = session.scalar(query.with_for_update() if for_update else query)
    if profile is None:
        raise NotFound("Partner not found.")
    return profile


def get_profile(session: Session, *, actor: Actor, partner_id: int | None = None) -> ProfileView:
    """A partner's profile with sensitive fields masked; a partner reads only its own."""
    actor = refresh(session, actor)
    return _view(_load(session, one_partner_id(actor, partner_id)), program.current(session))


def _clean_secret(
    errors: FieldErrors, field: str, value: Any, *, label: str, min_length: int, max_length: int
) -> str | None:
    text = "".join(str(value or "").split())
    if not text:
        return None
    allowed = all(char.isascii() and (char.isalnum() or char == "-") for char in text)
    if not allowed or not min_length <= len(text) <= max_length:
        errors.add(field, f"{label} must be {min_length}–{max_length} letters, digits or dashes.")
        return None
    return text


def _clean_changes(changes: Mapping[str, Any], rules: ProgramRules) -> dict[str, Any]:
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    errors = FieldErrors()
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name in TEXT_FIELDS:
            label, max_length = TEXT_FIELDS[name]
            clean[name] = clean_text(errors, name, value, label=label, max_length=max_length)
        elif name in EMAIL_FIELDS:
            clean[name] = clean_email(errors, name, value, label=EMAIL_FIELDS[name])
        elif name in FLAG_FIELDS:
            if not isinstance(value, bool):
                errors.add(name, f"{FLAG_FIELDS[name]} must be on or off.")
            clean[name] = value
        elif name == "payment_method":
            clean[name] = clean_choice(
                errors, name, value, PaymentMethod, label="Payment method", required=False
            )
        elif name == "bank_account_type":
            clean[name] = clean_choice(
                errors, name, value, BankAccountType, label="Account type", required=False
            )
        elif name == "payee_type":
            clean[name] = clean_choice(
                errors, name, value, PayeeType, label="Account holder", required=True
            )
        elif name == "payout_currency":
            code = str(value or "").strip().upper() if isinstance(value, str | None) else "?"
            if code and code not in currencies.enabled(rules):
                errors.add(
                    name,
                    f"Payout currency must be one of: {', '.join(currencies.enabled(rules))}.",
                )
            clean[name] = code or None
        elif name == "tax_id_type":
            clean[name] = clean_choice(
                errors, name, value, TaxIdType, label="Tax id type", required=False
            )
        elif name == "contact_phone":
            clean[name] = clean_phone(errors, name, value, label="Contact phone")
        elif name == "website":
            clean[name] = clean_website(errors, name, value, label="Website")
        elif name == "country":
            code = str(value or "").strip().upper()
            if code and code not in COUNTRIES:
                errors.add(name, "Country must be a two-letter ISO code such as US or GB.")
            clean[name] = code or None
        elif name == "tax_id":
            clean[name] = _clean_secret(
                errors, name, value, label="Tax id", min_length=4, max_length=20
            )
    errors.raise_if_any()
    return clean


@dataclass(frozen=True)
class BankAccount:
    scheme: str  # "iban" or "us"
    number: str  # compact: no spaces
    code: str | None  # BIC or ABA routing number


def _compact(value: Any) -> str:
    return "".join(str(value or "").split()).replace("-", "").upper()


def clean_bank_account(
    errors: FieldErrors, account: Any, code: Any, *, stored_scheme: str | None
) -> BankAccount | None:
    """An IBAN (with an optional BIC) or a US account with its ABA routing number: IBAN
    country, length, layout and check digits and the BIC by schwifty (which also finds the
    BIC of a known bank), the routing number's checksum by python-stdnum. Returns None when
    no new account number was given; a new code alone is checked against the stored scheme."""
    number, bank_code = _compact(account), _compact(code) or None
    scheme = stored_scheme
    if number:
        scheme = "iban" if number[:2].isalpha() else "us"
        if scheme == "iban":
            try:
                account_iban = IBAN(number)
                number = account_iban.compact
                if bank_code is None and account_iban.bic is not None:
                    bank_code = str(account_iban.bic.compact)  # from the bank registry
            except InvalidChecksumDigits:
                errors.add(
                    "bank_account",
                    "This IBAN's check digits do not match; check it for a typo.",
                )
            except SchwiftyException as error:
                errors.add("bank_account", f"This is not a valid IBAN ({error}).")
        elif not (number.isascii() and number.isdigit() and 4 <= len(number) <= 17):
            errors.add(
                "bank_account",
                "A US account number is 4–17 digits; an IBAN starts with its country code.",
            )
    if bank_code is not None or number:
        if scheme == "iban" and bank_code is not None:
            try:
                bank_code = BIC(bank_code).compact
            except SchwiftyException:
                errors.add("bank_code", "This is not a valid BIC (8 or 11 letters and digits).")
        elif scheme == "us":
            if bank_code is None:
                errors.add("bank_code", "A US account needs its 9-digit ABA routing number.")
            else:
                try:
                    bank_code = rtn.validate(bank_code)
                except StdnumError:
                    errors.add(
                        "bank_code",
                        "This is not a valid ABA routing number (9 digits with a checksum).",
                    )
        elif scheme is None:
            errors.add("bank_account", "Enter the account number with its bank code.")
    if not number or scheme is None:
        return None
    return BankAccount(scheme=scheme, number=number, code=bank_code)


def _tell_every_user(session: Session, actor: Actor, partner_id: int, fields: list[str]) -> None:
    """Mail every active user of the partner that its payout details changed (not what to):
    a change nobody there made is how a takeover shows."""
    company = session.scalar(select(Partner.company_name).where(Partner.id == partner_id)) or ""
    who = actor.display_name if actor.is_partner else f"{actor.display_name} (partner manager)"
    for recipient, _ in mail.partner_recipients(session, partner_id):
        mail.enqueue(
            session,
            recipient=recipient,
            kind="payout_details_changed",
            context={
                "company": company,
                "changed_by": who,
                "when": mail.moment_words(utc_now()),
                "fields": ", ".join(FIELD_WORDS[name] for name in fields),
            },
        )


def _check_tin(secret: str | None, kind: TaxIdType | None) -> None:
    """A new US tax id must be a valid SSN or EIN when it says it is one (python-stdnum)."""
    if not secret or kind not in (TaxIdType.SSN, TaxIdType.EIN):
        return
    check = ssn if kind is TaxIdType.SSN else ein
    try:
        check.validate(secret)
    except StdnumError:
        raise ValidationError(
            {"tax_id": f"This is not a valid {kind.value.upper()} (9 digits, as issued)."}
        ) from None


def _destination_changes(
    profile: PartnerProfile, account: BankAccount | None, code: Any, clean: Mapping[str, Any]
) -> list[str]:
    """Which of MONEY_DESTINATION the validated changes would alter."""
    changed = [
        name
        for name in MONEY_DESTINATION - {"bank_account", "bank_code"}
        if name in clean and clean[name] != getattr(profile, name)
    ]
    if account is not None:
        changed.append("bank_account")
        if account.code != profile.bank_code:
            changed.append("bank_code")
    elif _compact(code) and _compact(code) != profile.bank_code:
        changed.append("bank_code")
    return sorted(changed)


def _prove_destination_change(
    session: Session, actor: Actor, password: str | None, key_scope: ApiScope | None
) -> None:
    """Where money goes changes only for someone who proves it is them: on a page, the acting
    user's password again (a borrowed, signed-in browser is not enough); through the API, a
    key made for it (`payout_details`), not any write key. The command-line operator is the
    server's own administrator."""
    if actor.user_id is None:
        return
    if key_scope is not None:
        if key_scope is not ApiScope.PAYOUT_DETAILS:
            raise PermissionDenied(
                "Changing payout details needs an API key with the payout_details scope."
            )
        return
    users.confirm_password(session, actor=actor, password=password)


def update_profile(
    session: Session,
    *,
    actor: Actor,
    changes: Mapping[str, Any],
    partner_id: int | None = None,
    password: str | None = None,
    key_scope: ApiScope | None = None,
) -> ProfileView:
    """Change the given profile fields after validating them all; nothing is written if any fails.

    `bank_account` and `tax_id` replace the stored secret when given a value and are left
    alone when empty: the page shows them masked and offers a separate input to replace them.
    A change of where payouts go (method, account, bank code, account type, payment e-mail)
    needs the acting user's `password`, or, through the API (`key_scope`), a key with the
    payout-details scope; every user of the partner is mailed that it happened.
    """
    actor = refresh(session, actor)
    if actor.is_partner and actor.partner_status is PartnerStatus.SUSPENDED:
        raise PermissionDenied(partner_status_refusal(actor.partner_status))
    profile = _load(session, one_partner_id(actor, partner_id), for_update=True)
    rules = program.current(session)
    bank_errors = FieldErrors()
    account = clean_bank_account(
        bank_errors,
        changes.get("bank_account"),
        changes.get("bank_code"),
        stored_scheme=profile.bank_scheme,
    )
    clean: dict[str, Any] = {}
    try:
        clean = _clean_changes(
            {k: v for k, v in changes.items() if k not in ("bank_account", "bank_code")}, rules
        )
    except ValidationError as error:
        bank_errors.errors = {**error.errors, **bank_errors.errors}
    # A new US account says what it is: ACH credits a savings account by another code.
    if account is not None and account.scheme == "us" and clean.get("bank_account_type") is None:
        bank_errors.add(
            "bank_account_type", "Say whether the US account is a checking or a savings account."
        )
    bank_errors.raise_if_any()
    destination = _destination_changes(profile, account, changes.get("bank_code"), clean)
    if destination:
        _prove_destination_change(session, actor, password, key_scope)
    before_view = asdict(_view(profile, rules))
    replaced = []
    if account is not None:
        profile.bank_account_encrypted = encrypt(account.number)
        profile.bank_account_last4 = last4(account.number)
        profile.bank_scheme = account.scheme
        profile.bank_code = account.code
        replaced.append("bank_account")
    elif _compact(changes.get("bank_code")):
        profile.bank_code = _compact(changes.get("bank_code"))
    secret = clean.pop("tax_id", None)
    _check_tin(secret, clean.get("tax_id_type", profile.tax_id_type))
    if secret:
        profile.tax_id_encrypted = encrypt(secret)
        profile.tax_id_last4 = last4(secret)
        replaced.append("tax_id")
    for name, value in clean.items():
        setattr(profile, name, value)
    profile.updated_at = utc_now()
    after_view = asdict(_view(profile, rules))
    changed = [
        name
        for name in after_view
        if name not in ("updated_at", "paid_in")
        and (after_view[name] != before_view[name] or name in replaced)
    ]
    if PAYMENT_FIELDS & set(changed):
        payouts.hold_for_new_details(
            session, partner_id=profile.partner_id, fields=sorted(PAYMENT_FIELDS & set(changed))
        )
    if destination:
        _tell_every_user(session, actor, profile.partner_id, destination)
    if destination or "website" in changed:
        session.flush()
        risk_center.check_partner(session, profile.partner_id)
    if changed:
        audit.record_by(
            session,
            actor,
            "profile.update",
            "partner_profile",
            profile.partner_id,
            before={name: before_view[name] for name in changed},
            after={name: after_view[name] for name in changed},
        )
    return replace(_view(profile, rules), changed=tuple(changed))
