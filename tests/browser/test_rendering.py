"""User text with Markdown or HTML in it shows as typed in a real browser: no link, image or
script element is created from it, on the pages that show it."""

from __future__ import annotations

from playwright.sync_api import expect

from portal.core.db import get_engine, unit_of_work
from portal.leads import leads
from tests.browser.conftest import settle, shoot, sign_in
from tests.factories import PASSWORD, make_actor, make_lead, make_manager

NAME = "**Bold** [click](http://evil.example/a) ![img](http://evil.example/i.png)"
COMPANY = "<script>window.pwned=1</script><img src=http://evil.example/x.png onerror=alert(1)>"
NOTES = "<a href='http://evil.example/n'>notes link</a> _under_ `code`"


def _no_elements_from_user_text(page) -> None:
    assert page.locator("a[href*='evil.example']").count() == 0
    assert page.locator("img[src*='evil.example']").count() == 0
    assert page.evaluate("() => window.pwned === undefined")
    assert page.locator("strong", has_text="Bold").count() == 0


def test_markdown_and_html_in_user_text_stay_text(server, browser):
    with unit_of_work(get_engine(server.database_url)) as db:
        manager = make_manager(db)
        partner = make_actor(db, username="render.partner")
        lead = make_lead(db, partner, client_name=NAME, company=COMPANY, notes=NOTES)
        leads.change_lead_status(
            db,
            actor=partner,
            lead_id=lead.id,
            to="contacted",
            expected_version=lead.version,
            note=NOTES,
        )
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(page, server.url, partner.username, PASSWORD)
    expect(page.get_by_text(NAME, exact=False).first).to_be_attached()  # the notification
    _no_elements_from_user_text(page)
    page.goto(f"{server.url}/partner_leads?lead={lead.id}")
    settle(page)
    expect(page.get_by_text(f"Client: {NAME}")).to_be_visible()
    expect(page.get_by_text(f"Notes: {NOTES}")).to_be_visible()
    _no_elements_from_user_text(page)
    shoot(page, "rendering-partner-lead")

    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(page, server.url, manager.username, PASSWORD)
    page.goto(f"{server.url}/manager_leads?lead={lead.id}")
    settle(page)
    expect(page.get_by_text(f"Client: {NAME}")).to_be_visible()
    _no_elements_from_user_text(page)


def test_tables_offer_no_side_door_csv_download(server, browser):
    """The table toolbar's "Download as CSV" wrote `=HYPERLINK(…)` cells as they are, around
    the export engine's formula guard: it is switched off (client.disableDataExport)."""
    with unit_of_work(get_engine(server.database_url)) as db:
        partner = make_actor(db, username="toolbar.partner")
        make_lead(db, partner, client_name='=HYPERLINK("http://evil.example","x")')
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(page, server.url, partner.username, PASSWORD)
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible()
    table.hover()
    toolbar = page.locator('[data-testid="stElementToolbar"]').first
    # The toolbar itself still appears (search, full screen): wait for it, then look.
    expect(toolbar.get_by_role("button").first).to_be_visible()
    labels = [
        button.get_attribute("aria-label") or button.inner_text()
        for button in toolbar.get_by_role("button").all()
    ]
    assert labels and not [label for label in labels if "download" in label.lower()], labels


def test_security_headers_and_a_policy_that_blocks_other_origins(server, browser):
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    response = page.goto(server.url)
    assert response is not None
    headers = response.headers
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data: blob:" in policy
    assert "frame-ancestors 'self'" in policy
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    settle(page)
    expect(
        page.get_by_label("Username", exact=True)
    ).to_be_visible()  # the app works under the policy
    # Whatever text slipped through as markup, the browser would not fetch from elsewhere.
    blocked = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation",
                (event) => resolve(event.violatedDirective), {once: true});
            const image = document.createElement("img");
            image.src = "http://evil.example/pixel.png";
            document.body.appendChild(image);
        })"""
    )
    assert blocked.startswith("img-src")
    # Page script may talk to the portal's own origin only, WebSockets included (the app's own
    # websocket works: the sign-in form above was drawn through it).
    socket_blocked = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation",
                (event) => resolve(event.violatedDirective), {once: true});
            try { new WebSocket("ws://127.0.0.2:9/exfiltrate"); }
            catch (error) { resolve("connect-src (thrown)"); }
        })"""
    )
    assert socket_blocked.startswith("connect-src")
    assert "ws:" not in policy.split("connect-src")[1].split(";")[0]
