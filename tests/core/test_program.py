"""Program settings managers change themselves (`portal.core.program`): stored, validated,
versioned and audited; the configuration gives the first values only; a change applies to
what happens after it (the next conversion, the next batch), never to what was made before."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from portal.core import program
from portal.core.db import unit_of_work
from portal.core.errors import Conflict, PermissionDenied, ValidationError
from portal.core.models import AuditEntry, Commission, Lead, ProgramSettingsVersion
from portal.core.types import utc_now
from portal.money import commissions, payouts
from portal.reporting import integrity
from tests.factories import (
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    payable_profile,
)
from tests.tools.test_cli import _url, run_cli


def _change(session, manager, reason="Finance asked for it.", **changes):
    return program.change(
        session,
        actor=manager,
        changes=changes,
        reason=reason,
        based_on=program.current_version(session),
    )


def test_the_configuration_gives_the_first_values_then_the_stored_versions_govern(
    engine, settings_override
):
    settings_override(hold_days=12, min_payout="75.00")
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        assert program.current(session).hold_days == 12
        assert program.current_version(session) == 0
        _change(session, manager, hold_days=20)
    settings_override(hold_days=3)  # the environment no longer governs once a change is saved
    with unit_of_work(engine) as session:
        rules = program.current(session)
        assert (rules.hold_days, rules.min_payout) == (20, Decimal("75.00"))
        history = program.history(session, actor=manager)
        # Version 1 keeps what the configuration said before the first change.
        assert [(v.version, v.rules.hold_days, v.changed_by) for v in history] == [
            (2, 20, manager.username),
            (1, 12, "the configuration"),
        ]
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "program_settings.changed")
        ).one()
        assert entry.before == {"hold_days": 12, "version": 0}
        assert entry.after == {"hold_days": 20, "reason": "Finance asked for it."}
        assert entry.actor_user_id == manager.user_id


def test_only_a_manager_changes_or_reads_the_history(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        with pytest.raises(PermissionDenied):
            _change(session, partner, hold_days=1)
        with pytest.raises(PermissionDenied):
            program.history(session, actor=partner)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(ProgramSettingsVersion)) == 0


def test_every_wrong_value_is_named_at_once_and_nothing_is_written(engine):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        with pytest.raises(ValidationError) as refused:
            _change(
                session,
                manager,
                hold_days=-1,
                min_payout="12.345",
                payout_day=31,
                claim_days="ninety",
                tier_rates={"bronze": "0.9", "silver": "0.125", "gold": "0.15", "platinum": "0.2"},
                services=[],
            )
        errors = refused.value.errors
        assert errors == {
            "hold_days": "Hold days must be at least 0.",
            "min_payout": "Minimum payout has too many decimal places.",
            "payout_day": "Payout day must be at most 28.",
            "claim_days": "Claim days must be a whole number.",
            "tier_rates": "The rate of bronze must be between 0 and 0.5 (50 %).",
            "services": "Services needs at least one entry.",
        }
        for changes, field, words in [
            ({"payout_currencies": ["EUR"]}, "payout_currencies", "must include the program"),
            ({"payout_currencies": ["XYZ"]}, "payout_currencies", "not an ISO 4217"),
            ({"payout_currencies": ["JPY"]}, "payout_currencies", "not counted in cents"),
            (
                {"tier_thresholds": {"bronze": 5}, "tier_rates": {"bronze": "0.1"}},
                "tier_thresholds",
                "lowest tier must start at 0",
            ),
            (
                {"tier_thresholds": {"a": 0, "b": 10}, "tier_rates": {"a": "0.1"}},
                "tier_thresholds",
                "both a threshold and a rate",
            ),
            (
                {"tier_thresholds": {"a": 0, "b": 0}, "tier_rates": {"a": "0.1", "b": "0.2"}},
                "tier_thresholds",
                "same number",
            ),
            ({"services": ["SEO", " "]}, "services", "needs a name"),
            ({"hold_days": 30}, "settings", "Nothing would change"),
            ({"nonsense": 1}, "nonsense", "no setting"),
        ]:
            with pytest.raises(ValidationError) as refused:
                _change(session, manager, **changes)
            assert words in refused.value.errors[field], (changes, refused.value.errors)
        with pytest.raises(ValidationError) as refused:
            _change(session, manager, reason="  ", hold_days=5)
        assert "Reason is required" in refused.value.errors["reason"]
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(ProgramSettingsVersion)) == 0


def test_a_change_reviewed_against_an_older_version_is_refused(engine):
    with unit_of_work(engine) as session:
        first, second = make_manager(session), make_manager(session)
        seen = program.current_version(session)
        _change(session, first, hold_days=10)
        with pytest.raises(Conflict):
            program.change(
                session, actor=second, changes={"min_payout": "10"}, reason="x", based_on=seen
            )
        assert program.current(session).min_payout == Decimal("50.00")


def test_the_next_conversion_and_batch_follow_the_new_hold_days_and_minimum(engine):
    """The issue's done-when, through the services the page calls."""
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        payable_profile(session, partner)
        before = make_converted_lead(session, manager, partner, "600.00")  # 60.00 at 10 %
        _change(session, manager, hold_days=5, min_payout="100.00")
        after = make_converted_lead(session, manager, partner, "300.00")  # 30.00
        holds = dict(session.execute(select(Commission.lead_id, Commission.hold_until)).all())
        assert holds[before.id] - before.converted_at == timedelta(days=30)  # kept its end
        assert holds[after.id] - after.converted_at == timedelta(days=5)
        # Both holds over: 90.00 owed, under the new 100.00 minimum: left out, saying so.
        session.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        cutoff = utc_now().date()
        plan = payouts.preview(session, actor=manager, cutoff=cutoff)
        [left_out] = plan.left_out
        assert left_out.reasons == ["below the 100.00 minimum"]
        summary = commissions.commission_summary(session, actor=partner)
        assert summary.min_payout == Decimal("100.00")
        _change(session, manager, min_payout="80.00")
        batch = payouts.run_batch(session, actor=manager, cutoff=cutoff)
        assert [(p.partner_id, p.amount) for p in batch.scheduled] == [
            (partner.partner_id, Decimal("90.00"))
        ]


