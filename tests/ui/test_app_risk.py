"""The risk center page and the risk rules on the settings page, as a manager uses them
(AppTest); the partner's side of a hold on the Commissions page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.core.db import unit_of_work
from portal.core.models import Commission, Lead, RiskEvent, RiskRule, RiskStatus
from portal.core.types import utc_now
from tests.apptest import page_as, texts
from tests.factories import make_actor, make_lead, make_manager, owed_partner

pytestmark = pytest.mark.slow

PAYPAL = {
    "payment_method": "paypal",
    "payment_email": "same@twin.example",
    "address": "1 Main Street",
    "city": "Springfield",
    "zip": "12345",
    "country": "US",
}


def _click(test, label):
    next(b for b in test.button if b.label == label).click().run()
    assert not test.exception, test.exception


def test_a_manager_reviews_events_on_the_risk_center(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        # A client name that is markup stays text in the evidence.
        make_lead(db, partner, client_name="**Bold** <b>x</b>", client_email="s@mailinator.com")
        event_id = db.scalars(select(RiskEvent.id)).one()
    test = page_as(manager, "pages/manager_risk.py")
    assert not test.exception, test.exception
    groups, events = (frame.value for frame in test.dataframe)
    assert list(groups["Rule"]) == ["A client at a disposable e-mail domain"]
    (evidence,) = events["Evidence"]
    assert "**Bold** <b>x</b>" in evidence and "mailinator.com" in evidence
    (chosen,) = test.multiselect
    # Without a reason: told under the field, nothing decided.
    chosen.set_value([event_id])
    _click(test, "Record the decision")
    assert "Reason is required" in texts(test)
    with unit_of_work(app_database) as db:
        assert db.get_one(RiskEvent, event_id).status is RiskStatus.OPEN
    test.multiselect[0].set_value([event_id])
    test.radio[0].set_value(RiskStatus.DISMISSED)
    test.text_area[0].input("The client's IT team tests with throwaway addresses.")
    _click(test, "Record the decision")
    assert "1 event dismissed" in texts(test)
    assert "No open event" in texts(test)
    with unit_of_work(app_database) as db:
        event = db.get_one(RiskEvent, event_id)
        assert (event.status, event.decided_by_user_id) == (RiskStatus.DISMISSED, manager.user_id)
    # The decided events are a click away, with who decided and why.
    test.segmented_control[0].set_value(RiskStatus.DISMISSED).run()
    (decided,) = test.dataframe[0].value["Reason"]
    assert decided == "The client's IT team tests with throwaway addresses."


def test_running_the_rules_finds_what_was_written_around_them(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        lead = make_lead(db, partner)
        db.execute(update(Lead).where(Lead.id == lead.id).values(client_email="a@yopmail.com"))
    test = page_as(manager, "pages/manager_risk.py")
    assert "No open event" in texts(test)
    _click(test, "Run the rules over everything")
    assert "1 new event found." in texts(test)
    _click(test, "Run the rules over everything")
    assert "Nothing new found." in texts(test)


def test_a_rule_chosen_to_hold_payouts_says_whom_it_holds_and_the_partner_is_told(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        held = owed_partner(db, manager, PAYPAL)
        owed_partner(db, manager, PAYPAL)
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    test = page_as(manager, "pages/manager_settings.py")
    holds = next(m for m in test.multiselect if m.label == "Risk rules that hold payouts")
    holds.set_value([RiskRule.SHARED_PAYOUT_METHOD])
    next(t for t in test.text_input if t.label.startswith("Reason")).input("Review first")
    _click(test, "Review the change")
    page = texts(test)
    assert "2 partners with an open risk event would have payouts held" in page
    _click(test, "Save the change")
    assert "The program settings are saved" in texts(test)

    partner_page = page_as(held, "pages/partner_commissions.py")
    assert not partner_page.exception, partner_page.exception
    said = texts(partner_page)
    assert "A review of your account is pending" in said
    assert "shared" not in said.casefold()

    payouts_page = page_as(manager, "pages/manager_payouts.py")
    left_out = next(f.value for f in payouts_page.dataframe if "Why" in f.value.columns)
    assert list(left_out["Why"]) == ["under review", "under review"]
