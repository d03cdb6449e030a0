"""Browser journeys: the real app (`streamlit run`) on a free port against a throwaway
SQLite database, driven by Playwright in Debian's Chromium. Screenshots of every page land
in the git-ignored `screenshots/` folder. Without Chromium or Playwright the journeys are
skipped locally; under CI=true that is a failure (`make test` installs Chromium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from portal.config import PROJECT_ROOT
from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / "screenshots"


expect.set_options(timeout=15_000)


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        reason = f"browser journeys need {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    url: str
    database_url: str
    env: dict[str, str]


@contextmanager
def run_app(folder: Path, database_url: str) -> Iterator[Server]:
    """One app process (`streamlit run portal/ui/server.py`, as `make run`) on a free port,
    stopped on exit."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORTAL_DATA_DIR": str(folder)}
    log_path = folder / f"streamlit-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own app
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "portal/ui/server.py",
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
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while not _healthy(url):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()}")
                time.sleep(0.3)
            yield Server(url=url, database_url=database_url, env=env)
        finally:
            process.terminate()
            process.wait(timeout=20)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:  # noqa: S310
            return answer.read() == b"ok"
    except OSError:
        return False


def migrate_database(database_url: str, folder: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "portal", "db", "upgrade"],
        check=True,
        capture_output=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "PORTAL_DATA_DIR": str(folder)},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app on its own throwaway SQLite database."""
    _require_browser()
    folder = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{folder / 'portal.db'}"
    migrate_database(database_url, folder)
    with run_app(folder, database_url) as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: Server):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """On a failed journey, a screenshot of every open page, to see what the user saw."""
    report = yield
    if report.failed and call.when == "call" and "browser" in getattr(item, "funcargs", {}):
        for context in item.funcargs["browser"].contexts:
            for number, page in enumerate(context.pages):
                shoot(page, f"failed-{item.name}-{number}")
    return report


def settle(page) -> None:
    """Wait until Streamlit has finished running the script (twice, for follow-up reruns)."""
    ready = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    for _ in range(2):
        page.wait_for_timeout(400)
        page.wait_for_selector(ready, timeout=60_000)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, url: str, username: str, password: str) -> None:
    """Sign in as a person would: once the page, and the cookie component on it, have loaded.
    A click sent while that component's first report reran the page was lost (the page
    showed the sign-in form again), and the login cookie could then go unwritten."""
    page.goto(url)
    expect(page.locator('iframe[title*="cookie_manager"]').first).to_be_attached()
    settle(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Login").click()
    settle(page)


def choose(page, label: str, option: str) -> None:
    """Pick an option of a selectbox by typing it (the option list re-renders while open,
    so clicking an option is racy)."""
    page.get_by_label(label).click()
    page.wait_for_timeout(300)
    page.keyboard.type(option, delay=50)
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")
    settle(page)
    expect(page.get_by_label(label)).to_have_value(option)


def edit_cell(
    page, *, row: int, column: int, value: str, grid: int = 0, number: bool = False
) -> None:
    """Type into a data-editor cell. The grid is a canvas: select the row's index cell, move
    right to data column `column` (0 = first after the index) with the keyboard, open the
    editor with Enter and type (slowly: the editor overlay takes a moment to take focus).
    The edit has reached the server once the table's save button is enabled; a keystroke
    lost while the grid was still drawing is typed again, once."""
    table = page.locator('[data-testid="stDataFrame"]').nth(grid)
    save = page.get_by_role("button", name="Save changes")
    for attempt in range(2):
        expect(table).to_be_visible()
        page.wait_for_timeout(300)
        box = table.bounding_box()
        assert box is not None
        # The index (the row's id) is the first column whatever the widths: start there.
        page.mouse.click(box["x"] + 20, box["y"] + 35 * (row + 1) + 17)
        for _ in range(column + 1):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        page.wait_for_timeout(500)
        if number:
            page.keyboard.press("Control+a")
        page.keyboard.type(value, delay=50)
        page.wait_for_timeout(200)
        page.keyboard.press("Enter")
        settle(page)
        if attempt == 0 and not save.is_enabled():
            page.keyboard.press("Escape")
            continue
        return
