"""Settings: one object read from the environment and `.streamlit/secrets.toml`.

Precedence, highest first: environment variables (`DATABASE_URL`, `PORTAL_*`), then
`.streamlit/secrets.toml` (top-level keys named like the fields below), then — in demo mode
only — random keys generated once and kept in `data/keys.toml`, then the defaults here.
With `PORTAL_ENV=production` the settings refuse to load while a secret is missing.
"""

from __future__ import annotations

import base64
import os
import secrets
import tomllib
from decimal import Decimal
from email.headerregistry import HeaderRegistry
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from cryptography.fernet import Fernet
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from stdnum.us import rtn

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
SECRET_FIELDS = ("cookie_key", "encryption_key")
DEBTOR_FIELDS = (
    "payout_debtor_name",
    "payout_debtor_iban",
    "payout_debtor_street",
    "payout_debtor_postcode",
    "payout_debtor_town",
    "payout_debtor_country",
    "ach_odfi_routing",
    "ach_company_id",
    "ach_company_name",
)
# A demo program pays from well-known test accounts; production must name its own.
DEMO_DEBTOR = {
    "payout_debtor_name": "Partner Program Demo Ltd",
    "payout_debtor_iban": "DE89370400440532013000",
    "payout_debtor_bic": "COBADEFFXXX",
    "payout_debtor_street": "Friedrichstrasse 123",
    "payout_debtor_postcode": "10117",
    "payout_debtor_town": "Berlin",
    "payout_debtor_country": "DE",
    "ach_odfi_routing": "011000015",
    "ach_company_id": "1123456789",
    "ach_company_name": "PARTNER PROGRAM",
    "ach_bank_name": "FEDERAL RESERVE BANK",
    "check_account": "000123456789",
}
_DEMO_GROUPS = (
    tuple(name for name in DEMO_DEBTOR if name.startswith("payout_debtor_")),
    tuple(name for name in DEMO_DEBTOR if name.startswith("ach_")),
    ("check_account",),
)
MIN_COOKIE_KEY_LENGTH = 32
MAX_SERVICE_LENGTH = 100  # leads.service column
MIN_COOKIE_KEY_DISTINCT = 16  # a random key of 32+ characters has far more

DEFAULT_SERVICES = (
    "Website design",
    "Web development",
    "SEO",
    "Paid advertising",
    "Branding",
    "Content marketing",
    "Hosting and maintenance",
)


def _currency_code(code: str) -> str:
    """An ISO 4217 code the portal can pay in (two decimal places), upper-cased."""
    import pycountry  # schwifty's own dependency: the ISO 4217 list

    upper = code.strip().upper()
    if pycountry.currencies.get(alpha_3=upper) is None:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    if upper in NOT_TWO_DECIMALS:
        raise ValueError(f"{upper} is not counted in cents; the portal pays in cents only")
    return upper


# ISO 4217 currencies whose minor unit is not a hundredth (JPY has none, KWD a thousandth).
NOT_TWO_DECIMALS = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
        "BHD",
        "IQD",
        "JOD",
        "KWD",
        "LYD",
        "OMR",
        "TND",
        "CLF",
        "UYW",
    ]
)


# The risk center's rules, by name (`models.RiskRule` has the same values).
RISK_RULES = (
    "shared_payout_method",
    "self_referral",
    "disposable_client_email",
    "registration_burst",
    "website_domain_mismatch",
    "applications_from_one_address",
)


