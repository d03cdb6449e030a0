"""Faults: PostgreSQL goes away in the middle of a session and comes back.

Twice: a private PostgreSQL server that the test stops and starts again, and a small TCP
proxy in front of a throwaway database that the test cuts and restores (a network failure
between the app and the server, connections dropped mid-stream).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from portal.core import config, db, migrate
from portal.core.db import get_engine, unit_of_work
from portal.core.models import Lead
from portal.ui import session as ui_session
from tests.apptest import signed_in, texts
from tests.conftest import (
    IN_CI,
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
)
from tests.factories import make_actor, make_lead

pytestmark = pytest.mark.server


class Proxy:
    """Forwards a local port to PostgreSQL until cut; `restore` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.running:
                client.close()
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()

    def cut(self) -> None:
        """Drop every connection and stop accepting new ones (the database is gone)."""
        self.running = False
        # Shut down before closing: that wakes the threads blocked on these sockets, which
        # would otherwise keep them open (and the port taken) past close.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for sock in self.sockets:
            try:
                # Reset, as a network failure does: a graceful close would leave our end
                # waiting for the app's (a pooled connection not used meanwhile never answers)
                # and keep the port from being listened on again.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)
                sock.close()
            except OSError:
                pass
        self.sockets.clear()

    def restore(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()


@pytest.fixture
def proxied_database(monkeypatch) -> Iterator[tuple[Proxy, str]]:
    require_postgres()
    direct = create_postgres_database()
    migrate.upgrade(get_engine(direct))
    parsed = make_url(direct)
    proxy = Proxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    through_proxy = parsed.set(port=proxy.port).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", through_proxy)
    config.get_settings.cache_clear()
    try:
        yield proxy, direct
    finally:
        proxy.cut()
        get_engine(through_proxy).dispose()
        get_engine(direct).dispose()
        monkeypatch.undo()
        config.get_settings.cache_clear()
        drop_postgres_database(direct)


def test_pages_survive_the_database_going_away_and_recover(proxied_database):
    proxy, direct = proxied_database
    with unit_of_work(get_engine(direct)) as session:
        partner = make_actor(session)
        make_lead(session, partner)

    before = signed_in(partner)
    assert [t.value for t in before.title] == ["Dashboard"]
    browser = before.session_state[ui_session.SESSION_ID]

    proxy.cut()
    during = signed_in(partner, session_id=browser)
    assert not during.exception, "no traceback while the database is away"
    assert "cannot reach its database" in texts(during)

    proxy.restore()
    after = signed_in(partner, session_id=browser)
    assert not after.exception
    assert [t.value for t in after.title] == ["Dashboard"]
    assert next(m.value for m in after.metric if m.label == "Referrals") == "1"


class PrivateServer:
    """A throwaway PostgreSQL server of our own (initdb in a temporary folder, a free port),
    so the test can really stop it mid-session without touching the shared server."""

    def __init__(self, folder: Path) -> None:
        pg_config = shutil.which("pg_config")
        assert pg_config is not None
        self.bin = Path(
            subprocess.run(  # noqa: S603 - the machine's own pg_config
                [pg_config, "--bindir"], check=True, capture_output=True, text=True
            ).stdout.strip()
        )
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as its own user
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def private_server(monkeypatch) -> Iterator[PrivateServer]:
    if shutil.which("pg_config") is None:
        reason = "stopping a PostgreSQL server needs its programs (pg_config, initdb, pg_ctl)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as
    # the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    server = PrivateServer(folder)
    server.start()
    monkeypatch.setenv("DATABASE_URL", server.url)
    config.get_settings.cache_clear()
    try:
        yield server
    finally:
        get_engine(server.url).dispose()
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        monkeypatch.undo()
        config.get_settings.cache_clear()
        shutil.rmtree(folder, ignore_errors=True)


def test_pages_survive_postgresql_stopped_mid_session_and_recover(private_server):
    engine = get_engine(private_server.url)
    migrate.upgrade(engine)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        make_lead(session, partner)
    before = signed_in(partner)
    assert [t.value for t in before.title] == ["Dashboard"]
    browser = before.session_state[ui_session.SESSION_ID]

    private_server.stop()
    during = signed_in(partner, session_id=browser)
    assert not during.exception, "no traceback while the database is stopped"
    assert "cannot reach its database" in texts(during)
    during.run()  # the user tries again while it is still down
    assert not during.exception
    assert "cannot reach its database" in texts(during)

    private_server.start()
    after = signed_in(partner, session_id=browser)
    assert not after.exception
    assert [t.value for t in after.title] == ["Dashboard"]
    assert next(m.value for m in after.metric if m.label == "Referrals") == "1"
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 1


def _restart_while_quiet(private_server: PrivateServer, engine: Engine) -> None:
    """Use a pooled connection, then restart the server while nothing runs."""
    with unit_of_work(engine) as session:
        session.execute(select(1))
    private_server.stop()
    private_server.start()


def test_a_connection_idle_past_the_limit_is_tested_and_replaced(private_server, monkeypatch):
    engine = get_engine(private_server.url)
    migrate.upgrade(engine)
    _restart_while_quiet(private_server, engine)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every pooled connection is idle
    with unit_of_work(engine) as session:  # the dropped connection is not handed out
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


def test_a_connection_in_steady_use_is_not_tested_so_a_restart_costs_one_action(
    private_server, monkeypatch
):
    engine = get_engine(private_server.url)
    migrate.upgrade(engine)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    browser = signed_in(partner).session_state[ui_session.SESSION_ID]
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    _restart_while_quiet(private_server, engine)
    first = signed_in(partner, session_id=browser)
    assert not first.exception
    assert "cannot reach its database" in texts(first)
    again = signed_in(partner, session_id=browser)  # the pool replaced every connection
    assert not again.exception
    assert [t.value for t in again.title] == ["Dashboard"]


def test_only_connections_idle_past_the_limit_cost_a_round_trip(monkeypatch):
    require_postgres()
    url = create_postgres_database()
    engine = get_engine(url)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(
        engine.dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn)
    )
    try:
        for _ in range(3):  # back to back, as a busy app's units of work follow each other
            with unit_of_work(engine) as session:
                session.execute(select(1))
        assert pings == []
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        with unit_of_work(engine) as session:
            session.execute(select(1))
        assert len(pings) == 1
    finally:
        engine.dispose()
        drop_postgres_database(url)


