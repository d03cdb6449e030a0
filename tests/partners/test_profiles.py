"""Profiles: validation per field, secrets encrypted at rest and only ever shown masked."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from portal.core.crypto import decrypt
from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.core.models import AuditEntry, OutboxMessage, PartnerProfile, PartnerStatus, User
from portal.partners import partners, profiles
from tests.factories import PASSWORD, make_actor, make_manager

GOOD = {
    "payment_email": "Payouts@Agency.example",
    "payment_method": "bank_transfer",
    "bank_account": "DE89 3704 0044 0532 0130 00",
    "bank_code": "COBADEFFXXX",
    "tax_id": "12-3456789",
    "contact_name": "Quinn Osei",
    "contact_email": "quinn@agency.example",
    "contact_phone": "+44 20 7946 0958",
    "website": "https://agency.example/about",
    "address": "1 Main St",
    "city": "Leeds",
    "state": "West Yorkshire",
    "zip": "LS1 4AP",
    "country": "gb",
    "notifications_enabled": True,
    "email_notifications": False,
    "monthly_reports": True,
}


def test_update_stores_clean_values_and_shows_secrets_masked(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        view = profiles.update_profile(session, actor=partner, password=PASSWORD, changes=GOOD)
    assert view.bank_account == "•••• 3000"
    assert view.tax_id == "•••• 6789"
    assert view.contact_phone == "+442079460958"
    assert view.country == "GB"
    assert view.payment_email == "Payouts@agency.example"
    assert (view.bank_scheme, view.bank_code) == ("iban", "COBADEFFXXX")
    assert view.tax_form is None  # only a verified upload puts a form on file
    assert (view.email_notifications, view.monthly_reports) == (False, True)


def test_secrets_are_unreadable_in_the_raw_table_and_the_audit_log(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        profiles.update_profile(session, actor=partner, password=PASSWORD, changes=GOOD)
    with engine.connect() as connection:
        raw = connection.execute(
            text("SELECT bank_account_encrypted, tax_id FROM partner_profiles")
        ).one()
        # Every stored value but the times: a time's microseconds may hold any four digits
        # (it failed once on '…31.405329' holding '0532') and no time can hold a secret.
        dump = " ".join(
            str(value)
            for row in connection.execute(text("SELECT * FROM partner_profiles"))
            for column, value in row._mapping.items()
            if not column.endswith(("_at", "_on"))
        )
        audit_dump = " ".join(
            str(row) for row in connection.execute(text("SELECT before, after FROM audit_log"))
        )
    for clear in ("DE89370400440532013000", "12-3456789", "0532"):
        assert clear not in dump and clear not in audit_dump
    assert decrypt(raw.bank_account_encrypted) == "DE89370400440532013000"
    assert decrypt(raw.tax_id) == "12-3456789"


def test_an_empty_secret_input_leaves_the_stored_one_alone(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        profiles.update_profile(session, actor=partner, password=PASSWORD, changes=GOOD)
        view = profiles.update_profile(
            session, actor=partner, password=PASSWORD, changes={"bank_account": "", "city": "York"}
        )
    assert view.bank_account == "•••• 3000" and view.city == "York"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("payment_email", "bad@", "not a valid email"),
        ("contact_email", "two@@example.com", "not a valid email"),
        ("contact_phone", "call me", "not a valid phone number"),
        ("website", "javascript:alert(1)", "http:// or https://"),
        ("website", "ftp://files.example", "http:// or https://"),
        ("payment_method", "bitcoin", "must be one of"),
        ("tax_form", "W-9", "cannot be changed"),
        ("bank_account", "DE89370400440532013001", "check digits do not match"),
        ("bank_account", "DE8937040044053201300", "length"),
        ("bank_account", "XX8937040044053201300", "country"),
        ("bank_account", "12", "4–17 digits"),
        ("bank_account", "1234<script>", "4–17 digits"),
        ("bank_account", "⁰⁴⁵₀₁₂³⁴", "4–17 digits"),  # superscripts pass str.isdigit()
        ("bank_code", "COBAXXFF", "not a valid BIC"),
        ("tax_id", "x" * 21, "4–20"),
        ("country", "Narnia", "two-letter ISO code"),
        ("city", "c" * 101, "at most 100"),
        ("monthly_reports", "yes", "on or off"),
        ("partner_id", 3, "cannot be changed"),
    ],
)
def test_each_invalid_field_is_named_and_nothing_is_written(engine, field, value, fragment):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    changes = {**GOOD, field: value}
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        profiles.update_profile(session, actor=partner, password=PASSWORD, changes=changes)
    assert fragment in raised.value.errors[field]
    with unit_of_work(engine) as session:
        stored = session.scalar(select(PartnerProfile))
        assert stored.payment_email is None and stored.bank_account_encrypted is None
        assert session.scalar(select(AuditEntry.id)) is None


def test_partner_reads_and_edits_only_its_own_profile(engine):
    with unit_of_work(engine) as session:
        owner, other = make_actor(session), make_actor(session)
        manager = make_manager(session)
        with pytest.raises(NotFound):
            profiles.get_profile(session, actor=other, partner_id=owner.partner_id)
        with pytest.raises(NotFound):
            profiles.update_profile(
                session,
                actor=other,
                partner_id=owner.partner_id,
                changes={"city": "X"},
            )
        profiles.update_profile(
            session,
            actor=manager,
            partner_id=owner.partner_id,
            changes={"city": "Leeds"},
        )
        assert profiles.get_profile(session, actor=owner).city == "Leeds"
        with pytest.raises(ValidationError):
            profiles.get_profile(session, actor=manager)


def test_pending_partner_edits_its_profile_but_suspended_is_read_only(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session, status=PartnerStatus.PENDING)
        assert profiles.update_profile(session, actor=partner, changes={"city": "Leeds"}).city
        partners.change_status(
            session, actor=manager, partner_id=partner.partner_id, action="suspend"
        )
        with pytest.raises(PermissionDenied, match="suspended"):
            profiles.update_profile(session, actor=partner, changes={"city": "York"})
        assert profiles.get_profile(session, actor=partner).city == "Leeds"


def test_profile_changes_are_audited_with_personal_data_masked(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        profiles.update_profile(session, actor=partner, password=PASSWORD, changes=GOOD)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "profile.update"))
    assert entry.after["payment_email"] == "P***@agency.example"
    assert entry.after["contact_phone"] == "•••• 0958"
    assert entry.after["bank_account"] == "[changed]"
    assert entry.after["city"] == "Leeds"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"bank_account": "123456789", "bank_code": ""}, "bank_code", "ABA routing number"),
        ({"bank_account": "123456789", "bank_code": "011000016"}, "bank_code", "checksum"),
        (
            {"bank_account": "12345678901234567890", "bank_code": "011000015"},
            "bank_account",
            "4–17 digits",
        ),
        ({"bank_code": "011000015"}, "bank_account", "account number with its bank code"),
    ],
)
def test_us_accounts_need_a_routing_number_with_a_valid_checksum(engine, changes, field, fragment):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
        profiles.update_profile(session, actor=partner, password=PASSWORD, changes=changes)
    assert fragment in raised.value.errors[field]
    with unit_of_work(engine) as session:
        stored = session.scalar(select(PartnerProfile))
        assert (stored.bank_account_encrypted, stored.bank_code) == (None, None)


def test_a_us_account_is_stored_with_its_routing_number_and_a_new_bic_alone_is_checked(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        view = profiles.update_profile(
            session,
            actor=partner,
            password=PASSWORD,
            changes={
                "bank_account": "0001234567",
                "bank_code": "011 000 015",
                "bank_account_type": "savings",
            },
        )
        assert (view.bank_scheme, view.bank_code, view.bank_account) == (
            "us",
            "011000015",
            "•••• 4567",
        )
        assert view.bank_account_type == "savings"
        with pytest.raises(ValidationError) as raised:
            profiles.update_profile(
                session, actor=partner, password=PASSWORD, changes={"bank_code": "123456789"}
            )
        assert "routing number" in raised.value.errors["bank_code"]
        iban_view = profiles.update_profile(
            session,
            actor=partner,
            password=PASSWORD,
            changes={"bank_account": "FR1420041010050500013M02606"},
        )
        # schwifty knows this bank: its BIC is filled in from the IBAN.
        assert (iban_view.bank_scheme, iban_view.bank_code) == ("iban", "PSSTFRPP")


@pytest.mark.parametrize(
    "change",
    [
        {"payment_method": "paypal"},
        {"payment_email": "elsewhere@thief.example"},
        {"bank_account": "DE89 3704 0044 0532 0130 00"},
        {"bank_account": "0001234567", "bank_code": "011000015", "bank_account_type": "checking"},
        {"bank_account_type": "savings"},
    ],
)
def test_where_payouts_go_changes_only_with_the_password_again(engine, change):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    for password in (None, "a guess"):
        with pytest.raises(ValidationError) as raised, unit_of_work(engine) as session:
            profiles.update_profile(session, actor=partner, password=password, changes=change)
        assert raised.value.errors == {"password": "This is not your current password."}
    with unit_of_work(engine) as session:
        stored = session.scalar(select(PartnerProfile))
        assert (stored.payment_method, stored.payment_email, stored.bank_code) == (None,) * 3
        assert (stored.bank_account_encrypted, stored.bank_account_type) == (None, None)
        # Each guess counts toward the lock-out, as a login's would, and is audited.
        assert session.get(User, partner.user_id).failed_logins == 2
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        refusals = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.action == "user.password_confirmation_failed"
            )
        ).all()
        assert len(refusals) == 2
        view = profiles.update_profile(session, actor=partner, password=PASSWORD, changes=change)
        assert view.changed


def test_other_profile_fields_need_no_password_and_a_manager_gives_their_own(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        manager = make_manager(session)
        view = profiles.update_profile(
            session, actor=partner, changes={"city": "Leeds", "tax_id": "12-3456789"}
        )
        assert set(view.changed) == {"city", "tax_id"}
        with pytest.raises(ValidationError, match="not your current password"):
            profiles.update_profile(
                session,
                actor=manager,
                partner_id=partner.partner_id,
                changes={"payment_method": "paypal"},
            )
    with unit_of_work(engine) as session:
        view = profiles.update_profile(
            session,
            actor=manager,
            partner_id=partner.partner_id,
            password=PASSWORD,
            changes={"payment_method": "paypal"},
        )
    assert view.payment_method == "paypal"


def test_too_many_wrong_passwords_lock_the_account_and_end_its_sessions(engine, settings_override):
    settings_override(lockout_failures=2)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    for _ in range(2):
        with pytest.raises(ValidationError), unit_of_work(engine) as session:
            profiles.update_profile(
                session, actor=partner, password="guess", changes={"payment_method": "paypal"}
            )
    with pytest.raises(ValidationError, match="locked"), unit_of_work(engine) as session:
        profiles.update_profile(
            session, actor=partner, password=PASSWORD, changes={"payment_method": "paypal"}
        )
    with unit_of_work(engine) as session:
        assert session.get(User, partner.user_id).locked_until is not None
        assert session.scalar(select(PartnerProfile.payment_method)) is None
