"""The app on PostgreSQL. Scale-out: two app processes on different ports share one database;
a write made through one is seen through the other at its next rerun. Long work: an action
that waits shows that it is under way, with its running time."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import expect

from portal.core.db import get_engine, unit_of_work
from portal.core.models import PartnerStatus
from tests.browser.conftest import (
    SIZES,
    migrate_database,
    new_partner_page,
    run_app,
    select_row,
    settle,
    shoot,
    sign_in,
)
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres
from tests.factories import PASSWORD, make_actor, make_manager

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def two_apps(tmp_path_factory):
    require_postgres()
    url = create_postgres_database()
    folder = tmp_path_factory.mktemp("scale-out")
    migrate_database(url, folder)
    try:
        with run_app(folder, url) as first, run_app(folder, url) as second:
            yield first, second
    finally:
        get_engine(url).dispose()
        drop_postgres_database(url)


def test_a_write_in_one_replica_is_seen_in_the_other(two_apps, browser):
    first, second = two_apps
    assert first.url != second.url
    engine = get_engine(first.database_url)
    with unit_of_work(engine) as db:
        manager = make_manager(db)
        applicant = make_actor(db, status=PartnerStatus.PENDING, username="replica.partner")
    partner_page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(partner_page, first.url, applicant.username, PASSWORD)
    expect(partner_page.get_by_text("application is under review")).to_be_visible()

    manager_page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(manager_page, second.url, manager.username, PASSWORD)
    manager_page.goto(f"{second.url}/manager_partners")
    settle(manager_page)
    select_row(manager_page, row=0)
    manager_page.get_by_role("button", name="Approve (1)…").click()
    manager_page.get_by_role("dialog").get_by_role("button", name="Approve", exact=True).click()
    settle(manager_page)
    expect(manager_page.get_by_text("Approved 1 partner.")).to_be_visible()

    partner_page.reload()
    settle(partner_page)
    # Told once, at the next visit after the approval.
    approved = partner_page.get_by_text("Your partner account is active: you can register leads.")
    expect(approved).to_be_visible()
    expect(partner_page.get_by_text("No leads yet")).to_be_visible()
    assert partner_page.get_by_text("application is under review").count() == 0
    partner_page.reload()
    settle(partner_page)
    expect(partner_page.get_by_text("No leads yet")).to_be_visible()
    expect(approved).to_have_count(0)


@pytest.mark.parametrize("size", list(SIZES))
def test_work_that_takes_a_while_shows_progress(two_apps, browser, size):
    """The save is slow for as long as the test holds the profile's row lock (the app waits
    for it, as behind a long batch), so the test ends the wait: no race with the half second
    Streamlit's spinner waits before it shows."""
    app = two_apps[0]
    page, partner = new_partner_page(
        browser, app, size, f"patient.partner.{size}", "partner_profile"
    )
    page.get_by_label("Contact name").fill("Patient Contact")

    dsn = app.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as blocker:
        blocker.execute(
            "SELECT 1 FROM partner_profiles WHERE partner_id = %s FOR UPDATE", [partner.partner_id]
        )
        page.get_by_role("button", name="Save profile").click()
        spinner = page.get_by_test_id("stSpinner")
        expect(spinner).to_contain_text("Saving the profile…")
        expect(spinner).to_contain_text("seconds")  # its running time
        shoot(page, f"progress-while-saving-{size}")
    settle(page)  # the block's end committed the blocker's transaction: the save goes on
    expect(page.get_by_test_id("stSpinner")).to_have_count(0)
    expect(page.get_by_text("Saved. Changed: contact name.", exact=False)).to_be_visible()
    page.context.close()