def test_a_write_in_a_unit_of_work_for_reads_is_refused_and_nothing_is_written(engine):
    """Its statements would each commit on their own: a write there is a mistake, refused at
    its first statement; a unit of work for writes opened inside it writes as usual."""
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    with (
        pytest.raises(db.WriteInReads, match="INSERT INTO partner_leads"),
        unit_of_work(engine, reads_only=True) as session,
    ):
        make_lead(session, partner)
    with unit_of_work(engine, reads_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0
        with unit_of_work(engine) as inner:
            make_lead(inner, partner)
        assert session.scalar(select(func.count()).select_from(Lead)) == 1
        with pytest.raises(db.WriteInReads):
            make_lead(session, partner)


def test_reads_only_spare_the_transaction_round_trips():
    """Reads (Home.py's on every page run, the pages'): each statement its own transaction on
    PostgreSQL (its own `now()`), where a unit of work's statements share one."""
    require_postgres()
    url = create_postgres_database()
    engine = get_engine(url)
    try:
        moments = {}
        for separate in (False, True):
            with unit_of_work(engine, reads_only=separate) as session:
                first = session.scalar(select(func.now()))
                time.sleep(0.01)
                moments[separate] = (first, session.scalar(select(func.now())))
        assert moments[False][0] == moments[False][1]
        assert moments[True][0] < moments[True][1]
    finally:
        engine.dispose()
        drop_postgres_database(url)
