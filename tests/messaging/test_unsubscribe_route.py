"""The unsubscribe link: a GET asks (link scanners must not unsubscribe anyone), a POST —
the page's button or a mail client's RFC 8058 one-click request — turns the topic off."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.core.db import unit_of_work
from portal.messaging import mail
from portal.partners import profiles
from portal.ui import unsubscribe
from tests.factories import make_actor


@pytest.fixture
def client(app_database):
    app = Starlette(
        routes=[Route(unsubscribe.ROUTE, unsubscribe.endpoint, methods=["GET", "POST"])]
    )
    return TestClient(app, base_url="http://portal.test")


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_get_asks_and_a_one_click_post_unsubscribes(client, app_database):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
    path = _path(mail.unsubscribe_url(partner.user_id, "events"))

    asked = client.get(path)
    assert asked.status_code == 200 and '<form method="post">' in asked.text
    with unit_of_work(app_database) as session:
        assert profiles.get_profile(session, actor=partner).email_notifications is True

    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "no longer receive" in done.text
    with unit_of_work(app_database) as session:
        assert profiles.get_profile(session, actor=partner).email_notifications is False


@pytest.mark.parametrize(
    "query",
    [
        "",
        "u=abc&topic=events&sig=00",
        "u=1&topic=events&sig=" + "0" * 64,
        "u=1&topic=<script>&sig=00",
        "u=99999999999&topic=events&sig=00",
    ],
)
def test_a_forged_or_broken_link_changes_nothing(client, app_database, query):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
    answer = client.post(f"{unsubscribe.ROUTE}?{query}")
    assert answer.status_code == 400
    assert "<script>" not in answer.text
    with unit_of_work(app_database) as session:
        assert profiles.get_profile(session, actor=partner).email_notifications is True
