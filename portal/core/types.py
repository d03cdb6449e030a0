"""Column types that behave the same on SQLite and PostgreSQL: exact money, UTC time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Date, DateTime, Integer, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

CENT = Decimal("0.01")
T = TypeVar("T")
# A column of a query: a mapped attribute (`Lead.created_at`) or any column expression.
Expression: TypeAlias = ColumnElement[T] | QueryableAttribute[T]


def to_cents(amount: Decimal) -> Decimal:
    """Round an amount half-up to cents, the one rounding rule for money."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1


class WholeNumber(TypeDecorator[int]):
    """INTEGER whose bound values outside its range name nothing.

    Ids arrive from URLs, forms and the command line. A number no INTEGER column can hold
    made SQLite's driver raise OverflowError (past 64 bits) and PostgreSQL "integer out of
    range": bound as NULL instead, a lookup by it simply finds no row, and a write of it
    fails its NOT NULL constraint rather than storing something else.
    """

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> int | None:
        if value is None or INTEGER_MIN <= value <= INTEGER_MAX:
            return value
        return None


class FixedPoint(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL; a scaled INTEGER on SQLite.

    SQLite has no decimal type: NUMERIC columns there hold binary floats, so sums drift.
    Storing whole units of 10**-scale keeps SUM() exact there too.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self.quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(self.quantum, rounding=ROUND_HALF_UP)
        return int(exact.scaleb(self.scale)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(self.quantum)
        return Decimal(value).quantize(self.quantum)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


def Money() -> FixedPoint:
    """Money: NUMERIC(12,2)."""
    return FixedPoint(12, 2)


class Rate(TypeDecorator[Decimal]):
    """A commission rate, NUMERIC(5,4): a fraction with 4 decimal places.

    Rates are compared against bounds in CHECK constraints but never summed, so on SQLite
    they may live in its native NUMERIC (a binary float) and be rounded back on reading.
    """

    impl = Numeric(5, 4, asdecimal=False)
    cache_ok = True
    quantum = Decimal("0.0001")

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(self.quantum, rounding=ROUND_HALF_UP)
        return float(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(self.quantum, rounding=ROUND_HALF_UP)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class ExchangeRate(Rate):
    """Units of a payout currency per unit of the program currency, NUMERIC(18,8): never
    summed, so SQLite keeps it as a float rounded back to 8 places on reading."""

    impl = Numeric(18, 8, asdecimal=False)
    cache_ok = True
    quantum = Decimal("0.00000001")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "postgresql":
            # Already aware and in UTC: every connection's session time zone is UTC
            # (portal/core/db.py). A page of leads holds hundreds of timestamps.
            return None
        return super().result_processor(dialect, coltype)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


class month_start(FunctionElement[date]):
    """The first day of the UTC month of a timestamp column, as a DATE."""

    type = Date()
    inherit_cache = True


class day_start(FunctionElement[date]):
    """The UTC calendar day of a timestamp column, as a DATE."""

    type = Date()
    inherit_cache = True


@compiles(month_start, "postgresql")
def _month_start_pg(element: month_start, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('month', {column} AT TIME ZONE 'UTC') AS DATE)"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element: month_start, compiler: Any, **kw: Any) -> str:
    return f"(substr({compiler.process(element.clauses, **kw)}, 1, 7) || '-01')"


@compiles(day_start, "postgresql")
def _day_start_pg(element: day_start, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC' AS DATE)"


@compiles(day_start, "sqlite")
def _day_start_sqlite(element: day_start, compiler: Any, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)