def test_a_new_tier_table_rates_later_conversions_and_verify_follows_each_table(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        first = make_converted_lead(session, manager, partner, "1000.00")
        _change(
            session,
            manager,
            tier_rates={"bronze": "0.11", "silver": "0.125", "gold": "0.15", "platinum": "0.20"},
        )
        second = make_converted_lead(session, manager, partner, "1000.00")
        assert (first.commission, second.commission) == (Decimal("100.00"), Decimal("110.00"))
        assert integrity.verify_commission_rates(session) == []
        # A conversion made before the change at the new rate breaks the table then in force.
        session.execute(
            update(Commission).where(Commission.lead_id == first.id).values(rate=Decimal("0.11"))
        )
        [problem] = integrity.verify_commission_rates(session)
        assert "at 11.00% is neither its tier's rate then (10%)" in problem


def test_services_and_claim_days_apply_to_new_registrations(engine):
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        old = make_lead(session, partner, service="SEO")
        _change(session, manager, services=["SEO audit", "Branding"], claim_days=10)
        with pytest.raises(ValidationError) as refused:
            make_lead(session, partner, service="SEO")
        assert refused.value.errors["service"] == "Service must be one of: SEO audit, Branding."
        new = make_lead(session, partner, service="SEO audit")
        assert new.claim_expires_at - new.created_at == timedelta(days=10)
        kept = session.get(Lead, old.id)
        assert kept is not None and kept.service == "SEO"  # a lead keeps the service it named
        assert kept.claim_expires_at - kept.created_at == timedelta(days=90)


def test_the_command_line_shows_and_sets_a_rule(engine):
    url = _url(engine)
    shown = run_cli(url, "settings", "show")
    assert shown.returncode == 0, shown.stderr
    assert "no change saved yet" in shown.stdout and "  hold_days = 30\n" in shown.stdout
    assert "  tier_rates = bronze=0.10, silver=0.125, gold=0.15, platinum=0.20\n" in shown.stdout
    changed = run_cli(
        url,
        "settings",
        "set",
        "tier_rates",
        "bronze=0.1, silver=0.13, gold=0.15, platinum=0.2",
        "--reason",
        "Silver up",
    )
    assert changed.returncode == 0, changed.stderr
    assert "Version 2 of the program settings." in changed.stdout
    assert "silver=0.13," in changed.stdout
    refused = run_cli(url, "settings", "set", "hold_days", "-3", "--reason", "x")
    assert refused.returncode == 1
    assert refused.stderr == "error: Hold days must be at least 0.\n"
    refused = run_cli(url, "settings", "set", "tier_rates", "bronze", "--reason", "x")
    assert "Tier rates are written name=value" in refused.stderr
    refused = run_cli(url, "settings", "set", "hold_dayz", "3", "--reason", "x")
    assert refused.returncode == 2 and "invalid choice: 'hold_dayz'" in refused.stderr
    with unit_of_work(engine) as session:
        assert program.current_version(session) == 2
        assert program.current(session).tier_rates["silver"] == Decimal("0.13")
