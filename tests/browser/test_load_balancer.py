"""Two app processes on PostgreSQL behind a real HAProxy (Debian's, with deploy/haproxy.cfg
as shipped): a partner in Chromium signs in, uploads a tax form, downloads a CSV and moves a
lead, all through the balancer; then the replica the balancer keeps the partner on is
stopped, and the partner goes on on the other, still signed in, with nothing lost. /ready
drives the balancer's health check."""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2 as httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.core.config import PROJECT_ROOT
from portal.core.db import get_engine, unit_of_work
from portal.core.models import Lead, LeadStatus, TaxFormDocument
from portal.tools import serve
from tests.browser.conftest import (
    Server,
    edit_cell,
    migrate_database,
    run_app,
    settle,
    shoot,
    sign_in,
)
from tests.conftest import IN_CI, create_postgres_database, drop_postgres_database, require_postgres
from tests.factories import PASSWORD, TINY_PDF, make_actor, make_lead

pytestmark = [pytest.mark.postgresql, pytest.mark.server]

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REPLICA_COOKIE = "PORTAL_REPLICA"


@dataclass
class Balanced:
    url: str
    database_url: str
    replicas: dict[str, Server]  # by the balancer's cookie value: app1, app2


def _require_haproxy() -> None:
    if not os.path.exists(HAPROXY):
        reason = "the load-balancer test needs Debian's haproxy (apt-get install haproxy)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no replica became ready behind haproxy:\n{log.read_text()}")


@pytest.fixture(scope="module")
def balanced(tmp_path_factory) -> Iterator[Balanced]:
    require_postgres()
    _require_haproxy()
    url = create_postgres_database()
    folder = tmp_path_factory.mktemp("balanced")
    migrate_database(url, folder)
    port = serve.free_port()
    front = f"http://127.0.0.1:{port}"
    shared = {
        # Every replica seals Streamlit's upload (XSRF) cookie with the same secret, so a
        # browser moved to another replica can still upload.
        "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_urlsafe(32),
        "PORTAL_CLIENT_ADDRESS_HEADER": "X-Forwarded-For",
        "PORTAL_PUBLIC_URL": front,
    }
    try:
        with (
            run_app(folder, url, lambda _: shared) as first,
            run_app(folder, url, lambda _: shared) as second,
        ):
            log = folder / "haproxy.log"
            env = {
                **os.environ,
                "PORTAL_LB_BIND": f"127.0.0.1:{port}",
                "PORTAL_APP1": first.url.removeprefix("http://"),
                "PORTAL_APP2": second.url.removeprefix("http://"),
            }
            with log.open("w") as sink:
                balancer = subprocess.Popen(  # noqa: S603 - Debian's haproxy, our config
                    [HAPROXY, "-db", "-f", str(PROJECT_ROOT / "deploy" / "haproxy.cfg")],
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
                try:
                    _wait_ready(front, balancer, log)
                    yield Balanced(front, url, {"app1": first, "app2": second})
                finally:
                    balancer.terminate()
                    balancer.wait(timeout=20)
    finally:
        get_engine(url).dispose()
        drop_postgres_database(url)


def _replica(context) -> str:
    [value] = [c["value"] for c in context.cookies() if c["name"] == REPLICA_COOKIE]
    return value


def test_through_the_balancer_and_past_a_stopped_replica(balanced, browser):
    engine = get_engine(balanced.database_url)
    with unit_of_work(engine) as db:
        partner = make_actor(db, username="balanced.partner")
        lead = make_lead(db, partner, client_email="balanced@client.example")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, balanced.url, partner.username, PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    kept_on = _replica(context)
    assert kept_on in balanced.replicas

    # An upload: /_stcore/upload_file must reach the replica holding the page's session.
    page.goto(f"{balanced.url}/partner_profile")
    settle(page)
    form = page.locator('[data-testid="stForm"]').filter(has_text="Signed form (PDF)")
    form.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "w9.pdf", "mimeType": "application/pdf", "buffer": TINY_PDF}]
    )
    settle(page)
    page.get_by_role("button", name="Upload tax form").click()
    settle(page)
    expect(page.get_by_text("Tax form uploaded: a partner manager will review it.")).to_be_visible()

    # A download: /media, served by the replica that made the file.
    page.goto(f"{balanced.url}/partner_leads")
    settle(page)
    page.get_by_role("button", name="Prepare CSV").click()
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download 1 lead as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text("utf-8"))))
    assert [row["client_email"] for row in rows] == ["balanced@client.example"]

    # A move, through the websocket the balancer keeps on the same replica.
    edit_cell(page, row=0, column=2, value="Contacted")
    expect(page.get_by_text("now contacted, claimed until")).to_be_visible()
    assert _replica(context) == kept_on
    shoot(page, "balanced-before-failover")

    # The replica stops: its users land on the other, still signed in, nothing lost.
    stopped = balanced.replicas[kept_on].process
    assert stopped is not None
    stopped.terminate()
    stopped.wait(timeout=20)
    page.goto(f"{balanced.url}/partner_leads")
    settle(page)
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    expect(page.get_by_text("Contacted").first).to_be_attached()
    assert _replica(context) != kept_on
    page.goto(f"{balanced.url}/partner_profile")
    settle(page)
    expect(page.get_by_text("w9.pdf")).to_be_attached()
    shoot(page, "balanced-after-failover")
    with unit_of_work(engine) as db:
        assert db.get(Lead, lead.id).status is LeadStatus.CONTACTED
        assert db.scalar(select(TaxFormDocument.file_name)) == "w9.pdf"
    context.close()
