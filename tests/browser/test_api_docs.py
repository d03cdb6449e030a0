"""Swagger UI at /api/v1/docs in Chromium with no network beyond the portal: it loads from
the portal's own files under the portal's own policy, takes an API key through Authorize and
runs a request with it."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from playwright.sync_api import expect

from portal.accounts import api_keys
from portal.core.access import Actor
from portal.core.db import get_engine, unit_of_work
from tests.factories import make_actor


def test_swagger_ui_works_offline_and_authenticates(server, browser, tmp_path):
    with unit_of_work(get_engine(server.database_url)) as session:
        partner = make_actor(session, username="docs.partner")
        _, key = api_keys.key_for_user(
            session, actor=Actor.operator(), username=partner.username, scope="read", expires_days=1
        )
    own = urlsplit(server.url).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []

    def only_the_portal(route):
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:  # as if offline: anything from another host fails
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_portal)
    refused: list[str] = []
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{server.url}/api/v1/docs")
    expect(page.get_by_role("heading", name="Partner Portal API")).to_be_visible()
    page.get_by_role("button", name="Authorize").first.click()
    page.get_by_label("auth-bearer-value").fill(key)
    page.get_by_role("button", name="Apply credentials").click()
    page.locator(".auth-btn-wrapper").get_by_role("button", name="Close").click()
    operation = page.locator("#operations-account-listServices")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table tbody .response-col_status").first
    expect(answer).to_have_text("200")
    shown = operation.locator(".live-responses-table .microlight").first.inner_text()
    assert "services" in json.loads(shown)
    page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)
    assert not elsewhere, elsewhere
    assert not refused, refused
    context.close()
