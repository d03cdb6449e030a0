"""A partner in a real browser: sign in, register a lead, move it in the table, see it in
the timeline, import leads from a CSV file, download the CSV, sign out — and the old cookie
no longer signs in."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.db import get_engine, unit_of_work
from portal.core.models import Lead, LeadStatus
from tests.browser.conftest import choose, edit_cell, settle, shoot, sign_in
from tests.factories import PASSWORD, make_actor


def test_partner_journey(server, browser):
    engine = get_engine(server.database_url)
    with unit_of_work(engine) as db:
        partner = make_actor(db, username="journey.partner")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()

    sign_in(page, server.url, partner.username, PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    shoot(page, "partner-dashboard")

    page.goto(f"{server.url}/partner_leads")
    settle(page)
    page.get_by_text("Register a lead").click()
    page.get_by_label("Client name *").fill("Journey Client <b>bold</b>")
    page.get_by_label("Client email *").fill("journey@client.example")
    choose(page, "Service *", "SEO", in_form=True)
    page.get_by_role("button", name="Register lead").click()
    settle(page)
    expect(page.get_by_text("Registered lead #")).to_be_visible()
    with unit_of_work(engine) as db:
        lead = db.scalar(select(Lead).where(Lead.client_email == "journey@client.example"))
    assert lead is not None and lead.status is LeadStatus.PENDING
    # Markdown/HTML typed by a user creates no element: it stays text.
    assert page.locator("b", has_text="bold").count() == 0

    page.reload()
    settle(page)
    edit_cell(page, row=0, column=2, value="Contacted")  # Client → Open → Status
    expect(page.get_by_text("now contacted, claimed until")).to_be_visible()
    shoot(page, "partner-leads")
    with unit_of_work(engine) as db:
        assert db.get(Lead, lead.id).status is LeadStatus.CONTACTED

    page.goto(f"{server.url}/partner_leads?lead={lead.id}")
    settle(page)
    # The timeline is a data grid: its cells reach the DOM (as the grid's accessible table)
    # only once the grid has drawn, after the script has finished, so wait for them.
    expect(page.get_by_text("status changed").first).to_be_attached()
    shoot(page, "partner-lead-detail")

    page.get_by_text("Register many leads from a CSV file").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[
            {
                "name": "leads.csv",
                "mimeType": "text/csv",
                "buffer": b"client_name,client_email,service\nBulk One,bulk@one.example,SEO\n"
                b"Bad Row,not-an-email,SEO\n",
            }
        ]
    )
    settle(page)
    page.get_by_role("button", name="Import leads").click()
    settle(page)
    expect(page.get_by_text("Imported 1 lead.")).to_be_visible()
    expect(page.get_by_text("1 row was refused:")).to_be_visible()

    page.get_by_role("button", name="Prepare CSV").click()
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download 2 leads as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert sorted((row["client_email"], row["status"]) for row in rows) == [
        ("bulk@one.example", "pending"),
        ("journey@client.example", "contacted"),
    ]

    for name in ("partner_commissions", "partner_profile"):
        page.goto(f"{server.url}/{name}")
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        shoot(page, name.replace("_", "-"))

    old_cookies = context.cookies()
    assert any(cookie["name"] == "partner_portal_auth" for cookie in old_cookies)
    page.get_by_role("button", name="Sign out", exact=True).click()
    settle(page)
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    context.close()

    replay = browser.new_context(viewport={"width": 1400, "height": 1000})
    replay.add_cookies(old_cookies)
    page = replay.new_page()
    page.goto(server.url)
    settle(page)
    expect(page.get_by_label("Username", exact=True)).to_be_visible()
    assert page.get_by_role("heading", name="Dashboard").count() == 0
    shoot(page, "signed-out")
    replay.close()
