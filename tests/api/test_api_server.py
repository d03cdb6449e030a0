"""The API in the real server (`streamlit run portal/ui/server.py`, one process, one port),
on both databases: the curl quick reference of docs/api.md runs as written, and httpx checks
what it cannot (the pages still served by the same process, problems, idempotency)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import select

from portal.core.config import PROJECT_ROOT
from portal.core.db import get_engine, unit_of_work
from portal.core.models import Lead, LeadStatus
from tests.browser.conftest import Server, app_on
from tests.factories import make_actor

pytestmark = pytest.mark.server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_server(request, tmp_path_factory) -> Iterator[Server]:
    with app_on(request.param, tmp_path_factory.mktemp(f"api-{request.param}")) as server:
        yield server


def _key(server: Server, username: str, scope: str) -> str:
    made = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [
            *(sys.executable, "-m", "portal", "api-key", "create"),
            *("--username", username, "--scope", scope, "--expires", "30"),
        ],
        env=server.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert "shown this once" in made.stderr
    return made.stdout.strip()


def curl_examples() -> str:
    text = (PROJECT_ROOT / "docs" / "api.md").read_text()
    block = re.search(r"<!-- api-examples -->\n```bash\n(.*?)```", text, re.DOTALL)
    assert block is not None
    lines = block.group(1).splitlines()
    assert lines[0].startswith("PORTAL=")  # the reader's own values: the test sets them
    return "\n".join(lines[1:])


def test_the_curl_quick_reference_works(api_server, tmp_path: Path):
    engine = get_engine(api_server.database_url)
    with unit_of_work(engine) as session:
        partner = make_actor(session, username="curl.partner")
    key = _key(api_server, partner.username, "write")
    script = tmp_path / "examples.sh"
    script.write_text("set -euo pipefail\n" + curl_examples() + "\n")
    ran = subprocess.run(  # noqa: S603 - the API doc's own block
        ["/bin/bash", str(script)],
        env={**os.environ, "PORTAL": api_server.url, "KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert 'etag: "1"' in ran.stdout.lower()
    with unit_of_work(engine) as session:
        lead = session.scalars(select(Lead).where(Lead.client_email == "ada@client.example")).one()
    assert lead.id == 1 and lead.status is LeadStatus.CONTACTED


def test_pages_and_api_share_the_process(api_server):
    engine = get_engine(api_server.database_url)
    with unit_of_work(engine) as session:
        partner = make_actor(session)
    key = _key(api_server, partner.username, "read")
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        assert client.get("/_stcore/health").text == "ok"
        ready = client.get("/ready")  # the balancer's health check: database and schema
        assert (ready.status_code, ready.json()["status"]) == (200, "ready")
        assert client.get("/metrics").status_code == 404  # no PORTAL_METRICS_TOKEN here
        assert "<html" in client.get("/").text.lower()
        spec = client.get("/api/v1/openapi.json").json()
        assert "/leads" in spec["paths"]
        # Swagger UI is the portal's own files, under the portal's own policy.
        docs = client.get("/api/v1/docs")
        policy = client.get("/").headers["content-security-policy"]
        assert (docs.status_code, docs.headers["content-security-policy"]) == (200, policy)
        unauthorised = client.get("/api/v1/leads")
        assert unauthorised.status_code == 401
        assert unauthorised.headers["content-type"] == "application/problem+json"
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/v1/leads", headers=headers).json()["items"] == []
        refused = client.post(
            "/api/v1/leads",
            headers=headers,
            json={"client_name": "R", "client_email": "r@r.example", "service": "SEO"},
        )
        assert refused.status_code == 403
        huge = client.post("/api/v1/leads", headers=headers, content=b"x" * 200_000)
        assert huge.status_code == 413
