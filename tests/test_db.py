"""What the unit of work tells about the statements it sends: the tables read and written."""

from __future__ import annotations

from sqlalchemy import func, select

from portal import db
from portal.db import tables_read, unit_of_work
from portal.models import Lead, Notification, Partner
from tests.factories import make_actor, make_lead


def test_tables_read_names_every_table_a_statement_reads(engine):
    # For reads: on SQLite a unit of work for writes begins with a BEGIN IMMEDIATE, sent as
    # plain SQL, whose tables are not known (ANY_TABLE), which would cover them all.
    with unit_of_work(engine, reads_only=True) as session, tables_read() as tables:
        session.execute(
            select(Partner.id).where(
                Partner.id.in_(select(Lead.partner_id)),
                select(func.count()).select_from(Notification).scalar_subquery() >= 0,
            )
        )
    assert tables == {"partners", "partner_leads", "notifications"}


def test_a_write_tells_the_table_it_changes(engine, monkeypatch):
    written: list[str] = []
    monkeypatch.setattr(db, "_DATA_WRITTEN", [written.append])
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        written.clear()
        make_lead(session, partner)
    assert "partner_leads" in written and "partner_lead_stats" in written
    assert db.ANY_TABLE not in written
