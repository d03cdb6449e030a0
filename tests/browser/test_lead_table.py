"""The lead table as a partner uses it, at desktop and phone widths: a registered lead shows
highlighted; a Status cell moves the lead as soon as it is changed; a wrong move is refused on
its row in words; lost asks for the reason in a dialog; ticking Open shows the lead's details."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.db import get_engine, unit_of_work
from portal.core.models import Lead, LeadStatus
from tests.browser.conftest import (
    SIZES,
    choose,
    edit_cell,
    new_partner_page,
    settle,
    shoot,
    tick_cell,
)

OPEN, STATUS = 1, 2  # data columns: Client (pinned first), Open, Status, …


@pytest.mark.parametrize("size", list(SIZES))
def test_partner_moves_leads_in_the_table(server, browser, size):
    engine = get_engine(server.database_url)
    page, partner = new_partner_page(
        browser, server, size, f"table.partner.{size}", "partner_leads"
    )

    page.get_by_text("Register a lead").click()
    page.get_by_label("Client name *").fill("Table Client")
    page.get_by_label("Client email *").fill(f"table{size}@client.example")
    choose(page, "Service *", "SEO", in_form=True)
    page.get_by_role("button", name="Register lead").click()
    settle(page)
    expect(page.get_by_text("it is highlighted first in the table")).to_be_visible()
    expect(page.get_by_label("Client name *")).to_have_value("")  # a fresh form
    shoot(page, f"lead-table-registered-{size}")
    with unit_of_work(engine) as db:
        lead = db.scalar(select(Lead).where(Lead.partner_id == partner.partner_id))
    name = f"Lead #{lead.id} Table Client"

    edit_cell(page, row=0, column=STATUS, value="Contacted", shot=f"lead-table-mid-edit-{size}")
    expect(page.get_by_text(f"{name}: now contacted, claimed until")).to_be_visible()
    with unit_of_work(engine) as db:
        assert db.get(Lead, lead.id).status is LeadStatus.CONTACTED

    # (A move the row does not allow is not offered on a page of this one lead: the
    # refusal of one that is offered is the AppTest's, tests/ui/test_app_partner.py.)

    edit_cell(page, row=0, column=STATUS, value="Lost")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"{name} moves to lost")).to_be_visible()
    choose(page, "Reason *", "Bad fit")
    shoot(page, f"lead-table-lost-reason-{size}")
    dialog.get_by_role("button", name="Mark as lost").click()
    settle(page)
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text(f"{name}: now lost.")).to_be_visible()
    with unit_of_work(engine) as db:
        gone = db.get(Lead, lead.id)
        assert (gone.status, gone.lost_reason.value) == (LeadStatus.LOST, "bad_fit")

    tick_cell(page, row=0, column=OPEN)
    expect(page.get_by_role("heading", name=f"Lead #{lead.id}")).to_be_visible()
    expect(page.get_by_text("status changed").first).to_be_attached()
    assert page.url.endswith(f"lead={lead.id}")
    shoot(page, f"lead-table-open-{size}")
    page.context.close()
