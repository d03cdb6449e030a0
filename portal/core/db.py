"""The engine (one per database URL and process) and the unit of work."""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Executable,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from portal.core.config import get_settings
from portal.core.errors import RecordedRefusal

SQLITE_BUSY_TIMEOUT_MS = 10_000
BUSY_ATTEMPTS = 4
# PostgreSQL's serialization failure, deadlock and lock-not-available: the work lost a race and
# may simply be run again.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
T = TypeVar("T")
_READS_ONLY = contextvars.ContextVar("reads_only", default=False)
# A write that is whole by itself (one statement nothing else depends on: a session's
# last-seen time) may go out in a unit of work for reads; any other write there is refused.
STANDALONE_WRITE = {"standalone_write": True}
# A pooled PostgreSQL connection unused for longer than this is tested before it is handed out
# (a server restart or a firewall may have dropped it meanwhile). One in steady use is not:
# testing each one cost a round trip per unit of work, a tenth of a page run's time under load
# (docs/performance.md). Should the server restart within these seconds, the one action
# that meets a dropped connection is told the database could not be reached, and the pool
# replaces all its connections for the next.
PING_AFTER_IDLE_SECONDS = 10.0


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN below is the only one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # SQLite has one writer at a time. Taking the write lock when the transaction
        # starts (not at its first write) makes read-check-write sequences atomic and
        # avoids the deadlock of two readers both upgrading to writers. Reads take no lock
        # and no transaction: each statement is its own, as on PostgreSQL.
        if not _READS_ONLY.get():
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # psycopg returns timestamps in the session's time zone: UTC, whatever the server's
        # default, so they come back as `types.UTCDateTime` promises with nothing to convert.
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and hands out a new one.
            raise DisconnectionError from error


# The pool hands out the connection returned last, not the one idle longest: a connection
# warms with use (psycopg prepares a statement at its sixth run on it, the server caches plans
# per connection), and after a busy moment the idle-longest rule would spread the next
# actions over every cold connection in turn (a status change took 7.2 ms instead of 5.6).
_WARMEST_FIRST = True


class CountedPool(QueuePool):
    """A queue pool that counts the checkouts that found every connection in use and had to
    wait for one, and how long they waited (exported at /metrics: a pool too small for the
    load shows here before it shows as slow pages)."""

    waits = 0
    waited_seconds = 0.0

    def _do_get(self) -> ConnectionPoolEntry:
        if self._max_overflow < 0 or self.checkedout() < self.size() + self._max_overflow:
            return super()._do_get()
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            self.waits += 1
            self.waited_seconds += time.perf_counter() - started


def upsert(model: Any, dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    """`INSERT … ON CONFLICT` into `model` for this database: PostgreSQL and SQLite both speak
    it, each through its own dialect's insert."""
    return (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(model)


def upsert_into(session: Session, model: Any) -> postgresql.Insert | sqlite.Insert:
    """`upsert` for the database `session` is bound to."""
    return upsert(model, session.get_bind().dialect.name)


def get_engine(url: str | None = None) -> Engine:
    """The engine for a URL (default: the configured one), created once per process."""
    return _engine_for(url or get_settings().sqlalchemy_url)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            database = Path(parsed.database)
            database.parent.mkdir(parents=True, exist_ok=True)
            # Made owner-only before SQLite opens it (its WAL and SHM files copy this mode):
            # it holds password hashes and encrypted secrets. Only when it does not exist yet:
            # closing any descriptor of an open database drops every POSIX lock this process
            # holds on it, and SQLite's connections then corrupt it.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            poolclass=CountedPool,
            pool_use_lifo=_WARMEST_FIRST,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(
        url, poolclass=CountedPool, pool_size=5, max_overflow=10, pool_use_lifo=_WARMEST_FIRST
    )
    _configure_postgresql(engine)
    return engine


@lru_cache(maxsize=8)
def _session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@lru_cache(maxsize=8)
def _autocommitting(engine: Engine) -> Engine:
    """The engine's pool, its connections handed out in autocommit (still no connection until
    the first statement: a page that needs no database opens none)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def unit_of_work(engine: Engine | None = None, *, reads_only: bool = False) -> Iterator[Session]:
    """One transaction per user action: commits if the block succeeds, else rolls back —
    except for a `RecordedRefusal`, whose record (a counted failure, its audit) is kept.

    With `reads_only`, each statement is a transaction of its own. On PostgreSQL that spares
    the BEGIN and COMMIT round trips and loses nothing: at READ COMMITTED, its level here,
    each statement of a transaction takes its own snapshot anyway; on SQLite the reads no
    longer wait for the write lock. Under load every round trip waits for PostgreSQL to be
    scheduled on the same cores (docs/performance.md). A statement that changes data in
    such a unit of work is refused, on every database (its writes would not be all or
    nothing)."""
    bind = engine or get_engine()
    if reads_only and bind.dialect.name == "postgresql":
        bind = _autocommitting(bind)  # SQLite's: `_on_begin`
    mode = _READS_ONLY.set(reads_only)
    try:
        with _session_factory(bind)() as session:
            with session.begin():
                try:
                    yield session
                except RecordedRefusal as refusal:
                    kept = refusal
                else:
                    return
            raise kept
    finally:
        _READS_ONLY.reset(mode)


@event.listens_for(Engine, "before_cursor_execute")
def _before_statement(
    connection: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    """A statement that changes data in a unit of work for reads is refused (its writes would
    not be all or nothing), unless it is a `STANDALONE_WRITE`."""
    if (
        _READS_ONLY.get()
        and isinstance(context, DefaultExecutionContext)
        and (context.isinsert or context.isupdate or context.isdelete)
        and not context.execution_options.get("standalone_write", False)
    ):
        raise WriteInReads(f"{' '.join(statement.split()[:3])}… in a unit of work for reads")


class WriteInReads(RuntimeError):
    """A data-changing statement sent in a unit of work opened for reads only."""


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session; how many rows it changed."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def connection(session: Session) -> Connection:
    """The unit of work's connection, for Core statements sent past the ORM's execution layer
    (cheaper per statement), after the ORM's pending changes are flushed: such a statement
    sees what this unit of work has added or changed so far, as an ORM query would."""
    session.flush()  # nothing to do, and nearly free, when nothing is pending
    return session.connection()


def is_busy(error: DBAPIError) -> bool:
    """Whether the database refused only because other work held what this work needed."""
    if getattr(error.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    message = str(error.orig).lower()
    return "database is locked" in message or "database table is locked" in message
