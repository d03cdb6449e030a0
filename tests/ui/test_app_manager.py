"""The manager pages in AppTest: each renders, and its actions reach the database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pyotp
import pytest
from sqlalchemy import select, update

from portal.accounts import users
from portal.core import program
from portal.core.config import PROJECT_ROOT
from portal.core.db import unit_of_work
from portal.core.models import (
    AuditEntry,
    Commission,
    Lead,
    LeadStatus,
    Partner,
    PartnerStatus,
    Payout,
    PayoutStatus,
    UserSession,
)
from portal.core.types import utc_now
from portal.leads import leads
from portal.money import payouts
from portal.partners import partners, profiles
from portal.ui import two_factor as two_factor_ui
from tests.apptest import metric, page_as, shown, texts
from tests.factories import (
    GERMAN_IBAN,
    backdate_lead,
    camt053,
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    owed_partner,
    payable_profile,
)

pytestmark = pytest.mark.slow


def test_overview_counts_the_program(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        partner = make_actor(db)
        make_actor(db, status=PartnerStatus.PENDING)
        stale = make_lead(db, partner, client_name="Waiting Client")
        backdate_lead(db, stale.id, timedelta(days=5))
    test = page_as(manager, "pages/manager_overview.py")
    assert not test.exception
    assert metric(test, "Partners active") == "1"
    assert metric(test, "Partners pending") == "1"
    assert metric(test, "Leads") == "1"
    waiting = next(f for f in test.dataframe if "Client" in f.value.columns)
    assert list(waiting.value["Client"]) == ["Waiting Client"]
    # Nobody has earned yet: the top-partners chart gives way to a sentence.
    assert "no partner has earned commission yet" in texts(test)
    assert len(test.get("plotly_chart")) == 1

    with unit_of_work(app_database) as db:
        make_converted_lead(db, manager, partner)
    test = page_as(manager, "pages/manager_overview.py")
    assert "no partner has earned commission yet" not in texts(test)
    assert len(test.get("plotly_chart")) == 2


def _select_partners(test, positions, generation=0):
    test.session_state[f"partners_selection-1-{generation}"] = {"selection": {"rows": positions}}
    test.run()
    assert not test.exception, test.exception


def test_partners_are_approved_in_bulk_after_a_confirmation(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        pending = [make_actor(db, status=PartnerStatus.PENDING) for _ in range(2)]
        active = make_actor(db)
    test = page_as(manager, "pages/manager_partners.py")
    assert next(b for b in test.button if b.label == "Approve…").disabled
    order = _partner_order(app_database)
    _select_partners(test, [order.index(p.partner_id) for p in (*pending, active)])
    # Only the two pending partners can be approved; the active one can be suspended.
    assert not next(b for b in test.button if b.label == "Approve (2)…").disabled
    assert not next(b for b in test.button if b.label == "Suspend (3)…").disabled
    assert next(b for b in test.button if b.label == "Reactivate (0)…").disabled
    _click(test, "Approve (2)…")
    with unit_of_work(app_database) as db:  # nothing before the confirmation
        assert db.get(Partner, pending[0].partner_id).status is PartnerStatus.PENDING
    assert "They can sign in and register leads; each is told by e-mail." in texts(test)
    _click(test, "Approve")
    assert "Approved 2 partners." in [shown(m) for m in test.success]
    with unit_of_work(app_database) as db:
        assert {db.get(Partner, p.partner_id).status for p in pending} == {PartnerStatus.ACTIVE}
    # The selection starts afresh after an action.
    assert next(b for b in test.button if b.label == "Approve…").disabled


def test_a_rate_is_pinned_for_the_selected_partner_and_checked(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        active = make_actor(db)
    test = page_as(manager, "pages/manager_partners.py")
    _select_partners(test, [0])
    with unit_of_work(app_database) as db:
        company = db.get_one(Partner, active.partner_id).company_name
    assert company in [h.value for h in test.subheader]  # its details
    _click(test, "Pin a rate…")
    next(n for n in test.number_input if n.label == "Pinned rate (%)").set_value(12.5).run()
    _click(test, "Pin the rate")
    assert "Pinned 12.5% for 1 partner." in [shown(m) for m in test.success]
    with unit_of_work(app_database) as db:
        assert str(db.get(Partner, active.partner_id).commission_rate) == "0.1250"


def _partner_order(engine):
    with unit_of_work(engine) as db:
        return list(
            db.scalars(select(Partner.id).order_by(Partner.created_at.desc(), Partner.id.desc()))
        )


def test_create_partner_form(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    test = page_as(manager, "pages/manager_partners.py")
    fields = {f.label: f for f in test.text_input}
    fields["Company name"].input("Made By Manager")
    fields["Company email"].input("team@made.example")
    fields["Contact name"].input("Mia Made")
    fields["Contact email"].input("mia@made.example")
    fields["Username"].input("mia")
    fields["Initial password"].input("short")
    next(b for b in test.button if b.label == "Create partner").click().run()
    assert any(shown(e).startswith("Password must be") for e in test.error)
    fields = {f.label: f for f in test.text_input}
    fields["Initial password"].input("a long initial password")
    next(b for b in test.button if b.label == "Create partner").click().run()
    assert any("Created partner" in shown(s) for s in test.success)


def _edit_leads(test, changes, generation):
    test.session_state[f"all_leads-1-None-{generation}"] = {
        "edited_rows": changes,
        "added_rows": [],
        "deleted_rows": [],
    }
    test.run()
    assert not test.exception, test.exception


def test_all_leads_converts_after_previewing_the_commission(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        partner = make_actor(db)
        lead = make_lead(db, partner, client_name="Deal")
        leads.change_lead_status(
            db, actor=manager, lead_id=lead.id, to="qualified", expected_version=lead.version
        )
    test = page_as(manager, "pages/manager_leads.py")
    _edit_leads(test, {0: {"Status": "Converted"}}, 0)
    assert f"Lead #{lead.id} Deal converts; its partner earns the commission." in texts(test)
    with unit_of_work(app_database) as db:
        assert db.get(Lead, lead.id).status is LeadStatus.QUALIFIED  # nothing before confirming
    deal = next(t for t in test.text_input if t.label.startswith("Deal value"))
    deal.input("abc").run()
    assert any(shown(e).startswith("Deal value ") for e in test.error)
    next(t for t in test.text_input if t.label.startswith("Deal value")).input("2500").run()
    assert "Commission: 250.00 USD (10%, the tier's rate), on hold for" in texts(test)
    _click(test, "Convert")
    assert f"Lead #{lead.id} Deal: now converted, commission 250.00 USD." in [
        shown(m) for m in test.success
    ]
    with unit_of_work(app_database) as db:
        converted = db.get(Lead, lead.id)
        assert (converted.status, str(converted.commission)) == (LeadStatus.CONVERTED, "250.00")
    # Back to qualified is a reversal: confirmed first, naming the commission taken back.
    _edit_leads(test, {0: {"Status": "Qualified"}}, 1)
    assert "Its commission of 250.00 USD is reversed" in texts(test)
    _click(test, "Reverse the conversion")
    with unit_of_work(app_database) as db:
        assert db.get(Lead, lead.id).status is LeadStatus.QUALIFIED


def test_all_leads_reassigns_the_selected_leads_to_a_partner_chosen_by_name(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        first = make_actor(db)
        second = make_actor(db)
        db.execute(
            update(Partner).where(Partner.id == second.partner_id).values(company_name="Zeta Ltd")
        )
        one, two = make_lead(db, first), make_lead(db, first)
        backdate_lead(db, one.id, timedelta(hours=1))
    test = page_as(manager, "pages/manager_leads.py")
    reassign = next(b for b in test.button if b.label.startswith("Reassign"))
    assert reassign.disabled
    _edit_leads(test, {0: {"Select": True}}, 0)
    _edit_leads(test, {1: {"Select": True}}, 1)
    _click(test, "Reassign 2 leads…")
    next(t for t in test.text_input if t.label == "Partner name").input("nobody").run()
    assert "No active partner's name contains “nobody”." in texts(test)
    next(t for t in test.text_input if t.label == "Partner name").input("zeta").run()
    (choice,) = [box for box in test.selectbox if box.label == "Partner"]
    assert choice.value == second.partner_id
    _click(test, "Reassign")
    assert "Reassigned 2 leads." in [shown(m) for m in test.success]
    with unit_of_work(app_database) as db:
        owners = {db.get(Lead, lead.id).partner_id for lead in (one, two)}
    assert owners == {second.partner_id}
    assert next(b for b in test.button if b.label.startswith("Reassign")).disabled


def _click(test, label):
    """Click the button with this label, or else the first whose label starts with it."""
    exact = [b for b in test.button if b.label == label]
    (exact or [b for b in test.button if b.label.startswith(label)])[0].click().run()
    assert not test.exception, test.exception


def _owed_partners(db, manager, count):
    made = []
    for _ in range(count):
        partner = make_actor(db)
        payable_profile(db, partner)
        make_converted_lead(db, manager, partner, "1000")
        made.append(partner)
    db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    return made


def test_payouts_page_confirms_the_batch_and_each_payment(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        _owed_partners(db, manager, 2)
    test = page_as(manager, "pages/manager_payouts.py")
    assert metric(test, "Payouts") == "2"
    _click(test, "Run the batch")
    # Nothing happens before the confirmation, which names the count and the total.
    with unit_of_work(app_database) as db:
        assert db.scalar(select(Payout)) is None
    assert "2 payouts, 200.00 USD in all, will be scheduled." in texts(test)
    _click(test, "Run the batch")  # the dialog's own button
    assert any("Scheduled 2 payouts" in shown(s) for s in test.success)
    with unit_of_work(app_database) as db:
        first, second = db.scalars(select(Payout.id).order_by(Payout.id)).all()

    _click(test, "Review and record")
    # Refused on the form, before a dialog asks to record a payment without its reference.
    assert any("Payment reference is required." in shown(e) for e in test.error)
    assert not [b for b in test.button if b.label == "Record it"]
    next(s for s in test.selectbox if s.label == "Payout").set_value(first)
    next(f for f in test.text_input if f.label.startswith("Payment reference")).input("TRF-9")
    _click(test, "Review and record")
    assert any(f"Payout #{first} to " in line for line in texts(test).splitlines())
    _click(test, "Record it")
    assert any(f"Payout #{first}" in shown(s) and "now paid" in shown(s) for s in test.success)
    # The form is cleared: the next payout is not marked paid with the first one's reference.
    reference = next(f for f in test.text_input if f.label.startswith("Payment reference"))
    assert reference.value == ""
    reference.input("TRF-9")
    _click(test, "Review and record")
    _click(test, "Record it")
    assert any(f"already recorded on payout #{first}" in shown(e) for e in test.error)
    with unit_of_work(app_database) as db:
        statuses = dict(db.execute(select(Payout.id, Payout.status)).all())
    assert statuses == {first: PayoutStatus.PAID, second: PayoutStatus.SCHEDULED}


def test_payouts_page_makes_each_payout_file_once_and_voids_it_with_a_reason(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        _owed_partners(db, manager, 1)
        payouts.run_batch(db, actor=manager, cutoff=utc_now().date())
    test = page_as(manager, "pages/manager_payouts.py")
    choice = next(s for s in test.selectbox if s.label == "Make a payout file")
    assert choice.options == ["PayPal Payouts payment file (CSV): 1 payout, 100.00 USD"]
    _click(test, "Make the payout file")
    assert "Each payout goes in this file only" in texts(test)
    _click(test, "Make the file")
    assert any("File #1 holds 1 payout" in shown(s) for s in test.success)
    assert any("full bank account numbers" in shown(w) for w in test.warning)
    downloads = [b.label for b in test.get("download_button")]
    assert "Download payouts-" + utc_now().date().isoformat() + "-paypal-USD-1.csv" in downloads
    assert "Every payout of this batch that can be filed is in a live file." in texts(test)
    assert list(test.dataframe[1].value["State"]) == ["live"]
    _click(test, "Void this file")
    _click(test, "Void the file")  # without a reason
    assert any("Reason is required" in shown(e) for e in test.error)
    next(t for t in test.text_input if t.label.startswith("Reason (kept")).set_value(
        "bank refused the file"
    )
    _click(test, "Void the file")
    assert any("File #1 is void" in shown(s) for s in test.success)
    assert any(s.label == "Make a payout file" for s in test.selectbox)


def test_payouts_page_takes_the_batch_rates_from_the_ecb_file(app_database):

    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        owed_partner(db, manager, GERMAN_IBAN)
    test = page_as(manager, "pages/manager_payouts.py")
    (why,) = test.dataframe[0].value["Why"]
    assert why == "no exchange rate for EUR given for this batch"
    rate = next(t for t in test.text_input if t.label == "EUR per 1 USD")
    rate.input("-1").run()
    assert "The EUR rate must be a positive decimal number" in texts(test)
    ecb = (PROJECT_ROOT / "docs" / "demo" / "eurofxref-daily.xml").read_bytes()
    test.file_uploader[0].set_value(("eurofxref-daily.xml", ecb, "application/xml")).run()
    assert next(t for t in test.text_input if t.label == "EUR per 1 USD").value == "0.92165899"
    assert list(test.dataframe[0].value["Paid"]) == ["92.17 EUR"]
    _click(test, "Run the batch")
    assert "EUR: 0.92165899 per 1 USD (ECB reference rate via EUR/USD, 2026-12-04)" in texts(test)
    _click(test, "Run the batch")
    with unit_of_work(app_database) as db:
        payout = db.scalar(select(Payout))
        assert (payout.payout_amount, payout.payout_currency) == (Decimal("92.17"), "EUR")


def test_payouts_page_records_a_return(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        _owed_partners(db, manager, 1)
        (payout,) = payouts.run_batch(db, actor=manager, cutoff=utc_now().date()).scheduled
        payouts.mark_paid(db, actor=manager, payout_id=payout.id, reference="TRF-1")
    test = page_as(manager, "pages/manager_payouts.py")
    next(s for s in test.selectbox if s.label == "Bank's return reason").set_value("R03")
    _click(test, "Review and record")
    _click(test, "Record the return")
    assert any("is marked returned" in shown(s) for s in test.success)
    with unit_of_work(app_database) as db:
        assert db.get(Payout, payout.id).status is PayoutStatus.RETURNED


def test_audit_and_exports_pages_filter_and_count(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        make_lead(db, partner)
        make_lead(db, partner)
    audit_page = page_as(manager, "pages/manager_audit.py")
    assert not audit_page.exception
    assert list(audit_page.dataframe[0].value["Action"]) == ["Lead registered"] * 2
    assert all(name.startswith("lead #") for name in audit_page.dataframe[0].value["Object"])
    assert "Before" not in audit_page.dataframe[0].value.columns  # changes in words instead
    exports_page = page_as(manager, "pages/manager_exports.py")
    assert metric(exports_page, "Rows") == "2"
    next(b for b in exports_page.button if b.label == "Build the file").click().run()
    assert not exports_page.exception
    assert any(b.label == "Download 2 rows as CSV" for b in exports_page.get("download_button"))


def test_exports_page_points_to_the_command_line_past_the_cap(app_database, settings_override):
    settings_override(export_row_cap=1)
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        make_lead(db, partner)
        make_lead(db, partner)
    test = page_as(manager, "pages/manager_exports.py")
    assert "more than the 1 rows" in texts(test)
    assert "python -m portal export leads --out leads.csv" in test.code[0].value


def test_account_page_for_managers(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    test = page_as(manager, "pages/account.py")
    assert not test.exception
    assert any(manager.username in t.value for t in test.text)
    # Its sessions are listed, this browser's marked, and all can be ended at once.
    with unit_of_work(app_database) as db:
        users.open_session(
            db,
            user_id=manager.user_id,
            token="another browser",
            expires_at=utc_now() + timedelta(days=1),
            user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
            "Firefox/133.0",
        )
    test.run()
    browsers = list(test.dataframe[0].value["Browser"])
    assert len(browsers) == 2 and any(b.startswith("This browser") for b in browsers)
    assert "Firefox on Windows" in browsers
    next(b for b in test.button if b.label == "Sign out everywhere").click().run()
    assert "Your session has ended" in texts(test)
    with unit_of_work(app_database) as db:
        assert users.list_sessions(db, actor=manager) == []


def test_payouts_page_settles_a_bank_statement_all_or_nothing(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        _owed_partners(db, manager, 3)
        scheduled = payouts.run_batch(db, actor=manager, cutoff=utc_now().date()).scheduled
    first, second, third = sorted(p.id for p in scheduled)
    today = utc_now().date().isoformat()
    test = page_as(manager, "pages/manager_payouts.py")
    header = "payout_id,reference,paid_date,amount,currency\n"
    bad = f"{header}{first},B-1,{today},100.00,USD\n{second},B-2,{today},1.00,USD\n"
    test.file_uploader[0].set_value(("statement.csv", bad.encode(), "text/csv")).run()
    assert any("the bank paid 1.00, the payout is 100.00" in shown(e) for e in test.error)
    assert not [b for b in test.button if b.label.startswith("Mark 2 payouts")]
    good = camt053([(f"PAYOUT-{first}", "100.00"), (f"PAYOUT-{second}", "100.00")])
    test.file_uploader[0].set_value(("statement.xml", good, "application/xml")).run()
    assert not test.error
    _click(test, "Mark 2 payouts paid")
    assert "2 payouts, 200.00 USD in all, are marked paid." in texts(test)
    _click(test, "Mark them paid")
    assert any("Recorded 2 payouts as paid." in shown(s) for s in test.success)
    assert test.file_uploader[0].value is None  # the upload is cleared after it is recorded
    with unit_of_work(app_database) as db:
        statuses = dict(db.execute(select(Payout.id, Payout.status)).all())
    assert statuses == {
        first: PayoutStatus.PAID,
        second: PayoutStatus.PAID,
        third: PayoutStatus.SCHEDULED,
    }


def test_tax_forms_page_opens_and_verifies_an_upload(app_database):
    from portal.money import tax_forms
    from tests.factories import TINY_PDF

    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        tax_forms.submit_tax_form(
            db, actor=partner, form="W-8BEN", file_name="w8.pdf", content=TINY_PDF
        )
    test = page_as(manager, "pages/manager_tax_forms.py")
    assert list(test.dataframe[0].value["Kind"]) == ["W-8BEN"]
    _click(test, "Decrypt the PDF to read it")
    assert any(b.label == "Download w8.pdf to read it" for b in test.get("download_button"))
    next(r for r in test.radio if r.label == "Decision").set_value("rejected")
    _click(test, "Record decision")
    assert "Say why the form is rejected, so the partner can fix it." in [
        shown(e) for e in test.error
    ]
    next(r for r in test.radio if r.label == "Decision").set_value("verified")
    _click(test, "Record decision")
    assert any("is verified" in shown(s) for s in test.success)
    assert "No tax form is waiting for review." in texts(test)
    with unit_of_work(app_database) as db:
        profile = profiles.get_profile(db, actor=partner)
        assert profile.tax_form.value == "W-8BEN" and profile.tax_form_expires_on is not None


def test_tax_forms_page_names_the_company_as_typed(app_database):
    from portal.money import tax_forms
    from tests.factories import TINY_PDF, make_partner

    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        partner = make_actor(
            db, partner=make_partner(db, company_name="[x](https://evil.example) **Co**")
        )
        tax_forms.submit_tax_form(
            db, actor=partner, form="W-9", file_name="w9.pdf", content=TINY_PDF
        )
    test = page_as(manager, "pages/manager_tax_forms.py")
    _click(test, "Record decision")
    (message,) = [s.value for s in test.success]
    assert "](https" not in message and "**Co**" not in message  # no link, no emphasis
    assert "[x](https://evil.example) **Co**" in shown(test.success[0])


def test_a_bulk_reassign_tells_the_rows_it_refused_apart_from_those_it_moved(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        first, second = make_actor(db), make_actor(db)
        db.execute(
            update(Partner).where(Partner.id == second.partner_id).values(company_name="Zeta Ltd")
        )
        one, two = make_lead(db, first), make_lead(db, first)
        backdate_lead(db, one.id, timedelta(hours=1))
    test = page_as(manager, "pages/manager_leads.py")
    _edit_leads(test, {0: {"Select": True}}, 0)
    _edit_leads(test, {1: {"Select": True}}, 1)
    _click(test, "Reassign 2 leads…")
    next(t for t in test.text_input if t.label == "Partner name").input("zeta").run()
    with unit_of_work(app_database) as db:  # someone else moves one of them meanwhile
        leads.change_lead_status(
            db, actor=manager, lead_id=one.id, to="contacted", expected_version=one.version
        )
    _click(test, "Reassign")
    assert [shown(m) for m in test.success] == ["Reassigned 1 lead."]
    (refusal,) = [shown(w) for w in test.warning]
    assert refusal.startswith(f"Not reassigned: Lead #{one.id} ")
    with unit_of_work(app_database) as db:
        assert db.get(Lead, one.id).partner_id == first.partner_id
        assert db.get(Lead, two.id).partner_id == second.partner_id


def test_a_bulk_approval_tells_the_partners_it_refused_apart_from_those_it_approved(
    app_database,
):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        pending = [make_actor(db, status=PartnerStatus.PENDING) for _ in range(2)]
    test = page_as(manager, "pages/manager_partners.py")
    order = _partner_order(app_database)
    _select_partners(test, [order.index(p.partner_id) for p in pending])
    _click(test, "Approve (2)…")
    with unit_of_work(app_database) as db:  # another manager suspends one meanwhile
        partners.change_status(
            db, actor=manager, partner_id=pending[0].partner_id, action="suspend"
        )
    _click(test, "Approve")
    assert [shown(m) for m in test.success] == ["Approved 1 partner."]
    (refusal,) = [shown(w) for w in test.warning]
    assert refusal.startswith("Not changed: ")
    assert refusal.endswith("A suspended partner cannot be approved.")


def test_exports_page_makes_the_tax_filing_file(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    test = page_as(manager, "pages/manager_exports.py")
    next(s for s in test.selectbox if s.label == "What").set_value("tax").run()
    assert "(1099-NEC)" in texts(test) and "2,000.00 USD" in texts(test)
    _click(test, "Prepare the filing file")
    assert any(b.label.startswith("Download tax-filing-") for b in test.get("download_button"))
    assert any("full taxpayer ids" in shown(w) for w in test.warning)


def test_program_settings_are_reviewed_then_saved_and_the_history_says_so(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        payable_profile(db, partner)
        lead = make_converted_lead(db, manager, partner, "700.00")  # 70.00 owed
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
    test = page_as(manager, "pages/manager_settings.py")
    assert not test.exception, test.exception
    assert "No change has been saved yet" in texts(test)
    hold = next(n for n in test.number_input if n.label == "Hold days")
    assert hold.value == 30
    # Every wrong field is told under itself at once; nothing is saved.
    hold.set_value(10)
    next(t for t in test.text_input if t.label.startswith("Minimum payout")).input("abc")
    _click(test, "Review the change")
    page = texts(test)
    assert "Minimum payout must be a number." in page
    assert "Reason is required" in page
    with unit_of_work(app_database) as db:
        assert program.current_version(db) == 0
    # A valid change: the dialog lists each change and what it affects.
    next(n for n in test.number_input if n.label == "Hold days").set_value(10)
    next(t for t in test.text_input if t.label.startswith("Minimum payout")).input("100")
    next(t for t in test.text_input if t.label.startswith("Reason")).input("Fewer, larger payouts")
    _click(test, "Review the change")
    page = texts(test)
    assert "Hold days: 30 → 10" in page and "Minimum payout: 50.00 → 100.00" in page
    assert "1 partner owed from 50.00 to under 100.00 today would no longer be paid" in page
    assert "the 0 commissions on hold keep the release dates they have" in page
    _click(test, "Save the change")
    assert "The program settings are saved" in texts(test)
    with unit_of_work(app_database) as db:
        rules = program.current(db)
        assert (rules.hold_days, rules.min_payout) == (10, Decimal("100.00"))
        plan = payouts.preview(db, actor=manager, cutoff=utc_now().date())
        assert [item.partner_id for item in plan.left_out] == [lead.partner_id]
        later = make_converted_lead(db, manager, partner, "100.00")
        hold_until = db.scalar(select(Commission.hold_until).where(Commission.lead_id == later.id))
        assert hold_until - later.converted_at == timedelta(days=10)
    history = test.dataframe[-1].value
    assert list(history["Version"]) == [2, 1]
    assert history["Changes"][0] == "Hold days: 30 → 10; Minimum payout: 50.00 → 100.00"
    assert history["Reason"][0] == "Fewer, larger payouts"


def test_a_manager_sets_up_two_factor_then_gives_a_code_before_money_actions(
    app_database, settings_override
):
    settings_override(manager_2fa="true")
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
    payouts_page = page_as(manager, "pages/manager_payouts.py")
    assert "need two-factor sign-in: set it up on your Account page" in texts(payouts_page)

    test = page_as(manager, "pages/account.py")
    _click(test, "Set up two-factor sign-in")
    secret = test.session_state[two_factor_ui.ENROLMENT].secret
    assert len(test.get("image")) == 1  # the QR code
    assert f"Or type this key into the app: {secret}" in texts(test)
    next(t for t in test.text_input if t.label == "Code from the app").input(
        pyotp.TOTP(secret).now()
    )
    _click(test, "Turn on two-factor sign-in")
    [codes] = [block.value for block in test.code]
    recovery = codes.splitlines()
    assert len(recovery) == 10
    assert "recovery codes left" in texts(test)

    # Later: this sign-in's code has aged; the payouts page asks for one and takes a
    # recovery code.
    with unit_of_work(app_database) as db:
        db.execute(update(UserSession).values(second_factor_at=utc_now() - timedelta(hours=1)))
    payouts_page = page_as(manager, "pages/manager_payouts.py")
    label = "Code from your authenticator app (or a recovery code)"
    next(t for t in payouts_page.text_input if t.label == label).input(recovery[0])
    _click(payouts_page, "Verify")
    assert not [t for t in payouts_page.text_input if t.label == label]
    with unit_of_work(app_database) as db:
        entry = db.scalars(
            select(AuditEntry).where(AuditEntry.action == "two_factor.verified")
        ).one()
        assert entry.after == {"by": "recovery_code"}
