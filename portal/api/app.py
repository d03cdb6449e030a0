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
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal import (
    api_keys,
    commissions,
    idempotency,
    leads,
    partners,
    payouts,
    profiles,
    statements,
    statistics,
)
from portal.access import Actor, one_action
from portal.api.limits import BodyLimit, RateLimiter
from portal.commissions import CommissionState
from portal.config import get_settings
from portal.db import unit_of_work
from portal.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PortalError,
    StaleVersion,
    ValidationError,
)
from portal.models import LeadStatus, PartnerStatus, PayoutStatus

log = logging.getLogger(__name__)
T = TypeVar("T")
PROBLEM = "application/problem+json"
MAX_LIMIT = 200


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


async def caller(request: Request, authorization: Annotated[str, Header()] = "") -> Caller:
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(
            401, "Unauthorized", "Send an API key: Authorization: Bearer ppk_…", headers=CHALLENGE
        )
    return Caller(key.strip(), request.method not in {"GET", "HEAD"})


Calling = Annotated[Caller, Depends(caller)]


def _admit(session: Session, call: Caller) -> api_keys.KeyHolder:
    holder = api_keys.holder_of(session, key=call.key)
    if holder is None:
        raise Problem(
            401,
            "Unauthorized",
            "This API key is not valid (unknown, revoked or expired).",
            headers=CHALLENGE,
        )
    per_minute = get_settings().api_requests_per_minute
    wait = rate_limiter.wait(holder.key_id, per_minute)
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


def run(call: Caller, work: Callable[[Session, Actor], T]) -> T:
    """The key checked, then the work, in one unit of work; refusals become problems. The
    key's check read its user's state: the services take that reading (`one_action`)."""
    return run_as_holder(call, lambda session, holder: work(session, holder.actor))


def run_as_holder(call: Caller, work: Callable[[Session, api_keys.KeyHolder], T]) -> T:
    """`run` for work that needs the key itself (its scope), not only whose it is."""
    try:
        with unit_of_work() as session:
            holder = _admit(session, call)
            with one_action(holder.actor):
                return work(session, holder)
    except PortalError as error:
        raise _from_portal(error) from None


# Request bodies.


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=5000)


class NewLead(Strict):
    client_name: str = Field(max_length=200)
    client_email: str = Field(max_length=254)
    service: str = Field(max_length=100)
    client_phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    notes: str | None = None
    partner_id: int | None = Field(default=None, description="Managers: whose lead it is.")


class LeadMove(Strict):
    status: LeadStatus
    note: str = ""
    lost_reason: str | None = Field(default=None, description="Required when status is lost.")
    lost_note: str = ""
    deal_value: Decimal | None = Field(
        default=None, description="Managers, when status is converted: the deal's value."
    )


class PartnerAction(Strict):
    action: str = Field(description="approve, suspend or reactivate")


# The application.

api = FastAPI(
    title="Partner Portal API",
    version="1",
    description="Register and follow leads, read commissions, payouts, statements and the "
    "profile from your own systems. Authenticate with `Authorization: Bearer <API key>` "
    "(make one on the Profile or Account page).",
    docs_url=None,
    redoc_url=None,
    openapi_url="/openapi.json",
)
api.add_middleware(BodyLimit, max_bytes=lambda: get_settings().api_max_body_kb * 1024)


@api.exception_handler(Problem)
async def _problem(_: Request, problem: Problem) -> JSONResponse:
    return problem_response(problem)


@api.exception_handler(RequestValidationError)
async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
    errors = {}
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ()) if part not in ("body", "query")]
        errors[".".join(location) or "body"] = str(item.get("msg", "is not valid"))
    return problem_response(Problem(422, "Invalid request", "See errors.", errors=errors))


@api.exception_handler(StarletteHTTPException)
async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
    return problem_response(Problem(error.status_code, str(error.detail)))


@api.exception_handler(Exception)
async def _unexpected(_: Request, error: Exception) -> JSONResponse:
    log.exception("API request failed", exc_info=error)
    return problem_response(Problem(500, "Internal error", "The request could not be completed."))


# Swagger UI comes from a CDN: only its page may load from there (the portal's own policy
# lets nothing load from another origin).
DOCS_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    )
)


@api.get("/docs", include_in_schema=False)
def docs(request: Request) -> Response:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title=f"{api.title} docs")
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise Problem(422, "Invalid request", errors={"limit": f"limit must be 1 to {MAX_LIMIT}."})
    return limit


def _etag(version: int) -> str:
    return f'"{version}"'


@api.get("/dashboard", summary="The partner's dashboard figures")
def dashboard(call: Calling, partner_id: int | None = None) -> Response:
    stats = run(
        call, lambda s, actor: statistics.partner_statistics(s, actor=actor, partner_id=partner_id)
    )
    return answer(stats)


@api.get("/leads", summary="Leads, newest first, a keyset page at a time")
def list_leads(
    call: Calling,
    status: LeadStatus | None = None,
    search: str = Query("", max_length=200),
    created_from: date | None = None,
    created_to: date | None = None,
    partner_id: int | None = None,
    cursor: str | None = Query(None, max_length=200),
    limit: int = 50,
) -> Response:
    page = run(
        call,
        lambda s, actor: leads.list_leads(
            s,
            actor=actor,
            status=status,
            search=search,
            created_from=created_from,
            created_to=created_to,
            partner_id=partner_id,
            after=cursor,
            limit=_limit(limit),
        ),
    )
    return answer(page_json(page))


