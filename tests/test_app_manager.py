"""The manager pages in AppTest: each renders, and its actions reach the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from portal import leads, profiles
from portal.db import unit_of_work
from portal.models import (
    Commission,
    Lead,
    LeadStatus,
    Partner,
    PartnerStatus,
    Payout,
    PayoutStatus,
)
from portal.types import utc_now
from tests.apptest import metric, page_as, texts
from tests.factories import make_actor, make_converted_lead, make_lead, make_manager


def test_overview_counts_the_program(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        partner = make_actor(db)
        make_actor(db, status=PartnerStatus.PENDING)
        stale = make_lead(db, partner, client_name="Waiting Client")
        db.execute(
            update(Lead).where(Lead.id == stale.id).values(created_at=utc_now() - timedelta(days=5))
        )
    test = page_as(manager, "pages/manager_overview.py")
    assert not test.exception
    assert metric(test, "Partners active") == "1"
    assert metric(test, "Partners pending") == "1"
    assert metric(test, "Leads") == "1"
    waiting = next(f for f in test.dataframe if "Client" in f.value.columns)
    assert list(waiting.value["Client"]) == ["Waiting Client"]
    # Nobody has earned yet: the top-partners chart gives way to a sentence.
    assert "no partner has earned commission yet" in texts(test)
    assert len(test.get("plotly_chart")) == 1

    with unit_of_work(app_database) as db:
        make_converted_lead(db, manager, partner)
    test = page_as(manager, "pages/manager_overview.py")
    assert "no partner has earned commission yet" not in texts(test)
    assert len(test.get("plotly_chart")) == 2


def test_partners_table_approves_and_pins_a_rate_per_row(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        pending = make_actor(db, status=PartnerStatus.PENDING)
        active = make_actor(db)
    test = page_as(manager, "pages/manager_partners.py")
    key = "partners-1-0"
    order = _partner_order(app_database)
    test.session_state[key] = {
        "edited_rows": {
            order.index(pending.partner_id): {"Action": "approve"},
            order.index(active.partner_id): {"Pinned rate": 0.7},  # out of range
        },
        "added_rows": [],
        "deleted_rows": [],
    }
    test.run()
    next(b for b in test.button if b.label == "Save changes").click().run()
    messages = [m.value for m in test.success] + [m.value for m in test.error]
    assert f"Partner {pending.partner_id}: Saved: now active." in messages
    assert any(
        m.startswith(f"Partner {active.partner_id}:") and "at most 0.5" in m for m in messages
    )
    with unit_of_work(app_database) as db:
        assert db.get(Partner, pending.partner_id).status is PartnerStatus.ACTIVE
        assert db.get(Partner, active.partner_id).commission_rate is None


def _partner_order(engine):
    with unit_of_work(engine) as db:
        return list(
            db.scalars(select(Partner.id).order_by(Partner.created_at.desc(), Partner.id.desc()))
        )


def test_create_partner_form(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    test = page_as(manager, "pages/manager_partners.py")
    fields = {f.label: f for f in test.text_input}
    fields["Company name"].input("Made By Manager")
    fields["Company email"].input("team@made.example")
    fields["Contact name"].input("Mia Made")
    fields["Contact email"].input("mia@made.example")
    fields["Username"].input("mia")
    fields["Initial password"].input("short")
    next(b for b in test.button if b.label == "Create partner").click().run()
    assert any("Password:" in e.value for e in test.error)
    fields = {f.label: f for f in test.text_input}
    fields["Initial password"].input("a long initial password")
    next(b for b in test.button if b.label == "Create partner").click().run()
    assert any("Created partner" in s.value for s in test.success)


def test_all_leads_converts_with_a_deal_value_and_reassigns(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        first, second = make_actor(db), make_actor(db)
        lead = make_lead(db, first)
        leads.change_lead_status(
            db, actor=manager, lead_id=lead.id, to="qualified", expected_version=lead.version
        )
        other = make_lead(db, first)
        db.execute(
            update(Lead).where(Lead.id == lead.id).values(created_at=utc_now() - timedelta(hours=1))
        )
    test = page_as(manager, "pages/manager_leads.py")
    assert not test.exception
    key = "all_leads-1-None-0"
    test.session_state[key] = {
        "edited_rows": {
            1: {"Status": "converted", "Deal value": 2500.0},
            0: {"Reassign to": float(second.partner_id)},
        },
        "added_rows": [],
        "deleted_rows": [],
    }
    test.run()
    next(b for b in test.button if b.label == "Save changes").click().run()
    messages = [m.value for m in test.success] + [m.value for m in test.error]
    assert f"Lead {lead.id}: Saved: now converted." in messages, messages
    with unit_of_work(app_database) as db:
        converted = db.get(Lead, lead.id)
        assert converted.status is LeadStatus.CONVERTED
        assert str(converted.commission) == "250.00"
        assert db.get(Lead, other.id).partner_id == second.partner_id


def test_payouts_page_runs_the_batch_and_records_payment(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        profiles.update_profile(
            db,
            actor=partner,
            changes={"payment_method": "paypal", "payment_email": "p@x.example", "tax_form": "W-9"},
        )
        make_converted_lead(db, manager, partner, "1000")
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    test = page_as(manager, "pages/manager_payouts.py")
    assert metric(test, "Payouts") == "1"
    next(b for b in test.button if b.label.startswith("Run the batch")).click().run()
    assert any("Scheduled 1 payout(s)" in s.value for s in test.success)
    with unit_of_work(app_database) as db:
        payout = db.scalar(select(Payout))
        assert payout.status is PayoutStatus.SCHEDULED
    next(b for b in test.button if b.label == "Record outcome").click().run()
    assert any("Payment reference:" in e.value for e in test.error)
    next(f for f in test.text_input if f.label.startswith("Payment reference")).input("TRF-9")
    next(b for b in test.button if b.label == "Record outcome").click().run()
    with unit_of_work(app_database) as db:
        assert db.scalar(select(Payout.status)) is PayoutStatus.PAID


def test_audit_and_exports_pages_filter_and_count(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        make_lead(db, partner)
        make_lead(db, partner)
    audit_page = page_as(manager, "pages/manager_audit.py")
    assert not audit_page.exception
    assert list(audit_page.dataframe[0].value["Action"]) == ["lead.register", "lead.register"]
    exports_page = page_as(manager, "pages/manager_exports.py")
    assert metric(exports_page, "Rows") == "2"
    next(b for b in exports_page.button if b.label == "Build the file").click().run()
    assert not exports_page.exception
    assert any(b.label == "Download 2 rows" for b in exports_page.get("download_button"))


def test_exports_page_points_to_the_command_line_past_the_cap(app_database, settings_override):
    settings_override(export_row_cap=1)
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        make_lead(db, partner)
        make_lead(db, partner)
    test = page_as(manager, "pages/manager_exports.py")
    assert "more than the 1 rows" in texts(test)
    assert "python -m portal export leads --out leads.csv" in test.code[0].value


def test_account_page_for_managers(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    test = page_as(manager, "pages/account.py")
    assert not test.exception
    assert any(manager.username in t.value for t in test.text)
