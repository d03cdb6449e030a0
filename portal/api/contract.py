"""The API's published contract: what each request carries and each answer holds, as
OpenAPI describes it (`/api/v1/openapi.json`).

Answers are the services' own views (dataclasses), named here as the integrator meets them;
`portal.api.app` writes them with its own encoder, so these models document the JSON, they do
not build it. Money is a decimal string ("1234.50"), never a number; times are ISO 8601 UTC.
Request bodies forbid unknown fields; their limits and formats are in the schema, and what a
schema cannot say (an IBAN's checksum, a move the lead's status does not allow) is refused by
the services with a problem naming the field.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from portal.core.models import (
    BankAccountType,
    EventType,
    LeadStatus,
    LostReason,
    PayeeType,
    PaymentMethod,
    TaxIdType,
)
from portal.leads import leads
from portal.messaging import conversations
from portal.money import commissions, monthly_statements, payouts
from portal.partners import partners, profiles
from portal.reporting import statistics

PROBLEM = "application/problem+json"
MAX_LIMIT = 200
MONEY_PATTERN = r"^\d{1,10}(\.\d{1,2})?$"
# A statement month the portal keeps: 2000-01 to 2100-12.
MONTH_PATTERN = r"^(20\d\d|2100)-(0[1-9]|1[0-2])$"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"


def _view_model(view: type, name: str, doc: str, **overrides: Any) -> type[BaseModel]:
    """A response model with the fields of a service's view (a dataclass) under the name the
    contract gives it; `overrides` replace or add fields as (type, default)."""
    hints = get_type_hints(view)
    fields: dict[str, Any] = {
        field.name: (hints[field.name], ...) for field in dataclasses.fields(view)
    }
    fields.update(overrides)
    return create_model(name, __doc__=doc, **fields)


Lead = _view_model(
    leads.LeadView,
    "Lead",
    "A lead as its partner (or a manager) sees it. `partner_name` and `self_referral` are "
    "filled for managers only. `version` is its ETag.",
    commission_paid=(bool, Field(description="Whether the conversion's commission was paid.")),
)
TimelineEntry = _view_model(leads.TimelineEntry, "TimelineEntry", "One event of a lead's life.")
LeadDetail = _view_model(
    leads.LeadDetail,
    "LeadDetail",
    "A lead with its timeline and the moves the caller may make now.",
    lead=(Lead, ...),
    timeline=(list[TimelineEntry], ...),  # type: ignore[valid-type]
)
PartnerStatistics = _view_model(
    statistics.PartnerStatistics, "PartnerStatistics", "The dashboard's figures."
)
Dashboard = _view_model(
    statistics.PartnerStatistics,
    "Dashboard",
    "The partner's dashboard: its figures and charts' data, its five latest leads, and "
    "whether it may use the program now (an active partner; applicants and suspended "
    "partners are told their status instead).",
    recent_leads=(list[Lead], ...),  # type: ignore[valid-type]
    can_access_dashboard=(bool, ...),
)
CommissionSummary = _view_model(
    commissions.CommissionSummary,
    "CommissionSummary",
    "Totals per state, the original design's total_earned / pending_commission / "
    "paid_commission, the next payout and what holds it.",
)
CommissionLine = _view_model(commissions.CommissionLine, "CommissionLine", "One commission line.")
Payout = _view_model(payouts.PayoutView, "Payout", "A payout: what it carries and where it goes.")
StatementLine = _view_model(
    monthly_statements.StatementLine, "StatementLine", "One line of a statement."
)
Statement = _view_model(
    monthly_statements.Statement,
    "Statement",
    "A month's statement: opening balance, every line, closing balance.",
    lines=(list[StatementLine], ...),  # type: ignore[valid-type]
)
Profile = _view_model(profiles.ProfileView, "Profile", "A profile; secrets shown masked.")
Partner = _view_model(partners.PartnerView, "Partner", "A partner company (managers).")


class _Page(BaseModel):
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class LeadPage(_Page):
    items: list[Lead]  # type: ignore[valid-type]


class CommissionPage(_Page):
    summary: CommissionSummary  # type: ignore[valid-type]
    items: list[CommissionLine]  # type: ignore[valid-type]


class PayoutPage(_Page):
    items: list[Payout]  # type: ignore[valid-type]


class PartnerPage(_Page):
    items: list[Partner]  # type: ignore[valid-type]


Conversation = _view_model(
    conversations.ConversationView,
    "Conversation",
    "A thread between the partner's users and the program: the partner's own (`lead_id` "
    "null) or a lead's. `answered`: the program had the last word; `unread`: messages the "
    'key\'s user has not read; `title`: "The program", or "Lead #12 · Dana Reyes".',
)
Message = _view_model(
    conversations.MessageView,
    "Message",
    "One message, as written (plain text). `mine`: written by the key's user.",
)


class ConversationList(BaseModel):
    items: list[Conversation]  # type: ignore[valid-type]


class ConversationThread(BaseModel):
    """A conversation and its messages, oldest first (reading it marks them read)."""

    conversation: Conversation  # type: ignore[valid-type]
    messages: list[Message]  # type: ignore[valid-type]


class Services(BaseModel):
    """The program's service catalogue: a lead names one of these."""

    services: list[str]


