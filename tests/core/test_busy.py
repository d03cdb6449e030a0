"""A busy database is waited out and tried again, never shown as an outage.

On SQLite one writer holds the database at a time; on PostgreSQL a row lock can outlast a
statement's lock timeout. Either way the work lost a race, and `retrying` runs it again."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DBAPIError

from portal.core import db
from portal.core.actions import run as retrying
from portal.core.db import unit_of_work
from portal.core.models import Partner, PartnerStatus
from portal.ui import feedback
from tests.factories import make_actor


@pytest.fixture
def impatient_engine(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The same database through an engine that gives up on a lock after 50 ms (PostgreSQL's
    work sets its own lock timeout)."""
    if engine.dialect.name == "postgresql":
        yield engine
        return
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    impatient = db._engine_for.__wrapped__(str(engine.url))
    yield impatient
    impatient.dispose()


class HeldRow:
    """A partner row held by another connection until `release()`: on SQLite the whole
    database's write lock, on PostgreSQL the row's lock."""

    def __init__(self, engine: Engine) -> None:
        with unit_of_work(engine) as session:
            self.partner_id = make_actor(session).partner_id
        self._engine = engine
        self._held, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold)
        self._thread.start()
        assert self._held.wait(timeout=30)

    def _hold(self) -> None:
        with self._engine.connect() as connection:
            connection.begin()
            connection.execute(
                select(Partner.id).where(Partner.id == self.partner_id).with_for_update()
            )
            if self._engine.dialect.name == "sqlite":
                connection.execute(text("UPDATE partners SET company_name = company_name"))
            self._held.set()
            self._release.wait(timeout=30)
            connection.rollback()

    def release(self) -> None:
        self._release.set()
        self._thread.join(timeout=30)

    def touch(self, session) -> str:
        """What the work under test does: lock the held row."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL lock_timeout = '50ms'"))
        session.execute(select(Partner.id).where(Partner.id == self.partner_id).with_for_update())
        return "done"


def test_work_that_meets_a_lock_is_run_again_until_it_gets_through(engine, impatient_engine):
    held = HeldRow(engine)
    attempts = []

    def work(session):
        attempts.append(1)
        if len(attempts) == 2:
            held.release()  # the first attempt met the lock
        return held.touch(session)

    try:
        assert retrying(work, engine=impatient_engine) == "done"
    finally:
        held.release()
    assert len(attempts) == 2


def test_a_lock_that_never_ends_gives_up_after_the_last_attempt(
    engine, impatient_engine, monkeypatch
):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    held = HeldRow(engine)
    attempts = []

    def work(session):
        attempts.append(1)
        return held.touch(session)

    try:
        with pytest.raises(DBAPIError) as raised:
            retrying(work, engine=impatient_engine)
    finally:
        held.release()
    assert db.is_busy(raised.value)
    assert len(attempts) == db.BUSY_ATTEMPTS


def test_other_database_errors_are_not_retried(engine):
    attempts = []

    def work(session):
        attempts.append(1)
        session.execute(insert(Partner).values(company_name=None, status=PartnerStatus.ACTIVE))

    with pytest.raises(DBAPIError) as raised:
        retrying(work, engine=engine)
    assert not db.is_busy(raised.value)
    assert len(attempts) == 1


def test_a_busy_database_is_not_called_an_outage():
    assert "busy" in feedback.DATABASE_BUSY
    assert "cannot reach" not in feedback.DATABASE_BUSY


OTHER_PROCESS_WRITES = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("CREATE TABLE other (y TEXT)")
for _ in range(500):
    connection.execute("INSERT INTO other VALUES ('x')")
connection.close()
"""


def test_a_second_engine_on_an_open_database_keeps_its_locks(tmp_path):
    """Opening and closing a descriptor of a SQLite file drops every POSIX lock the process
    holds on it. An engine made for a database already open did that: another process (the
    command line) then took itself for the last one out and deleted the WAL this process
    still had open, and the test database was corrupted."""
    path = tmp_path / "locks.db"
    engine = db._engine_for.__wrapped__(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.connect() as held_open:
        held_open.execute(text("SELECT count(*) FROM t"))
        held_open.commit()
        db._engine_for.__wrapped__(f"sqlite:///{path}").dispose()
        subprocess.run(  # noqa: S603 - our own interpreter and a temporary file
            [sys.executable, "-c", OTHER_PROCESS_WRITES, str(path)], check=True
        )
        assert path.with_name("locks.db-wal").exists()
    engine.dispose()
