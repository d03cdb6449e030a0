"""A manager in a real browser: approve a pending partner, convert a lead, preview and run
payouts, mark one paid, and download a CSV whose content is checked."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select, update

from portal.core.db import get_engine, unit_of_work
from portal.core.models import Commission, Lead, LeadStatus, Partner, PartnerStatus, Payout
from portal.core.types import utc_now
from portal.leads import leads
from portal.partners import profiles
from tests.browser.conftest import choose, edit_cell, select_row, settle, shoot, sign_in
from tests.factories import (
    PASSWORD,
    make_actor,
    make_lead,
    make_manager,
    make_partner,
    verify_tax_form,
)


def test_manager_journey(server, browser):
    engine = get_engine(server.database_url)
    with unit_of_work(engine) as db:
        manager = make_manager(db)
        applicant = make_partner(
            db, status=PartnerStatus.PENDING, company_name="Aardvark Applicants"
        )
        seller = make_actor(db, partner=make_partner(db, company_name="Bravo Sellers"))
        profiles.update_profile(
            db,
            actor=seller,
            password=PASSWORD,
            changes={
                "payment_method": "paypal",
                "payment_email": "pay@bravo.example",
            },
        )
        verify_tax_form(db, seller)
        lead = make_lead(db, seller, client_name="Qualified Client")
        leads.change_lead_status(
            db, actor=manager, lead_id=lead.id, to="qualified", expected_version=lead.version
        )
    page = browser.new_context(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True
    ).new_page()
    sign_in(page, server.url, manager.username, PASSWORD)
    expect(page.get_by_role("heading", name="Program overview")).to_be_visible()
    shoot(page, "manager-overview")

    # Approve: partners are listed newest first, so the applicant (made before the seller)
    # is row 1. Select its row, then the action, then confirm it.
    page.goto(f"{server.url}/manager_partners")
    settle(page)
    select_row(page, row=1)
    page.get_by_role("button", name="Approve (1)…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Approve: Aardvark Applicants (1 partner).")).to_be_visible()
    shoot(page, "manager-partners-confirm-approve")
    dialog.get_by_role("button", name="Approve", exact=True).click()
    settle(page)
    expect(page.get_by_text("Approved 1 partner.")).to_be_visible()
    shoot(page, "manager-partners")
    with unit_of_work(engine) as db:
        assert db.get(Partner, applicant.id).status is PartnerStatus.ACTIVE

    # Convert: Client → Open → Select → Status; the dialog previews the commission.
    page.goto(f"{server.url}/manager_leads")
    settle(page)
    edit_cell(page, row=0, column=3, value="Converted")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Deal value (USD) *").fill("2000")
    dialog.get_by_label("Deal value (USD) *").press("Enter")
    settle(page)
    expect(dialog.get_by_text("Commission: 200.00 USD (10%, the tier's rate)")).to_be_visible()
    shoot(page, "manager-leads-convert")
    dialog.get_by_role("button", name="Convert", exact=True).click()
    settle(page)
    expect(page.get_by_text("now converted, commission 200.00 USD")).to_be_visible()
    shoot(page, "manager-leads")
    with unit_of_work(engine) as db:
        converted = db.get(Lead, lead.id)
        assert converted.status is LeadStatus.CONVERTED
        assert str(converted.commission) == "200.00"
        # Thirty days pass: the commission's hold ends.
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))

    page.goto(f"{server.url}/manager_payouts")
    settle(page)
    expect(page.get_by_text("Bravo Sellers").first).to_be_attached()  # in the grid
    shoot(page, "manager-payouts-preview")
    page.get_by_role("button", name="Run the batch for").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("1 payout, 200.00 USD in all, will be scheduled.")).to_be_visible()
    shoot(page, "manager-payouts-confirm-batch")
    with unit_of_work(engine) as db:
        assert db.scalar(select(Payout)) is None  # nothing before the confirmation
    dialog.get_by_role("button", name="Run the batch", exact=True).click()
    settle(page)
    expect(page.get_by_text("Scheduled 1 payout")).to_be_visible()

    page.get_by_role("button", name="Make the payout file").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Each payout goes in this file only")).to_be_visible()
    dialog.get_by_role("button", name="Make the file", exact=True).click()
    settle(page)
    expect(page.get_by_text("holds full bank account numbers")).to_be_visible()
    expect(
        page.get_by_text("Every payout of this batch that can be filed is in a live file.")
    ).to_be_visible()
    shoot(page, "manager-payouts-file")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download payouts-").click()
    (paypal_row,) = list(csv.reader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert paypal_row[:3] == ["pay@bravo.example", "200.00", "USD"]

    page.get_by_label("Payment reference (for paid)").fill("TRF-JOURNEY-1")
    page.get_by_role("button", name="Review and record").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Mark it paid on")).to_be_visible()
    expect(dialog.get_by_text("Payout #")).to_contain_text("Bravo Sellers")
    dialog.get_by_role("button", name="Record it").click()
    settle(page)
    expect(page.get_by_text("is now paid")).to_be_visible()
    expect(page.get_by_text("Nothing is waiting to be paid.")).to_be_visible()
    shoot(page, "manager-payouts")
    with unit_of_work(engine) as db:
        payout = db.scalar(select(Payout))
        assert (payout.status.value, payout.reference) == ("paid", "TRF-JOURNEY-1")

    page.goto(f"{server.url}/manager_exports")
    settle(page)
    choose(page, "What", "Payouts")
    settle(page)
    page.get_by_role("button", name="Build the file").click()
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download 1 row as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert [(r["partner"], r["amount"], r["status"], r["reference"]) for r in rows] == [
        ("Bravo Sellers", "200.00", "paid", "TRF-JOURNEY-1")
    ]
    shoot(page, "manager-exports")

    for name in ("manager_audit", "account"):
        page.goto(f"{server.url}/{name}")
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        shoot(page, name.replace("_", "-"))