@api.post("/leads", status_code=201, summary="Register a lead (send an Idempotency-Key)")
def create_lead(
    call: Calling,
    body: NewLead,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> Response:
    fields = body.model_dump()

    def register(session: Session, actor: Actor) -> tuple[int, dict[str, Any]]:
        view = leads.register_lead(session, actor=actor, **fields)
        return 201, plain(view)

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
    for _ in range(2):
        try:
            with unit_of_work() as session:
                holder = _admit(session, call)
                key_id = holder.key_id
                stored = idempotency.stored_answer(session, key_id=key_id, key=key, digest=digest)
                if stored is not None:
                    return stored[0], stored[1], True
                idempotency.claim(session, key_id=key_id, key=key, digest=digest)
                status, body_json = work(session, holder.actor)
                idempotency.keep_answer(
                    session, key_id=key_id, key=key, status=status, body=body_json
                )
                return status, body_json, False
        except PortalError as error:
            raise _from_portal(error) from None
        except IntegrityError:
            continue  # the same request ran at the same time and won: read its answer
    raise Problem(409, "Conflict", "The same request is being processed; retry it.")


@api.get("/leads/{lead_id}", summary="One lead with its timeline")
def get_lead(call: Calling, lead_id: int) -> Response:
    detail = run(call, lambda s, actor: leads.get_lead(s, actor=actor, lead_id=lead_id))
    return answer(detail, headers={"ETag": _etag(detail.lead.version)})


@api.patch("/leads/{lead_id}", summary="Move a lead (If-Match: its ETag)")
def move_lead(
    call: Calling,
    lead_id: int,
    body: LeadMove,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    if if_match is None:
        raise Problem(428, "Precondition required", "Send If-Match with the lead's ETag.")
    version_text = if_match.strip().removeprefix("W/").strip('"')
    if not version_text.isdigit() or len(version_text) > 9:
        raise Problem(412, "Precondition failed", 'If-Match must be the lead\'s ETag, e.g. "3".')
    view = run(
        call,
        lambda s, actor: leads.change_lead_status(
            s,
            actor=actor,
            lead_id=lead_id,
            to=body.status,
            expected_version=int(version_text),
            note=body.note,
            lost_reason=body.lost_reason,
            lost_note=body.lost_note,
            deal_value=body.deal_value,
        ),
    )
    return answer(view, headers={"ETag": _etag(view.version)})


@api.get("/commissions", summary="Commission lines and the summary")
def list_commissions(
    call: Calling,
    state: CommissionState | None = None,
    partner_id: int | None = None,
    cursor: str | None = Query(None, max_length=200),
    limit: int = 50,
) -> Response:
    def read(session: Session, actor: Actor) -> dict[str, Any]:
        summary = commissions.commission_summary(session, actor=actor, partner_id=partner_id)
        page = commissions.list_commissions(
            session,
            actor=actor,
            partner_id=partner_id,
            state=state,
            after=cursor,
            limit=_limit(limit),
        )
        return {"summary": summary, **page_json(page)}

    return answer(run(call, read))


@api.get("/payouts", summary="Payouts, newest first")
def list_payouts(
    call: Calling,
    status: PayoutStatus | None = None,
    partner_id: int | None = None,
    cursor: str | None = Query(None, max_length=200),
    limit: int = 50,
) -> Response:
    page = run(
        call,
        lambda s, actor: payouts.list_payouts(
            s,
            actor=actor,
            partner_id=partner_id,
            status=status,
            after=cursor,
            limit=_limit(limit),
        ),
    )
    return answer(page_json(page))


@api.get("/statements/{month}", summary="A monthly statement (month as 2026-11)")
def statement(call: Calling, month: str, partner_id: int | None = None) -> Response:
    found = run(
        call,
        lambda s, actor: statements.monthly_statement(
            s, actor=actor, month=month, partner_id=partner_id
        ),
    )
    return answer(found)


@api.get("/profile", summary="The profile (secrets masked)")
def get_profile(call: Calling, partner_id: int | None = None) -> Response:
    found = run(call, lambda s, actor: profiles.get_profile(s, actor=actor, partner_id=partner_id))
    return answer(found)


@api.patch("/profile", summary="Change profile fields (secrets write-only)")
def update_profile(
    call: Calling, changes: dict[str, Any], partner_id: int | None = None
) -> Response:
    found = run_as_holder(
        call,
        lambda s, holder: profiles.update_profile(
            s, actor=holder.actor, changes=changes, partner_id=partner_id, key_scope=holder.scope
        ),
    )
    return answer(found)


@api.get("/partners", summary="Partners (managers)")
def list_partners(
    call: Calling,
    status: PartnerStatus | None = None,
    search: str = Query("", max_length=200),
    cursor: str | None = Query(None, max_length=200),
    limit: int = 50,
) -> Response:
    page = run(
        call,
        lambda s, actor: partners.list_partners(
            s, actor=actor, status=status, search=search, after=cursor, limit=_limit(limit)
        ),
    )
    return answer(page_json(page))


@api.post("/partners/{partner_id}/status", summary="Approve, suspend or reactivate (managers)")
def partner_status(call: Calling, partner_id: int, body: PartnerAction) -> Response:
    view = run(
        call,
        lambda s, actor: partners.change_status(
            s, actor=actor, partner_id=partner_id, action=body.action
        ),
    )
    return answer(view)
