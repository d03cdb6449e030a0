"""The web-tier load harness runs end to end on a small generated program: partners and a
manager act through Streamlit's protocol, and one partner in Chromium, against the portal and
against the web floor (the timings are not checked: that is the harness's job, on the large
program)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portal.core import migrate
from portal.core.config import PROJECT_ROOT
from portal.core.db import get_engine, unit_of_work
from portal.reporting import integrity
from portal.tools import generate
from tests.browser.conftest import _require_browser
from tests.conftest import IN_CI, create_sqlite_database

pytestmark = pytest.mark.server


def test_the_load_harness_drives_the_portal_and_the_floor(tmp_path):
    _require_browser()  # skipped without Chromium locally; under CI=true a failure
    url = create_sqlite_database(tmp_path)
    engine = get_engine(url)
    migrate.upgrade(engine)
    generate.generate(engine, partners=4, leads=400, seed=3)
    engine.dispose()
    result = subprocess.run(
        [
            sys.executable,
            "bench/web_load.py",
            "--partners",
            "2",
            "--think",
            "0.2",
            "--seconds",
            "4",
            "--settle-after",
            "1",
            "--idle",
            "--browsers",
            "1",
            "--repeats",
            "2",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url, "PORTAL_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    # Two runs of each, alternating: portal, floor, floor, portal.
    runs = re.findall(r"^(portal|floor) ×1 +3 sessions .* errors 0 ", output, re.M)
    assert runs == ["portal", "floor", "floor", "portal"], output
    steps = ("dashboard", "leads", "filter", "older", "edit", "commissions", "overview")
    for step in (*steps, r"dashboard \(new\)", r"overview \(new\)"):  # a session's first
        assert re.search(rf"^  {step} +n= +[1-9]", output, re.M), (step, output)
    assert output.count("floor: 0 action(s) missed memory during the run") == 2, output
    first_reply = r"^  first reply p50 \d+ ms, p95 \d+ ms; the client's own event loop lagged"
    assert len(re.findall(first_reply, output, re.M)) == 4, output
    assert re.search(r"^  in Chromium: [1-9]\d* actions, errors 0$", output, re.M), output
    assert re.search(r"^idle sessions: 3 +RSS MB before \d+", output, re.M), output
    for label in ("run 1", "run 2", "page settle"):  # each pair's ratio, then all runs'
        assert re.search(rf"^{label} p95: portal / floor = [\d.]+×", output, re.M), output
    # The edits of both sides were made whole: the floor's first run of each is a real one.
    with unit_of_work(engine) as session:
        assert integrity.verify(session) == []


def test_the_load_harness_runs_through_the_balancer(tmp_path):
    """`--balancer`: the sessions connect to Debian's HAProxy with deploy/haproxy.cfg, which
    spreads them over the two app processes (each process does work)."""
    _require_browser()
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        if IN_CI:
            pytest.fail("CI=true: the balancer run needs haproxy", pytrace=False)
        pytest.skip("the balancer run needs Debian's haproxy")
    url = create_sqlite_database(tmp_path)
    engine = get_engine(url)
    migrate.upgrade(engine)
    generate.generate(engine, partners=6, leads=300, seed=5)
    engine.dispose()
    result = subprocess.run(  # noqa: S603 - our own harness
        [
            sys.executable,
            "bench/web_load.py",
            *("--partners", "4", "--managers", "0", "--think", "0.2", "--seconds", "4"),
            *("--settle-after", "1", "--processes", "2", "--balancer", "--no-floor"),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url, "PORTAL_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    found = re.search(
        r"^portal ×2 via HAProxy +4 sessions .* errors 0 +CPU (\d+)\+(\d+) %", output, re.M
    )
    assert found, output
    assert int(found[1]) > 0 and int(found[2]) > 0, output  # both processes served
