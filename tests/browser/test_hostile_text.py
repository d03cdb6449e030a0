"""Every kind of stored text, seeded with hostile values, on every page of every role: nothing
a user typed becomes a link, an image, emphasis or a request to another host."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import update

from portal.core import program
from portal.core.db import get_engine, unit_of_work
from portal.core.models import Commission
from portal.core.types import utc_now
from portal.leads import leads
from portal.messaging import announcements, conversations
from portal.money import payouts, tax_forms
from portal.partners import groups, partners, profiles, resources
from tests.browser.conftest import settle, shoot, sign_in
from tests.factories import (
    PASSWORD,
    TINY_PDF,
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    make_partner,
    payable_profile,
)

EVIL = "evil.example"
HOSTILE = (
    "[x](https://evil.example/l) ![i](https://evil.example/i.png) "
    "<a href='https://evil.example/a'>a</a> <b>Bold</b> **Strong** <img src=https://evil.example/h.png>"
)
SHORT = "<b>B</b>[r](https://evil.example/r)**S**"  # for fields of at most 100 characters

PARTNER_PAGES = [
    "",
    "partner_leads",
    "partner_commissions",
    "partner_profile",
    "partner_messages",
    "partner_resources",
]
MANAGER_PAGES = [
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
    "manager_settings",
    "account",
]


def _seed(engine):
    with unit_of_work(engine) as db:
        manager = make_manager(db)
        partner = make_actor(
            db, partner=make_partner(db, company_name=HOSTILE), username="hostile.partner"
        )
        payable_profile(db, partner)
        profiles.update_profile(
            db,
            actor=partner,
            changes={"contact_name": HOSTILE, "address": HOSTILE[:300], "city": SHORT},
        )
        lead = make_lead(db, partner, client_name=HOSTILE, company=HOSTILE, notes=HOSTILE)
        leads.change_lead_status(
            db,
            actor=partner,
            lead_id=lead.id,
            to="lost",
            expected_version=lead.version,
            lost_reason="other",
            note=HOSTILE,
        )
        for _ in range(2):
            make_converted_lead(db, manager, partner, "5000.00", client_name=HOSTILE)
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        first = payouts.run_batch(db, actor=manager, cutoff=utc_now().date()).scheduled[0]
        payouts.mark_paid(db, actor=manager, payout_id=first.id, reference=SHORT)
        make_converted_lead(db, manager, partner, "5000.00", client_name=HOSTILE)
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        second = payouts.run_batch(db, actor=manager, cutoff=utc_now().date()).scheduled[0]
        payouts.close_unpaid(
            db, actor=manager, payout_id=second.id, status="failed", reason=HOSTILE
        )
        payouts.run_batch(db, actor=manager, cutoff=utc_now().date())  # one left scheduled
        document = tax_forms.submit_tax_form(
            db, actor=partner, form="W-9", file_name=f"{SHORT}.pdf", content=TINY_PDF
        )
        tax_forms.review_tax_form(
            db, actor=manager, document_id=document.id, decision="rejected", reason=HOSTILE
        )
        tax_forms.submit_tax_form(
            db, actor=partner, form="W-9", file_name=f"{SHORT}.pdf", content=TINY_PDF
        )
        applicant = make_partner(db, company_name=HOSTILE)
        partners.change_status(db, actor=manager, partner_id=applicant.id, action="approve")
        program.change(  # a service a partner picks from, and a reason in the history
            db,
            actor=manager,
            changes={"services": [*program.current(db).services, SHORT]},
            reason=HOSTILE,
            based_on=program.current_version(db),
        )
        # A message each way, and a risk event whose evidence quotes a client's name.
        conversations.post(db, actor=partner, body=HOSTILE)
        conversations.post(db, actor=manager, body=HOSTILE, partner_id=partner.partner_id)
        conversations.post(db, actor=partner, body=HOSTILE)  # so it waits for an answer
        make_lead(db, partner, client_name=HOSTILE, client_email="h@mailinator.com")
        announcements.publish(db, actor=manager, title=SHORT, body=HOSTILE)
        resources.add_resource(
            db, actor=manager, title=SHORT, description=HOSTILE, url="https://example.com/kit"
        )
        group = groups.save_group(db, actor=manager, name=SHORT, description=HOSTILE)
        groups.move_partners(db, actor=manager, partner_ids=[partner.partner_id], group_id=group.id)
    return manager, partner, lead


def _assert_inert(page, where: str, violations: list[str]) -> None:
    links = page.locator(f"a[href*='{EVIL}']")
    assert links.count() == 0, (
        where,
        [links.nth(i).evaluate("e => e.parentElement.outerHTML") for i in range(links.count())],
    )
    assert page.locator(f"img[src*='{EVIL}']").count() == 0, where
    for tag in ("b", "strong"):
        assert page.locator(tag, has_text="Bold").count() == 0, (where, tag)
        assert page.locator(tag, has_text="Strong").count() == 0, (where, tag)
    # Plotly draws its text in SVG: a link there is an <a xlink:href>, bold a styled tspan.
    assert page.locator(f"[*|href*='{EVIL}']").count() == 0, where
    assert page.locator("tspan[style*='bold']", has_text="Bold").count() == 0, where
    assert not [v for v in violations if EVIL in v], (where, violations)


def _visit_all(page, server, pages: list[str], role: str, lead_id: int) -> None:
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    page.on("request", lambda request: violations.append(request.url))
    for path in pages:
        page.goto(f"{server.url}/{path}")
        settle(page)
        expect(page.locator('[data-testid="stMain"]')).to_be_visible()
        problems = page.locator('[data-testid="stException"]')
        assert problems.count() == 0, (path, problems.first.inner_text())
        _assert_inert(page, f"{role}:{path or 'home'}", violations)
        shoot(page, f"hostile-{role}-{path or 'home'}")
    for path in ("partner_leads" if role == "partner" else "manager_leads",):
        page.goto(f"{server.url}/{path}?lead={lead_id}")
        settle(page)
        _assert_inert(page, f"{role}:{path}?lead", violations)


def test_hostile_stored_text_stays_text_on_every_page(server, browser):
    manager, partner, lead = _seed(get_engine(server.database_url))
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    sign_in(page, server.url, partner.username, PASSWORD)
    _visit_all(page, server, PARTNER_PAGES, "partner", lead.id)
    context.close()
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    sign_in(page, server.url, manager.username, PASSWORD)
    _visit_all(page, server, MANAGER_PAGES, "manager", lead.id)
    # The partner picker names the partners it found.
    page.goto(f"{server.url}/manager_leads")
    settle(page)
    page.get_by_label("Filter by partner name").fill(HOSTILE[:12])
    page.keyboard.press("Enter")
    settle(page)
    _assert_inert(page, "manager:partner picker", [])
    context.close()
