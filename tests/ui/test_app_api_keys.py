"""API keys on the Profile and Account pages (AppTest): made and shown once, listed, revoked."""

from __future__ import annotations

import pytest

from portal.accounts import api_keys
from portal.core.db import unit_of_work
from portal.core.models import ApiScope
from portal.leads import leads
from portal.messaging import webhooks
from tests.apptest import signed_in, texts
from tests.factories import PASSWORD, make_actor, make_lead, make_manager

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("who", "page"),
    [("partner", "pages/partner_profile.py"), ("manager", "pages/account.py")],
)
def test_a_key_is_shown_once_listed_and_revoked(app_database, who, page):
    with unit_of_work(app_database) as session:
        actor = make_actor(session) if who == "partner" else make_manager(session)
    test = signed_in(actor, page)
    assert "No API keys yet." in texts(test)
    # The API reference is a link, not an address to copy.
    assert any("[API reference](/api/v1/docs)" in c.value for c in test.caption)
    next(b for b in test.button if b.label == "Create key").click().run()
    assert "Name is required" in texts(test)
    next(t for t in test.text_input if t.label == "Key name").input("CRM <sync>")
    next(b for b in test.button if b.label == "Create key").click().run()
    assert not test.exception
    (shown,) = [code.value for code in test.code]
    assert shown.startswith(api_keys.KEY_START)
    with unit_of_work(app_database) as session:
        holder = api_keys.holder_of(session, key=shown)
        assert holder is not None and holder.actor.user_id == actor.user_id
    test.run()  # the next run no longer shows it
    assert not [code.value for code in test.code if code.value.startswith(api_keys.KEY_START)]
    revoke = next(box for box in test.selectbox if box.label == "Revoke a key")
    revoke.select_index(0)
    next(b for b in test.button if b.label == "Revoke key").click().run()
    assert not test.exception
    with unit_of_work(app_database) as session:
        assert api_keys.holder_of(session, key=shown) is None
        (view,) = api_keys.list_keys(session, actor=actor)
        assert view.revoked_at is not None and view.name == "CRM <sync>"


def test_a_key_that_can_change_payout_details_needs_the_password(app_database):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
    test = signed_in(partner, "pages/partner_profile.py")
    next(t for t in test.text_input if t.label == "Key name").input("Bank sync")
    access = next(box for box in test.selectbox if box.label == "Access")
    access.set_value("payout_details")
    next(b for b in test.button if b.label == "Create key").click().run()
    assert "This is not your current password." in texts(test)
    assert not [code.value for code in test.code if code.value.startswith(api_keys.KEY_START)]
    next(t for t in test.text_input if t.label == "Key name").input("Bank sync")
    next(box for box in test.selectbox if box.label == "Access").set_value("payout_details")
    password = "Your password, for payout details access"
    next(t for t in test.text_input if t.label == password).input(PASSWORD)
    next(b for b in test.button if b.label == "Create key").click().run()
    assert not test.exception
    (shown,) = [c.value for c in test.code if c.value.startswith(api_keys.KEY_START)]
    with unit_of_work(app_database) as session:
        holder = api_keys.holder_of(session, key=shown)
        assert holder is not None and holder.scope is ApiScope.PAYOUT_DETAILS
    test.run()
    (listed,) = [frame for frame in test.dataframe if "Access" in frame.value.columns]
    assert list(listed.value["Access"]) == ["Read, write and payout details"]


def test_a_partner_adds_a_webhook_reads_its_log_and_sends_again(app_database, settings_override):
    settings_override(webhook_allow_private_targets=True)
    with unit_of_work(app_database) as session:
        manager = make_manager(session)
        partner = make_actor(session)
    test = signed_in(partner, "pages/partner_profile.py")
    next(b for b in test.button if b.label == "Add webhook").click().run()
    said = texts(test)
    assert "URL must start with https://." in said and "Choose one or more of" in said
    next(t for t in test.text_input if t.label == "Endpoint URL").input("http://127.0.0.1:9/h")
    next(m for m in test.multiselect if m.label == "Events").select("lead.status_changed")
    next(b for b in test.button if b.label == "Add webhook").click().run()
    assert not test.exception
    assert any(code.value.startswith("whsec_") for code in test.code)
    with unit_of_work(app_database) as session:
        lead = make_lead(session, partner)
        leads.change_lead_status(
            session, actor=manager, lead_id=lead.id, to="contacted", expected_version=1
        )
    webhooks.deliver_due(app_database)  # nothing listens on port 9: a failure to show
    test.run()
    assert "Nothing delivered yet." not in texts(test)
    (log,) = [frame for frame in test.dataframe if "Event" in frame.value.columns]
    assert list(log.value["Event"]) == ["A lead changed status"]
    assert list(log.value["State"]) == ["Waiting"]
    next(box for box in test.selectbox if box.label == "Send a delivery again").select_index(0)
    test.run()
    next(b for b in test.button if b.label == "Send again").click().run()
    assert not test.exception
    next(b for b in test.button if b.label == "Disable this webhook").click().run()
    with unit_of_work(app_database) as session:
        (endpoint,) = webhooks.list_endpoints(session, actor=partner)
        assert endpoint.disabled_at is not None
