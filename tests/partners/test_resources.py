"""The resource library (`portal.partners.resources`): files checked by their content and
size, links http(s) only; a partner downloads a resource of its group and never another
group's; downloads are counted."""

from __future__ import annotations

import pytest

from portal.core.db import unit_of_work
from portal.core.errors import NotFound, PermissionDenied, ValidationError
from portal.partners import groups, resources
from tests.factories import TINY_PDF, make_actor, make_manager

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_a_partner_downloads_its_groups_resource_and_not_another_groups(engine):
    with unit_of_work(engine) as session:
        manager, reseller, agency = make_manager(session), make_actor(session), make_actor(session)
        resellers = groups.save_group(session, actor=manager, name="Resellers")
        groups.move_partners(
            session, actor=manager, partner_ids=[reseller.partner_id], group_id=resellers.id
        )
        deck = resources.add_resource(
            session,
            actor=manager,
            title="Reseller deck",
            file_name="C:\\Users\\me\\deck.pdf",
            content=TINY_PDF,
            audience=[resellers.id],
        )
        logo = resources.add_resource(
            session, actor=manager, title="Logo", file_name="logo.png", content=PNG
        )
        link = resources.add_resource(
            session, actor=manager, title="Brand site", url="https://brand.example/kit"
        )
        assert (deck.file_name, deck.content_type, deck.audience) == (
            "deck.pdf",
            "application/pdf",
            ("Resellers",),
        )
        assert {r.title for r in resources.list_resources(session, actor=reseller)} == {
            "Reseller deck",
            "Logo",
            "Brand site",
        }
        assert {r.title for r in resources.list_resources(session, actor=agency)} == {
            "Logo",
            "Brand site",
        }
        view, content = resources.download(session, actor=reseller, resource_id=deck.id)
        assert content == TINY_PDF and view.downloads == 1
        resources.download(session, actor=reseller, resource_id=deck.id)
        with pytest.raises(NotFound):
            resources.download(session, actor=agency, resource_id=deck.id)
        with pytest.raises(NotFound):  # a link has nothing to download
            resources.download(session, actor=agency, resource_id=link.id)
        assert resources.download(session, actor=agency, resource_id=logo.id)[1] == PNG
        counts = {r.title: r.downloads for r in resources.list_resources(session, actor=manager)}
        assert counts == {"Reseller deck": 2, "Logo": 1, "Brand site": 0}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"file_name": "x.pdf", "content": b"MZ\x90\x00 not a pdf"}, "not a PDF, PNG or JPEG"),
        ({"file_name": "x.pdf", "content": b""}, "empty"),
        ({"url": "javascript:alert(1)"}, "http"),
        ({}, "Add a file or a link"),
        ({"url": "https://a.example", "file_name": "x.pdf", "content": TINY_PDF}, "not both"),
    ],
)
def test_a_bad_resource_is_refused_by_name_and_nothing_is_added(engine, fields, words):
    with unit_of_work(engine) as session:
        manager = make_manager(session)
        with pytest.raises(ValidationError, match=words):
            resources.add_resource(session, actor=manager, title="T", **fields)
        assert resources.list_resources(session, actor=manager) == []


def test_a_file_over_the_limit_is_refused_and_partners_cannot_add(engine, settings_override):
    settings_override(resource_max_mb=0.001)
    with unit_of_work(engine) as session:
        manager, partner = make_manager(session), make_actor(session)
        with pytest.raises(ValidationError, match="the limit is"):
            resources.add_resource(
                session, actor=manager, title="Big", file_name="b.png", content=PNG * 100
            )
        with pytest.raises(PermissionDenied):
            resources.add_resource(session, actor=partner, title="Mine", url="https://x.example")
