"""The rate a conversion earns is one rule (`statistics.rates_at_conversion`): the services,
the demo program and the generator follow it, and `verify` reports a commission that breaks
it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from portal.core import program
from portal.core.db import unit_of_work
from portal.core.models import Commission, Partner
from portal.reporting import integrity, statistics
from portal.tools import seed
from tests.conftest import empty_all_tables
from tests.factories import make_actor, make_converted_lead, make_manager

Conversion = statistics.Conversion
ALWAYS = program.Timeline.always(program.configured())
START = datetime(2025, 1, 1, 9, tzinfo=UTC)


def _at(day: int) -> datetime:
    return START + timedelta(days=day)


def test_the_tier_counts_the_trailing_years_earlier_conversions_not_reversed_by_then():
    # Ten conversions reach silver (12.5 %) for the eleventh: the tenth and before earn 10 %.
    eleven = [Conversion(n, _at(n)) for n in range(11)]
    rates = statistics.rates_at_conversion(eleven, ALWAYS)
    assert [rates[n] for n in range(11)] == [Decimal("0.10")] * 10 + [Decimal("0.125")]
    # A year and a day later the first has left the window: ten earlier again, not eleven.
    later = statistics.rates_at_conversion([*eleven, Conversion(99, _at(10 + 366))], ALWAYS)
    assert later[99] == Decimal("0.10")
    # One of them reversed before the eleventh: nine count.
    undone = [Conversion(0, _at(0), reversed_at=_at(5)), *eleven[1:]]
    assert statistics.rates_at_conversion(undone, ALWAYS)[10] == Decimal("0.10")
    # Reversed after it: it counted when the eleventh was made.
    late = [Conversion(0, _at(0), reversed_at=_at(20)), *eleven[1:]]
    assert statistics.rates_at_conversion(late, ALWAYS)[10] == Decimal("0.125")
    # A pinned rate is every conversion's.
    pinned = statistics.rates_at_conversion(eleven, ALWAYS, pinned=Decimal("0.18"))
    assert set(pinned.values()) == {Decimal("0.18")}


def test_verify_reports_a_commission_at_a_rate_the_rule_does_not_give(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        make_converted_lead(session, manager, partner, "1000.00")
        assert integrity.verify_commission_rates(session) == []
        session.execute(update(Commission).values(rate=Decimal("0.1250")))
        (problem,) = integrity.verify_commission_rates(session)
        assert "12.50%" in problem and "tier's rate then (10%)" in problem
        # A rate pinned for the partner, now or before, is the rule too.
        session.execute(
            update(Partner)
            .where(Partner.id == partner.partner_id)
            .values(commission_rate=Decimal("0.1250"))
        )
        assert integrity.verify_commission_rates(session) == []


def test_the_demo_program_pays_every_conversion_the_rate_its_tier_gave_then(engine):
    empty_all_tables(engine)
    with unit_of_work(engine) as session:
        seed.seed_demo(session)
    with unit_of_work(engine) as session:
        assert integrity.verify(session) == []
        rates = set(session.scalars(select(Commission.rate)))
        # Tiers are reached in the demo: more than the bronze rate is earned.
        assert len(rates) > 2, rates
