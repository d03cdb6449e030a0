"""The resource library on the pages (AppTest): a manager adds a link for one group; its
partner sees it and downloads a file, another group's partner sees neither."""

from __future__ import annotations

import pytest

from portal.core.db import unit_of_work
from portal.partners import groups, resources
from tests.apptest import page_as, texts
from tests.factories import TINY_PDF, make_actor, make_manager

pytestmark = pytest.mark.slow


def test_a_manager_adds_resources_and_a_partner_of_the_group_downloads_one(app_database):
    with unit_of_work(app_database) as db:
        manager, member, other = make_manager(db), make_actor(db), make_actor(db)
        resellers = groups.save_group(db, actor=manager, name="Resellers")
        groups.move_partners(
            db, actor=manager, partner_ids=[member.partner_id], group_id=resellers.id
        )
        resources.add_resource(
            db,
            actor=manager,
            title="**Deck** <b>v2</b>",
            file_name="deck.pdf",
            content=TINY_PDF,
            audience=[resellers.id],
        )
    test = page_as(manager, "pages/manager_resources.py")
    assert not test.exception, test.exception
    next(b for b in test.button if b.label == "Add").click().run()
    assert "Title is required" in texts(test) and "Add a file or a link" in texts(test)
    next(t for t in test.text_input if t.label == "Title *").input("Brand kit")
    next(t for t in test.text_input if t.label.startswith("…or a link")).input(
        "https://brand.example/kit"
    )
    test.multiselect[0].set_value([resellers.id])
    next(b for b in test.button if b.label == "Add").click().run()
    assert "Added “Brand kit”." in texts(test)

    page = page_as(member, "pages/partner_resources.py")
    assert not page.exception, page.exception
    said = texts(page)
    assert "**Deck** <b>v2</b>" in said and "Brand kit" in said  # titles as written
    next(b for b in page.button if b.label == "Download").click().run()
    assert any(b.label == "Save deck.pdf" for b in page.get("download_button"))
    with unit_of_work(app_database) as db:
        counts = {r.title: r.downloads for r in resources.list_resources(db, actor=manager)}
        assert counts["**Deck** <b>v2</b>"] == 1
    elsewhere = texts(page_as(other, "pages/partner_resources.py"))
    assert "Deck" not in elsewhere and "Brand kit" not in elsewhere
