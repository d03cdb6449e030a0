"""Announcements on the pages (AppTest): a manager publishes to one group; a partner of it
sees it on the dashboard, as text, and dismisses it; a partner of another group never sees it."""

from __future__ import annotations

import pytest

from portal.core.db import unit_of_work
from portal.partners import groups
from tests.apptest import page_as, texts
from tests.factories import make_actor, make_manager

pytestmark = pytest.mark.slow


def test_a_manager_announces_to_one_group_and_its_partner_dismisses_it(app_database):
    with unit_of_work(app_database) as db:
        manager, member, other = make_manager(db), make_actor(db), make_actor(db)
        resellers = groups.save_group(db, actor=manager, name="Resellers")
        groups.move_partners(
            db, actor=manager, partner_ids=[member.partner_id], group_id=resellers.id
        )
    test = page_as(manager, "pages/manager_announcements.py")
    assert not test.exception, test.exception
    next(b for b in test.button if b.label == "Publish").click().run()
    assert "Title is required" in texts(test)
    next(t for t in test.text_input if t.label == "Title *").input("**New** price list")
    test.text_area[0].input("From January <b>lower</b> prices.")
    test.multiselect[0].set_value([resellers.id])
    next(b for b in test.button if b.label == "Publish").click().run()
    assert "Published “**New** price list” for Resellers." in texts(test)

    dashboard = page_as(member, "pages/partner_dashboard.py")
    assert not dashboard.exception, dashboard.exception
    page = texts(dashboard)
    assert "From January <b>lower</b> prices." in page  # as written
    next(b for b in dashboard.button if b.label == "Dismiss").click().run()
    assert "From January" not in texts(dashboard)
    assert "From January" not in texts(page_as(member, "pages/partner_dashboard.py"))
    assert "From January" not in texts(page_as(other, "pages/partner_dashboard.py"))
