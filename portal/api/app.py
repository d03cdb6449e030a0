"""The JSON API (FastAPI), mounted at /api/v1 in the app's own server.

Every request names an API key (`Authorization: Bearer ppk_…`), acts as the key's user and
goes through the same services as the pages, so the access rules are the ones the access
matrix tests. A read key may only read. Refusals are RFC 9457 problem documents with the
services' field errors; another partner's lead is a 404 exactly like a missing one; no
stack trace leaves the server. Money is a decimal string ("1234.50"), never a float.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BeforeValidator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from portal.accounts import api_keys
from portal.api import contract
from portal.api.contract import MAX_LIMIT, PROBLEM
from portal.api.limits import BodyLimit, HeadLikeGet, Measured, RateLimiter
from portal.core import actions, idempotency, logs
from portal.core.access import Actor, one_action
from portal.core.config import get_settings
from portal.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PortalError,
    StaleVersion,
    ValidationError,
)
from portal.core.models import MAX_ID, LeadStatus, PartnerStatus, PayoutStatus
from portal.leads import leads
from portal.messaging import conversations
from portal.messaging.webhooks import EVENTS
from portal.money import commissions, monthly_statements, payouts
from portal.money.commissions import CommissionState
from portal.partners import partners, profiles
from portal.reporting import statistics

log = logging.getLogger(__name__)
T = TypeVar("T")


# Answers as JSON: dataclass views flattened, money as decimal strings, times in ISO 8601.


def _encode(value: Any) -> Any:
    """What json cannot write by itself: views (dataclasses), exact money, times."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS.get(type(value))
        if names is None:
            names = _FIELDS.setdefault(type(value), [f.name for f in dataclasses.fields(value)])
        return {name: getattr(value, name) for name in names}
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


_FIELDS: dict[type, list[str]] = {}


def encoded(value: Any) -> str:
    """JSON text of a view; the C encoder writes what it knows and asks `_encode` for the
    rest (str enums are strings already)."""
    return json.dumps(value, default=_encode, separators=(",", ":"), ensure_ascii=False)


def plain(value: Any) -> Any:
    """A view as JSON values (dicts, lists, strings, numbers)."""
    return json.loads(encoded(value))


def answer(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encoded(value), status, headers, media_type="application/json")


def page_json(page: Any) -> dict[str, Any]:
    return {"items": page.items, "next_cursor": page.next_cursor}


# Problems (RFC 9457).


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.errors, self.headers = errors, headers


def problem_response(problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    if problem.errors:
        body["errors"] = problem.errors
    return JSONResponse(body, problem.status, headers=problem.headers, media_type=PROBLEM)


def _from_portal(error: PortalError) -> Problem:
    if isinstance(error, ValidationError):
        return Problem(422, "Invalid request", str(error), errors=error.errors)
    if isinstance(error, NotFound):
        return Problem(404, "Not found", str(error))
    if isinstance(error, PermissionDenied):
        return Problem(403, "Forbidden", str(error))
    if isinstance(error, StaleVersion):
        return Problem(412, "Precondition failed", str(error))
    if isinstance(error, Conflict):
        return Problem(409, "Conflict", str(error))
    return Problem(400, "Refused", str(error))


# Who is calling.


@dataclasses.dataclass(frozen=True)
class Caller:
    """The key a request presents and whether it asks to write; checked in `run`, in the
    same transaction as the work (one round trip for the key and its user's state)."""

    key: str
    writes: bool


rate_limiter = RateLimiter()
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="partner-portal"'}
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    bearerFormat="ppk_…",
    description="An API key, made on the Profile (partners) or Account (managers) page.",
)


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None or not credentials.credentials.strip():
        raise Problem(
            401, "Unauthorized", "Send an API key: Authorization: Bearer ppk_…", headers=CHALLENGE
        )
    return Caller(credentials.credentials.strip(), request.method not in {"GET", "HEAD"})


Calling = Annotated[Caller, Depends(caller)]


