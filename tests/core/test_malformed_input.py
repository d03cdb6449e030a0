"""Malformed input is refused by name, never a crash: values of the wrong type through the
API (422, not 500), a month past the calendar, digits of other scripts in a link, bytes that
are not UTF-8 on the command line, and lone surrogates in any service."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from portal.accounts import password_links
from portal.api import app as api_app
from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.messaging import webhooks
from portal.partners import profiles
from portal.ui import unsubscribe
from tests.api.test_api import ROOT, key_for
from tests.factories import make_actor


@pytest.fixture
def client(app_database) -> Iterator[TestClient]:
    api_app.rate_limiter.reset()
    app = Starlette(
        routes=[Mount(ROOT, app=api_app.api), unsubscribe_route()],
    )
    with TestClient(app, base_url="http://portal.test", raise_server_exceptions=False) as client:
        yield client


def unsubscribe_route():
    from starlette.routing import Route

    return Route(unsubscribe.ROUTE, unsubscribe.endpoint, methods=["GET", "POST"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"city": 123}, "city"),
        ({"website": {}}, "website"),
        ({"contact_phone": 1.5}, "contact_phone"),
        ({"zip": ["1"]}, "zip"),
        ({"payment_email": 123}, "payment_email"),
        ({"website": 1}, "website"),
        # A JSON escape of a lone surrogate: valid JSON, not valid text.
        ('{"contact_name": "\\ud800"}', "contact_name"),
    ],
)
def test_a_profile_value_of_the_wrong_kind_is_a_422_naming_it(client, app_database, body, field):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
    headers = {**key_for(app_database, partner), "Content-Type": "application/json"}
    content = body if isinstance(body, str) else json.dumps(body)
    answer = client.patch(f"{ROOT}/profile", headers=headers, content=content)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["errors"]


def test_a_month_past_the_calendar_is_a_422(client, app_database):
    with unit_of_work(app_database) as session:
        partner = make_actor(session)
    headers = key_for(app_database, partner)
    for month in ("9999-12", "1999-01", "0001-01"):
        answer = client.get(f"{ROOT}/statements/{month}", headers=headers)
        assert answer.status_code == 422, (month, answer.text)


def test_an_unsubscribe_link_with_other_digits_is_refused_as_a_link(client):
    answer = client.get(unsubscribe.ROUTE, params={"u": "²", "topic": "events", "sig": "x"})
    assert answer.status_code == 400


def test_lone_surrogates_are_refused_by_name(engine):
    with unit_of_work(engine) as session:
        partner = make_actor(session)
        with pytest.raises(ValidationError) as raised:
            webhooks.add_endpoint(
                session, actor=partner, url="https://x.example/\udcff", events=["payout.paid"]
            )
        assert "url" in raised.value.errors
        with pytest.raises(ValidationError) as raised:
            profiles.update_profile(session, actor=partner, changes={"city": "Bad\udcffCity"})
        assert raised.value.errors["city"] == "City contains characters that are not valid text."
        with pytest.raises(ValidationError):
            password_links.set_password(session, token="\udcff" * 10, new_password="x" * 20)


def test_the_command_line_refuses_bytes_that_are_not_utf8(engine):
    from tests.tools.test_cli import run_cli

    url = engine.url.render_as_string(hide_password=False)
    done = run_cli(url, "api-key", "create", "--username", "\udcff", "--scope", "read")
    assert done.returncode == 2
    assert "argument --username: not valid UTF-8 text" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unsubscribe_signature_that_is_not_text_is_an_invalid_link(engine):
    from portal.messaging import mail

    with unit_of_work(engine) as session:
        partner = make_actor(session)
        for signature in ("\udcff", "sig²", ""):
            with pytest.raises(ValidationError) as raised:
                mail.unsubscribe(
                    session, user_id=partner.user_id, topic="events", signature=signature
                )
            assert raised.value.errors == {"link": "This unsubscribe link is not valid."}
