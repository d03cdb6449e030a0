"""Faults: PostgreSQL goes away in the middle of a session and comes back.

The app reaches a throwaway database through a small TCP proxy that the test can cut and
restore, like a database restart or a network failure between the app and the server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from portal import config, migrate
from portal.db import get_engine, unit_of_work
from tests.apptest import signed_in, texts
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres
from tests.factories import make_actor, make_lead


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
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
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

    proxy.cut()
    during = signed_in(partner)
    assert not during.exception, "no traceback while the database is away"
    assert "cannot reach its database" in texts(during)

    proxy.restore()
    after = signed_in(partner)
    assert not after.exception
    assert [t.value for t in after.title] == ["Dashboard"]
    assert next(m.value for m in after.metric if m.label == "Referrals") == "1"
