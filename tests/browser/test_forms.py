"""Forms as a partner meets them at desktop and phone widths: a refused field is told right
under that field, without repeating its label, and what was typed stays; "Save profile" says
what changed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SIZES, choose, new_partner_page, settle, shoot


@pytest.mark.parametrize("size", list(SIZES))
def test_refusals_sit_under_their_field_and_saving_says_what_changed(server, browser, size):
    page, _ = new_partner_page(browser, server, size, f"forms.partner.{size}", "partner_leads")
    page.get_by_text("Register a lead").click()
    page.get_by_label("Client name *").fill("Kept Name")
    page.get_by_label("Client email *").fill("not-an-email")
    choose(page, "Service *", "SEO", in_form=True)
    page.get_by_role("button", name="Register lead").click()
    settle(page)
    email = page.get_by_test_id("stTextInput").filter(has=page.get_by_label("Client email *"))
    refusal = page.get_by_test_id("stAlert").filter(has_text="email")
    expect(refusal).to_have_count(1)
    # Right under the email field: the next element after the field's own block.
    field_box, refusal_box = email.bounding_box(), refusal.bounding_box()
    assert field_box and refusal_box
    assert 0 <= refusal_box["y"] - (field_box["y"] + field_box["height"]) < 40
    expect(refusal).not_to_contain_text("Client email:")
    expect(page.get_by_label("Client name *")).to_have_value("Kept Name")
    shoot(page, f"form-refusal-under-field-{size}")

    page.goto(f"{server.url}/partner_profile")
    settle(page)
    page.get_by_label("Contact name").fill("Casey Contact")
    page.get_by_role("button", name="Save profile").click()
    settle(page)
    expect(page.get_by_text("Saved. Changed: contact name.", exact=False)).to_be_visible()
    shoot(page, f"form-saved-{size}")
    page.context.close()
