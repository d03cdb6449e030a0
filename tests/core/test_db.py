"""The database layer: what a unit of work tells about its statements, and the timestamps."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import func, select

from portal.core import db
from portal.core.db import unit_of_work
from portal.core.models import Lead, Partner
from tests.factories import make_actor, make_lead


def test_timestamps_come_back_aware_in_utc_whatever_the_servers_time_zone(engine, backend):
    """`types.UTCDateTime`: what is stored comes back as the same moment, in UTC, through the
    ORM and as plain rows, even where the database's own time zone is not UTC."""
    if backend == "postgresql":
        with engine.connect() as connection:
            name = connection.exec_driver_sql("SELECT current_database()").scalar()
            connection.exec_driver_sql(f"ALTER DATABASE {name} SET timezone = 'America/New_York'")
            connection.commit()
        engine.dispose()  # new connections take the database's default, then the portal's
    try:
        with unit_of_work(engine) as session:
            partner = make_actor(session)
            lead = make_lead(session, partner)
        with unit_of_work(engine) as session:
            stored = session.get_one(Lead, lead.id).created_at
            row = session.connection().execute(select(Lead.created_at)).one()
        for value in (stored, row.created_at, lead.created_at):
            assert value.tzinfo is UTC, value
        assert stored == row.created_at == lead.created_at
    finally:
        if backend == "postgresql":
            with engine.connect() as connection:
                connection.exec_driver_sql(f"ALTER DATABASE {name} RESET timezone")
                connection.commit()
            engine.dispose()


def test_actions_one_after_another_take_the_connection_used_last(engine):
    """A connection warms with use (prepared statements, the server's caches): after a busy
    moment left several in the pool, actions that come one at a time keep to one of them
    instead of going round every cold one in turn."""
    # An engine of its own, configured as the app's: no other thread returns connections to
    # its pool while the test watches which one comes out.
    private = db._engine_for.__wrapped__(engine.url.render_as_string(hide_password=False))
    try:
        busy = [private.raw_connection() for _ in range(3)]  # checked out at once
        for connection in busy:
            connection.close()  # back to the pool
        used = set()
        for _ in range(6):
            with unit_of_work(private) as session:
                session.execute(select(func.count()).select_from(Partner))
                used.add(id(session.connection().connection.driver_connection))
        assert len(used) == 1
    finally:
        private.dispose()


def test_a_core_statement_sees_what_the_unit_of_work_has_pending(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = session.get_one(Lead, make_lead(session, partner).id)
        lead.client_name = "Renamed, not yet flushed"
        named = db.connection(session).scalar(select(Lead.client_name).where(Lead.id == lead.id))
    assert named == "Renamed, not yet flushed"
