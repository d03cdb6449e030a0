"""Typed ORM models, their constraints and the indexes the queries use.

Listing indexes end in (created_at, id) ascending: every list is ordered by both descending,
which a B-tree serves by scanning backwards, and plain columns let Alembic compare them.

Table and column names of the original design (partners, partner_leads, partner_profiles) are
kept so its deployment notes still read true.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from portal.core.types import ExchangeRate, Money, Rate, UTCDateTime, WholeNumber, utc_now

MAX_ID = 2**31 - 1  # ids are INTEGER columns: larger numbers name nothing and overflow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {int: WholeNumber}


class Role(enum.StrEnum):
    PARTNER = "partner"
    MANAGER = "manager"


class PartnerStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class LeadStatus(enum.StrEnum):
    PENDING = "pending"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"
    LOST = "lost"


class LostReason(enum.StrEnum):
    NO_RESPONSE = "no_response"
    NOT_INTERESTED = "not_interested"
    BAD_FIT = "bad_fit"
    DUPLICATE = "duplicate"
    OTHER = "other"


class PaymentMethod(enum.StrEnum):
    BANK_TRANSFER = "bank_transfer"
    PAYPAL = "paypal"
    WISE = "wise"
    CHECK = "check"


class TaxForm(enum.StrEnum):
    W9 = "W-9"
    W8BEN = "W-8BEN"
    W8BENE = "W-8BEN-E"


class CommissionKind(enum.StrEnum):
    COMMISSION = "commission"
    CLAWBACK = "clawback"


class CommissionStatus(enum.StrEnum):
    """Stored states; `on_hold` and `payable` are both OPEN, told apart by the hold date."""

    OPEN = "open"
    IN_PAYOUT = "in_payout"
    PAID = "paid"
    VOID = "void"


class PayoutStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"
    RETURNED = "returned"  # paid, then sent back by the receiving bank


class BankAccountType(enum.StrEnum):
    """What a US account is: ACH entries carry a different transaction code for each."""

    CHECKING = "checking"
    SAVINGS = "savings"


class PayeeType(enum.StrEnum):
    """Who holds the account: ACH pays a business by CCD entries, a person by PPD."""

    BUSINESS = "business"
    INDIVIDUAL = "individual"


class TaxIdType(enum.StrEnum):
    SSN = "ssn"
    EIN = "ein"
    FOREIGN = "foreign"


class PayoutFileStatus(enum.StrEnum):
    LIVE = "live"  # handed to the bank or provider: its payouts are in no other file
    VOID = "void"  # withdrawn by a manager, with a reason: its unpaid payouts are free again


class NotificationKind(enum.StrEnum):
    """What an in-app notification is about (`notifications.kind`): the partner's mail
    (`mail.EVENT_SUBJECTS`) and webhooks (`webhooks.KIND_EVENTS`) are keyed on it."""

    LEAD_STATUS = "lead_status"
    COMMISSION_EARNED = "commission_earned"
    COMMISSION_REVERSED = "commission_reversed"
    LEAD_REASSIGNED = "lead_reassigned"
    PARTNER_STATUS = "partner_status"
    PAYOUT_SCHEDULED = "payout_scheduled"
    PAYOUT_PAID = "payout_paid"
    PAYOUT_FAILED = "payout_failed"
    PAYOUT_CANCELED = "payout_canceled"
    PAYOUT_RETURNED = "payout_returned"
    TAX_FORM = "tax_form"
    MESSAGE = "message"


class EventType(enum.StrEnum):
    """A webhook event: what a partner's endpoint subscribes to and receives."""

    LEAD_STATUS_CHANGED = "lead.status_changed"
    COMMISSION_EARNED = "commission.earned"
    COMMISSION_VOIDED = "commission.voided"
    PAYOUT_SCHEDULED = "payout.scheduled"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    MESSAGE_CREATED = "message.created"


