"""The benchmark runs end to end on a small generated program (its timings are not checked:
that is the benchmark's job, on the large program)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from portal.core.config import PROJECT_ROOT
from portal.tools import generate

pytestmark = pytest.mark.server


def test_benchmark_runs_and_prints_every_figure(engine):
    generate.generate(engine, partners=4, leads=600, seed=5)
    url = engine.url.render_as_string(hide_password=False)
    result = subprocess.run(
        [sys.executable, "bench/bench.py", "--repeat", "3", "--writer-seconds", "1"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for operation in (
        "1. partner dashboard",
        "2. lead table",
        "3. manager program overview",
        "4. CSV export of all",
        "4. CSV export peak memory",
        "5. page script run",
        "6. status change",
        "6. 8 writers",
        "lost updates: 0",
        "7. cold start",
        "8. API lead list",
        "8. API status change",
        "HTTP layer adds",
    ):
        assert operation in result.stdout, operation
