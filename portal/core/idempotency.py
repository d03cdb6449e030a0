"""Answers kept for requests sent with an `Idempotency-Key`: a retried request gets the
first answer instead of doing the work again. Kept in the unit of work of the work itself,
so an answer exists exactly when the work was done."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.core.errors import ValidationError
from portal.core.models import IdempotentRequest


def _checked(key: str) -> str:
    if not key or len(key) > 100 or not key.isprintable():
        raise ValidationError({"Idempotency-Key": "Idempotency-Key must be 1 to 100 characters."})
    return key


def stored_answer(
    session: Session, *, key_id: int, key: str, digest: str
) -> tuple[int, dict[str, Any]] | None:
    """The answer given to this key's earlier request, if any; the same key with another
    request body is refused."""
    found = session.get(IdempotentRequest, (key_id, _checked(key)))
    if found is None:
        return None
    if found.request_hash != digest:
        raise ValidationError(
            {"Idempotency-Key": "This Idempotency-Key was used for a different request."}
        )
    return found.status_code, found.body


def claim(session: Session, *, key_id: int, key: str, digest: str) -> None:
    """Take the key before doing the work: a twin request sent at the same time waits here
    (PostgreSQL's unique index) and then fails on it, to replay the answer instead of
    racing the work itself."""
    session.add(
        IdempotentRequest(
            api_key_id=key_id, key=_checked(key), request_hash=digest, status_code=0, body={}
        )
    )
    session.flush()


def keep_answer(
    session: Session, *, key_id: int, key: str, status: int, body: dict[str, Any]
) -> None:
    """Record the answer of the work done under a claimed key."""
    row = session.get_one(IdempotentRequest, (key_id, key))
    row.status_code, row.body = status, body