def _admit(session: Session, call: Caller, *, count: bool = True) -> api_keys.KeyHolder:
    """Who the key acts for, checked; the request counted toward its key's rate (`count`:
    once per request, not again when a busy database makes the action run again)."""
    holder = api_keys.holder_of(session, key=call.key)
    if holder is None:
        raise Problem(
            401,
            "Unauthorized",
            "This API key is not valid (unknown, revoked or expired).",
            headers=CHALLENGE,
        )
    per_minute = get_settings().api_requests_per_minute
    wait = rate_limiter.wait(holder.key_id, per_minute) if count else None
    if wait is not None:
        raise Problem(
            429,
            "Too many requests",
            f"This key may make {per_minute} requests a minute.",
            headers={"Retry-After": str(wait)},
        )
    if call.writes and not holder.scope.writes:
        raise Problem(403, "Forbidden", "This API key may only read.")
    return holder


def _admitting(call: Caller) -> Callable[[Session], api_keys.KeyHolder]:
    """`_admit` for an action that `actions.run` may run again: the request counts toward its
    key's rate at the first attempt only."""
    attempts = 0

    def admit(session: Session) -> api_keys.KeyHolder:
        nonlocal attempts
        attempts += 1
        return _admit(session, call, count=attempts == 1)

    return admit


def run(call: Caller, work: Callable[[Session, Actor], T]) -> T:
    """The key checked, then the work, in one unit of work; refusals become problems. The
    key's check read its user's state: the services take that reading (`one_action`)."""
    return run_as_holder(call, lambda session, holder: work(session, holder.actor))


def run_as_holder(call: Caller, work: Callable[[Session, api_keys.KeyHolder], T]) -> T:
    """`run` for work that needs the key itself (its scope), not only whose it is: one
    action (`actions.run`), run again while the database is busy, as a page's is."""
    admit = _admitting(call)

    def attempt(session: Session) -> T:
        holder = admit(session)
        with (
            one_action(holder.actor),
            logs.bound(user_id=holder.actor.user_id, api_key=holder.key_id),
        ):
            return work(session, holder)

    try:
        return actions.run(attempt)
    except PortalError as error:
        raise _from_portal(error) from None


def json_body(request: Request) -> None:
    """A body is JSON, said so by its Content-Type; anything else is 415, not a guess."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise Problem(
            415, "Unsupported media type", "Send the body as JSON (Content-Type: application/json)."
        )


def _iso_date(value: object) -> object:
    """Dates only as written in ISO 8601 (2026-11-30): a bare number is not a day."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    raise ValueError("must be a date written as YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
