"""API keys on the Profile and Account pages (AppTest): made and shown once, listed, revoked."""

from __future__ import annotations

import pytest

from portal import api_keys
from portal.db import unit_of_work
from tests.apptest import signed_in, texts
from tests.factories import make_actor, make_manager


@pytest.mark.parametrize(
    ("who", "page"),
    [("partner", "pages/partner_profile.py"), ("manager", "pages/account.py")],
)
def test_a_key_is_shown_once_listed_and_revoked(app_database, who, page):
    with unit_of_work(app_database) as session:
        actor = make_actor(session) if who == "partner" else make_manager(session)
    test = signed_in(actor, page)
    assert "No API keys yet." in texts(test)
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
