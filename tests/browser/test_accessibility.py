"""Accessibility: every page of every role passes axe-core (axe-playwright-python bundles it)
with no serious or critical violation, at desktop and phone widths, on the demo program, and
its charts keep their titles and month labels readable; and signing in works with the
keyboard alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from portal.core.config import PROJECT_ROOT
from tests.browser.conftest import Server, migrate_database, run_app, settle, shoot, sign_in

PAGES = {
    None: ["", "apply", "set_password"],
    "partner": [
        "",
        "partner_leads",
        "partner_commissions",
        "partner_profile",
        "partner_messages",
        "partner_resources",
    ],
    "applicant": ["", "partner_leads"],
    "suspended": ["", "partner_leads"],
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
}

# What a page must say, as a reader sees it at either width: the partner's rate and why
# (dashboard, each commission line), charts with axis titles, and one message per state.
SAYS = {
    ("partner", ""): ["Your commission rate today:", "Commission (USD)", "Month converted"],
    ("partner", "partner_commissions"): ["Your commission rate today:"],
    ("applicant", ""): ["Your application is under review."],
    ("applicant", "partner_leads"): ["Your application is under review."],
    ("suspended", ""): ["Your partner account is suspended, so it is read-only"],
    ("suspended", "partner_leads"): ["Your partner account is suspended, so it is read-only"],
}
NEVER_SAYS = {"applicant": "Register your first", "suspended": "Register a lead"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("accessibility")
    database_url = f"sqlite:///{folder / 'portal.db'}"
    migrate_database(database_url, folder)
    subprocess.run(
        [sys.executable, "-m", "portal", "seed-demo"],
        env={**os.environ, "DATABASE_URL": database_url, "PORTAL_DATA_DIR": str(folder)},
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    text = (folder / "demo-logins.txt").read_text()
    passwords = {name: secret for name, secret in re.findall(r"^\s+(\S+)\s+(\S+)\s", text, re.M)}
    with run_app(folder, database_url) as server:
        yield server, passwords


# Per plotly chart: no mode bar (it covered the title, and a phone's chart), and every month
# label must lie whole inside the chart and apart from the next.
CHART_GEOMETRY = """(plot) => {
  const box = (element) => element.getBoundingClientRect();
  const overlap = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1
    && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
  const problems = [];
  const title = plot.querySelector('.gtitle');
  const modebar = plot.querySelector('.modebar');
  if (title && modebar && overlap(box(title), box(modebar))) {
    problems.push(`mode bar over the title "${title.textContent}"`);
  }
  const chart = box(plot.querySelector('.main-svg'));
  const labels = Array.from(plot.querySelectorAll('.xtick text'));
  labels.forEach((label, index) => {
    if (!inside(box(label), chart)) problems.push(`tick "${label.textContent}" clipped`);
    const next = labels[index + 1];
    if (next && overlap(box(label), box(next))) {
      problems.push(`ticks "${label.textContent}" and "${next.textContent}" overlap`);
    }
  });
  return problems;
}"""


def chart_problems(page: Page) -> list[str]:
    problems = []
    charts = page.locator(".js-plotly-plot")
    for index in range(charts.count()):
        chart = charts.nth(index)
        chart.scroll_into_view_if_needed()
        chart.hover()  # Plotly's mode bar would show while the pointer is over the chart
        expect(chart.locator(".modebar-btn")).to_have_count(0)  # charts.draw turns it off
        problems += chart.evaluate(CHART_GEOMETRY)
    return problems


def serious_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']}"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
        for node in violation["nodes"]
    ]


@pytest.mark.parametrize("width", [1440, 390])
def test_every_page_passes_axe(browser, demo, width):
    server, passwords = demo
    found = {}
    for role, paths in PAGES.items():
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        if role is not None:
            sign_in(page, server.url, role, passwords[role])
        for path in paths:
            page.goto(f"{server.url}/{path}")
            settle(page)
            expect(page.get_by_role("heading").first).to_be_visible()
            for text in SAYS.get((role, path), []):
                expect(page.get_by_text(text).first).to_be_attached()
            if role in NEVER_SAYS:
                expect(page.get_by_text(NEVER_SAYS[role])).to_have_count(0)
            shoot(page, f"demo-{role or 'signed-out'}-{path or 'home'}-{width}")
            problems = serious_violations(page) + chart_problems(page)
            if problems:
                found[f"{role or 'signed out'} /{path}"] = problems
        context.close()
    assert found == {}


def test_signing_in_with_the_keyboard_alone(browser, demo):
    server, passwords = demo
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(server.url)
    settle(page)
    username = page.get_by_label("Username", exact=True)
    expect(username).to_be_visible()
    page.locator("body").focus()
    for _ in range(30):  # Tab from the top of the page until the username field has focus
        page.keyboard.press("Tab")
        if username.evaluate("element => element === document.activeElement"):
            break
    expect(username).to_be_focused()
    page.keyboard.type("partner")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(passwords["partner"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    context.close()