class ProgramRules(BaseModel):
    """The rules of the program its managers may change (the Program settings page,
    `python -m portal settings`): the settings below give their first values; once a
    manager saves a change, the stored versions (`portal.core.program`) govern."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    hold_days: int = Field(default=30, ge=0, le=3650, description="Days a commission is on hold.")
    min_payout: Decimal = Field(
        default=Decimal("50.00"),
        ge=0,
        le=Decimal("1000000"),
        decimal_places=2,
        description="Smallest payout a partner is paid.",
    )
    claim_days: int = Field(
        default=90, ge=1, le=3650, description="Days a registration claims a client."
    )
    awaiting_contact_days: int = Field(
        default=3, ge=1, le=365, description="Days a pending lead may wait before it is flagged."
    )
    tier_thresholds: dict[str, int] = Field(
        default={"bronze": 0, "silver": 10, "gold": 25, "platinum": 50},
        description="Converted leads in the trailing 12 months needed for each tier.",
    )
    tier_rates: dict[str, Annotated[Decimal, Field(decimal_places=4)]] = Field(
        default={
            "bronze": Decimal("0.10"),
            "silver": Decimal("0.125"),
            "gold": Decimal("0.15"),
            "platinum": Decimal("0.20"),
        },
        description="Default commission rate of each tier.",
    )
    payout_currencies: tuple[str, ...] = Field(
        default=("USD", "EUR", "GBP"),
        description="Currencies partners may be paid in (ISO 4217); the program currency is "
        "always one of them.",
    )
    payout_day: int = Field(default=15, ge=1, le=28, description="Day of the month payouts run.")
    services: tuple[str, ...] = Field(
        default=DEFAULT_SERVICES, min_length=1, description="Service catalogue for leads."
    )
    risk_holds: tuple[str, ...] = Field(
        default=(),
        description="Risk rules whose open events hold a partner's payouts until reviewed "
        "(none until a manager chooses them).",
    )
    risk_burst_per_hour: int = Field(
        default=20,
        ge=2,
        le=100_000,
        description="Referrals one partner registers within an hour that raise a risk event.",
    )

    @field_validator("tier_rates")
    @classmethod
    def _rates_in_range(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        for tier, rate in rates.items():
            if not Decimal(0) <= rate <= Decimal("0.5"):
                raise ValueError(f"The rate of {tier} must be between 0 and 0.5 (50 %).")
        return rates

    @field_validator("min_payout")
    @classmethod
    def _in_cents(cls, amount: Decimal) -> Decimal:
        return amount.quantize(Decimal("0.01"))

    @field_validator("tier_thresholds")
    @classmethod
    def _thresholds_apart(cls, thresholds: dict[str, int]) -> dict[str, int]:
        if not thresholds:
            raise ValueError("At least one tier is needed.")
        if any(not name.strip() for name in thresholds):
            raise ValueError("Every tier needs a name.")
        if min(thresholds.values()) != 0:
            raise ValueError("The lowest tier must start at 0 converted leads.")
        if len(set(thresholds.values())) != len(thresholds):
            raise ValueError("No two tiers may start at the same number of converted leads.")
        return thresholds

    @field_validator("payout_currencies")
    @classmethod
    def _iso_currencies(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_currency_code(code) for code in codes))

    @field_validator("services")
    @classmethod
    def _services_named(cls, services: tuple[str, ...]) -> tuple[str, ...]:
        named = tuple(dict.fromkeys(" ".join(service.split()) for service in services))
        if "" in named:
            raise ValueError("Every service needs a name.")
        if any(len(service) > MAX_SERVICE_LENGTH for service in named):
            raise ValueError(f"A service name has at most {MAX_SERVICE_LENGTH} characters.")
        return named

    @field_validator("risk_holds")
    @classmethod
    def _known_rules(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in names if name not in RISK_RULES]
        if unknown:
            raise ValueError(
                f"There is no risk rule {unknown[0]!r}; the rules are: {', '.join(RISK_RULES)}."
            )
        return tuple(dict.fromkeys(names))

    @model_validator(mode="after")
    def _tiers_consistent(self) -> Self:
        if set(self.tier_thresholds) != set(self.tier_rates):
            raise ValueError("Every tier needs both a threshold and a rate.")
        return self

    @property
    def tiers(self) -> list[tuple[str, int, Decimal]]:
        """Tiers as (name, threshold, default rate), lowest first."""
        ordered = sorted(self.tier_thresholds.items(), key=lambda item: item[1])
        return [(name, threshold, self.tier_rates[name]) for name, threshold in ordered]


class Settings(BaseSettings, ProgramRules):
    """Every setting of the portal; each field is documented in docs/configuration.md (tested)."""

    model_config = SettingsConfigDict(
        env_prefix="PORTAL_", extra="ignore", frozen=True, populate_by_name=True
    )

    env: Literal["demo", "production"] = Field(
        default="demo", description="`production` refuses missing secrets."
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR, description="Folder for the SQLite file and demo keys."
    )
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="SQLAlchemy URL; empty means the SQLite file `data/portal.db`.",
    )
    cookie_key: str = Field(
        default="", description="Seals the tickets that write the login cookie (random, secret)."
    )
    encryption_key: str = Field(
        default="",
        description="Fernet key(s) encrypting bank account and tax id; comma-separated, "
        "newest first, to rotate.",
    )
    cookie_name: str = Field(default="partner_portal_auth", description="Login cookie name.")
    cookie_expiry_days: float = Field(default=7, gt=0, description="Login cookie lifetime.")
    cookie_secure: bool = Field(
        default=False,
        description="Mark the login cookie Secure even when the app sees plain HTTP (behind a "
        "proxy that ends TLS); over HTTPS it always is.",
    )
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, description="bcrypt work factor.")
    max_deal_value: Decimal = Field(
        default=Decimal("10000000.00"),
        gt=0,
        le=Decimal("9999999999.99"),
        description="Largest deal value a conversion accepts (a guard against typos).",
    )
    currency: str = Field(
        default="USD",
        min_length=3,
        max_length=3,
        description="Program currency (ISO 4217): commissions are earned in it.",
    )
    rate_max_change: Decimal = Field(
        default=Decimal("0.10"),
        gt=0,
        le=1,
        description="Largest share an exchange rate may move from the last one used before "
        "the batch asks for a confirmation (a guard against typos).",
    )
    tax_thresholds: dict[int, Decimal] = Field(
        default={2025: Decimal("600.00"), 2026: Decimal("2000.00")},
        description="Form 1099-NEC threshold by tax year (payments made in that year); a year "
        "not listed takes the latest year before it (the earliest for years before all).",
    )
    default_phone_region: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        description="Region assumed for phone numbers typed without a + country code.",
    )
    signup_allowed: bool = Field(default=True, description="Whether partners may apply online.")
    export_row_cap: int = Field(
        default=200_000,
        ge=1,
        description="Largest export built in the browser; larger ones use the command line.",
    )
    payout_debtor_name: str = Field(
        default="",
        max_length=70,
        description="Account holder of the program's own bank account, which pays the "
        "payout files (required in production).",
    )
    payout_debtor_iban: str = Field(
        default="", description="IBAN of the program's own account (required in production)."
    )
    payout_debtor_bic: str = Field(default="", description="BIC of the program's own account.")
    payout_debtor_street: str = Field(
        default="", max_length=70, description="Street and number of the account holder."
    )
    payout_debtor_postcode: str = Field(
        default="", max_length=16, description="Postal code of the account holder."
    )
    payout_debtor_town: str = Field(
        default="", max_length=35, description="Town of the account holder."
    )
    payout_debtor_country: str = Field(
        default="", max_length=2, description="Country (ISO 3166 code) of the account holder."
    )
    ach_odfi_routing: str = Field(
        default="",
        description="ABA routing number of the bank that sends the program's ACH file (the "
        "ODFI; required in production).",
    )
    ach_company_id: str = Field(
        default="",
        max_length=10,
        description="The program's ACH company identification, as the bank assigned it "
        "(often 1 and the EIN; required in production).",
    )
    ach_company_name: str = Field(
        default="",
        max_length=16,
        description="Company name on the partners' bank statements (required in production).",
    )
    ach_bank_name: str = Field(
        default="", max_length=23, description="Name of the ODFI, in the ACH file header."
    )
    ach_entry_description: str = Field(
        default="PAYOUT", min_length=1, max_length=10, description="ACH company entry description."
    )
    payout_approvals: int = Field(
        default=1,
        ge=1,
        le=2,
        description="2: a batch's files are made only after a second manager approves it.",
    )
    check_first_number: int = Field(
        default=1001, ge=1, le=99_999_999, description="Number of the first check printed."
    )
    check_account: str = Field(
        default="",
        max_length=17,
        description="The program's checking account the checks draw on (for Positive Pay).",
    )
    tax_form_max_mb: float = Field(
        default=5, gt=0, le=10, description="Largest tax form PDF a partner may upload (MB)."
    )
    resource_max_mb: float = Field(
        default=10, gt=0, le=10, description="Largest file a manager may add to the resources (MB)."
    )
    lockout_failures: int = Field(default=5, ge=1, description="Failed logins before a lock.")
    address_failures: int = Field(
        default=20,
        ge=1,
        description="Failed sign-ins from one client address, whatever the usernames, before "
        "that address waits PORTAL_LOCKOUT_MINUTES.",
    )
    client_address_header: str = Field(
        default="",
        description="Header a trusted reverse proxy puts the client's address in (e.g. "
        "X-Forwarded-For); empty: the address the server sees.",
    )
    trusted_proxies: int = Field(
        default=1,
        ge=1,
        le=10,
        description="How many reverse proxies in front of the portal add themselves to "
        "PORTAL_CLIENT_ADDRESS_HEADER: the client is the first address before them, counted "
        "from the right (entries further left are whatever the client wrote).",
    )
    applications_per_address: int = Field(
        default=10, ge=1, description="Applications one client address may send per hour."
    )
    session_idle_minutes: int = Field(
        default=120, ge=1, description="A signed-in browser idle this long must sign in again."
    )
    lockout_minutes: int = Field(default=15, ge=1, description="How long a lock lasts.")
    api_requests_per_minute: int = Field(
        default=120, ge=1, description="Requests one API key may make per minute (per process)."
    )
    api_max_body_kb: int = Field(
        default=64, ge=1, le=1024, description="Largest API request body accepted (KB)."
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks reach private and loopback addresses over plain HTTP (tests "
        "and local development only; refused in production).",
    )
    program_name: str = Field(
        default="Partner Portal", max_length=100, description="The program's name in e-mails."
    )
    manager_password_login: bool = Field(
        default=True,
        description="Whether managers may sign in with a password; false: only through the "
        "company's identity provider (single sign-on, `[auth]` in .streamlit/secrets.toml).",
    )
    manager_2fa: bool | None = Field(
        default=None,
        description="Whether managers need two-factor sign-in (an authenticator app's code "
        "within the last 15 minutes) to make payout files, approve batches, change program "
        "settings and pin rates; unset: on in production, off in demo.",
    )
    metrics_token: str = Field(
        default="",
        description="Bearer token a Prometheus scraper sends to read /metrics (random, "
        "secret); empty: /metrics answers 404.",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Logs as JSON lines (time, level, logger, message, and the session, user "
        "and action they concern), or plain text for reading in a terminal.",
    )
    public_url: str = Field(
        default="",
        description="The portal's address as users reach it; every link in an e-mail starts "
        "with it (never with what a request's headers claim). Unset: the address the app "
        "process serves on (`http://localhost:<server.port>`); set it for mail made in "
        "another process (the command line, a separate sender).",
    )
    smtp_url: str = Field(
        default="",
        description="Where mail is delivered: smtp://host:port (add ?starttls=true to "
        "upgrade), smtps://user:password@host:465; empty keeps every message in the outbox "
        "for the Mail page.",
    )
    mail_from: str = Field(
        default="Partner Portal <portal@localhost>",
        description="The From address of every message (required in production with SMTP).",
    )
    mail_sender_thread: bool = Field(
        default=True,
        description="Deliver mail and queue digests and statements from a thread of the app "
        "process; false when `python -m portal mail send --loop` runs instead.",
    )
    mail_poll_seconds: float = Field(
        default=30, gt=0, description="How often the sender looks for mail that is due."
    )
    mail_max_attempts: int = Field(
        default=8, ge=1, description="Delivery attempts before a message is marked dead."
    )
    mail_retry_seconds: int = Field(
        default=60,
        ge=1,
        description="Wait before the first retry; each further retry waits twice as long.",
    )
    reset_link_minutes: int = Field(
        default=60, ge=5, description="How long a password-reset link works."
    )
    invitation_days: int = Field(default=7, ge=1, description="How long an invitation works.")
    reset_mails_per_hour: int = Field(
        default=3, ge=1, description="Password-reset mails one account may be sent per hour."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=SECRETS_FILE),
        )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, url: str) -> str:
        # Heroku-style URLs name neither the dialect nor the driver SQLAlchemy should use.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url

    @field_validator("mail_from")
    @classmethod
    def _one_sender(cls, value: str) -> str:
        header = HeaderRegistry()("From", value)
        addresses: tuple[Any, ...] = getattr(header, "addresses", ())
        if len(addresses) != 1 or "@" not in addresses[0].addr_spec or header.defects:
            raise ValueError("mail_from must be one address, e.g. Partner Program <p@example.com>")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, code: str) -> str:
        return _currency_code(code)

    @model_validator(mode="after")
    def _program_currency_is_paid(self) -> Settings:
        if self.currency not in self.payout_currencies:
            # Frozen model: the program currency joins the list as written in the settings.
            object.__setattr__(self, "payout_currencies", (self.currency, *self.payout_currencies))
        return self

    @property
    def managers_need_two_factor(self) -> bool:
        return self.manager_2fa if self.manager_2fa is not None else self.env == "production"

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        return self.database_url or f"sqlite:///{self.data_dir / 'portal.db'}"


class ConfigurationError(RuntimeError):
    """The settings cannot be used as they are."""


def _demo_keys(data_dir: Path) -> dict[str, str]:
    """Random keys made on first use and kept under data/, so demo logins survive restarts."""
    path = data_dir / "keys.toml"
    if path.exists():
        return tomllib.loads(path.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    keys = {
        "cookie_key": secrets.token_urlsafe(48),
        "encryption_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    write_private(path, "".join(f'{name} = "{value}"\n' for name, value in keys.items()))
    return keys


def write_private(path: Path, text: str) -> None:
    """Write a file that only its owner can read, from the first byte (never chmod after)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w", encoding="utf-8") as sink:
        sink.write(text)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; in demo mode fill missing secrets, in production refuse them."""
    settings = Settings(**overrides)
    missing = [name for name in SECRET_FIELDS if not getattr(settings, name)]
    if settings.env == "production":
        if missing:
            names = ", ".join(f"PORTAL_{name.upper()}" for name in missing)
            raise ConfigurationError(f"PORTAL_ENV=production needs these secrets set: {names}")
        if len(settings.cookie_key) < MIN_COOKIE_KEY_LENGTH:
            raise ConfigurationError(
                f"PORTAL_COOKIE_KEY must be at least {MIN_COOKIE_KEY_LENGTH} random characters"
            )
        if len(set(settings.cookie_key)) < MIN_COOKIE_KEY_DISTINCT:
            raise ConfigurationError(
                "PORTAL_COOKIE_KEY is not random (too few different characters); make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        try:
            for key in settings.encryption_key.split(","):
                Fernet(key.strip())
        except ValueError:
            raise ConfigurationError(
                "PORTAL_ENCRYPTION_KEY must be one or more comma-separated Fernet keys; make one "
                "with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
        no_debtor = [name for name in DEBTOR_FIELDS if not getattr(settings, name)]
        if no_debtor:
            names = ", ".join(f"PORTAL_{name.upper()}" for name in no_debtor)
            raise ConfigurationError(
                f"PORTAL_ENV=production needs the accounts that pay the payouts: {names}"
            )
        if not rtn.is_valid(settings.ach_odfi_routing):
            raise ConfigurationError("PORTAL_ACH_ODFI_ROUTING is not a valid ABA routing number")
        _check_mail(settings)
        if settings.webhook_allow_private_targets:
            raise ConfigurationError(
                "PORTAL_WEBHOOK_ALLOW_PRIVATE_TARGETS is for tests and local development only"
            )
        return settings
    # Each paying account (SEPA debtor, ACH originator, checks) is filled as a whole, and only
    # when none of its settings is given.
    demo_debtor = {
        name: value
        for group in _DEMO_GROUPS
        if not any(getattr(settings, name) for name in group)
        for name, value in DEMO_DEBTOR.items()
        if name in group
    }
    if not missing and not demo_debtor:
        return settings
    keys = _demo_keys(settings.data_dir) if missing else {}
    filled: dict[str, Any] = {**overrides, **{name: keys[name] for name in missing}, **demo_debtor}
    return Settings(**filled)


def _check_mail(settings: Settings) -> None:
    """Production with delivery on: real addresses, and no password sent in the clear."""
    if not settings.smtp_url:
        return
    parts = urlsplit(settings.smtp_url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ConfigurationError("PORTAL_SMTP_URL must look like smtp://host:port or smtps://…")
    starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() in {"1", "true", "yes"}
    if parts.password and parts.scheme == "smtp" and not starttls:
        raise ConfigurationError(
            "PORTAL_SMTP_URL sends its password in the clear: use smtps:// or ?starttls=true"
        )
    if not settings.public_url:
        raise ConfigurationError(
            "PORTAL_PUBLIC_URL must be set to the production address (https://…): every link in "
            "mail starts with it"
        )
    for name, value in (
        ("PORTAL_PUBLIC_URL", settings.public_url),
        ("PORTAL_MAIL_FROM", settings.mail_from),
    ):
        if "localhost" in value or "127.0.0.1" in value:
            raise ConfigurationError(f"{name} must be the production address, not {value!r}")
    if not settings.public_url.startswith("https://"):
        raise ConfigurationError("PORTAL_PUBLIC_URL must be an https:// address in production")


# Where this process serves, as the app's server says once it has started (Streamlit's
# default until then, and in processes that serve nothing).
_SERVED = {"url": "http://localhost:8501"}


def serve_at(url: str) -> None:
    """Record the address this process serves on: links start with it unless
    PORTAL_PUBLIC_URL says otherwise."""
    _SERVED["url"] = url


def public_url() -> str:
    """The address every link in a message starts with (no trailing slash)."""
    return (get_settings().public_url or _SERVED["url"]).rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
