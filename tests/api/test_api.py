"""The JSON API on both databases (mounted at /api/v1 as in the server): keys, scopes,
problems, idempotency, ETags, limits; tests/api/test_api_server.py runs it in the real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select, update
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from portal.accounts import api_keys, users
from portal.api import app as api_app
from portal.api.contract import PROBLEM
from portal.core.access import Actor
from portal.core.config import get_settings
from portal.core.db import unit_of_work
from portal.core.errors import ValidationError
from portal.core.models import ApiKey, Lead, OutboxMessage, PartnerStatus, User
from portal.core.types import utc_now
from portal.leads import leads
from portal.messaging import webhooks
from portal.partners import partners
from tests.factories import PASSWORD, make_actor, make_converted_lead, make_lead, make_manager

ROOT = "/api/v1"


@pytest.fixture
def client(app_database) -> Iterator[TestClient]:
    api_app.rate_limiter.reset()
    app = Starlette(routes=[Mount(ROOT, app=api_app.api)])
    with TestClient(app, base_url="http://portal.test", raise_server_exceptions=False) as client:
        yield client


def key_for(engine, actor: Actor, scope: str = "write") -> dict[str, str]:
    with unit_of_work(engine) as session:
        _, key = api_keys.create_key(
            session, actor=actor, name="tests", scope=scope, password=PASSWORD
        )
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def world(app_database):
    with unit_of_work(app_database) as session:
        manager = make_manager(session)
        a = make_actor(session)
        b = make_actor(session)
        lead_a = make_lead(session, a, client_name="Alma <b>A</b>")
        lead_b = make_lead(session, b)
    return {"manager": manager, "a": a, "b": b, "lead_a": lead_a, "lead_b": lead_b}


def test_no_key_a_wrong_key_and_a_revoked_key_are_401(client, app_database, world):
    missing = client.get(f"{ROOT}/leads")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["status"] == 401
    wrong = client.get(f"{ROOT}/leads", headers={"Authorization": "Bearer ppk_nope_nope"})
    assert wrong.status_code == 401
    headers = key_for(app_database, world["a"])
    assert client.get(f"{ROOT}/leads", headers=headers).status_code == 200
    with unit_of_work(app_database) as session:
        (view,) = api_keys.list_keys(session, actor=world["a"])
        assert view.last_used_at is not None
        api_keys.revoke_key(session, actor=world["a"], key_id=view.id)
    assert client.get(f"{ROOT}/leads", headers=headers).status_code == 401


def test_an_expired_key_and_a_deactivated_users_key_stop_at_once(client, app_database, world):
    headers = key_for(app_database, world["a"])
    with unit_of_work(app_database) as session:
        session.execute(update(ApiKey).values(expires_at=utc_now() - timedelta(seconds=1)))
    assert client.get(f"{ROOT}/leads", headers=headers).status_code == 401
    headers = key_for(app_database, world["b"])
    assert client.get(f"{ROOT}/leads", headers=headers).status_code == 200
    with unit_of_work(app_database) as session:
        users.set_active(session, actor=world["manager"], user_id=world["b"].user_id, active=False)
    assert client.get(f"{ROOT}/leads", headers=headers).status_code == 401


def test_a_read_key_only_reads(client, app_database, world):
    headers = key_for(app_database, world["a"], scope="read")
    assert client.get(f"{ROOT}/dashboard", headers=headers).status_code == 200
    refused = client.post(
        f"{ROOT}/leads",
        headers=headers,
        json={"client_name": "X", "client_email": "x@x.example", "service": "SEO"},
    )
    assert refused.status_code == 403 and "only read" in refused.json()["detail"]


def test_a_suspended_partners_key_reads_but_cannot_write(client, app_database, world):
    headers = key_for(app_database, world["a"])
    with unit_of_work(app_database) as session:
        partners.change_status(
            session, actor=world["manager"], partner_id=world["a"].partner_id, action="suspend"
        )
    assert client.get(f"{ROOT}/leads", headers=headers).status_code == 200
    refused = client.post(
        f"{ROOT}/leads",
        headers=headers,
        json={"client_name": "X", "client_email": "x@x.example", "service": "SEO"},
    )
    assert refused.status_code == 403


def test_the_dashboard_and_leads_are_the_partners_own_with_exact_money(client, app_database, world):
    with unit_of_work(app_database) as session:
        make_converted_lead(session, world["manager"], world["a"], deal_value="1234.50")
    headers = key_for(app_database, world["a"])
    dashboard = client.get(f"{ROOT}/dashboard", headers=headers).json()
    assert dashboard["partner_id"] == world["a"].partner_id
    assert dashboard["total_earnings"] == "123.45"  # a string: never a float
    listing = client.get(f"{ROOT}/leads", headers=headers, params={"limit": 1}).json()
    assert len(listing["items"]) == 1 and listing["next_cursor"]
    rest = client.get(
        f"{ROOT}/leads", headers=headers, params={"cursor": listing["next_cursor"]}
    ).json()
    ids = [item["id"] for item in listing["items"] + rest["items"]]
    assert world["lead_b"].id not in ids and world["lead_a"].id in ids and len(ids) == 2
    assert client.get(f"{ROOT}/leads", headers=headers, params={"limit": 201}).status_code == 422
    bad_cursor = client.get(f"{ROOT}/leads", headers=headers, params={"cursor": "!!"})
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["errors"]


def test_another_partners_lead_is_a_404_like_a_missing_one(client, app_database, world):
    headers = key_for(app_database, world["a"])
    theirs = client.get(f"{ROOT}/leads/{world['lead_b'].id}", headers=headers)
    missing = client.get(f"{ROOT}/leads/999999", headers=headers)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    patch = client.patch(
        f"{ROOT}/leads/{world['lead_b'].id}",
        headers={**headers, "If-Match": '"1"'},
        json={"status": "contacted"},
    )
    assert patch.status_code == 404


def test_a_retried_registration_registers_once(client, app_database, world):
    headers = {**key_for(app_database, world["a"]), "Idempotency-Key": "crm-42"}
    body = {"client_name": "Ivo Once", "client_email": "ivo@once.example", "service": "SEO"}
    first = client.post(f"{ROOT}/leads", headers=headers, json=body)
    again = client.post(f"{ROOT}/leads", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    with unit_of_work(app_database) as session:
        count = session.scalar(
            select(func.count()).select_from(Lead).where(Lead.client_email == "ivo@once.example")
        )
    assert count == 1
    other = client.post(f"{ROOT}/leads", headers=headers, json={**body, "client_name": "Other"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]


def test_two_copies_sent_at_once_register_once(app_database, world):
    headers = {**key_for(app_database, world["a"]), "Idempotency-Key": "crm-twin"}
    body = {"client_name": "Twin", "client_email": "twin@once.example", "service": "SEO"}
    app = Starlette(routes=[Mount(ROOT, app=api_app.api)])
    start = threading.Barrier(2)
    answers = []

    def send() -> None:
        with TestClient(app, base_url="http://portal.test") as own:
            start.wait()
            answers.append(own.post(f"{ROOT}/leads", headers=headers, json=body))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    with unit_of_work(app_database) as session:
        count = session.scalar(
            select(func.count()).select_from(Lead).where(Lead.client_email == "twin@once.example")
        )
    assert count == 1


def test_registration_errors_name_their_fields(client, app_database, world):
    headers = key_for(app_database, world["a"])
    refused = client.post(
        f"{ROOT}/leads",
        headers=headers,
        json={"client_name": "", "client_email": "not-an-email", "service": "Knitting"},
    )
    assert refused.status_code == 422
    assert {"client_name", "client_email", "service"} <= set(refused.json()["errors"])
    shape = client.post(f"{ROOT}/leads", headers=headers, json={"client_name": 5, "extra": 1})
    assert shape.status_code == 422
    assert {"client_email", "extra"} <= set(shape.json()["errors"])
    as_json = {**headers, "Content-Type": "application/json"}
    assert client.post(f"{ROOT}/leads", headers=as_json, content=b"{").status_code == 422
    as_text = {**headers, "Content-Type": "text/plain"}
    refused = client.post(f"{ROOT}/leads", headers=as_text, content=b'{"client_name":"x"}')
    assert (refused.status_code, refused.headers["content-type"]) == (415, PROBLEM)


def test_status_moves_need_the_current_etag(client, app_database, world):
    headers = key_for(app_database, world["a"])
    url = f"{ROOT}/leads/{world['lead_a'].id}"
    read = client.get(url, headers=headers)
    assert read.headers["etag"] == '"1"'
    assert read.json()["timeline"][0]["kind"] == "registered"
    assert read.json()["lead"]["client_name"] == "Alma <b>A</b>"
    move = {"status": "contacted"}
    assert client.patch(url, headers=headers, json=move).status_code == 428
    moved = client.patch(url, headers={**headers, "If-Match": read.headers["etag"]}, json=move)
    assert moved.status_code == 200 and moved.json()["status"] == "contacted"
    assert moved.headers["etag"] == '"2"'
    stale = client.patch(url, headers={**headers, "If-Match": '"1"'}, json={"status": "qualified"})
    assert stale.status_code == 412
    lost = client.patch(url, headers={**headers, "If-Match": '"2"'}, json={"status": "lost"})
    assert lost.status_code == 422 and "lost_reason" in lost.json()["errors"]


def test_profile_secrets_are_write_only(client, app_database, world):
    headers = key_for(app_database, world["a"], scope="payout_details")
    changed = client.patch(
        f"{ROOT}/profile",
        headers=headers,
        json={"bank_account": "GB29NWBK60161331926819", "contact_phone": "+44 20 7946 0958"},
    )
    assert changed.status_code == 200, changed.text
    text = client.get(f"{ROOT}/profile", headers=headers).text
    assert "60161331926819" not in text and "6819" in text
    refused = client.patch(f"{ROOT}/profile", headers=headers, json={"website": "ftp://x"})
    assert refused.status_code == 422 and "website" in refused.json()["errors"]


def test_only_a_payout_details_key_changes_where_payouts_go(client, app_database, world):
    writer = key_for(app_database, world["a"])
    bank = {"bank_account": "GB29NWBK60161331926819"}
    refused = client.patch(f"{ROOT}/profile", headers=writer, json=bank)
    assert refused.status_code == 403, refused.text
    assert "payout_details scope" in refused.json()["detail"]
    for other in ({"payment_method": "paypal"}, {"payment_email": "x@y.example"}):
        assert client.patch(f"{ROOT}/profile", headers=writer, json=other).status_code == 403
    # Other fields need no more than a write key; nothing of the refused change was kept.
    assert (
        client.patch(f"{ROOT}/profile", headers=writer, json={"city": "Leeds"}).status_code == 200
    )
    shown = client.get(f"{ROOT}/profile", headers=writer).json()
    assert (shown["bank_account"], shown["payment_method"], shown["city"]) == ("", None, "Leeds")
    payer = key_for(app_database, world["a"], scope="payout_details")
    assert client.patch(f"{ROOT}/profile", headers=payer, json=bank).status_code == 200
    with unit_of_work(app_database) as session:
        kinds = session.scalars(
            select(OutboxMessage.kind).where(OutboxMessage.kind == "payout_details_changed")
        ).all()
    assert kinds == ["payout_details_changed"]  # the one change that happened, mailed


def test_a_payout_details_key_is_made_only_with_the_password(app_database, world):
    with unit_of_work(app_database) as session, pytest.raises(ValidationError) as raised:
        api_keys.create_key(
            session, actor=world["a"], name="payer", scope="payout_details", password="guess"
        )
    assert raised.value.errors == {"password": "This is not your current password."}
    with unit_of_work(app_database) as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0
        failed = session.scalar(select(User.failed_logins).where(User.id == world["a"].user_id))
    assert failed == 1  # the guess counts toward the lock-out


def test_manager_operations_are_for_managers(client, app_database, world):
    manager = key_for(app_database, world["manager"])
    partner = key_for(app_database, world["a"])
    listing = client.get(f"{ROOT}/partners", headers=manager).json()
    assert {item["id"] for item in listing["items"]} >= {world["a"].partner_id}
    assert client.get(f"{ROOT}/partners", headers=partner).status_code == 403
    everyone = client.get(f"{ROOT}/leads", headers=manager).json()
    assert {item["id"] for item in everyone["items"]} >= {world["lead_a"].id, world["lead_b"].id}
    suspended = client.post(
        f"{ROOT}/partners/{world['b'].partner_id}/status",
        headers=manager,
        json={"action": "suspend"},
    )
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert (
        client.post(
            f"{ROOT}/partners/{world['b'].partner_id}/status",
            headers=partner,
            json={"action": "reactivate"},
        ).status_code
        == 403
    )


def test_commissions_payouts_and_statements(client, app_database, world):
    with unit_of_work(app_database) as session:
        make_converted_lead(session, world["manager"], world["a"], deal_value="1000.00")
    headers = key_for(app_database, world["a"])
    found = client.get(f"{ROOT}/commissions", headers=headers).json()
    assert found["summary"]["total_earned"] == "100.00"
    assert found["summary"]["pending_commission"] == "100.00"
    assert found["summary"]["paid_commission"] == "0.00"
    assert [line["amount"] for line in found["items"]] == ["100.00"]
    assert client.get(f"{ROOT}/payouts", headers=headers).json() == {
        "items": [],
        "next_cursor": None,
    }
    month = utc_now().strftime("%Y-%m")
    statement = client.get(f"{ROOT}/statements/{month}", headers=headers).json()
    assert statement["closing_balance"] == "100.00"
    assert client.get(f"{ROOT}/statements/last-year", headers=headers).status_code == 422


def test_a_key_is_rate_limited_with_retry_after(client, app_database, world, settings_override):
    settings_override(api_requests_per_minute=3)
    headers = key_for(app_database, world["a"])
    answers = [client.get(f"{ROOT}/leads", headers=headers).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = client.get(f"{ROOT}/leads", headers=headers)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    other = key_for(app_database, world["b"])
    assert client.get(f"{ROOT}/leads", headers=other).status_code == 200  # per key


def test_a_large_body_is_413_and_a_failure_shows_no_trace(client, app_database, world, monkeypatch):
    headers = key_for(app_database, world["a"])
    big = {
        "client_name": "x",
        "client_email": "x@x.example",
        "service": "SEO",
        "notes": "n" * 70_000,
    }
    assert client.post(f"{ROOT}/leads", headers=headers, json=big).status_code == 413

    def explode(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(leads, "list_leads", explode)
    failed = client.get(f"{ROOT}/leads", headers=headers)
    assert failed.status_code == 500
    assert "secret internals" not in failed.text and "Traceback" not in failed.text


def test_openapi_and_docs_are_served(client):
    spec = client.get(f"{ROOT}/openapi.json").json()
    assert {"/leads", "/leads/{lead_id}", "/dashboard", "/profile"} <= set(spec["paths"])
    docs = client.get(f"{ROOT}/docs")
    assert docs.status_code == 200 and f"{ROOT}/openapi.json" in docs.text


def test_keys_are_stored_hashed_and_limited(app_database, world):
    with unit_of_work(app_database) as session:
        view, key = api_keys.create_key(session, actor=world["a"], name="crm", scope="read")
        stored = session.scalars(select(ApiKey)).one()
        assert key not in (stored.key_hash, stored.prefix) and key.startswith(view.prefix + "_")
        with pytest.raises(api_keys.ValidationError) as refused:
            api_keys.create_key(session, actor=world["a"], name="", scope="admin", expires_days=0)
        assert set(refused.value.errors) == {"name", "scope", "expires_days"}
        with pytest.raises(api_keys.NotFound):
            api_keys.revoke_key(session, actor=world["b"], key_id=view.id)


def test_suspension_by_status_is_enforced_for_pending_partners_too(client, app_database):
    with unit_of_work(app_database) as session:
        pending = make_actor(session, status=PartnerStatus.PENDING)
    headers = key_for(app_database, pending)
    refused = client.post(
        f"{ROOT}/leads",
        headers=headers,
        json={"client_name": "P", "client_email": "p@p.example", "service": "SEO"},
    )
    assert refused.status_code == 403


def test_if_match_star_moves_whatever_the_version(client, app_database, world):
    headers = {**key_for(app_database, world["a"]), "If-Match": "*"}
    url = f"{ROOT}/leads/{world['lead_a'].id}"
    moved = client.patch(url, headers=headers, json={"status": "contacted"})
    assert (moved.status_code, moved.headers["etag"]) == (200, '"2"')
    for bad in ("gN", '"1', "**"):
        refused = client.patch(url, headers={**headers, "If-Match": bad}, json={"status": "lost"})
        assert refused.status_code in (412, 422), (bad, refused.text)


def test_http_as_rfc_9110_says(client, app_database, world):
    headers = key_for(app_database, world["a"])
    lead_url = f"{ROOT}/leads/{world['lead_a'].id}"
    for method, url, allowed in (
        ("DELETE", lead_url, "GET, HEAD, PATCH"),
        ("PUT", f"{ROOT}/profile", "GET, HEAD, PATCH"),
        ("TRACE", f"{ROOT}/dashboard", "GET, HEAD"),
    ):
        refused = client.request(method, url, headers=headers)
        assert (refused.status_code, refused.headers["allow"]) == (405, allowed), method
    got, head = client.get(lead_url, headers=headers), client.head(lead_url, headers=headers)
    assert (head.status_code, head.headers["etag"], head.content) == (200, got.headers["etag"], b"")
    limit = get_settings().api_max_body_kb * 1024

    def chunks():  # no Content-Length: the limit must hold as the body arrives
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    chunked = client.post(
        f"{ROOT}/leads", headers={**headers, "Content-Type": "application/json"}, content=chunks()
    )
    assert (chunked.status_code, chunked.json()["title"]) == (413, "Request too large")
    not_utf8 = client.post(
        f"{ROOT}/leads", headers={**headers, "Content-Type": "application/json"}, content=b"\xff"
    )
    assert not_utf8.status_code == 422 and "body" in not_utf8.json()["errors"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/leads?created_to=0", None),
        ("GET", "/leads?limit=0", None),
        ("GET", "/leads?limit=201", None),
        ("GET", "/leads?cursor=MDAwMS0wMS0wMVQwMDowMDowMCsxNDowMHwx", None),
        ("GET", "/leads?cursor=OTk5OS0xMi0zMVQyMzo1OTo1OS0xNDowMHwx", None),
        ("GET", "/leads?cursor=MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5", None),
        ("GET", "/leads/99999999999", None),
        ("GET", "/statements/9999-12", None),
        ("GET", "/statements/2026-13", None),
        ("GET", "/dashboard?partner_id=-1", None),
        ("PATCH", "/profile", {"zip": ["1"]}),
        ("PATCH", "/profile", {"payment_email": 123}),
        ("PATCH", "/profile", {"website": 1}),
        ("PATCH", "/profile", {"city": 123}),
        ("PATCH", "/profile", {"monthly_reports": "yes"}),
        ("PATCH", "/profile", {"favourite_colour": "blue"}),
        ("POST", "/leads", {"client_name": "A", "client_email": "a@b.example", "service": 5}),
    ],
)
def test_malformed_requests_are_422_never_500(client, app_database, world, method, path, body):
    """Each was a 500, or a 200 for nonsense, before the contract was typed."""
    headers = key_for(app_database, world["a"], scope="payout_details")
    answered = client.request(method, f"{ROOT}{path}", headers=headers, json=body)
    assert answered.status_code in (404, 422), answered.text
    assert answered.headers["content-type"] == PROBLEM


def test_the_calendar_s_edges_are_days_like_any_other(client, app_database, world):
    headers = key_for(app_database, world["a"])
    for query in ("created_to=9999-12-31", "created_from=0001-01-01"):
        found = client.get(f"{ROOT}/leads?{query}", headers=headers)
        assert found.status_code == 200 and len(found.json()["items"]) == 1, query


def test_a_deal_value_is_a_decimal_string_not_a_float(client, app_database, world):
    headers = {**key_for(app_database, world["manager"]), "If-Match": "*"}
    url = f"{ROOT}/leads/{world['lead_a'].id}"
    for status in ("contacted", "qualified"):
        assert client.patch(url, headers=headers, json={"status": status}).status_code == 200
    as_float = client.patch(url, headers=headers, json={"status": "converted", "deal_value": 1e3})
    assert as_float.status_code == 422 and "deal_value" in as_float.json()["errors"]
    converted = client.patch(
        url, headers=headers, json={"status": "converted", "deal_value": "1000.00"}
    )
    assert converted.status_code == 200 and converted.json()["commission"] == "100.00"
    assert converted.json()["commission_paid"] is False


def test_a_manager_names_the_partner_the_same_way_everywhere(client, app_database, world):
    headers = key_for(app_database, world["manager"])
    for path in ("/dashboard", "/profile", "/commissions", "/statements/2026-11"):
        refused = client.get(f"{ROOT}{path}", headers=headers)
        assert refused.status_code == 422, path
        assert refused.json()["errors"] == {
            "partner_id": "Choose a partner: partner_id is required."
        }


def test_the_dashboard_answers_the_original_designs_questions(client, app_database, world):
    with unit_of_work(app_database) as session:
        applicant = make_actor(session, status=PartnerStatus.PENDING)
    mine = client.get(f"{ROOT}/dashboard", headers=key_for(app_database, world["a"])).json()
    assert mine["can_access_dashboard"] is True
    assert [lead["id"] for lead in mine["recent_leads"]] == [world["lead_a"].id]
    theirs = client.get(f"{ROOT}/dashboard", headers=key_for(app_database, applicant)).json()
    assert theirs["can_access_dashboard"] is False
    services = client.get(f"{ROOT}/services", headers=key_for(app_database, applicant)).json()
    assert services == {"services": list(get_settings().services)}


def test_the_document_declares_security_problems_and_webhooks(client):
    document = client.get(f"{ROOT}/openapi.json").json()
    assert document["components"]["securitySchemes"] == {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ppk_…",
            "description": document["components"]["securitySchemes"]["apiKey"]["description"],
        }
    }
    operations = [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) == 16
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation["security"] == [{"apiKey": []}], where
        assert not [p for p in operation.get("parameters", []) if p["name"] == "authorization"]
        assert operation["tags"] and operation["operationId"].isalnum(), where
        refusals = {code: answer for code, answer in operation["responses"].items() if code >= "4"}
        assert {"401", "403", "404", "422", "429"} <= set(refusals), where
        for answer in refusals.values():
            assert answer["content"] == {
                PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, where
        success = next(code for code in operation["responses"] if code.startswith("2"))
        assert operation["responses"][success]["content"]["application/json"]["schema"], where
    assert set(document["webhooks"]) == set(webhooks.EVENTS)
    assert "HTTPValidationError" not in str(document)
    docs = client.get(f"{ROOT}/docs")
    assert (
        "cdn" not in docs.text and f"{ROOT}/static-offline-docs/swagger-ui-bundle.js" in docs.text
    )
    assert client.get(f"{ROOT}/static-offline-docs/swagger-ui-bundle.js").status_code == 200


def test_every_operation_shows_a_real_answer_that_fits_its_schema(client):
    document = client.get(f"{ROOT}/openapi.json").json()
    models = {
        route.operation_id: route.response_model
        for route in api_app.api.routes
        if isinstance(route, APIRoute) and route.include_in_schema
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            (success,) = [code for code in operation["responses"] if code.startswith("2")]
            example = operation["responses"][success]["content"]["application/json"]["example"]
            models[operation["operationId"]].model_validate(example)  # raises when it drifts
            assert example, f"{method} {path}"
