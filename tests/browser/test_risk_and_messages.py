"""In Chromium, at desktop and phone widths: a partner asks the program a question and a
manager, seeing "Messages (1)" in the sidebar, answers it; a manager reviews a risk event on
the risk center and dismisses it with a reason."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.db import get_engine, unit_of_work
from portal.core.models import RiskEvent, RiskStatus
from tests.browser.conftest import settle, shoot, sign_in, sized_page
from tests.factories import PASSWORD, make_actor, make_lead, make_manager


@pytest.mark.parametrize("size", ["1440", "390"])
def test_a_partner_asks_and_a_manager_answers(server, browser, size):
    with unit_of_work(get_engine(server.database_url)) as db:
        manager = make_manager(db)
        partner = make_actor(db, username=f"asker.{size}")
    page = sized_page(browser, size)
    sign_in(page, server.url, partner.username, PASSWORD)
    page.goto(f"{server.url}/partner_messages")
    settle(page)
    page.get_by_label("Your message to the program", exact=True).fill(
        "When is my next payout? <b>not bold</b>"
    )
    page.get_by_role("button", name="Send").click()
    settle(page)
    expect(page.get_by_text("When is my next payout? <b>not bold</b>")).to_be_visible()
    shoot(page, f"messages-partner-asked-{size}")

    desk = sized_page(browser, size)
    sign_in(desk, server.url, manager.username, PASSWORD)
    if size == "390":  # the sidebar is a menu on a phone
        desk.get_by_test_id("stExpandSidebarButton").click()
    # Every partner's unread message counts for a manager new to them (this module's other
    # runs wrote some too): a count, whatever it is.
    messages = desk.get_by_role("link", name=re.compile(r"^Messages \(\d+\)$"))
    expect(messages).to_be_visible()
    messages.click()  # on a phone the menu closes on the page chosen
    settle(desk)
    expect(desk.get_by_role("heading", name="Messages")).to_be_visible()
    expect(desk.get_by_text("When is my next payout? <b>not bold</b>")).to_be_visible()
    desk.get_by_label("Your reply", exact=True).fill("On the 15th, with everything due by then.")
    desk.get_by_role("button", name="Send").click()
    settle(desk)
    expect(desk.get_by_text("No conversation waits for an answer.")).to_be_visible()
    shoot(desk, f"messages-manager-answered-{size}")

    page.reload()
    settle(page)
    expect(page.get_by_text("On the 15th, with everything due by then.")).to_be_visible()
    desk.context.close()
    page.context.close()


def test_a_manager_dismisses_a_risk_event_on_the_risk_center(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        manager = make_manager(db)
        partner = make_actor(db, username="risky.partner")
        make_lead(db, partner, client_name="Throwaway Client", client_email="t@mailinator.com")
        event_id = db.scalars(
            select(RiskEvent.id).where(RiskEvent.partner_id == partner.partner_id)
        ).one()
    page = sized_page(browser, "1440")
    sign_in(page, server.url, manager.username, PASSWORD)
    page.goto(f"{server.url}/manager_risk")
    settle(page)
    expect(page.get_by_role("heading", name="Risk center")).to_be_visible()
    # A manager's every page is in the menu, none behind "View more".
    expect(page.get_by_role("link", name="Account")).to_be_visible()
    expect(page.get_by_text("View 4 more")).to_have_count(0)
    shoot(page, "risk-center")
    events = page.get_by_label("Events", exact=True)
    events.click()
    page.get_by_role("option", name=f"#{event_id} ·").click()
    page.keyboard.press("Escape")
    page.get_by_text("Dismissed — not a problem").click()
    page.get_by_label("Reason *", exact=True).fill("The client's IT team tests with it.")
    page.get_by_role("button", name="Record the decision").click()
    settle(page)
    expect(page.get_by_text("1 event dismissed")).to_be_visible()
    with unit_of_work(get_engine(server.database_url)) as db:
        assert db.get_one(RiskEvent, event_id).status is RiskStatus.DISMISSED
    shoot(page, "risk-center-dismissed")
    page.context.close()
