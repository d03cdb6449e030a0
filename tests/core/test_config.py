"""Settings: defaults, URL normalisation, demo keys kept, production refusing missing secrets."""

from __future__ import annotations

import os
import re
import secrets
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from portal.core.config import PROJECT_ROOT, ConfigurationError, Settings, load_settings

SECRET_NAMES = ("PORTAL_COOKIE_KEY", "PORTAL_ENCRYPTION_KEY")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (*SECRET_NAMES, "DATABASE_URL", "PORTAL_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("portal.core.config.SECRETS_FILE", tmp_path / "absent-secrets.toml")
    return tmp_path


def test_defaults_follow_the_domain_rules(clean_env):
    settings = load_settings()
    assert settings.sqlalchemy_url == f"sqlite:///{clean_env / 'portal.db'}"
    assert (settings.hold_days, settings.min_payout, settings.claim_days) == (
        30,
        Decimal("50.00"),
        90,
    )
    assert (settings.awaiting_contact_days, settings.payout_day, settings.currency) == (
        3,
        15,
        "USD",
    )
    assert [(name, threshold, str(rate)) for name, threshold, rate in settings.tiers] == [
        ("bronze", 0, "0.10"),
        ("silver", 10, "0.125"),
        ("gold", 25, "0.15"),
        ("platinum", 50, "0.20"),
    ]


@pytest.mark.parametrize("url", ["postgres://u:p@db:5432/portal", "postgresql://u:p@db/portal"])
def test_postgres_urls_are_normalised_to_psycopg(clean_env, monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().sqlalchemy_url.startswith("postgresql+psycopg://u:p@db")


def test_demo_mode_generates_keys_once_and_keeps_them(clean_env):
    first = load_settings()
    second = load_settings()
    assert first.cookie_key and first.encryption_key
    assert (first.cookie_key, first.encryption_key) == (second.cookie_key, second.encryption_key)
    assert (clean_env / "keys.toml").stat().st_mode & 0o777 == 0o600


def test_private_files_are_never_readable_by_others_even_for_a_moment(tmp_path, monkeypatch):
    from portal.core.config import write_private

    seen = []
    real_open = os.open

    def spying_open(path, flags, mode=0o777, **kwargs):
        seen.append(mode)
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", spying_open)
    target = tmp_path / "secret.txt"
    target.write_text("old")
    target.chmod(0o644)
    write_private(target, "new")
    assert seen == [0o600] and target.stat().st_mode & 0o777 == 0o600
    assert target.read_text() == "new"


def test_the_sqlite_file_is_made_owner_only(tmp_path):
    from portal.core.db import get_engine

    engine = get_engine(f"sqlite:///{tmp_path / 'fresh' / 'portal.db'}")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    assert (tmp_path / "fresh" / "portal.db").stat().st_mode & 0o777 == 0o600
    engine.dispose()


# The accounts that pay the partners, which production must name (never the demo's).
PRODUCTION_PAYER = {
    "PORTAL_PAYOUT_DEBTOR_NAME": "Example Program Ltd",
    "PORTAL_PAYOUT_DEBTOR_IBAN": "GB29NWBK60161331926819",
    "PORTAL_PAYOUT_DEBTOR_STREET": "1 Example Street",
    "PORTAL_PAYOUT_DEBTOR_POSTCODE": "EC1A 1BB",
    "PORTAL_PAYOUT_DEBTOR_TOWN": "London",
    "PORTAL_PAYOUT_DEBTOR_COUNTRY": "GB",
    "PORTAL_ACH_ODFI_ROUTING": "021000021",
    "PORTAL_ACH_COMPANY_ID": "1987654321",
    "PORTAL_ACH_COMPANY_NAME": "EXAMPLE PROGRAM",
}


def test_production_refuses_missing_secrets(clean_env, monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "PORTAL_COOKIE_KEY" in str(raised.value)
    assert "PORTAL_ENCRYPTION_KEY" in str(raised.value)
    assert not (clean_env / "keys.toml").exists()
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "too-short")
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", "k" * 44)
    with pytest.raises(ConfigurationError, match="at least 32"):
        load_settings()
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "x" * 48)
    with pytest.raises(ConfigurationError, match="PORTAL_COOKIE_KEY is not random"):
        load_settings()
    monkeypatch.setenv("PORTAL_COOKIE_KEY", secrets.token_urlsafe(48))
    with pytest.raises(ConfigurationError, match="comma-separated Fernet keys"):
        load_settings()
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", Fernet.generate_key().decode())
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    for name in PRODUCTION_PAYER:
        assert name in str(raised.value)
    for name, value in PRODUCTION_PAYER.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORTAL_ACH_ODFI_ROUTING", "011000016")
    with pytest.raises(ConfigurationError, match="PORTAL_ACH_ODFI_ROUTING is not a valid ABA"):
        load_settings()
    monkeypatch.setenv("PORTAL_ACH_ODFI_ROUTING", PRODUCTION_PAYER["PORTAL_ACH_ODFI_ROUTING"])
    settings = load_settings()
    assert settings.env == "production"
    assert settings.payout_debtor_iban == "GB29NWBK60161331926819"  # never the demo account
    assert settings.ach_company_id == "1987654321" and settings.check_account == ""


def test_production_mail_needs_real_addresses_and_no_clear_password(clean_env, monkeypatch):
    for name, value in {
        "PORTAL_ENV": "production",
        "PORTAL_COOKIE_KEY": secrets.token_urlsafe(48),
        "PORTAL_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        **PRODUCTION_PAYER,
    }.items():
        monkeypatch.setenv(name, value)
    assert load_settings().smtp_url == ""  # no delivery: nothing more is needed
    monkeypatch.setenv("PORTAL_SMTP_URL", "smtp://user:secret@mail.example.com:587")
    with pytest.raises(ConfigurationError, match="in the clear"):
        load_settings()
    monkeypatch.setenv("PORTAL_SMTP_URL", "smtp://user:secret@mail.example.com:587?starttls=true")
    with pytest.raises(ConfigurationError, match="PORTAL_PUBLIC_URL"):
        load_settings()
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "http://partners.example.com")
    monkeypatch.setenv("PORTAL_MAIL_FROM", "Partners <partners@example.com>")
    with pytest.raises(ConfigurationError, match="https"):
        load_settings()
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://partners.example.com")
    assert load_settings().smtp_url.startswith("smtp://user:secret@")
    monkeypatch.setenv("PORTAL_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    with pytest.raises(ConfigurationError, match="tests and local development only"):
        load_settings()


def test_demo_pays_from_the_demo_account_unless_one_is_named(clean_env, monkeypatch):
    assert load_settings().payout_debtor_iban == "DE89370400440532013000"
    monkeypatch.setenv("PORTAL_PAYOUT_DEBTOR_NAME", "Own Ltd")
    named = load_settings()
    assert (named.payout_debtor_name, named.payout_debtor_iban) == ("Own Ltd", "")


def test_secrets_file_is_read_and_environment_wins(clean_env, monkeypatch):
    secrets_file = clean_env / "secrets.toml"
    secrets_file.write_text('cookie_key = "from-file"\nhold_days = 7\n')
    monkeypatch.setattr("portal.core.config.SECRETS_FILE", secrets_file)
    assert (load_settings().cookie_key, load_settings().hold_days) == ("from-file", 7)
    monkeypatch.setenv("PORTAL_HOLD_DAYS", "10")
    assert load_settings().hold_days == 10


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_HOLD_DAYS", "-1"),
        (
            "PORTAL_TIER_RATES",
            '{"bronze": "0.9", "silver": "0.1", "gold": "0.1", "platinum": "0.1"}',
        ),
        ("PORTAL_PAYOUT_DAY", "31"),
        ("PORTAL_TIER_THRESHOLDS", '{"bronze": 1, "silver": 10, "gold": 25, "platinum": 50}'),
    ],
)
def test_bad_settings_are_refused_by_name(clean_env, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_settings()


def test_every_setting_is_documented():
    readme = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table_rows = re.findall(
        r"^\| `(PORTAL_[A-Z0-9_]+|DATABASE_URL)` \|", readme, flags=re.MULTILINE
    )
    documented = set(table_rows)
    expected = {"DATABASE_URL"} | {
        f"PORTAL_{name.upper()}" for name in Settings.model_fields if name != "database_url"
    }
    assert expected - documented == set(), "settings missing from docs/configuration.md"
    assert documented - expected == set(), (
        "docs/configuration.md documents settings that do not exist"
    )


def test_example_secrets_file_names_only_real_settings():
    example = (PROJECT_ROOT / ".streamlit" / "secrets.toml.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*([a-z_]+)\s*=", example, flags=re.MULTILINE))
    assert names and names <= set(Settings.model_fields)
