"""Re-encrypt every stored secret with the newest encryption key, so an old key can be
retired (docs/operations.md, "Rotating the encryption key").

PORTAL_ENCRYPTION_KEY lists keys newest first; every key listed still decrypts. This
rewrites each encrypted value with the first, a batch of rows per transaction (the app keeps
running: a value is readable before and after its rewrite, with either key listed).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Engine, Table, bindparam, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper

from portal.core.crypto import rotate
from portal.core.db import get_engine
from portal.core.models import (
    Base,
    OutboxMessage,
    PartnerProfile,
    Payout,
    TaxFormDocument,
    WebhookEndpoint,
)

BATCH = 500


def _columns() -> list[tuple[Table, Column[object]]]:
    """Every column that holds a token of `crypto.encrypt` or `encrypt_bytes`."""
    found: list[tuple[Table, Column[object]]] = []
    models: tuple[type[Base], ...] = (
        PartnerProfile,
        Payout,
        TaxFormDocument,
        OutboxMessage,
        WebhookEndpoint,
    )
    for model in models:
        mapper: Mapper[Base] = sa_inspect(model)
        table = model.__table__
        assert isinstance(table, Table)
        found += [
            (table, column)  # by attribute name: the tax id's column is called tax_id
            for attribute, column in mapper.columns.items()
            if attribute.endswith("_encrypted")
        ]
    return found


def _rotated(token: str | bytes) -> str | bytes:
    """The token encrypted anew with the newest key, in the type it is stored as."""
    if isinstance(token, bytes):
        return rotate(token)
    return rotate(token.encode()).decode()


@dataclass(frozen=True)
class Rotated:
    column: str
    values: int


def rotate_all(engine: Engine | None = None) -> list[Rotated]:
    """Rewrite every encrypted value with the newest key; how many of each column."""
    engine = engine or get_engine()
    done = []
    for table, column in _columns():
        [key] = table.primary_key.columns
        count, after = 0, None
        while True:
            with engine.begin() as connection:
                query = select(key, column).where(column.is_not(None)).order_by(key).limit(BATCH)
                if after is not None:
                    query = query.where(key > after)
                rows = connection.execute(query).all()
                if rows:
                    connection.execute(
                        update(table)
                        .where(key == bindparam("row_key"))
                        .values({column: bindparam("fresh")}),
                        [{"row_key": row_key, "fresh": _rotated(token)} for row_key, token in rows],
                    )
            count += len(rows)
            if len(rows) < BATCH:
                break
            after = rows[-1][0]
        done.append(Rotated(f"{table.name}.{column.name}", count))
    return done
