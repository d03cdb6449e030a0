"""The partner pages in AppTest: what they show, and that their edits reach the database."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, event, select, update
from streamlit.runtime.pages_manager import PagesManager

from portal.core.access import load_actor
from portal.core.db import unit_of_work
from portal.core.models import (
    Commission,
    Lead,
    LeadStatus,
    Partner,
    PartnerProfile,
    PartnerStatus,
    UserSession,
)
from portal.core.types import utc_now
from portal.messaging import notifications
from portal.partners import partners, profiles
from portal.ui import lead_table, partner_state
from tests.apptest import metric, page_as, shown, signed_in, texts
from tests.factories import (
    PASSWORD,
    TINY_PDF,
    backdate_lead,
    make_actor,
    make_converted_lead,
    make_lead,
    make_manager,
    payable_profile,
)

pytestmark = pytest.mark.slow

DASHBOARD = "pages/partner_dashboard.py"
LEADS = "pages/partner_leads.py"
COMMISSIONS = "pages/partner_commissions.py"
PROFILE = "pages/partner_profile.py"


def test_dashboard_shows_the_partners_figures_and_charts(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        make_actor(db)  # a second active partner, ranked below
        make_converted_lead(db, manager, partner)
        make_lead(db, partner)
    test = page_as(partner, DASHBOARD)
    assert not test.exception
    assert metric(test, "Referrals") == "2"
    assert metric(test, "Conversion rate") == "50.0%"
    assert metric(test, "Total earnings (USD)") == "100.00"
    assert metric(test, "Rank") == "1 of 2"
    assert metric(test, "Tier") == "Bronze"
    figures = [json.loads(chart.proto.spec) for chart in test.get("plotly_chart")]
    titles = [figure["layout"]["title"]["text"] for figure in figures]
    assert titles == [
        "Leads per month registered, by status now",
        "Earnings per month",
        "Pipeline: leads that reached each stage",
    ]
    funnel = figures[2]["data"][0]
    assert funnel["x"] == [2, 1, 1, 1]  # both leads pending-or-beyond, one converted
    assert "9 more conversions to Silver" in [p.proto.text for p in test.get("progress")]
    assert any("converted: commission 100.00 USD" in t.value for t in test.text)


def test_new_pending_and_suspended_partners_see_their_banners(app_database):
    with unit_of_work(app_database) as db:
        new = make_actor(db)
        pending = make_actor(db, status=PartnerStatus.PENDING)
        suspended = make_actor(db)
        make_lead(db, suspended)
        db.execute(
            update(Partner)
            .where(Partner.id == suspended.partner_id)
            .values(status=PartnerStatus.SUSPENDED)
        )
        suspended = load_actor(db, user_id=suspended.user_id)
    fresh = page_as(new, DASHBOARD)
    assert not fresh.exception
    assert "No leads yet" in texts(fresh)
    # Nothing referred yet: the tier, not a stack of zero cards.
    assert [m.label for m in fresh.metric] == ["Tier"]
    assert "10 more conversions to Silver" in [p.proto.text for p in fresh.get("progress")]
    assert "application is under review" in texts(page_as(pending, DASHBOARD))
    assert "suspended" in texts(page_as(suspended, DASHBOARD))
    read_only = page_as(suspended, LEADS)
    assert "read-only" in texts(read_only)
    assert "Can move to" not in _table_columns(read_only)
    assert json.loads(_editor(read_only).proto.columns)["Status"]["disabled"] is True


def test_register_form_names_bad_fields_then_registers(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = page_as(partner, LEADS)
    fields = {field.label: field for field in test.text_input}
    fields["Client name *"].input("Ada Client")
    fields["Client email *"].input("not-an-email")
    fields["Client phone"].input("12")
    test.selectbox[0].select("SEO")
    test.button[0].click().run()
    assert not test.exception
    errors = [shown(e) for e in test.error]
    assert len(errors) == 2
    assert any(e.startswith("Client email") for e in errors)
    assert any(e.startswith("Client phone") for e in errors)
    assert not any(e.startswith(("Client email:", "Client phone:")) for e in errors)
    # Each message sits right under its own input, and what was typed is kept.
    form = [
        (element.type, getattr(element, "label", None))
        for element in test.main
        if element.type in ("text_input", "error")
    ]
    email_at = form.index(("text_input", "Client email *"))
    assert form[email_at + 1][0] == "error"
    fields = {field.label: field for field in test.text_input}
    assert fields["Client name *"].value == "Ada Client"
    with unit_of_work(app_database) as db:
        assert db.scalar(select(Lead.id)) is None
    fields["Client email *"].input("ada@client.example")
    fields["Client phone"].input("")
    test.button[0].click().run()
    assert not test.exception and not test.error
    (message,) = [shown(s) for s in test.success]
    assert message.startswith("Registered lead #") and "highlighted first in the table" in message
    # A fresh form for the next lead.
    assert {field.label: field.value for field in test.text_input}["Client name *"] == ""
    with unit_of_work(app_database) as db:
        assert db.scalar(select(Lead.client_email)) == "ada@client.example"
    # The new row is highlighted once, then drawn like the others.
    assert lead_table.NEW_ROW in _editor(test).proto.arrow_data.styler.styles
    test.run()
    assert lead_table.NEW_ROW not in _editor(test).proto.arrow_data.styler.styles


def _edit(test, changes, *, prefix="leads", generation=0):
    """Commit cells in the lead table as the browser would (row position → column → value),
    then let the page run."""
    test.session_state[f"{prefix}-1-None-{generation}"] = {
        "edited_rows": changes,
        "added_rows": [],
        "deleted_rows": [],
    }
    return test.run()


def _messages(test):
    return [shown(m) for m in test.success] + [shown(m) for m in test.error]


def test_a_status_cell_takes_effect_at_once_and_a_wrong_move_is_refused_in_words(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
        older = make_lead(db, partner, client_name="Older")
        newer = make_lead(db, partner, client_name="Newer")
        backdate_lead(db, older.id, timedelta(hours=1))
    test = page_as(partner, LEADS)
    status_options = _status_column(test)
    assert status_options == ["Pending", "Contacted", "Qualified", "Lost"]  # no converting
    assert not [b for b in test.button if b.label == "Save changes"]
    # Row 0 is the newest lead: contacted is allowed, and saved with no other click.
    _edit(test, {0: {"Status": "Contacted"}})
    assert not test.exception
    (done,) = _messages(test)
    assert done.startswith(f"Lead #{newer.id} Newer: now contacted, claimed until ")
    assert "version" not in done
    with unit_of_work(app_database) as db:
        assert db.get(Lead, newer.id).status is LeadStatus.CONTACTED
    # The table is drawn afresh with the new status and version.
    table = _table(test, generation=1)
    assert (table.loc[newer.id, "Status"], table.loc[newer.id, "Version"]) == ("Contacted", 2)
    assert table.loc[newer.id, "Can move to"] == "qualified or lost"
    # Qualified → pending is not a move: refused on that row, in words, nothing written.
    _edit(test, {1: {"Status": "Qualified"}}, generation=1)
    _edit(test, {1: {"Status": "Pending"}}, generation=2)
    (refused,) = [shown(m) for m in test.error]
    assert refused == (
        f"Lead #{older.id} Older: A qualified lead cannot be moved to pending by a partner; "
        "it can move to lost."
    )
    with unit_of_work(app_database) as db:
        assert db.get(Lead, older.id).status is LeadStatus.QUALIFIED


def test_every_status_shows_in_its_cell_and_a_closed_lead_offers_no_other(app_database):
    """A converted lead reads Converted (a partner cannot convert, yet the cell must show
    it); a page of closed leads offers no status they cannot have."""
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        converted = make_converted_lead(db, manager, partner, "1000.00")
    test = page_as(partner, LEADS)
    assert _table(test).loc[converted.id, "Status"] == "Converted"
    assert _status_column(test) == ["Converted"]
    assert _table(test).loc[converted.id, "Can move to"] == "—"


def _editor(test):
    """The lead table (the one editable table on the page)."""
    (editor,) = [frame for frame in test.dataframe if frame.proto.editing_mode]
    return editor


def _status_column(test):
    return json.loads(_editor(test).proto.columns)["Status"]["type_config"]["options"]


def _table(test, *, prefix="leads", generation=0):
    """The lead table as drawn, checked to be a fresh editor (no edit carried over)."""
    editor = _editor(test)
    assert editor.key == f"{prefix}-1-None-{generation}"
    return editor.value


def _table_columns(test):
    return list(_editor(test).value.columns)


def test_moving_to_lost_asks_the_reason_in_a_dialog(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
        lead = make_lead(db, partner, client_name="Gone")
    test = page_as(partner, LEADS)
    _edit(test, {0: {"Status": "Lost"}})
    # Nothing is written until the reason is given; the dialog asks for it in words.
    assert f"Lead #{lead.id} Gone moves to lost; its claim on the client ends." in texts(test)
    (reason,) = [box for box in test.selectbox if box.label == "Reason *"]
    assert reason.options[:2] == ["No response", "Not interested"]
    next(b for b in test.button if b.label == "Mark as lost").click().run()
    # The message names its field; no label is put before it ("Reason: Lost reason …").
    assert [shown(e) for e in test.error if "reason" in shown(e)] == ["Lost reason is required."]
    with unit_of_work(app_database) as db:
        assert db.get(Lead, lead.id).status is LeadStatus.PENDING
    next(box for box in test.selectbox if box.label == "Reason *").select("bad_fit").run()
    next(t for t in test.text_input if t.label == "Note").input("Went elsewhere").run()
    next(b for b in test.button if b.label == "Mark as lost").click().run()
    assert not test.exception
    assert f"Lead #{lead.id} Gone: now lost." in _messages(test)
    with unit_of_work(app_database) as db:
        gone = db.get(Lead, lead.id)
        assert (gone.status, gone.lost_reason.value, gone.lost_note) == (
            LeadStatus.LOST,
            "bad_fit",
            "Went elsewhere",
        )


def test_ticking_open_shows_the_lead_below_the_table(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
        lead = make_lead(db, partner, client_name="Opened")
    test = page_as(partner, LEADS)
    assert "Tick Open on a row" in texts(test)
    _edit(test, {0: {"Open": True}})
    assert test.query_params["lead"] == str(lead.id)
    assert f"Lead #{lead.id}" in [h.value for h in test.subheader]
    assert re.search(r"\b\d+ days? left", "".join(t.value for t in test.text))
    timeline = [frame for frame in test.dataframe if "What" in frame.value.columns]
    assert list(timeline[0].value["What"]) == ["registered"]
    _edit(test, {0: {"Open": False}}, generation=1)
    assert "lead" not in test.query_params


def test_lead_detail_by_address_shows_the_timeline_and_user_text_stays_text(app_database):
    hostile = "**Bold** [click](http://evil.example) <script>alert(1)</script>"
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
        lead = make_lead(db, partner, client_name=hostile, notes="<img src=x onerror=alert(1)>")
    test = page_as(partner, f"{LEADS}")
    test.query_params["lead"] = str(lead.id)
    test.run()
    assert any(hostile in t.value for t in test.text)  # st.text: shown exactly, not rendered
    assert not any("evil.example" in m.value for m in test.markdown)
    timeline = [frame for frame in test.dataframe if "What" in frame.value.columns]
    assert list(timeline[0].value["What"]) == ["registered"]
    bad = page_as(partner, LEADS)
    bad.query_params["lead"] = "12abc"
    bad.run()
    assert "The lead in the address (lead=…) must be a lead number." in texts(bad)
    foreign = page_as(make_other(app_database), LEADS)
    foreign.query_params["lead"] = str(lead.id)
    foreign.run()
    assert "Lead not found." in texts(foreign)


def make_other(engine):
    with unit_of_work(engine) as db:
        return make_actor(db)


def test_commissions_page_shows_states_next_payout_and_statement(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
    before_any = page_as(partner, COMMISSIONS)
    assert "once a lead converts" in texts(before_any)
    assert not before_any.get("plotly_chart"), "no empty chart before the first conversion"
    with unit_of_work(app_database) as db:
        make_converted_lead(db, manager, partner)
        make_converted_lead(db, manager, partner, "400.00")
        db.execute(
            update(Commission)
            .where(Commission.amount == Decimal("100.00"))
            .values(hold_until=utc_now() - timedelta(days=1))
        )
    test = page_as(partner, COMMISSIONS)
    assert not test.exception
    assert len(test.get("plotly_chart")) == 1
    assert metric(test, "On hold") == "40.00"
    assert metric(test, "Payable") == "100.00"
    assert "Choose a payout method and enter its details on your Profile page." in texts(test)
    assert metric(test, "Closing balance") == "140.00 USD"
    assert any(b.label == "Download statement (CSV)" for b in test.get("download_button"))


def test_profile_form_validates_per_field_and_saves_secrets_masked(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = page_as(partner, PROFILE)
    fields = {field.label: field for field in test.text_input}
    fields["Website"].input("ftp://nope.example")
    fields["Contact phone"].input("call me maybe")
    next(b for b in test.button if b.label == "Save profile").click().run()
    errors = [shown(e) for e in test.error]
    assert any(e.startswith("Website must be a web address") for e in errors)
    assert any(e.startswith("Contact phone is not a valid") for e in errors)
    fields = {field.label: field for field in test.text_input}
    assert fields["Website"].value == "ftp://nope.example"  # kept, to be corrected
    fields["Website"].input("https://agency.example")
    fields["Contact phone"].input("+1 415 555 0100")
    fields["Replace bank account number"].input("12345678901234")
    next(b for b in test.button if b.label == "Save profile").click().run()
    assert "A US account needs its 9-digit ABA routing number." in [shown(e) for e in test.error]
    fields = {field.label: field for field in test.text_input}
    fields["Replace bank account number"].input("12345678901234")
    fields["BIC or routing number"].input("011000015")
    fields["Replace tax id"].input("98-7654321")
    next(b for b in test.button if b.label == "Save profile").click().run()
    assert "Say whether the US account is a checking or a savings account." in [
        shown(e) for e in test.error
    ]
    fields = {field.label: field for field in test.text_input}
    fields["Replace bank account number"].input("12345678901234")
    fields["Replace tax id"].input("98-7654321")
    next(s for s in test.selectbox if s.label == "US account type").set_value("savings")
    next(b for b in test.button if b.label == "Save profile").click().run()
    # Where payouts go changes only with the password again.
    assert [shown(e) for e in test.error] == ["This is not your current password."]
    fields = {field.label: field for field in test.text_input}
    fields["Replace bank account number"].input("12345678901234")
    fields["Replace tax id"].input("98-7654321")
    fields["Your password"].input(PASSWORD)
    next(b for b in test.button if b.label == "Save profile").click().run()
    assert not test.exception and not test.error
    (saved,) = [shown(message) for message in test.success]
    assert saved.startswith("Saved. Changed: ")
    for label in ("Bank account number", "US account type", "Tax id", "Website", "Contact phone"):
        assert label in saved
    assert "City" not in saved  # only what changed
    next(b for b in test.button if b.label == "Save profile").click().run()
    assert "Nothing to save" in texts(test)
    # Saved secrets do not linger in their inputs, where the show toggle would reveal them.
    fields = {field.label: field for field in test.text_input}
    assert fields["Replace bank account number"].value == ""
    assert fields["Replace tax id"].value == ""
    assert fields["Your password"].value == ""
    assert fields["Bank account on file"].value == "•••• 1234"
    with unit_of_work(app_database) as db:
        stored = db.scalar(
            select(PartnerProfile).where(PartnerProfile.partner_id == partner.partner_id)
        )
        assert stored.website == "https://agency.example"
        assert stored.contact_phone == "+14155550100"
        assert stored.bank_account_last4 == "1234"
        assert "12345678901234" not in (stored.bank_account_encrypted or "")
    again = page_as(partner, PROFILE)
    on_file = next(f for f in again.text_input if f.label == "Bank account on file")
    assert on_file.value == "•••• 1234"


def test_change_password_needs_the_current_one(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = page_as(partner, PROFILE)
    fields = {field.label: field for field in test.text_input}
    fields["Current password"].input("wrong wrong wrong")
    fields["New password"].input("a brand new password")
    fields["Repeat the new password"].input("a brand new password")
    next(b for b in test.button if b.label == "Change password").click().run()
    assert "This is not your current password." in [shown(e) for e in test.error]
    fields = {field.label: field for field in test.text_input}
    fields["Current password"].input("correct horse battery staple")
    fields["New password"].input("a brand new password")
    fields["Repeat the new password"].input("a brand new password")
    next(b for b in test.button if b.label == "Change password").click().run()
    assert any("Password changed" in shown(s) for s in test.success)
    assert not test.exception


def test_suspended_partner_profile_is_read_only(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        partners.change_status(db, actor=manager, partner_id=partner.partner_id, action="suspend")
        profiles.get_profile(db, actor=partner)
    test = page_as(partner, PROFILE)
    assert "read-only" in texts(test)
    assert next(b for b in test.button if b.label == "Save profile").disabled


def test_lead_table_pages_older_and_newer(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
        for _ in range(53):
            make_lead(db, partner)
    test = page_as(partner, LEADS)
    older = next(b for b in test.button if b.label == "Older →")
    newer = next(b for b in test.button if b.label == "← Newer")
    assert newer.disabled and not older.disabled
    older.click().run()
    assert not test.exception
    assert not next(b for b in test.button if b.label == "← Newer").disabled
    assert next(b for b in test.button if b.label == "Older →").disabled
    assert test.session_state["leads_cursors"][-1] is not None
    next(b for b in test.button if b.label == "← Newer").click().run()
    assert test.session_state["leads_cursors"] == [None]


def test_a_held_payout_reads_the_same_on_the_tracker_and_the_dashboard(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
        payable_profile(db, partner)
        make_converted_lead(db, manager, partner, "4600.00")
        db.execute(update(Commission).values(hold_until=utc_now() - timedelta(days=1)))
        partners.change_status(db, actor=manager, partner_id=partner.partner_id, action="suspend")
    for page in (COMMISSIONS, "pages/partner_dashboard.py"):
        test = page_as(partner, page)
        assert not test.exception
        held = next(m for m in test.metric if m.label.startswith("Owed by"))
        assert held.value == "460.00 USD", page
        assert not [m for m in test.metric if m.label.startswith("Next payout on")], page
        said = texts(test)
        assert "this amount is held" in said, page
        # Why is the page's banner, said once: not again among the tracker's reasons.
        assert "paid once the account is reactivated" in said, page
        assert "Contact your partner manager to have it reactivated" not in said, page


def test_profile_uploads_a_tax_form_and_shows_its_review(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = page_as(partner, PROFILE)
    assert "No verified tax form on file yet" in texts(test)
    upload = next(b for b in test.button if b.label == "Upload tax form")
    upload.click().run()
    assert any("Choose the signed form (PDF) to upload" in shown(e) for e in test.error)
    test.file_uploader[0].set_value(("w9.pdf", b"not a pdf %%EOF", "application/pdf"))
    next(b for b in test.button if b.label == "Upload tax form").click().run()
    assert any(shown(e).startswith("The file is not a PDF") for e in test.error)
    test.file_uploader[0].set_value(("w9.pdf", TINY_PDF, "application/pdf"))
    next(b for b in test.button if b.label == "Upload tax form").click().run()
    assert not test.exception
    assert any("a partner manager will review it" in shown(s) for s in test.success)
    assert list(test.dataframe[0].value["Status"]) == ["Submitted"]


def test_applicants_and_suspended_partners_get_one_message_on_every_page(app_database):
    with unit_of_work(app_database) as db:
        pending = make_actor(db, status=PartnerStatus.PENDING)
        suspended = make_actor(db, status=PartnerStatus.SUSPENDED)
    for actor, message, other in (
        (pending, partner_state.PENDING, partner_state.SUSPENDED),
        (suspended, partner_state.SUSPENDED, partner_state.PENDING),
    ):
        for page in (DASHBOARD, LEADS, COMMISSIONS, PROFILE):
            said = texts(page_as(actor, page))
            assert said.count(message) == 1, (page, said[:300])
            assert other not in said
            # Nothing that contradicts it: no invitation to do what the state forbids.
            assert "Register your first referral" not in said
            assert "No leads yet" not in said


def test_an_approved_applicant_is_told_once_on_its_next_visit(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        applicant = make_actor(db, status=PartnerStatus.PENDING)
        partners.change_status(db, actor=manager, partner_id=applicant.partner_id, action="approve")
    with unit_of_work(app_database) as db:
        approved = load_actor(db, user_id=applicant.user_id)
    first = page_as(approved, DASHBOARD)
    assert [s.value for s in first.success] == [
        "Your partner account is active: you can register leads."
    ]
    again = page_as(approved, DASHBOARD)
    assert not again.success
    assert "No leads yet" in texts(again)


def test_the_rate_and_why_on_the_dashboard_and_each_commission_line(app_database):
    with unit_of_work(app_database) as db:
        manager = make_manager(db)
        partner = make_actor(db)
        make_converted_lead(db, manager, partner, deal_value="1000.00")  # at the 10% tier rate
    dashboard = texts(page_as(partner, DASHBOARD))
    assert "Your commission rate today: 10%, the Bronze tier's rate." in dashboard
    with unit_of_work(app_database) as db:
        partners.pin_rate(db, actor=manager, partner_id=partner.partner_id, rate="0.2")
    test = page_as(partner, COMMISSIONS)
    assert "Your commission rate today: 20%, agreed with your partner manager" in texts(test)
    lines = next(frame for frame in test.dataframe if "Rate note" in frame.value.columns)
    assert list(lines.value["Rate"]) == ["10%"]
    assert list(lines.value["Rate note"]) == ["your rate when it converted"]
    assert list(lines.value.columns[:3]) == ["Client", "Amount", "State"]  # fits a phone


def _save_website(test) -> None:
    """The partner's own write of something the figures do not come from: its website."""
    test.switch_page(PROFILE).run()
    fields = {field.label: field for field in test.text_input}
    fields["Website"].input("https://agency.example")
    next(b for b in test.button if b.label == "Save profile").click().run()
    assert test.success, texts(test)


