"""Keyset pagination: a page of results and an opaque cursor to the next one."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Select, bindparam, tuple_

from portal.core.errors import ValidationError
from portal.core.models import MAX_ID
from portal.core.types import Expression

MAX_PAGE_SIZE = 500
AFTER_MOMENT, AFTER_ID = "after_moment", "after_id"
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page, newest first; `next_cursor` is None on the last page."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def page_of(items: list[Any], *, has_more: bool, moment: Callable[[Any], datetime]) -> Page[Any]:
    """A page of views (each with an `id`), pointing after its last item when there is more."""
    if not has_more or not items:
        return Page(items=items)
    last = items[-1]
    return Page(items=items, next_cursor=encode_cursor(moment(last), last.id))


def encode_cursor(created_at: datetime, row_id: int) -> str:
    """A cursor pointing just after (created_at, id) in newest-first order."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The position a cursor points after; a tampered cursor is a validation error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, _, row_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        created_at = datetime.fromisoformat(stamp)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        last_id = int(row_id)
        if not 0 <= last_id <= MAX_ID:
            raise ValueError("no such row")
        # A moment at the edge of the calendar may not exist in UTC (year 1 at +14:00).
        return created_at.astimezone(UTC), last_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as error:
        raise ValidationError({"cursor": "The page position is not valid."}) from error


def after_cursor(moment: Expression[Any], row_id: Expression[int]) -> ColumnElement[bool]:
    """Rows after a cursor in newest-first order, the cursor's position left to bind at
    execution (`cursor_values`), for statements built once."""
    return _after(moment, row_id, None)


def cursor_values(cursor: str) -> dict[str, Any]:
    """The values `after_cursor` binds for a cursor (a tampered one is a validation error)."""
    created_at, last_id = decode_cursor(cursor)
    return {AFTER_MOMENT: created_at, AFTER_ID: last_id}


def before(moment: Expression[Any], row_id: Expression[int], cursor: str) -> ColumnElement[bool]:
    """Rows after this cursor in newest-first order, its position bound in."""
    return _after(moment, row_id, cursor_values(cursor))


def _after(
    moment: Expression[Any],
    row_id: Expression[int],
    position: dict[str, Any] | None,
) -> ColumnElement[bool]:
    """`(moment, id) < (cursor's moment, id)`: a row-value comparison, which PostgreSQL (and
    SQLite) answer with one index range scan; the spelled-out OR of two conditions made
    PostgreSQL filter its way to deep pages."""

    def bound(name: str, column: Expression[Any]) -> Any:
        if position is None:
            return bindparam(name, type_=column.type, required=True)
        return bindparam(name, position[name], type_=column.type)

    return tuple_(moment, row_id) < tuple_(bound(AFTER_MOMENT, moment), bound(AFTER_ID, row_id))


def check_limit(limit: int) -> int:
    """A page size within bounds."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError({"limit": f"Page size must be between 1 and {MAX_PAGE_SIZE}."})
    return limit


AnySelect: TypeAlias = Select[*tuple[Any, ...]]


class Listing:
    """A keyset listing, newest first: a base statement, the conditions a caller may choose by
    name, and the cursor. Listings rerun on every click and building a statement costs more
    than running it, so each set of conditions in use is built once, every value bound at
    execution (the names' values, and `query`'s for the cursor and the page size)."""

    def __init__(
        self,
        base: Callable[[], AnySelect],
        moment: Expression[Any],
        row_id: Expression[int],
        conditions: Mapping[str, Callable[[], ColumnElement[bool]]],
    ) -> None:
        self._base, self._moment, self._row_id = base, moment, row_id
        self._conditions: dict[str, Callable[[], ColumnElement[bool]]] = {
            **conditions,
            "after": lambda: after_cursor(moment, row_id),
        }
        self._built: dict[tuple[str, ...], AnySelect] = {}

    def query(
        self, chosen: Sequence[str], *, after: str | None, limit: int
    ) -> tuple[AnySelect, dict[str, Any]]:
        """The statement for the `chosen` conditions (and the cursor's, when there is one),
        with the values of the cursor and of one row more than a page (to tell if there is
        more); a page size out of bounds or a tampered cursor is a validation error."""
        check_limit(limit)
        names = (*chosen, "after") if after else tuple(chosen)
        statement = self._built.get(names)
        if statement is None:
            statement = self._built[names] = (
                self._base()
                .where(*[self._conditions[name]() for name in names])
                .order_by(self._moment.desc(), self._row_id.desc())
                .limit(bindparam("limit"))
            )
        values: dict[str, Any] = {"limit": limit + 1}
        if after:
            values |= cursor_values(after)
        return statement, values
