"""The Partner groups page and the Partners page's "Move to a group…", as a manager uses them
(AppTest); the partner told which group's terms apply."""

from __future__ import annotations

import pytest

from portal.core.db import unit_of_work
from portal.core.models import Partner, PartnerGroup
from portal.partners import groups
from tests.apptest import page_as, texts
from tests.factories import make_actor, make_manager

pytestmark = pytest.mark.slow


def _click(test, label):
    exact = [b for b in test.button if b.label == label]
    (exact or [b for b in test.button if b.label.startswith(label)])[0].click().run()
    assert not test.exception, test.exception


def _field(test, label):
    return next(t for t in test.text_input if t.label == label)


def test_a_manager_makes_a_group_and_moves_a_partner_into_it(app_database):
    with unit_of_work(app_database) as db:
        manager, partner = make_manager(db), make_actor(db)
    test = page_as(manager, "pages/manager_groups.py")
    assert not test.exception, test.exception
    assert list(test.dataframe[0].value["Group"]) == [groups.DEFAULT_NAME]
    # Every wrong field named under itself; nothing saved.
    _field(test, "Gold").input("abc")
    _field(test, "Hold days").input("-1")
    _click(test, "Save the group")
    page = texts(test)
    assert "Name is required" in page and "Hold days must be a whole number" in page
    assert "The gold rate" in page
    with unit_of_work(app_database) as db:
        assert db.query(PartnerGroup).count() == 0
    _field(test, "Name *").input("Resellers")
    _field(test, "Gold").input("18")
    _field(test, "Hold days").input("14")
    _field(test, "Minimum payout (USD)").input("25")
    _click(test, "Save the group")
    assert "Saved the group Resellers" in texts(test)
    with unit_of_work(app_database) as db:
        (group,) = db.query(PartnerGroup).all()
        assert (group.tier_rates, group.hold_days, str(group.min_payout)) == (
            {"gold": "0.18"},
            14,
            "25.00",
        )
        group_id = group.id

    # On the Partners page: select the partner's row, "Move to a group…", choose, confirm.
    partners_page = page_as(manager, "pages/manager_partners.py")
    partners_page.session_state["partners_selection-1-0"] = {"selection": {"rows": [0]}}
    partners_page.run()
    _click(partners_page, "Move to a group…")
    with unit_of_work(app_database) as db:  # nothing before the confirmation
        assert db.get_one(Partner, partner.partner_id).group_id is None
    choice = next(s for s in partners_page.selectbox if s.label == "Group")
    choice.set_value(group_id)
    _click(partners_page, "Move")
    assert "Moved 1 partner" in texts(partners_page)
    with unit_of_work(app_database) as db:
        assert db.get_one(Partner, partner.partner_id).group_id == group_id
    told = page_as(partner, "pages/partner_commissions.py")
    assert "You are in the “Resellers” group, whose own tier rates and hold days and minimum" in (
        texts(told)
    )
