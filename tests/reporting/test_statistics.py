"""Statistics always equal a recomputation from the leads, whatever happens to the leads."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, update

from portal.core.db import unit_of_work
from portal.core.errors import PortalError
from portal.core.models import (
    LeadStatus,
    Partner,
    PartnerLeadStats,
    ProgramLeadStats,
    ProgramPartnerStats,
)
from portal.leads import leads
from portal.partners import partners
from portal.reporting import integrity, statistics
from tests.conftest import empty_all_tables
from tests.factories import make_actor, make_lead, make_manager

operations = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, 2), st.integers(0, 5)),
        st.tuples(
            st.just("move"),
            st.integers(0, 30),
            st.sampled_from(list(LeadStatus)),
            st.booleans(),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
        ),
        st.tuples(st.just("reassign"), st.integers(0, 30), st.integers(0, 2)),
        st.tuples(
            st.just("pin"), st.integers(0, 2), st.sampled_from([None, "0.05", "0.1234", "0.5"])
        ),
        st.tuples(st.just("status"), st.integers(0, 2), st.sampled_from(["suspend", "reactivate"])),
    ),
    max_size=40,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations)
def test_statistics_equal_recomputation_after_random_operations(engine, steps):
    empty_all_tables(engine)
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        team = [make_actor(session) for _ in range(3)]
    registered: list[int] = []
    for step in steps:
        try:
            with unit_of_work(engine) as session:
                _apply(session, step, manager, team, registered)
        except PortalError:
            pass  # refusals are part of the game; they must leave the numbers right too
    with unit_of_work(engine) as session:
        assert integrity.verify_statistics(session) == []
        assert integrity.verify_ledger(session) == []
        for actor in team:
            stats = statistics.partner_statistics(session, actor=actor)
            assert stats.pending_earnings == stats.total_earnings - stats.paid_earnings
            assert sum(stats.pipeline.values()) == stats.total_referrals


def _apply(session, step, manager, team, registered):
    kind = step[0]
    if kind == "register":
        _, who, client = step
        # A small pool of clients, so duplicate claims come up.
        registered.append(
            make_lead(session, team[who], client_email=f"client{client}@pool.example").id
        )
    elif kind == "move" and registered:
        _, index, target, by_manager, deal = step
        lead_id = registered[index % len(registered)]
        current = leads.get_lead(session, actor=manager, lead_id=lead_id).lead
        owner = next((a for a in team if a.partner_id == current.partner_id), manager)
        leads.change_lead_status(
            session,
            actor=manager if by_manager else owner,
            lead_id=lead_id,
            to=target,
            expected_version=current.version,
            lost_reason="other",
            deal_value=deal,
        )
    elif kind == "reassign" and registered:
        _, index, who = step
        lead_id = registered[index % len(registered)]
        current = leads.get_lead(session, actor=manager, lead_id=lead_id).lead
        leads.reassign_lead(
            session,
            actor=manager,
            lead_id=lead_id,
            partner_id=team[who].partner_id,
            expected_version=current.version,
        )
    elif kind == "pin":
        _, who, rate = step
        partners.pin_rate(session, actor=manager, partner_id=team[who].partner_id, rate=rate)
    elif kind == "status":
        _, who, action = step
        partners.change_status(
            session, actor=manager, partner_id=team[who].partner_id, action=action
        )


def test_a_move_writes_each_lead_rollup_in_one_statement(engine):
    """A status change is on every user's hot path: the partner's and the program's counts
    each move in one statement, which makes the row the lead enters when it is the first
    there and keeps the row it leaves (at 0)."""
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        first, second = make_lead(session, partner), make_lead(session, partner)
    sent: list[str] = []
    listener = lambda *args: sent.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for lead in (first, second):
            with unit_of_work(engine) as session:
                leads.change_lead_status(
                    session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
                )
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len([statement for statement in sent if "lead_stats" in statement]) == 2 * 2
    with unit_of_work(engine) as session:
        assert integrity.verify_statistics(session) == []
        counts = session.execute(
            select(PartnerLeadStats.status, PartnerLeadStats.lead_count).where(
                PartnerLeadStats.partner_id == partner.partner_id
            )
        )
        assert dict(counts.all()) == {LeadStatus.PENDING: 0, LeadStatus.CONTACTED: 2}
        program = session.execute(select(ProgramLeadStats.status, ProgramLeadStats.lead_count))
        assert dict(program.all()) == {LeadStatus.PENDING: 0, LeadStatus.CONTACTED: 2}


def test_verify_reports_a_tampered_rollup_and_rebuild_repairs_it(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        make_lead(session, partner)
        session.execute(update(Partner).values(total_referrals=7, total_earnings=Decimal("12.34")))
        session.execute(update(ProgramPartnerStats).values(partner_count=5))
    with unit_of_work(engine) as session:
        problems = integrity.verify_statistics(session)
        assert any("total_referrals 7" in problem for problem in problems)
        assert any("total_earnings 12.34" in problem for problem in problems)
        assert any(problem.startswith("partners by status") for problem in problems)
        integrity.rebuild_statistics(session)
    with unit_of_work(engine) as session:
        assert integrity.verify_statistics(session) == []


def test_money_sums_are_exact(engine):
    """0.10 + 0.20 must be 0.30 exactly: sums in SQL never go through binary floats."""
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        partner = make_actor(session)
        partners.pin_rate(session, actor=manager, partner_id=partner.partner_id, rate="0.1")
        for deal in ("1.00", "2.00", "0.10", "0.20", "9999999.99"):
            lead = make_lead(session, partner)
            view = leads.change_lead_status(
                session,
                actor=manager,
                lead_id=lead.id,
                to="qualified",
                expected_version=lead.version,
            )
            leads.change_lead_status(
                session,
                actor=manager,
                lead_id=lead.id,
                to="converted",
                expected_version=view.version,
                deal_value=deal,
            )
    with unit_of_work(engine) as session:
        stats = statistics.partner_statistics(session, actor=partner)
        # 0.10 + 0.20 + 0.01 + 0.02 + 1000000.00 (999999.999 rounded half-up)
        assert stats.total_earnings == Decimal("1000000.33")
        assert integrity.verify_statistics(session) == []