class LeadEventKind(enum.StrEnum):
    REGISTERED = "registered"
    STATUS_CHANGED = "status_changed"
    REASSIGNED = "reassigned"


def _enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint listing the values."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class PartnerGroup(Base):
    """Partners with terms of their own: each override (tier rates, hold days, minimum
    payout) replaces the program's; what a group leaves empty follows the program settings.
    Partners in no group are in the default group, on the program's terms."""

    __tablename__ = "partner_groups"
    __table_args__ = (
        CheckConstraint("hold_days IS NULL OR hold_days >= 0", name="hold_days_nonnegative"),
        CheckConstraint("min_payout IS NULL OR min_payout >= 0", name="min_payout_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # {tier name: rate} for the tiers whose rate the group changes.
    tier_rates: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    hold_days: Mapped[int | None] = mapped_column(Integer)
    min_payout: Mapped[Decimal | None] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Partner(Base):
    """A partner company. Its statistics columns are rollups kept by the services."""

    __tablename__ = "partners"
    __table_args__ = (
        CheckConstraint(
            "commission_rate IS NULL OR (commission_rate >= 0 AND commission_rate <= 0.5)",
            name="commission_rate_range",
        ),
        CheckConstraint("total_referrals >= 0", name="total_referrals_nonnegative"),
        CheckConstraint("paid_earnings >= 0", name="paid_earnings_nonnegative"),
        Index("ix_partners_status_total_earnings", "status", "total_earnings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[PartnerStatus] = mapped_column(
        _enum(PartnerStatus, "partner_status"), default=PartnerStatus.PENDING
    )
    # A rate pinned by a manager; NULL means the tier's default rate applies.
    commission_rate: Mapped[Decimal | None] = mapped_column(Rate())
    total_referrals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_earnings: Mapped[Decimal] = mapped_column(Money(), default=0, server_default="0")
    paid_earnings: Mapped[Decimal] = mapped_column(Money(), default=0, server_default="0")
    pending_earnings: Mapped[Decimal] = mapped_column(
        Money(), Computed("total_earnings - paid_earnings", persisted=True)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The network address a self-sign-up came from (the risk center counts applications per
    # address); NULL for partners a manager created.
    applied_from: Mapped[str | None] = mapped_column(String(64), index=True)
    # The partner group whose terms apply; NULL: the default group (the program's own terms).
    # No foreign key: SQLite adds one only by copying the table, which its computed column
    # refuses; `groups.delete_group` moves a group's partners to the default group first, and
    # an unknown id reads as the default group.
    group_id: Mapped[int | None] = mapped_column(Integer, index=True)


class User(Base):
    """A login. Partners belong to one partner company; managers to none."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role = 'partner' AND partner_id IS NOT NULL)"
            " OR (role = 'manager' AND partner_id IS NULL)",
            name="role_matches_partner",
        ),
        CheckConstraint("failed_logins >= 0", name="failed_logins_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored case-folded, so the unique index makes usernames unique case-insensitively.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # Two-factor sign-in (portal.core.two_factor): the TOTP secret, encrypted; set up once a
    # first code confirmed it; the last time step a code was accepted for (no replays).
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class PartnerProfile(Base):
    """Payment, tax and contact details of a partner; secrets are stored encrypted."""

    __tablename__ = "partner_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), unique=True)
    payment_email: Mapped[str | None] = mapped_column(String(254))
    payment_method: Mapped[PaymentMethod | None] = mapped_column(
        _enum(PaymentMethod, "payment_method")
    )
    bank_account_encrypted: Mapped[str | None] = mapped_column(Text)
    bank_account_last4: Mapped[str | None] = mapped_column(String(4))
    # What the encrypted account number is: "iban" (SEPA and international) or "us" (ACH).
    bank_scheme: Mapped[str | None] = mapped_column(String(8))
    # The BIC of an IBAN account, or the ABA routing number of a US one (not secret).
    bank_code: Mapped[str | None] = mapped_column(String(11))
    # A US account's kind (the ACH transaction code depends on it) and who holds the account.
    bank_account_type: Mapped[BankAccountType | None] = mapped_column(
        _enum(BankAccountType, "bank_account_type")
    )
    payee_type: Mapped[PayeeType] = mapped_column(
        _enum(PayeeType, "payee_type"), default=PayeeType.BUSINESS, server_default="business"
    )
    # The currency the partner is paid in; NULL: the one its bank account's country uses,
    # when the program enables it, else the program currency.
    payout_currency: Mapped[str | None] = mapped_column(String(3))
    # Keeps the original design's column name; it holds a Fernet token, never the clear id.
    tax_id_encrypted: Mapped[str | None] = mapped_column("tax_id", Text)
    tax_id_last4: Mapped[str | None] = mapped_column(String(4))
    # What the tax id is: a US SSN or EIN (the 1099 needs the TIN type), or a foreign one.
    tax_id_type: Mapped[TaxIdType | None] = mapped_column(_enum(TaxIdType, "tax_id_type"))
    # The verified tax form on file (set when a manager verifies an upload) and its lapse.
    tax_form: Mapped[TaxForm | None] = mapped_column(_enum(TaxForm, "tax_form"))
    tax_form_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    tax_form_expires_on: Mapped[date | None] = mapped_column(Date)
    # An uploaded form waits for a manager's review.
    tax_form_pending: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    website: Mapped[str | None] = mapped_column(String(500))
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    zip: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    notifications_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    monthly_reports: Mapped[bool] = mapped_column(Boolean, default=False)
    # E-mail the day's events as one message the next morning instead of one mail each.
    email_digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    announcement_emails: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=text("true")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Lead(Base):
    """A client referral registered by a partner (table `partner_leads`)."""

    __tablename__ = "partner_leads"
    __table_args__ = (
        CheckConstraint("deal_value IS NULL OR deal_value > 0", name="deal_value_positive"),
        CheckConstraint("commission IS NULL OR commission >= 0", name="commission_nonnegative"),
        CheckConstraint(
            "commission_rate IS NULL OR (commission_rate >= 0 AND commission_rate <= 0.5)",
            name="commission_rate_range",
        ),
        CheckConstraint(
            "(status = 'converted') = (converted_at IS NOT NULL AND deal_value IS NOT NULL"
            " AND commission IS NOT NULL AND commission_rate IS NOT NULL)",
            name="converted_has_commission",
        ),
        CheckConstraint("(status = 'lost') = (lost_reason IS NOT NULL)", name="lost_has_reason"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index(
            "ix_partner_leads_partner_status_created",
            "partner_id",
            "status",
            "created_at",
            "id",
        ),
        Index(
            "ix_partner_leads_partner_created",
            "partner_id",
            "created_at",
            "id",
        ),
        Index("ix_partner_leads_status_created", "status", "created_at", "id"),
        Index("ix_partner_leads_created", "created_at", "id"),
        Index("ix_partner_leads_client_email_key", "client_email_key"),
        Index(
            "ix_partner_leads_self_referral",
            "created_at",
            "id",
            postgresql_where=text("self_referral"),
            # SQLite uses a partial index only when the query's WHERE implies the index's
            # textually, and SQLAlchemy writes the flag as `self_referral = 1` there.
            sqlite_where=text("self_referral = 1"),
        ),
        Index("ix_partner_leads_client_phone", "client_phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    client_name: Mapped[str] = mapped_column(String(200))
    client_email: Mapped[str] = mapped_column(String(254))
    # The email trimmed and case-folded: what duplicate claims compare.
    client_email_key: Mapped[str] = mapped_column(String(254))
    client_phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    company: Mapped[str | None] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[LeadStatus] = mapped_column(
        _enum(LeadStatus, "lead_status"), default=LeadStatus.PENDING
    )
    lost_reason: Mapped[LostReason | None] = mapped_column(_enum(LostReason, "lost_reason"))
    lost_note: Mapped[str | None] = mapped_column(Text)
    deal_value: Mapped[Decimal | None] = mapped_column(Money())
    commission: Mapped[Decimal | None] = mapped_column(Money())
    commission_rate: Mapped[Decimal | None] = mapped_column(Rate())
    self_referral: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when a manager moves the lead to another partner: what was written before then
    # (registration notes, a lost note) is the previous owner's and hidden from the new one.
    reassigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    claim_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read by the mapper, never changed


class LeadEvent(Base):
    """One entry of a lead's timeline: who changed what, when, and why."""

    __tablename__ = "lead_events"
    __table_args__ = (Index("ix_lead_events_lead_id_id", "lead_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("partner_leads.id", ondelete="CASCADE"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[LeadEventKind] = mapped_column(_enum(LeadEventKind, "lead_event_kind"))
    from_status: Mapped[LeadStatus | None] = mapped_column(
        _enum(LeadStatus, "lead_event_from_status")
    )
    to_status: Mapped[LeadStatus | None] = mapped_column(_enum(LeadStatus, "lead_event_to_status"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Notification(Base):
    """An in-app message to one user of a partner."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index(
            "ix_notifications_unread",
            "user_id",
            "id",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("partner_leads.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One write or login attempt: who, what, on which object, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_created", "created_at", "id"),
        Index("ix_audit_log_actor_created", "actor_user_id", "created_at"),
        Index("ix_audit_log_action_created", "action", "created_at"),
        Index("ix_audit_log_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The name typed or held at the time; kept even for unknown usernames and later renames.
    actor_label: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class Commission(Base):
    """One line of a partner's money ledger: a conversion's commission, or a clawback.

    A clawback is the negative twin of a commission that was paid and then reversed; it is
    netted from the partner's next payout. Open lines are on hold until `hold_until`, then
    payable; a payout holds them (`in_payout`) until it is paid or fails.
    """

    __tablename__ = "commissions"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'commission' AND amount >= 0) OR (kind = 'clawback' AND amount <= 0)",
            name="amount_sign_matches_kind",
        ),
        CheckConstraint(
            "(status IN ('in_payout', 'paid')) = (payout_id IS NOT NULL)",
            name="payout_matches_status",
        ),
        CheckConstraint("(status = 'void') = (voided_at IS NOT NULL)", name="void_has_time"),
        CheckConstraint(
            "(kind = 'clawback') = (reverses_id IS NOT NULL)", name="clawback_reverses"
        ),
        Index("ix_commissions_partner_status_hold", "partner_id", "status", "hold_until"),
        Index("ix_commissions_status_hold", "status", "hold_until"),
        Index(
            "ix_commissions_unpaid",
            "status",
            "hold_until",
            postgresql_include=["amount"],
            postgresql_where=text("status <> 'paid'"),
            sqlite_where=text("status <> 'paid'"),
        ),
        Index("ix_commissions_lead_id", "lead_id"),
        Index("ix_commissions_payout_id", "payout_id"),
        Index("ix_commissions_partner_earned", "partner_id", "earned_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("partner_leads.id"))
    kind: Mapped[CommissionKind] = mapped_column(_enum(CommissionKind, "commission_kind"))
    amount: Mapped[Decimal] = mapped_column(Money())
    deal_value: Mapped[Decimal | None] = mapped_column(Money())
    rate: Mapped[Decimal | None] = mapped_column(Rate())
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    hold_until: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[CommissionStatus] = mapped_column(
        _enum(CommissionStatus, "commission_status"), default=CommissionStatus.OPEN
    )
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("commissions.id"), unique=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Payout(Base):
    """One transfer to a partner, holding exactly the ledger lines it pays."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("payout_amount > 0 AND exchange_rate > 0", name="payout_amount_positive"),
        CheckConstraint(
            "(status IN ('paid', 'returned')) = (paid_at IS NOT NULL)", name="paid_has_time"
        ),
        CheckConstraint("status <> 'paid' OR length(reference) > 0", name="paid_has_reference"),
        CheckConstraint(
            "(status = 'returned') = (returned_at IS NOT NULL)", name="returned_has_time"
        ),
        # One bank transfer settles one payout: a reference names a single payout.
        Index(
            "ix_payouts_reference_unique",
            "reference",
            unique=True,
            postgresql_where=text("reference <> ''"),
            sqlite_where=text("reference <> ''"),
        ),
        Index("ix_payouts_partner_created", "partner_id", "created_at", "id"),
        Index("ix_payouts_status_created", "status", "created_at", "id"),
        Index("ix_payouts_created", "created_at", "id"),
        Index("ix_payouts_cutoff_status", "cutoff", "status", "id"),
        Index("ix_payouts_payout_file_id", "payout_file_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    cutoff: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    item_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[PayoutStatus] = mapped_column(
        _enum(PayoutStatus, "payout_status"), default=PayoutStatus.SCHEDULED
    )
    payment_method: Mapped[PaymentMethod] = mapped_column(
        _enum(PaymentMethod, "payout_payment_method")
    )
    reference: Mapped[str] = mapped_column(String(100), default="")
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Where the money goes, fixed when the payout is scheduled (or re-approved): the files
    # pay these details, never the profile as it is when a file is made.
    payee_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    payee_email: Mapped[str | None] = mapped_column(String(254))
    payee_type: Mapped[PayeeType] = mapped_column(
        _enum(PayeeType, "payout_payee_type"), default=PayeeType.BUSINESS, server_default="business"
    )
    payee_address: Mapped[dict[str, str] | None] = mapped_column(JSON)
    bank_scheme: Mapped[str | None] = mapped_column(String(8))
    bank_code: Mapped[str | None] = mapped_column(String(11))
    bank_account_encrypted: Mapped[str | None] = mapped_column(Text)
    bank_account_last4: Mapped[str | None] = mapped_column(String(4))
    bank_account_type: Mapped[BankAccountType | None] = mapped_column(
        _enum(BankAccountType, "payout_bank_account_type")
    )
    # Set when the partner changed its payment details after scheduling: no file takes the
    # payout until a manager re-approves it with the new details or cancels it.
    held_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The one live file that pays it, if any.
    payout_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("payout_files.id", use_alter=True, name="fk_payouts_payout_file_id_payout_files")
    )
    scheduled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    return_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # `amount` is in the program currency (`currency`), as the ledger is; the partner is paid
    # `payout_amount` in `payout_currency`: amount × exchange_rate, rounded half-up.
    payout_currency: Mapped[str] = mapped_column(String(3))
    payout_amount: Mapped[Decimal] = mapped_column(Money())
    exchange_rate: Mapped[Decimal] = mapped_column(ExchangeRate(), default=Decimal(1))
    rate_date: Mapped[date | None] = mapped_column(Date)
    rate_source: Mapped[str] = mapped_column(String(60), default="", server_default="")


class PartnerLeadStats(Base):
    """Rollup: how many of a partner's leads registered in a month are in each status."""

    __tablename__ = "partner_lead_stats"
    __table_args__ = (CheckConstraint("lead_count >= 0", name="lead_count_nonnegative"),)

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[LeadStatus] = mapped_column(
        _enum(LeadStatus, "stats_lead_status"), primary_key=True
    )
    lead_count: Mapped[int] = mapped_column(Integer, default=0)


class PartnerConversionStats(Base):
    """Rollup: a partner's conversions and their commission per UTC day of conversion."""

    __tablename__ = "partner_conversion_stats"
    __table_args__ = (CheckConstraint("conversions >= 0", name="conversions_nonnegative"),)

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    commission: Mapped[Decimal] = mapped_column(Money(), default=0)


class ProgramPartnerStats(Base):
    """Rollup: how many partners the program has in each status (ranks and the overview)."""

    __tablename__ = "program_partner_stats"
    __table_args__ = (CheckConstraint("partner_count >= 0", name="partner_count_nonnegative"),)

    status: Mapped[PartnerStatus] = mapped_column(
        _enum(PartnerStatus, "program_stats_partner_status"), primary_key=True
    )
    partner_count: Mapped[int] = mapped_column(Integer, default=0)


class ProgramLeadStats(Base):
    """Rollup: the whole program's leads registered in a month, per status (the overview)."""

    __tablename__ = "program_lead_stats"
    __table_args__ = (CheckConstraint("lead_count >= 0", name="lead_count_nonnegative"),)

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[LeadStatus] = mapped_column(
        _enum(LeadStatus, "program_stats_lead_status"), primary_key=True
    )
    lead_count: Mapped[int] = mapped_column(Integer, default=0)


class ProgramConversionStats(Base):
    """Rollup: the whole program's conversions and commission per UTC day of conversion."""

    __tablename__ = "program_conversion_stats"
    __table_args__ = (CheckConstraint("conversions >= 0", name="conversions_nonnegative"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    conversions: Mapped[int] = mapped_column(Integer, default=0)
    commission: Mapped[Decimal] = mapped_column(Money(), default=0)


class TaxDocumentStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"


class TaxFormDocument(Base):
    """A tax form a partner uploaded (a PDF, encrypted at rest) and a manager's review of it.

    Kept in the database, not on disk, so every replica serves the same file.
    """

    __tablename__ = "tax_form_documents"
    __table_args__ = (
        CheckConstraint(
            "(status = 'submitted') = (reviewed_at IS NULL)", name="reviewed_unless_submitted"
        ),
        CheckConstraint(
            "status <> 'rejected' OR length(rejection_reason) > 0", name="rejected_has_reason"
        ),
        Index("ix_tax_form_documents_partner_id", "partner_id", "id"),
        Index("ix_tax_form_documents_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    form: Mapped[TaxForm] = mapped_column(_enum(TaxForm, "tax_document_form"))
    file_name: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[TaxDocumentStatus] = mapped_column(
        _enum(TaxDocumentStatus, "tax_document_status"), default=TaxDocumentStatus.SUBMITTED
    )
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # W-8 forms lapse at the end of the third calendar year after signing; a W-9 does not.
    expires_on: Mapped[date | None] = mapped_column(Date)


class PayoutFile(Base):
    """One generation of a payout file for a batch: who made it, what it held, its SHA-256."""

    __tablename__ = "payout_files"
    __table_args__ = (
        Index("ix_payout_files_cutoff", "cutoff", "id"),
        # Check numbers are used once: two files cannot start at the same number.
        Index(
            "ix_payout_files_first_check_unique",
            "first_check",
            unique=True,
            postgresql_where=text("first_check IS NOT NULL"),
            sqlite_where=text("first_check IS NOT NULL"),
        ),
        CheckConstraint("(status = 'void') = (voided_at IS NOT NULL)", name="void_has_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cutoff: Mapped[date] = mapped_column(Date)
    format: Mapped[str] = mapped_column(String(16))
    payout_count: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    status: Mapped[PayoutFileStatus] = mapped_column(
        _enum(PayoutFileStatus, "payout_file_status"),
        default=PayoutFileStatus.LIVE,
        server_default="live",
    )
    # The payouts it paid, in file order (kept after a void, for the record).
    payout_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # The identifier the bank's duplicate check sees: the SEPA MsgId, the NACHA file id.
    message_id: Mapped[str] = mapped_column(String(35), default="", server_default="")
    # The check numbers a checks file used, first to last in payout order.
    first_check: Mapped[int | None] = mapped_column(Integer)
    last_check: Mapped[int | None] = mapped_column(Integer)
    voided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class Throttle(Base):
    """A failure counter for something that is not an account: an unknown username (hashed)
    or a client address, with the lock it earned."""

    __tablename__ = "throttles"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_nonnegative"),)

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserSession(Base):
    """One sign-in of one browser, named by the hash of its login cookie's token: a cookie
    counts only while its session is neither revoked, expired nor idle too long."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When its login cookie was written: a ticket writes a session's cookie once only.
    cookie_written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When this sign-in last gave a second factor (money and settings need a recent one).
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class MailStatus(enum.StrEnum):
    PENDING = "pending"  # to be delivered
    HELD = "held"  # waits for its recipient's daily digest
    DIGESTED = "digested"  # went out inside a digest
    SENT = "sent"
    DEAD = "dead"  # gave up after the configured attempts, or refused for good


class DeliveryStatus(enum.StrEnum):
    """Where a webhook delivery stands (no digests for machines)."""

    PENDING = "pending"  # to be posted (again, after a failure, at next_attempt_at)
    SENT = "sent"  # the endpoint answered 2xx
    DEAD = "dead"  # gave up after the configured attempts


class OutboxMessage(Base):
    """One e-mail, written in the unit of work of the change that causes it (a rolled-back
    change sends nothing), then delivered by the sender."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        CheckConstraint("(status = 'sent') = (sent_at IS NOT NULL)", name="sent_has_time"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at", "id"),
        Index("ix_outbox_messages_created", "created_at", "id"),
        Index("ix_outbox_messages_user_status", "user_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names a message that must exist once only (a month's statement, a day's digest).
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    list_unsubscribe: Mapped[str | None] = mapped_column(String(500))
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    # A live link (password reset, invitation), encrypted with the portal's key: the bodies
    # hold only a placeholder, filled in when the message is handed to the SMTP server, and
    # the secret is dropped once it was sent. Neither the Mail page nor a dump can use it.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[MailStatus] = mapped_column(
        _enum(MailStatus, "mail_status"), default=MailStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # A sender owns the message until then; another sender skips it meanwhile.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class TokenPurpose(enum.StrEnum):
    RESET = "reset"
    INVITATION = "invitation"


class PasswordToken(Base):
    """A single-use link to set a password, stored as the SHA-256 of its token."""

    __tablename__ = "password_tokens"
    __table_args__ = (Index("ix_password_tokens_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScheduledRun(Base):
    """A periodic mail job done for one period (job "monthly", period "2026-11"): runs once."""

    __tablename__ = "scheduled_runs"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class ApiScope(enum.StrEnum):
    READ = "read"
    WRITE = "write"  # read and write
    # Read and write, and change where payouts go: a key that can redirect money says so.
    PAYOUT_DETAILS = "payout_details"

    @property
    def writes(self) -> bool:
        return self is not ApiScope.READ


class ApiKey(Base):
    """A key a user's own systems call the API with, stored as its SHA-256; the prefix is
    kept in the clear so its owner can recognise it in a list."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[ApiScope] = mapped_column(_enum(ApiScope, "api_scope"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotentRequest(Base):
    """The answer given to a request sent with an `Idempotency-Key`, so a retry of it gets
    the same answer instead of doing the work twice."""

    __tablename__ = "idempotent_requests"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class WebhookEndpoint(Base):
    """An HTTPS address of a partner's own system that is told about the chosen events,
    each delivery signed with the endpoint's secret (kept encrypted: it signs, so it cannot
    be a hash)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_partner_id", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one endpoint, written in the unit of work of the change (like mail),
    then posted by the sender with retries; its log is the partner's to read and replay."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at", "id"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "webhook_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProgramSettingsVersion(Base):
    """One version of the program's rules (`portal.core.program`): every rule as it stood
    from `changed_at` until the next version. Version 1 holds the values the configuration
    gave before the first change; numbers are given in order, so two managers saving at
    once cannot both write the version after the one they read."""

    __tablename__ = "program_settings"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_by_label: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class RecoveryCode(Base):
    """One of a user's single-use two-factor recovery codes, stored as its SHA-256 (each is
    random enough, 50 bits, that a fast hash is safe)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdentitySignIn(Base):
    """One sign-in through the company's identity provider, by its nonce: used once, so the
    provider's cookie cannot open a second portal session (`users.sign_in_with_identity`)."""

    __tablename__ = "identity_sign_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    nonce: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class RiskRule(enum.StrEnum):
    """The risk center's rules (`portal.risk`); their names are also `ProgramRules.risk_holds`'s."""

    SHARED_PAYOUT_METHOD = "shared_payout_method"
    SELF_REFERRAL = "self_referral"
    DISPOSABLE_CLIENT_EMAIL = "disposable_client_email"
    REGISTRATION_BURST = "registration_burst"
    WEBSITE_DOMAIN_MISMATCH = "website_domain_mismatch"
    APPLICATIONS_FROM_ONE_ADDRESS = "applications_from_one_address"


class RiskSeverity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RiskStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"  # a real problem, dealt with
    DISMISSED = "dismissed"  # not a problem


class RiskEvent(Base):
    """What a risk rule found about a partner, until a manager resolves or dismisses it. One
    per partner, rule and subject (the lead, the shared account, the hour…): a rescan finds it
    again and adds nothing, and a decided event stays decided."""

    __tablename__ = "risk_events"
    __table_args__ = (
        UniqueConstraint("partner_id", "rule", "subject"),
        Index("ix_risk_events_status_partner_id", "status", "partner_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    rule: Mapped[RiskRule] = mapped_column(_enum(RiskRule, "risk_rule"))
    severity: Mapped[RiskSeverity] = mapped_column(_enum(RiskSeverity, "risk_severity"))
    subject: Mapped[str] = mapped_column(String(120))
    # What was found, in words a manager reads (account numbers masked).
    evidence: Mapped[str] = mapped_column(Text)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("partner_leads.id", ondelete="SET NULL"))
    status: Mapped[RiskStatus] = mapped_column(
        _enum(RiskStatus, "risk_status"), default=RiskStatus.OPEN
    )
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decision_reason: Mapped[str | None] = mapped_column(Text)


class Conversation(Base):
    """A thread between a partner's users and the program's managers: one per partner (about
    anything) and one per lead (opened from the lead). `topic` tells them apart: "partner",
    or "lead:<id>"."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("partner_id", "topic"),
        Index("ix_conversations_last_message_at_id", "last_message_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(40))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("partner_leads.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # Whether the last word was the program's: a thread whose last word is the partner's is
    # waiting for an answer.
    answered: Mapped[bool] = mapped_column(Boolean, default=False)


class Message(Base):
    """One message in a conversation, as its author wrote it (shown as text)."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(200))
    from_manager: Mapped[bool] = mapped_column(Boolean)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class ConversationRead(Base):
    """How far a user has read a conversation (the last message it saw)."""

    __tablename__ = "conversation_reads"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    last_read_message_id: Mapped[int] = mapped_column(Integer)


class Announcement(Base):
    """A manager's message to every partner, or to some groups' partners: shown on their
    dashboards until each user dismisses it, and e-mailed if the manager chose so."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    # Group ids it is for (0: the default group); empty: every partner.
    audience: Mapped[list[int]] = mapped_column(JSON, default=list)
    emailed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, index=True)


class AnnouncementDismissal(Base):
    """A user who has read an announcement and put it away."""

    __tablename__ = "announcement_dismissals"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    announcement_id: Mapped[int] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    dismissed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Resource(Base):
    """A file (PDF or image, kept in the database so every replica serves it) or a link that
    the program gives partners to sell with, for every partner or some groups' partners."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    # Group ids it is for (0: the default group); empty: every partner.
    audience: Mapped[list[int]] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(String(500))  # a link; else a file:
    file_name: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(40))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
