"""In Chromium, at desktop and phone widths: a manager publishes an announcement that a
partner sees on the dashboard and dismisses; the partner downloads a resource of its group
(the file saved is the one added)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.db import get_engine, unit_of_work
from portal.core.models import Announcement
from portal.partners import groups, resources
from tests.browser.conftest import settle, shoot, sign_in, sized_page
from tests.factories import PASSWORD, TINY_PDF, make_actor, make_manager


@pytest.mark.parametrize("size", ["1440", "390"])
def test_an_announcement_and_a_resource_reach_the_partner(server, browser, size):
    with unit_of_work(get_engine(server.database_url)) as db:
        manager = make_manager(db)
        partner = make_actor(db, username=f"reader.{size}")
        group = groups.save_group(db, actor=manager, name=f"Readers {size}")
        groups.move_partners(db, actor=manager, partner_ids=[partner.partner_id], group_id=group.id)
        resources.add_resource(
            db,
            actor=manager,
            title=f"Deck {size}",
            file_name="deck.pdf",
            content=TINY_PDF,
            audience=[group.id],
        )
    desk = sized_page(browser, size)
    sign_in(desk, server.url, manager.username, PASSWORD)
    desk.goto(f"{server.url}/manager_announcements")
    settle(desk)
    desk.get_by_label("Title *", exact=True).fill(f"Holiday hours {size}")
    desk.get_by_label("Message *", exact=True).fill("We answer from the 2nd of January.")
    desk.get_by_role("button", name="Publish").click()
    settle(desk)
    expect(desk.get_by_text(f"Published “Holiday hours {size}” for every partner.")).to_be_visible()
    desk.context.close()

    page = sized_page(browser, size, accept_downloads=True)
    sign_in(page, server.url, partner.username, PASSWORD)
    expect(page.get_by_text(f"Holiday hours {size}")).to_be_visible()
    shoot(page, f"announcement-on-dashboard-{size}")
    with unit_of_work(get_engine(server.database_url)) as db:
        published = db.scalars(
            select(Announcement.id).where(Announcement.title == f"Holiday hours {size}")
        ).one()
    # Its own Dismiss button (the other width's announcement, to every partner, is shown too).
    page.locator(f".st-key-dismiss-announcement-{published}").get_by_role(
        "button", name="Dismiss"
    ).click()
    settle(page)
    expect(page.get_by_text(f"Holiday hours {size}")).to_have_count(0)

    page.goto(f"{server.url}/partner_resources")
    settle(page)
    page.get_by_role("button", name="Download").click()
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Save deck.pdf").click()
    assert download.value.path().read_bytes() == TINY_PDF
    shoot(page, f"resources-partner-{size}")
    page.context.close()
