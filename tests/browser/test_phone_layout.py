"""The money pages on a phone (390×844): nothing wider than the screen, every action reachable."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import update

from portal.core.db import get_engine, unit_of_work
from portal.core.models import Commission, PartnerStatus
from portal.core.types import utc_now
from portal.money import payouts, tax_forms
from tests.browser.conftest import settle, shoot, sign_in
from tests.factories import (
    PASSWORD,
    TINY_PDF,
    make_actor,
    make_converted_lead,
    make_manager,
    payable_profile,
)

PHONE = {"width": 390, "height": 844}
# A phone says so in its user agent ("Mobile"): the page is drawn on the server, which reads
# that (the screen's width it never sees). Chrome on a Pixel 7, as Playwright describes it.
PHONE_CONTEXT = {
    "viewport": PHONE,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/156.0.0.0 Mobile Safari/537.36"
    ),
}


def _fits_the_screen(page, where: str) -> None:
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_be_visible()
    overflow = main.evaluate("element => element.scrollWidth - element.clientWidth")
    assert overflow <= 1, (where, overflow)
    assert page.locator('[data-testid="stException"]').count() == 0, where
    # Tables show the columns that fit: none is read by scrolling it sideways.
    wide = page.locator('[data-testid="stDataFrame"] .dvn-scroller').evaluate_all(
        "grids => grids.map(g => g.scrollWidth - g.clientWidth).filter(extra => extra > 1)"
    )
    assert wide == [], (where, wide)
    # A table's toolbar (always shown on a touch screen) covers no field or button.
    covered = page.evaluate(
        """() => {
          const boxes = [...document.querySelectorAll('[data-testid="stElementToolbar"]')]
            .map(t => t.getBoundingClientRect()).filter(r => r.width && r.height);
          const meet = (a, b) => a.left < b.right && b.left < a.right
            && a.top < b.bottom && b.top < a.bottom;
          return [...document.querySelectorAll('input, textarea, button, [role="combobox"]')]
            .filter(e => !e.closest('[data-testid="stElementToolbar"]'))
            .filter(e => e.checkVisibility({visibilityProperty: true}))
            .filter(e => { const r = e.getBoundingClientRect(); return r.width && r.height; })
            .filter(e => boxes.some(box => meet(box, e.getBoundingClientRect())))
            .map(e => e.getAttribute('aria-label') || e.textContent.slice(0, 40));
        }"""
    )
    assert covered == [], (where, covered)


def test_money_pages_on_a_phone(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        manager = make_manager(db)
        partner = make_actor(db, username="phone.partner")
        payable_profile(db, partner)
        make_converted_lead(db, manager, partner, "3000.00")
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        payouts.run_batch(db, actor=manager, cutoff=utc_now().date())
        tax_forms.submit_tax_form(
            db, actor=partner, form="W-9", file_name="renewal.pdf", content=TINY_PDF
        )

    context = browser.new_context(**PHONE_CONTEXT)
    page = context.new_page()
    sign_in(page, server.url, partner.username, PASSWORD)
    page.goto(f"{server.url}/partner_commissions")
    settle(page)
    expect(page.get_by_text("Next payout", exact=True)).to_be_visible()
    _fits_the_screen(page, "partner commissions")
    shoot(page, "phone-partner-commissions")
    page.goto(f"{server.url}/partner_profile")
    settle(page)
    # A form is on file: renewing it is a section to open, as are the account's panels.
    for section in ("Upload a tax form", "Change password", "API keys", "Webhooks"):
        page.locator('[data-testid="stExpander"] summary', has_text=section).click()
    upload = page.get_by_role("button", name="Upload tax form")
    upload.scroll_into_view_if_needed()
    expect(upload).to_be_visible()
    _fits_the_screen(page, "partner profile")
    shoot(page, "phone-partner-profile")
    context.close()

    context = browser.new_context(**PHONE_CONTEXT)
    page = context.new_page()
    sign_in(page, server.url, manager.username, PASSWORD)
    page.goto(f"{server.url}/manager_payouts")
    settle(page)
    for action in ("Make the payout file…", "Review and record…"):
        button = page.get_by_role("button", name=action)
        button.scroll_into_view_if_needed()
        expect(button).to_be_visible()
    _fits_the_screen(page, "manager payouts")
    shoot(page, "phone-manager-payouts")
    page.get_by_role("button", name="Make the payout file…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Make the file", exact=True).click()
    settle(page)
    expect(page.get_by_text("holds full bank account numbers")).to_be_visible()
    _fits_the_screen(page, "manager payouts with a file")
    shoot(page, "phone-manager-payouts-file")
    page.goto(f"{server.url}/manager_tax_forms")
    settle(page)
    record = page.get_by_role("button", name="Record decision")
    record.scroll_into_view_if_needed()
    expect(record).to_be_visible()
    _fits_the_screen(page, "manager tax forms")
    shoot(page, "phone-manager-tax-forms")
    context.close()


def test_the_sidebar_closes_after_choosing_a_page_on_a_phone(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        partner = make_actor(db, username="phone.navigator")
    context = browser.new_context(**PHONE_CONTEXT)
    page = context.new_page()
    sign_in(page, server.url, partner.username, PASSWORD)
    sidebar = page.get_by_test_id("stSidebar")
    for title, heading in (("Leads", "Leads"), ("Commissions", "Commissions")):
        page.get_by_test_id("stExpandSidebarButton").click()
        expect(sidebar).to_have_attribute("data-collapsed", "false")
        sidebar.get_by_role("link", name=title).click()
        settle(page)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        # The page chosen is what the phone shows, not the menu it was chosen from.
        expect(sidebar).to_have_attribute("data-collapsed", "true")
    shoot(page, "phone-after-navigation")
    context.close()


# Every page each kind of user reaches (the sign-in page's own links: apply, set a password).
PAGES = {
    "partner": [
        "",
        "partner_leads",
        "partner_commissions",
        "partner_profile",
        "partner_messages",
        "partner_resources",
    ],
    "applicant": ["", "partner_leads", "partner_commissions", "partner_profile"],
    "manager": [
        "",
        "manager_partners",
        "manager_groups",
        "manager_leads",
        "manager_payouts",
        "manager_risk",
        "manager_messages",
        "manager_tax_forms",
        "manager_audit",
        "manager_exports",
        "manager_announcements",
        "manager_resources",
        "manager_mail",
        "manager_settings",
        "account",
    ],
    "visitor": ["", "apply", "set_password"],
}


def test_every_page_fits_a_phone_for_every_kind_of_user(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        manager = make_manager(db)
        partner = make_actor(db, username="phone.everywhere")
        make_converted_lead(db, manager, partner, "3000.00")
        applicant = make_actor(db, username="phone.applicant", status=PartnerStatus.PENDING)
    logins = {"partner": partner, "applicant": applicant, "manager": manager, "visitor": None}
    for who, paths in PAGES.items():
        context = browser.new_context(**PHONE_CONTEXT)
        page = context.new_page()
        login = logins[who]
        if login is not None:
            sign_in(page, server.url, login.username, PASSWORD)
        for path in paths:
            page.goto(f"{server.url}/{path}")
            settle(page)
            _fits_the_screen(page, f"{who} /{path}")
            shoot(page, f"phone-every-page-{who}-{path or 'home'}")
        context.close()
