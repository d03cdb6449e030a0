"""The scale generator: a consistent program on both databases, the big partner included."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.accounts.users import authenticate
from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.core.models import Commission, Lead, LeadEvent, LeadStatus, Payout, User
from portal.reporting import integrity
from portal.tools import generate


def test_generate_makes_a_consistent_program(engine):
    result = generate.generate(engine, partners=12, leads=3000, seed=3)
    assert (result.partners, result.leads) == (12, 3000)
    with unit_of_work(engine) as session:
        assert integrity.verify_statistics(session) == []
        assert integrity.verify_ledger(session) == []
        big = session.scalar(select(func.count()).select_from(Lead).where(Lead.partner_id == 1))
        assert big == 300
        statuses = set(session.scalars(select(Lead.status).distinct()))
        assert statuses == set(LeadStatus)
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == result.events
        assert session.scalar(select(func.count()).select_from(Commission)) == result.commissions
        assert session.scalar(select(func.count()).select_from(Payout)) == result.payouts > 0
        assert session.scalar(select(func.count()).select_from(User)) == 13
        login = authenticate(session, username="partner1", password=result.password)
        assert login.actor is not None and login.actor.partner_id == 1
    # The services keep working on generated data (ids continue after the bulk load).
    from tests.factories import make_actor, make_lead

    with unit_of_work(engine) as session:
        make_lead(
            session,
            make_actor(session, username="after.generate"),
            client_email="fresh@after-generate.example",
        )
        assert integrity.verify_statistics(session) == []


def test_generate_refuses_a_database_with_data(engine):
    generate.generate(engine, partners=1, leads=10)
    with pytest.raises(ValidationError, match="already holds data"):
        generate.generate(engine, partners=1, leads=10)