def pages_through_home(monkeypatch) -> None:
    """AppTest takes the pages/ folder for Streamlit's older multipage mode and runs a page
    switched to on its own; the server runs Home.py, which draws the page, every time."""
    real_init = PagesManager.__init__

    def through_home(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", through_home)


def test_figures_and_the_unread_count_show_another_users_change_at_the_next_run(
    app_database, monkeypatch
):
    """Nothing a page shows is kept from an earlier run: a lead registered and a notification
    sent by someone else show on the partner's next page view, and marking read at once."""
    pages_through_home(monkeypatch)
    with unit_of_work(app_database) as db:
        partner, manager = make_actor(db), make_manager(db)
        make_lead(db, partner)
        notifications.notify_partner(
            db, caused_by=manager, partner_id=partner.partner_id, kind="news", message="a"
        )
    test = signed_in(partner, DASHBOARD)

    def sidebar() -> list[str]:
        return [t.value for t in test.sidebar.text if "unread" in t.value]

    assert (metric(test, "Referrals"), sidebar()) == ("1", ["1 unread notification"])
    with unit_of_work(app_database) as db:  # not through this session
        make_lead(db, partner)
        notifications.notify_partner(
            db, caused_by=manager, partner_id=partner.partner_id, kind="news", message="b"
        )
    test.switch_page(COMMISSIONS).run()
    assert sidebar() == ["2 unread notifications"]
    test.switch_page(DASHBOARD).run()
    assert (metric(test, "Referrals"), sidebar()) == ("2", ["2 unread notifications"])
    next(b for b in test.button if b.label == "Mark all as read").click().run()
    assert not test.exception
    assert sidebar() == []
    assert "You are all caught up." in texts(test)


def test_a_session_last_seen_a_while_ago_is_touched_by_the_pages_reads(app_database, monkeypatch):
    """Home.py reads in a unit of work for reads only; the session's last-seen time, due a
    touch every few minutes, is the one write allowed there (a standalone write)."""
    pages_through_home(monkeypatch)
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = signed_in(partner, DASHBOARD)
    with unit_of_work(app_database) as db:
        db.execute(update(UserSession).values(last_seen_at=utc_now() - timedelta(minutes=5)))
    test.switch_page(COMMISSIONS).run()
    assert not test.exception
    assert test.title[0].value == "Commissions"
    with unit_of_work(app_database) as db:
        seen = db.scalar(select(UserSession.last_seen_at))
    assert utc_now() - seen < timedelta(minutes=1)


def test_a_page_run_reads_the_signed_in_user_once(app_database, monkeypatch):
    """Home.py reads who is signed in at the start of each run; the page's services take that
    reading (portal/core/access.py, `one_action`) instead of each reading the user again."""
    pages_through_home(monkeypatch)
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
        make_converted_lead(db, make_manager(db), partner)
    test = signed_in(partner, DASHBOARD)
    reads: list[str] = []

    def listener(connection, cursor, statement, *rest):
        if "users.is_active" in statement:
            reads.append(statement)

    event.listen(Engine, "before_cursor_execute", listener)
    try:
        for page, title in [
            (DASHBOARD, "Dashboard"),
            (LEADS, "Leads"),
            (COMMISSIONS, "Commissions"),
            (PROFILE, "Profile"),
            (DASHBOARD, "Dashboard"),
        ]:
            reads.clear()
            test.switch_page(page).run()
            assert not test.exception
            assert [t.value for t in test.title] == [title]
            assert len(reads) == 1, (page, reads)
    finally:
        event.remove(Engine, "before_cursor_execute", listener)


def _state_sizes(test) -> dict[str, int]:
    """Each key the session holds (widget ids included) and how many items its value holds,
    counted through nested lists, tuples, sets and dicts (a changed status is no growth)."""

    def items(value: object) -> int:
        if isinstance(value, dict):
            return len(value) + sum(items(inner) for inner in value.values())
        if isinstance(value, list | tuple | set | frozenset):
            return len(value) + sum(items(inner) for inner in value)
        return 0

    return {key: items(test.session_state[key]) for key in test.session_state}


def test_session_state_does_not_grow_with_use(app_database):
    """A partner's usual round (Leads: a filter there and back, a page turn there and back, a
    status edit; Commissions; Profile; Dashboard) leaves nothing behind that piles up: after
    the second round and after the sixth the session holds the same keys and as much."""
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
        for _ in range(60):
            make_lead(db, partner)
    test = signed_in(partner, DASHBOARD)
    sizes = []
    for round_ in range(6):
        test.switch_page(LEADS).run()
        test.selectbox(key="leads_status").select("pending").run()
        test.selectbox(key="leads_status").select("all").run()
        next(b for b in test.button if b.label == "Older →").click().run()
        next(b for b in test.button if b.label == "← Newer").click().run()
        _edit(test, {round_: {"Status": "Contacted"}}, generation=round_)
        assert [m for m in _messages(test) if "now contacted" in m], _messages(test)
        for page in (COMMISSIONS, PROFILE, DASHBOARD):
            test.switch_page(page).run()
            assert not test.exception
        sizes.append(_state_sizes(test))
    second, sixth = sizes[1], sizes[5]
    assert set(sixth) == set(second)
    grown = {key: (second[key], sixth[key]) for key in second if sixth[key] > second[key]}
    assert grown == {}


def test_a_partner_with_nothing_earned_is_told_so_not_shown_zeros(app_database):
    with unit_of_work(app_database) as db:
        partner = make_actor(db)
    test = page_as(partner, COMMISSIONS)
    assert not test.exception
    states = {"On hold", "Payable", "In payout", "Paid", "Void"}
    assert states & {m.label for m in test.metric} == set()  # no row of 0.00 cards
    assert "Nothing earned yet: a commission is added when one of your leads converts." in texts(
        test
    )
    assert "lawback" not in texts(test)
