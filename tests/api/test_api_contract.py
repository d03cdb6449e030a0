"""The API's published contract, checked by the integrator's own tools against the real server
on both databases: Schemathesis runs every operation with all its checks, as a partner and as
a manager, and finds nothing; a client generated from the live document with
openapi-python-client runs the quick reference of docs/api.md and reads typed answers."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from portal.accounts import api_keys
from portal.core.access import Actor
from portal.core.config import PROJECT_ROOT
from portal.core.db import get_engine, unit_of_work
from portal.core.models import Role
from tests.browser.conftest import Server, app_on
from tests.factories import make_actor, make_converted_lead, make_lead

pytestmark = pytest.mark.server

BIN = Path(sys.executable).parent
RULEBOOK = PROJECT_ROOT / "tests" / "schemathesis.toml"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_server(request, tmp_path_factory) -> Iterator[Server]:
    def fill(engine) -> None:
        with unit_of_work(engine) as session:
            manager = make_actor(session, role=Role.MANAGER, username="contract.manager")
            partner = make_actor(session, username="contract.partner")
            for number in range(3):
                make_lead(session, partner, client_name=f"Client {number}")
            make_converted_lead(session, manager, partner, deal_value="1000.00")

    with app_on(
        request.param,
        tmp_path_factory.mktemp(f"contract-{request.param}"),
        fill=fill,
        # Schemathesis makes thousands of requests a minute with one key.
        settings=lambda _: {"PORTAL_API_REQUESTS_PER_MINUTE": "1000000"},
    ) as app:
        yield app


def _key(server: Server, username: str, scope: str = "write") -> str:
    with unit_of_work(get_engine(server.database_url)) as session:
        _, key = api_keys.key_for_user(
            session, actor=Actor.operator(), username=username, scope=scope, expires_days=1
        )
    return key


def _schemathesis(server: Server, key: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the test dependency's own command line
        [
            *(str(BIN / "schemathesis"), "--config-file", str(RULEBOOK), "run"),
            f"{server.url}/api/v1/openapi.json",
            *("--header", f"Authorization: Bearer {key}"),
            *("--checks", "all"),
            *("--max-examples", "5"),
            *("--workers", "1"),
            *("--seed", "20261206"),
            "--no-color",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )


def test_schemathesis_finds_nothing_as_a_partner_or_a_manager(api_server, tmp_path):
    # The partner first: the manager's run may suspend it.
    for username in ("contract.partner", "contract.manager"):
        ran = _schemathesis(api_server, _key(api_server, username), tmp_path)
        assert ran.returncode == 0, f"as {username}:\n{ran.stdout[-6000:]}\n{ran.stderr[-2000:]}"
        assert "No issues found" in ran.stdout or " passed" in ran.stdout, ran.stdout[-3000:]


def _generated_client(server: Server, folder: Path):
    """A client generated from the live document, imported from a temp folder."""
    document = folder / "openapi.json"
    document.write_bytes(httpx.get(f"{server.url}/api/v1/openapi.json").content)
    made = subprocess.run(  # noqa: S603 - the test dependency's own command line
        [
            str(BIN / "openapi-python-client"),
            *("generate", "--path", str(document), "--output-path", str(folder / "portal_sdk")),
            *("--meta", "none"),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Warning" not in made.stdout.replace("ruff", ""), made.stdout
    sys.path.insert(0, str(folder))
    try:
        for name in [name for name in sys.modules if name.startswith("portal_sdk")]:
            del sys.modules[name]
        return importlib.import_module("portal_sdk")
    finally:
        sys.path.remove(str(folder))


def test_a_generated_client_runs_the_quick_reference(api_server, tmp_path):
    sdk = _generated_client(api_server, tmp_path)
    from portal_sdk.api.account import get_dashboard, list_services
    from portal_sdk.api.leads import get_lead, list_leads, move_lead, register_lead
    from portal_sdk.models import (
        Lead,
        LeadDetail,
        LeadMove,
        LeadPage,
        LeadStatus,
        NewLead,
    )

    with unit_of_work(get_engine(api_server.database_url)) as session:
        partner = make_actor(session, username="sdk.partner")
    client = sdk.AuthenticatedClient(
        base_url=f"{api_server.url}/api/v1", token=_key(api_server, partner.username)
    )
    with client:
        (service, *_) = list_services.sync(client=client).services
        made = register_lead.sync_detailed(
            client=client,
            body=NewLead(
                client_name="Sam Okafor",
                client_email="sam@okafor-sdk.example",
                service=service,  # one of the program's services, which managers change
            ),
            idempotency_key="sdk-1",
        )
        assert made.status_code == 201 and isinstance(made.parsed, Lead)
        assert made.parsed.status is LeadStatus.PENDING and made.parsed.commission_paid is False
        page = list_leads.sync(client=client, limit=10)
        assert isinstance(page, LeadPage) and [lead.id for lead in page.items] == [made.parsed.id]
        read = get_lead.sync_detailed(made.parsed.id, client=client)
        assert isinstance(read.parsed, LeadDetail)
        etag = read.headers["etag"]
        moved = move_lead.sync_detailed(
            made.parsed.id,
            client=client,
            body=LeadMove(status=LeadStatus.CONTACTED, note="Called."),
            if_match=etag,
        )
        assert isinstance(moved.parsed, Lead) and moved.parsed.status is LeadStatus.CONTACTED
        stale = move_lead.sync_detailed(
            made.parsed.id,
            client=client,
            body=LeadMove(status=LeadStatus.QUALIFIED),
            if_match=etag,
        )
        assert stale.status_code == 412 and stale.parsed.status == 412  # a typed Problem
        dashboard = get_dashboard.sync(client=client)
        assert dashboard.can_access_dashboard is True
        assert [lead.id for lead in dashboard.recent_leads] == [made.parsed.id]