PartnerId = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="Managers: the partner it is about.", examples=[1]),
]
Cursor = Annotated[
    str | None,
    Query(
        pattern=contract.CURSOR_PATTERN,
        description="`next_cursor` of the previous page (a cursor not issued here is a 422).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Search = Annotated[str, Query(max_length=200, description="Words to look for.")]


# The application.

api = FastAPIOffline(
    title="Partner Portal API",
    version="1",
    summary="Register and follow leads; read commissions, payouts, statements and the profile.",
    description=(
        "Authenticate with `Authorization: Bearer <API key>` (make one on the Profile or "
        "Account page; **Authorize** above takes it). Money is a decimal string "
        '(`"1234.50"`), times are ISO 8601 UTC, lists are keyset pages (`next_cursor`). '
        "Every refusal is an RFC 9457 problem (`application/problem+json`) with `errors` by "
        "field. Send `Idempotency-Key` when registering a lead, and `If-Match` with the "
        "lead's `ETag` when moving one. A key of the `read` scope may only read; only a "
        "`payout_details` key changes where payouts go. The webhooks your endpoints receive "
        "are described below, under Webhooks."
    ),
    docs_url="/docs",
    redoc_url="/redoc",
    openapi_url="/openapi.json",
    responses=contract.EVERY_OPERATION,
    openapi_tags=[
        {"name": "leads", "description": "Register leads and follow them to conversion."},
        {"name": "money", "description": "Commissions, payouts and monthly statements."},
        {"name": "account", "description": "The dashboard, the profile and the catalogue."},
        {"name": "managers", "description": "Running the program (manager keys)."},
    ],
    swagger_ui_parameters={"tryItOutEnabled": True},
)
api.add_middleware(BodyLimit, max_bytes=lambda: get_settings().api_max_body_kb * 1024)
api.add_middleware(HeadLikeGet)
api.add_middleware(Measured)  # outermost: counts the refusals of the others too


@api.exception_handler(Problem)
async def _problem(_: Request, problem: Problem) -> JSONResponse:
    return problem_response(problem)


@api.exception_handler(RequestValidationError)
async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
    errors = {}
    for item in error.errors():
        if item.get("type") == "missing" and tuple(item.get("loc", ())) == ("header", "if-match"):
            return problem_response(
                Problem(428, "Precondition required", "Send If-Match with the lead's ETag.")
            )
        location = [
            str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")
        ]
        errors[".".join(location) or "body"] = str(item.get("msg", "is not valid"))
    return problem_response(Problem(422, "Invalid request", "See errors.", errors=errors))


def _allowed(request: Request) -> str:
    """Every method the request's path takes: FastAPI has one route per method, and the
    first that matches the path alone would name only its own."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")  # (HeadLikeGet)
    return ", ".join(sorted(methods))


@api.exception_handler(StarletteHTTPException)
async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
    if error.status_code == 400:  # FastAPI: a body it could not decode (not UTF-8)
        return problem_response(
            Problem(422, "Invalid request", "See errors.", errors={"body": "This is not JSON."})
        )
    headers = dict(error.headers) if error.headers else None
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed(request)}  # RFC 9110
    return problem_response(Problem(error.status_code, str(error.detail), headers=headers))


@api.exception_handler(Exception)
async def _unexpected(_: Request, error: Exception) -> JSONResponse:
    log.exception("API request failed", exc_info=error)
    return problem_response(Problem(500, "Internal error", "The request could not be completed."))


def _etag(version: int) -> str:
    return f'"{version}"'


def _with_paid(session: Session, actor: Actor, views: list[Any]) -> list[dict[str, Any]]:
    """Leads as the contract's `Lead`: each says whether its commission was paid."""
    paid = commissions.paid_lead_ids(session, actor=actor, lead_ids=[view.id for view in views])
    # The view's own fields, encoded with the rest of the answer (no JSON round trip each).
    return [{**_encode(view), "commission_paid": view.id in paid} for view in views]


@api.get(
    "/dashboard",
    tags=["account"],
    operation_id="getDashboard",
    summary="The partner's dashboard: figures, chart data, recent leads",
    response_model=contract.Dashboard,
)
def dashboard(call: Calling, partner_id: PartnerId = None) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        stats = statistics.partner_statistics(session, actor=actor, partner_id=partner_id)
        recent = leads.list_leads(session, actor=actor, partner_id=stats.partner_id, limit=5)
        return {
            **plain(stats),
            "recent_leads": _with_paid(session, actor, recent.items),
            "can_access_dashboard": stats.status is PartnerStatus.ACTIVE,
        }

    return answer(run(call, read))


@api.get(
    "/services",
    tags=["account"],
    operation_id="listServices",
    summary="The service catalogue a lead names one of",
    response_model=contract.Services,
)
def services(call: Calling) -> Response:
    return answer(run(call, lambda s, actor: {"services": leads.service_catalogue(s, actor=actor)}))


@api.get(
    "/leads",
    tags=["leads"],
    operation_id="listLeads",
    summary="Leads, newest first, a keyset page at a time",
    response_model=contract.LeadPage,
)
def list_leads(
    call: Calling,
    status: LeadStatus | None = None,
    search: Search = "",
    created_from: Annotated[IsoDate | None, Query(description="First day (UTC).")] = None,
    created_to: Annotated[IsoDate | None, Query(description="Last day (UTC).")] = None,
    partner_id: PartnerId = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        page = leads.list_leads(
            session,
            actor=actor,
            status=status,
            search=search,
            created_from=created_from,
            created_to=created_to,
            partner_id=partner_id,
            after=cursor,
            limit=limit,
        )
        return {"items": _with_paid(session, actor, page.items), "next_cursor": page.next_cursor}

    return answer(run(call, read))


@api.post(
    "/leads",
    status_code=201,
    tags=["leads"],
    operation_id="registerLead",
    summary="Register a lead (send an Idempotency-Key)",
    dependencies=[Depends(json_body)],
    responses={
        201: {
            "description": "Registered.",
            "headers": {
                **contract.ETAG,
                "Idempotent-Replayed": {
                    "description": "`true` when this answers a retry of an earlier request.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
            },
        },
        409: contract.problem(
            "The client is claimed already, or the same Idempotency-Key is in flight."
        ),
        **contract.WITH_BODY,
    },
    response_model=contract.Lead,
)
def create_lead(
    call: Calling,
    body: contract.NewLead,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=100,
            description="Any unique text per lead: a retry with the same key registers once.",
        ),
    ] = None,
) -> Response:
    fields = body.model_dump()

    def register(session: Session, actor: Actor) -> tuple[int, dict[str, Any]]:
        view = leads.register_lead(session, actor=actor, **fields)
        return 201, {**plain(view), "commission_paid": False}

    if idempotency_key is None:
        status, body_json = run(call, register)
        return answer(body_json, status, headers={"ETag": _etag(body_json["version"])})
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
    status, body_json, replayed = _once(call, idempotency_key, digest, register)
    headers = {"ETag": _etag(body_json["version"])}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return answer(body_json, status, headers=headers)


def _once(
    call: Caller,
    key: str,
    digest: str,
    work: Callable[[Session, Actor], tuple[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any], bool]:
    """Do `work` once per (API key, Idempotency-Key); a retry gets the first answer back."""
    admit = _admitting(call)

    def attempt(session: Session) -> tuple[int, dict[str, Any], bool]:
        holder = admit(session)
        key_id = holder.key_id
        stored = idempotency.stored_answer(session, key_id=key_id, key=key, digest=digest)
        if stored is not None:
            return stored[0], stored[1], True
        idempotency.claim(session, key_id=key_id, key=key, digest=digest)
        with one_action(holder.actor):
            status, body_json = work(session, holder.actor)
        idempotency.keep_answer(session, key_id=key_id, key=key, status=status, body=body_json)
        return status, body_json, False

    for _ in range(2):
        try:
            return actions.run(attempt)
        except PortalError as error:
            raise _from_portal(error) from None
        except IntegrityError:
            continue  # the same request ran at the same time and won: read its answer
    raise Problem(409, "Conflict", "The same request is being processed; retry it.")


LeadId = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]


@api.get(
    "/leads/{lead_id}",
    tags=["leads"],
    operation_id="getLead",
    summary="One lead with its timeline",
    responses={200: {"description": "The lead.", "headers": contract.ETAG}},
    response_model=contract.LeadDetail,
)
def get_lead(call: Calling, lead_id: LeadId) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        detail = leads.get_lead(session, actor=actor, lead_id=lead_id)
        return {**plain(detail), "lead": _with_paid(session, actor, [detail.lead])[0]}

    found = run(call, read)
    return answer(found, headers={"ETag": _etag(found["lead"]["version"])})


@api.patch(
    "/leads/{lead_id}",
    tags=["leads"],
    operation_id="moveLead",
    summary="Move a lead to its next status (If-Match: its ETag)",
    dependencies=[Depends(json_body)],
    responses={
        200: {"description": "Moved.", "headers": contract.ETAG},
        409: contract.problem("The move is not allowed from the lead's status."),
        412: contract.problem("The lead changed since that ETag: read it again."),
        428: contract.problem("If-Match is missing."),
        **contract.WITH_BODY,
    },
    response_model=contract.Lead,
)
def move_lead(
    call: Calling,
    lead_id: LeadId,
    body: contract.LeadMove,
    if_match: Annotated[
        str,
        Header(
            pattern=r'^(\*|(W/)?"?\d{1,9}"?)$',
            description='The lead\'s ETag (e.g. "3"), or * to move whatever its version.',
            examples=['"1"'],
        ),
    ],
) -> Response:
    version_text = if_match.strip().removeprefix("W/").strip('"')
    if version_text != "*" and (not version_text.isdigit() or len(version_text) > 9):
        raise Problem(412, "Precondition failed", 'If-Match must be the lead\'s ETag, e.g. "3".')

    def move(session: Session, actor: Actor) -> dict[str, Any]:
        expected = (
            leads.get_lead(session, actor=actor, lead_id=lead_id).lead.version
            if version_text == "*"
            else int(version_text)
        )
        view = leads.change_lead_status(
            session,
            actor=actor,
            lead_id=lead_id,
            to=body.status,
            expected_version=expected,
            note=body.note,
            lost_reason=body.lost_reason,
            lost_note=body.lost_note,
            deal_value=body.deal(),
        )
        return _with_paid(session, actor, [view])[0]

    moved = run(call, move)
    return answer(moved, headers={"ETag": _etag(moved["version"])})


@api.get(
    "/commissions",
    tags=["money"],
    operation_id="listCommissions",
    summary="Commission lines and the summary",
    response_model=contract.CommissionPage,
)
def list_commissions(
    call: Calling,
    state: CommissionState | None = None,
    partner_id: PartnerId = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        summary = commissions.commission_summary(session, actor=actor, partner_id=partner_id)
        page = commissions.list_commissions(
            session,
            actor=actor,
            partner_id=partner_id,
            state=state,
            after=cursor,
            limit=limit,
        )
        return {"summary": summary, **page_json(page)}

    return answer(run(call, read))


@api.get(
    "/payouts",
    tags=["money"],
    operation_id="listPayouts",
    summary="Payouts, newest first",
    response_model=contract.PayoutPage,
)
def list_payouts(
    call: Calling,
    status: PayoutStatus | None = None,
    partner_id: PartnerId = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Response:
    page = run(
        call,
        lambda s, actor: payouts.list_payouts(
            s, actor=actor, partner_id=partner_id, status=status, after=cursor, limit=limit
        ),
    )
    return answer(page_json(page))


@api.get(
    "/statements/{month}",
    tags=["money"],
    operation_id="getStatement",
    summary="A monthly statement",
    response_model=contract.Statement,
)
def statement(
    call: Calling,
    month: Annotated[
        str,
        Path(
            pattern=contract.MONTH_PATTERN,
            description="The month, 2000-01 to 2100-12.",
            examples=["2026-11"],
        ),
    ],
    partner_id: PartnerId = None,
) -> Response:
    found = run(
        call,
        lambda s, actor: monthly_statements.monthly_statement(
            s, actor=actor, month=month, partner_id=partner_id
        ),
    )
    return answer(found)


@api.get(
    "/profile",
    tags=["account"],
    operation_id="getProfile",
    summary="The profile (secrets masked)",
    response_model=contract.Profile,
)
def get_profile(call: Calling, partner_id: PartnerId = None) -> Response:
    found = run(call, lambda s, actor: profiles.get_profile(s, actor=actor, partner_id=partner_id))
    return answer(found)


@api.patch(
    "/profile",
    tags=["account"],
    operation_id="updateProfile",
    summary="Change profile fields (secrets write-only)",
    dependencies=[Depends(json_body)],
    responses=contract.WITH_BODY,
    response_model=contract.Profile,
)
def update_profile(
    call: Calling, changes: contract.ProfileChanges, partner_id: PartnerId = None
) -> Response:
    found = run_as_holder(
        call,
        lambda s, holder: profiles.update_profile(
            s,
            actor=holder.actor,
            changes=changes.changes(),
            partner_id=partner_id,
            key_scope=holder.scope,
        ),
    )
    return answer(found)


@api.get(
    "/partners",
    tags=["managers"],
    operation_id="listPartners",
    summary="Partners (managers)",
    response_model=contract.PartnerPage,
)
def list_partners(
    call: Calling,
    status: PartnerStatus | None = None,
    search: Search = "",
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Response:
    page = run(
        call,
        lambda s, actor: partners.list_partners(
            s, actor=actor, status=status, search=search, after=cursor, limit=limit
        ),
    )
    return answer(page_json(page))


@api.post(
    "/partners/{partner_id}/status",
    tags=["managers"],
    operation_id="changePartnerStatus",
    summary="Approve, suspend or reactivate a partner (managers)",
    dependencies=[Depends(json_body)],
    responses={
        409: contract.problem("The partner's status does not allow this action."),
        **contract.WITH_BODY,
    },
    response_model=contract.Partner,
)
def partner_status(
    call: Calling,
    partner_id: Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])],
    body: contract.PartnerAction,
) -> Response:
    view = run(
        call,
        lambda s, actor: partners.change_status(
            s, actor=actor, partner_id=partner_id, action=body.action
        ),
    )
    return answer(view)


ConversationId = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]


@api.get(
    "/conversations",
    tags=["messages"],
    operation_id="listConversations",
    summary="Conversations with the program, newest message first",
    response_model=contract.ConversationList,
)
def list_conversations(
    call: Calling,
    unanswered: Annotated[
        bool, Query(description="Managers: only those whose last word is the partner's.")
    ] = False,
    partner_id: PartnerId = None,
    limit: Limit = 50,
) -> Response:
    found = run(
        call,
        lambda s, actor: conversations.conversations(
            s, actor=actor, unanswered=unanswered, partner_id=partner_id, limit=limit
        ),
    )
    return answer({"items": found})


@api.get(
    "/conversations/{conversation_id}",
    tags=["messages"],
    operation_id="getConversation",
    summary="A conversation and its messages (they count as read from now on)",
    response_model=contract.ConversationThread,
)
def get_conversation(call: Calling, conversation_id: ConversationId) -> Response:
    view, messages = run(
        call,
        lambda s, actor: conversations.read_conversation(
            s, actor=actor, conversation_id=conversation_id
        ),
    )
    return answer({"conversation": view, "messages": messages})


@api.post(
    "/messages",
    status_code=201,
    tags=["messages"],
    operation_id="postMessage",
    summary="Write a message (a lead's thread with lead_id)",
    dependencies=[Depends(json_body)],
    responses={201: {"description": "Written."}, **contract.WITH_BODY},
    response_model=contract.Message,
)
def post_message(call: Calling, body: contract.NewMessage) -> Response:
    message = run(
        call,
        lambda s, actor: conversations.post(
            s, actor=actor, body=body.body, lead_id=body.lead_id, partner_id=body.partner_id
        ),
    )
    return answer(message, 201)


# What a partner's own endpoint receives (OpenAPI 3.1 `webhooks`).


def _describe_webhook(event: str, words: str) -> None:
    def receive(
        body: contract.WebhookEvent,
        portal_signature: Annotated[
            str,
            Header(
                description="t=<unix time>,v1=<hex HMAC-SHA256 of `<t>.<body>` under the "
                "endpoint's secret>",
                examples=["t=1796000000,v1=5d41402abc4b2a76b9719d911017c592"],
            ),
        ],
    ) -> None:
        """Answer 2xx within 10 seconds; anything else is retried with backoff."""

    api.webhooks.post(
        event,
        summary=words,
        operation_id=f"webhook_{event.replace('.', '_')}",
        tags=["webhooks"],
        response_description="Received: this delivery is done.",
        responses={"default": {"description": "Anything else: retried with backoff."}},
    )(receive)


for _event, _words in EVENTS.items():
    _describe_webhook(_event, _words)


def _openapi() -> dict[str, Any]:
    """The generated document, with the one Problem schema every refusal refers to."""
    if api.openapi_schema is None:
        schema = _generated_openapi()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = contract.Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        examples = contract.answer_examples()
        for operations in schema["paths"].values():
            for operation in operations.values():
                for code, answer in operation["responses"].items():
                    if code.startswith("2") and operation["operationId"] in examples:
                        answer["content"]["application/json"]["example"] = examples[
                            operation["operationId"]
                        ]
    return api.openapi_schema  # type: ignore[return-value]


_generated_openapi = api.openapi
api.openapi = _openapi  # type: ignore[method-assign]