class Problem(BaseModel):
    """A refusal (RFC 9457), `application/problem+json`."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str | None = Field(None, examples=["Client email is not a valid e-mail address."])
    errors: dict[str, str] | None = Field(
        None,
        description="What is wrong, by field.",
        examples=[{"client_email": "Client email is not a valid e-mail address."}],
    )


# Request bodies.


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=5000)


class NewMessage(Strict):
    """A message to the program (partners: their company's thread, or a lead's with
    `lead_id`) or to a partner (managers: `partner_id`, or a lead's thread with `lead_id`)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"body": "Has the client answered?", "lead_id": 1}]}
    )

    body: str = Field(max_length=4000, description="Plain text, shown as written.")
    lead_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    partner_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Managers: the partner written to."
    )


class NewLead(Strict):
    """A referral to register. `service` is one of `GET /services`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_name": "Dana Reyes",
                    "client_email": "dana@acme.example",
                    "service": "SEO",
                    "company": "Acme Ltd",
                    "client_phone": "+1 415 555 0100",
                    "notes": "Met at the spring expo.",
                }
            ]
        }
    )

    # No minimum lengths: an empty field is refused by the service beside every other
    # mistake of the request, all named at once.
    client_name: str = Field(max_length=200)
    client_email: str = Field(max_length=254, json_schema_extra={"format": "email"})
    service: str = Field(max_length=100, description="One of `GET /services`.")
    client_phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=5000)
    partner_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Managers: whose lead it is."
    )


class LeadMove(Strict):
    """A lead's next status. `lost_reason` is required when the status is lost; a manager
    converting a lead gives the deal's value."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "contacted", "note": "Called on Monday."}]}
    )

    status: LeadStatus
    note: str = Field("", max_length=2000)
    lost_reason: LostReason | None = None
    lost_note: str = Field("", max_length=2000)
    deal_value: str | None = Field(
        default=None,
        pattern=MONEY_PATTERN,
        description="Managers, when status is converted: the deal's value, a decimal string.",
        examples=["12500.00"],
    )

    def deal(self) -> Decimal | None:
        return None if self.deal_value is None else Decimal(self.deal_value)


class PartnerAction(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"action": "approve"}]})

    action: Literal["approve", "suspend", "reactivate"]


