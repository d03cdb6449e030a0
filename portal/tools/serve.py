"""The app process as `make run` starts it, on a port of one's choosing, for the browser tests
and the benchmarks: one command line and one readiness check, so that what is tested and
measured is what is deployed."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from typing import IO

from portal.core.config import PROJECT_ROOT

APP = "portal/ui/server.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(
    port: int, env: dict[str, str] | None = None, *, script: str = APP, log: IO[str] | None = None
) -> subprocess.Popen[bytes]:
    """`streamlit run <script>` on 127.0.0.1:`port`, headless, no file watching; output to
    `log` (an open file; discarded when None)."""
    return subprocess.Popen(  # noqa: S603 - our own app
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            script,
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log is not None else subprocess.DEVNULL,
    )


def healthy(url: str) -> bool:
    """Whether the app at `url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:  # noqa: S310
            return bool(answer.read() == b"ok")
    except OSError:
        return False


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], *, seconds: float = 60, poll: float = 0.3
) -> None:
    """Return once the app answers; raise if it exits or does not answer in time."""
    deadline = time.monotonic() + seconds
    while not healthy(url):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the app at {url} did not start")
        time.sleep(poll)
