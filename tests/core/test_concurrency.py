"""Two real connections at once: one edit wins, the other is told; one claim per client."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.core.db import unit_of_work
from portal.core.errors import Conflict, PortalError
from portal.core.models import Lead, LeadEvent
from portal.leads import leads
from portal.reporting import integrity
from tests.factories import make_actor, make_lead


def _race(engine, *actions):
    """Run each action in its own thread and transaction, started together."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[object] = [None] * len(actions)

    def run(index, action):
        barrier.wait()
        try:
            with unit_of_work(engine) as session:
                outcomes[index] = action(session)
        except PortalError as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_editors_on_one_lead_one_wins_the_other_is_told(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        lead = make_lead(session, partner)

    def move(target, **extra):
        return lambda session: leads.change_lead_status(
            session,
            actor=partner,
            lead_id=lead.id,
            to=target,
            expected_version=lead.version,
            **extra,
        )

    outcomes = _race(engine, move("contacted"), move("lost", lost_reason="bad_fit"))
    conflicts = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    winners = [outcome for outcome in outcomes if isinstance(outcome, leads.LeadView)]
    assert len(conflicts) == 1 and len(winners) == 1, outcomes
    with unit_of_work(engine) as session:
        stored = session.get(Lead, lead.id)
        assert (stored.status, stored.version) == (winners[0].status, lead.version + 1)
        assert session.scalar(select(func.count()).select_from(LeadEvent)) == 2
        assert integrity.verify_statistics(session) == []


def test_two_partners_registering_one_client_at_once_make_one_claim(engine):
    with unit_of_work(engine) as session:
        first, second = make_actor(session), make_actor(session)

    def register(actor):
        return lambda session: make_lead(session, actor, client_email="race@client.example")

    outcomes = _race(engine, register(first), register(second))
    refused = [outcome for outcome in outcomes if isinstance(outcome, PortalError)]
    assert len(refused) == 1 and "already registered" in str(refused[0]), outcomes
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 1


def test_ci_turns_an_unreachable_postgres_into_a_failure(monkeypatch):
    from tests import conftest

    monkeypatch.setattr(conftest, "ADMIN_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true needs PostgreSQL"):
        conftest.require_postgres()
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception):
        conftest.require_postgres()


def test_eight_writers_on_one_partner_lose_nothing(engine):
    """8 threads move 10 shared leads of one partner round the pipeline at once: every
    accepted move is counted in the lead's version, and the statistics still equal a
    recomputation afterwards."""
    import random
    from collections import Counter

    from portal.core.models import LeadStatus
    from tests.factories import make_manager

    cycle = {
        LeadStatus.PENDING: "contacted",
        LeadStatus.CONTACTED: "qualified",
        LeadStatus.QUALIFIED: "lost",
        LeadStatus.LOST: "pending",
    }
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        pool = [make_lead(session, partner).id for _ in range(10)]
    accepted: Counter[int] = Counter()
    refused = [0]
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(15):
                lead_id = rng.choice(pool)
                try:
                    with unit_of_work(engine) as session:
                        lead = leads.get_lead(session, actor=manager, lead_id=lead_id).lead
                        leads.change_lead_status(
                            session,
                            actor=manager,
                            lead_id=lead_id,
                            to=cycle[lead.status],
                            expected_version=lead.version,
                            lost_reason="other",
                        )
                except Conflict:
                    with lock:
                        refused[0] += 1
                else:
                    with lock:
                        accepted[lead_id] += 1
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert sum(accepted.values()) + refused[0] == 8 * 15
    with unit_of_work(engine) as session:
        for lead_id in pool:
            assert session.get(Lead, lead_id).version == 1 + accepted[lead_id]
        assert integrity.verify_statistics(session) == []
