"""The access matrix over the API: the same kinds of actor, each with its own key, against
every endpoint. allow = 2xx; deny = 403 or 404 (another partner's data is answered as if it
did not exist); unauth = 401 (no key, or a deactivated user's key)."""

from __future__ import annotations

import itertools
import secrets

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from portal.accounts import api_keys
from portal.api import app as api_app
from portal.core.db import unit_of_work
from portal.core.models import ApiKey, ApiScope
from tests.core.test_access_matrix import KINDS, World, _world

ROOT = "/api/v1"
_clients = itertools.count(1)


def _keys(engine, world: World) -> dict[str, dict[str, str]]:
    headers: dict[str, dict[str, str]] = {"nobody": {}}
    with unit_of_work(engine) as session:
        for kind in KINDS:
            actor = world.actors[kind]
            if actor is None:
                continue
            # Made directly: the service (rightly) refuses a deactivated user a new key; this
            # stands for one made before the deactivation.
            key = f"{api_keys.KEY_START}{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
            session.add(
                ApiKey(
                    user_id=actor.user_id,
                    name=kind,
                    prefix=key[:12],
                    key_hash=api_keys.key_digest(key),
                    scope=ApiScope.WRITE,
                )
            )
            headers[kind] = {"Authorization": f"Bearer {key}"}
    return headers


def _calls(world: World):
    a, lead = world.partner_a, world.lead_a
    new_lead = {"client_email": "", "client_name": "Matrix", "service": "SEO", "partner_id": a}
    return {
        "GET /dashboard": (("GET", f"/dashboard?partner_id={a}", None), {"partner_a", "manager"}),
        "GET /leads/{a}": (("GET", f"/leads/{lead}", None), {"partner_a", "manager"}),
        "PATCH /leads/{a}": (
            ("PATCH", f"/leads/{lead}", {"status": "contacted"}),
            {"partner_a", "manager"},
        ),
        "POST /leads for a": (("POST", "/leads", new_lead), {"partner_a", "manager"}),
        "GET /commissions": (
            ("GET", f"/commissions?partner_id={a}", None),
            {"partner_a", "manager"},
        ),
        "GET /payouts": (("GET", f"/payouts?partner_id={a}", None), {"partner_a", "manager"}),
        "GET /profile": (("GET", f"/profile?partner_id={a}", None), {"partner_a", "manager"}),
        "PATCH /profile": (
            ("PATCH", f"/profile?partner_id={a}", {"city": "Springfield"}),
            {"partner_a", "manager"},
        ),
        "GET /partners": (("GET", "/partners", None), {"manager"}),
        "POST /partners/{pending}/status": (
            ("POST", f"/partners/{world.pending_partner}/status", {"action": "suspend"}),
            {"manager"},
        ),
    }


def _outcome(status: int) -> str:
    if status == 401:
        return "unauth"
    if status in (403, 404):
        return "deny"
    if 200 <= status < 300:
        return "allow"
    return f"status {status}"


def test_the_matrix_over_the_api(app_database):
    api_app.rate_limiter.reset()
    world = _world(app_database)
    headers = _keys(app_database, world)
    client = TestClient(Starlette(routes=[Mount(ROOT, app=api_app.api)]))
    wrong = []
    for name, ((method, path, body), allowed) in _calls(world).items():
        for kind in KINDS:
            request_headers = dict(headers[kind])
            if method == "PATCH" and path.startswith("/leads"):
                current = client.get(f"{ROOT}{path}", headers=headers["manager"])
                request_headers["If-Match"] = current.headers["etag"]
            payload = body
            if body is not None and "client_email" in body:
                payload = {**body, "client_email": f"matrix{next(_clients)}@matrix.example"}
            answer = client.request(method, f"{ROOT}{path}", headers=request_headers, json=payload)
            expected = (
                "unauth"
                if kind in ("nobody", "deactivated")
                else ("allow" if kind in allowed else "deny")
            )
            got = _outcome(answer.status_code)
            if got != expected:
                wrong.append(
                    f"{name} as {kind}: expected {expected}, got {got} {answer.text[:120]}"
                )
    assert wrong == []