class ProfileChanges(Strict):
    """Profile fields to change; only those sent change. `bank_account` and `tax_id` are
    write-only; a change of where payouts go (method, payment e-mail, bank account, bank code,
    account type) needs a key with the `payout_details` scope."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"contact_phone": "+44 20 7946 0958", "city": "Leeds"}]},
    )

    payment_method: PaymentMethod | None = None
    payment_email: str | None = Field(None, max_length=254)
    bank_account: str | None = Field(None, max_length=64)
    bank_code: str | None = Field(None, max_length=32)
    bank_account_type: BankAccountType | None = None
    payee_type: PayeeType | None = None
    payout_currency: str | None = Field(None, max_length=3)
    tax_id: str | None = Field(None, max_length=40)
    tax_id_type: TaxIdType | None = None
    contact_name: str | None = Field(None, max_length=200)
    contact_email: str | None = Field(None, max_length=254)
    contact_phone: str | None = Field(None, max_length=40)
    website: str | None = Field(None, max_length=2000)
    address: str | None = Field(None, max_length=300)
    city: str | None = Field(None, max_length=100)
    state: str | None = Field(None, max_length=100)
    zip: str | None = Field(None, max_length=20)
    country: str | None = Field(None, max_length=2)
    notifications_enabled: StrictBool | None = None
    email_notifications: StrictBool | None = None
    monthly_reports: StrictBool | None = None
    email_digest: StrictBool | None = None
    announcement_emails: StrictBool | None = None

    def changes(self) -> dict[str, Any]:
        """What was sent, as the profile service takes it (enums as their values)."""
        return self.model_dump(exclude_unset=True, mode="json")


# Webhooks: what a partner's endpoint receives.


class WebhookData(BaseModel):
    partner_id: int
    lead_id: int | None
    message: str = Field(description="The notification's words, as the partner's pages show it.")
    conversation_id: int | None = Field(default=None, description="`message.created` only.")
    message_id: int | None = Field(default=None, description="`message.created` only.")
    from_manager: bool | None = Field(
        default=None, description="`message.created` only: written by the program's managers."
    )
    body: str | None = Field(
        default=None, description="`message.created` only: the message as written (plain text)."
    )


class WebhookEvent(BaseModel):
    """One event, posted as JSON with `Portal-Signature: t=<unix time>,v1=<hex>`: the
    HMAC-SHA256 of `<t>.<body>` under the endpoint's secret. `id` is unique per event: a
    receiver that sees one twice has seen a retry."""

    id: str = Field(examples=["evt_5f0c2b7e9d1a4c3b8e6f7a2d1c0b9e8f"])
    type: EventType
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    data: WebhookData


# Answers that are refusals, documented on every operation they can come from.


def problem(description: str, **headers: str) -> dict[str, Any]:
    documented: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        documented["headers"] = {
            name: {"description": words, "schema": {"type": "string"}}
            for name, words in headers.items()
        }
    return documented


EVERY_OPERATION: dict[int | str, dict[str, Any]] = {
    401: problem(
        "No API key, or one that is unknown, revoked or expired.",
        **{"WWW-Authenticate": 'Bearer realm="partner-portal"'},
    ),
    403: problem("The key's user may not do this (or the key may only read)."),
    404: problem("No such thing, or one the caller may not see (they are told apart by no one)."),
    413: problem("The request body is larger than the API accepts."),
    422: problem("A field is wrong: `errors` names each and says why."),
    429: problem(
        "Too many requests for this key in a minute.",
        **{"Retry-After": "Seconds to wait before trying again."},
    ),
    500: problem("The request could not be completed (nothing was changed)."),
}
WITH_BODY: dict[int | str, dict[str, Any]] = {
    415: problem("The body is not JSON (send Content-Type: application/json)."),
}
ETAG = {"ETag": {"description": "The lead's version, for If-Match.", "schema": {"type": "string"}}}


def answer_examples() -> dict[str, Any]:
    """A real answer of each operation (the demo program's, one item per list), by
    operation id: `tests/api/test_api.py` checks each against its schema."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


EXAMPLES = Path(__file__).with_name("examples.json")
