"""Browser journeys: the real app (`streamlit run`) on a free port against a throwaway
SQLite database, driven by Playwright in Debian's Chromium. Screenshots of every page land
in the git-ignored `screenshots/` folder. Without Chromium or Playwright the journeys are
skipped locally; under CI=true that is a failure (`make test` installs Chromium)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import Engine

from portal.core import migrate
from portal.core.access import Actor
from portal.core.config import PROJECT_ROOT
from portal.core.db import get_engine, unit_of_work
from portal.tools import serve
from tests.conftest import (
    IN_CI,
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
)
from tests.factories import PASSWORD, make_actor

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
COOKIE_NAME = "partner_portal_auth"


expect.set_options(timeout=15_000)


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        reason = f"browser journeys need {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


@dataclass
class Server:
    url: str
    database_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None  # to stop a replica in a test


@contextmanager
def run_app(
    folder: Path, database_url: str, settings: Callable[[str], dict[str, str]] | None = None
) -> Iterator[Server]:
    """One app process (`streamlit run portal/ui/server.py`, as `make run`) on a free port,
    stopped on exit; `settings(url)` adds environment settings that depend on its address."""
    port = serve.free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORTAL_DATA_DIR": str(folder)}
    if settings is not None:
        env |= settings(f"http://127.0.0.1:{port}")
    log_path = folder / f"streamlit-{port}.log"
    with log_path.open("w") as log:
        process = serve.start(port, env, log=log)
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                serve.wait_until_healthy(url, process)
            except RuntimeError as error:
                raise RuntimeError(f"{error}:\n{log_path.read_text()}") from None
            yield Server(url=url, database_url=database_url, env=env, process=process)
        finally:
            process.terminate()
            process.wait(timeout=20)


@contextmanager
def app_on(
    backend: str,
    folder: Path,
    *,
    fill: Callable[[Engine], None] | None = None,
    settings: Callable[[str], dict[str, str]] | None = None,
) -> Iterator[Server]:
    """The app served on a throwaway, migrated database of this backend (SQLite in `folder`,
    or a new PostgreSQL database, dropped after), first `fill`ed as the test needs."""
    if backend == "postgresql":
        require_postgres()
        url = create_postgres_database()
    else:
        url = f"sqlite:///{folder / 'portal.db'}"
    engine = get_engine(url)
    try:
        migrate.upgrade(engine)
        if fill is not None:
            fill(engine)
        with run_app(folder, url, settings) as server:
            yield server
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_postgres_database(url)


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


# Added to every page before Streamlit's own code: numbers, in one sequence, the user's last
# input, the last rerun the page asked for (a rerun_script BackMsg sent) and the last script
# run that completed (a ForwardMsg script_finished other than "finished early for a rerun":
# an interrupted run briefly shows "notRunning" too).
RUN_TRACKER = """
(() => {
  let sequence = 0;
  const runs = (window.__portalRuns = {input: 0, requested: 0, completed: 0});
  for (const type of ['pointerdown', 'keydown']) {
    window.addEventListener(type, () => { runs.input = ++sequence; }, true);
  }
  const bytesOf = (data) =>
    data instanceof ArrayBuffer ? new Uint8Array(data)
    : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : null;
  const RERUN_SCRIPT = (11 << 3) | 2;  // BackMsg.rerun_script, the message's first field
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const bytes = bytesOf(data);
    if (bytes && bytes[0] === RERUN_SCRIPT) runs.requested = ++sequence;
    return send.call(this, data);
  };
  // The top-level fields of a ForwardMsg, until script_finished (field 6, an enum).
  const finishedStatus = (bytes) => {
    let at = 0;
    const varint = () => {
      let value = 0, shift = 0, byte;
      do {
        byte = bytes[at++];
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      return value;
    };
    while (at < bytes.length) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag & 7;
      if (wire === 0) { const value = varint(); if (field === 6) return value; }
      else if (wire === 2) { const length = varint(); at += length; }  // not at += varint()
      else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else return null;
    }
    return null;
  };
  const FINISHED_EARLY_FOR_RERUN = 2;
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (event) => {
      const bytes = bytesOf(event.data);
      const status = bytes && finishedStatus(bytes);
      if (status !== null && status !== FINISHED_EARLY_FOR_RERUN) runs.completed = ++sequence;
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""

# Settled: the page asked for a run after the user's last input, a run completed after that,
# the app is idle and connected, and every element is drawn: Streamlit loads the code of
# charts, tables and metrics on first use and shows a skeleton meanwhile, after the run has
# completed (seen on a first visit to Commissions: 15 skeletons when the run had completed).
SETTLED = """() => {
  const runs = window.__portalRuns;
  const app = document.querySelector('[data-testid="stApp"]');
  if (!runs || !app) return false;
  return app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && runs.requested > runs.input
    && runs.completed > runs.requested
    && !app.querySelector('[data-testid="stSkeleton"]');
}"""


class Browser:
    """Chromium whose every new context carries the run tracker that `settle` waits on."""

    def __init__(self, chromium: PlaywrightBrowser) -> None:
        self.chromium = chromium

    def new_context(self, **options: object) -> BrowserContext:
        context = self.chromium.new_context(**options)
        context.add_init_script(RUN_TRACKER)
        return context

    @property
    def contexts(self) -> list[BrowserContext]:
        return self.chromium.contexts


# The two sizes every page is designed for: a laptop, and a phone held upright (touch).
SIZES = {"1440": {"width": 1440, "height": 900}, "390": {"width": 390, "height": 844}}


def sized_page(browser: Browser, size: str, **options: object) -> Page:
    """A page in a fresh context at one of `SIZES` (with these context `options`); at phone
    size a touch device."""
    phone = size == "390"
    context = browser.new_context(viewport=SIZES[size], is_mobile=phone, has_touch=phone, **options)
    return context.new_page()


def new_partner_page(
    browser: Browser, server: Server, size: str, username: str, path: str = ""
) -> tuple[Page, Actor]:
    """A new active partner `username`, signed in at one of `SIZES`, on the page at `path`;
    the page and the partner."""
    with unit_of_work(get_engine(server.database_url)) as db:
        partner = make_actor(db, username=username)
    page = sized_page(browser, size)
    sign_in(page, server.url, partner.username, PASSWORD)
    page.goto(f"{server.url}/{path}")
    settle(page)
    return page, partner


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield Browser(chromium)
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


def settle(page: Page) -> None:
    """Wait until the run that the user's last action asked for has completed. Only after an
    action that reruns the page: typing in a form does not, so settling then waits in vain."""
    page.wait_for_function(SETTLED, timeout=60_000)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    """Sign in as a person would: type and click as soon as the form is there; then wait
    until the login cookie is stored, so that the next page opened finds the session."""
    page.goto(url)
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    settle(page)
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    wait_for_cookie(page)


# The server writes (or clears) the HttpOnly login cookie in answer to a hidden image's
# request: once that image has loaded, the browser holds the cookie.
COOKIE_IMAGE_LOADED = """() => {
  const images = Array.from(document.querySelectorAll('img[src*="auth/cookie"]'));
  return images.length > 0 && images.every((image) => image.complete);
}"""


def wait_for_cookie(page: Page) -> None:
    page.wait_for_function(COOKIE_IMAGE_LOADED)


def login_cookie(page: Page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == COOKIE_NAME), None)


def choose(page: Page, label: str, option: str, *, in_form: bool = False) -> None:
    """Pick an option of a selectbox as a mouse user does: its Open button, then the option,
    each once it is there; chosen once the list has closed on it. (Typed text is no choice:
    the box shows what was typed whether or not an option was taken, and typing did not
    always open the list.) Outside a form the choice reruns the page: wait for that run."""
    box = page.get_by_label(label)
    opener = page.get_by_test_id("stSelectbox").filter(has=box).get_by_role("button", name="Open")
    listbox = page.get_by_role("listbox")
    # Under a CPU hog a press on Open was seen to be lost (the list never opened), and a
    # late one to close the list again while its option was being clicked (the option
    # detached, the list gone): until the box shows the option, open the list only when it
    # is closed, never blindly, and take the option again.
    for _ in range(4):
        if not listbox.is_visible():
            opener.click()
        try:
            listbox.wait_for(state="visible", timeout=10_000)
            listbox.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            expect(listbox).to_have_count(0, timeout=10_000)
            expect(box).to_have_value(option, timeout=5_000)
            break
        except (PlaywrightTimeoutError, AssertionError):
            continue
    if not in_form:
        settle(page)
    expect(box).to_have_value(option)


def _focus_cell(page: Page, *, row: int, column: int, grid: int):  # type: ignore[no-untyped-def]
    """Select a data-grid cell as a keyboard user does. The grid is a canvas, mirrored by an
    accessible table whose cells take the focus as the selection moves: select the row's
    index cell, then move right to data column `column` (0 = first after the index) one key
    at a time, each once the previous one has landed."""
    table = page.locator('[data-testid="stDataFrame"]').nth(grid)

    def cell(grid_column: int):  # type: ignore[no-untyped-def]
        return table.locator(f'[data-testid="glide-cell-{grid_column}-{row}"]')

    expect(cell(column + 1)).to_be_attached()
    # The index (the row's id) is the first column whatever the widths: start there. A grid
    # redrawn as a dialog closes was seen to show its index column alone for a moment, and
    # a click then selects nothing: click again (selecting a cell twice is harmless) until
    # the cell has the focus.
    for _ in range(3):
        table.scroll_into_view_if_needed()  # a click outside the viewport lands nowhere
        box = table.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 20, box["y"] + 35 * (row + 1) + 17)
        try:
            expect(cell(0)).to_be_focused(timeout=5_000)
            break
        except AssertionError:
            continue
    expect(cell(0)).to_be_focused()
    for grid_column in range(1, column + 2):
        page.keyboard.press("ArrowRight")
        expect(cell(grid_column)).to_be_focused()
    return cell(column + 1)


def edit_cell(
    page: Page, *, row: int, column: int, value: str, grid: int = 0, shot: str | None = None
) -> None:
    """Change a data-editor cell: select it, open its editor with Enter and, once it has
    focus, type the value (a selectbox cell's editor is a combobox: pick the option once it
    is listed; `shot` names a screenshot taken then, mid-edit), and commit it with Enter.
    The lead table acts on a committed cell at once: wait for the run that causes."""
    _focus_cell(page, row=row, column=column, grid=grid)
    page.keyboard.press("Enter")
    editor = page.locator("#portal .gdg-style").locator("input, textarea").first
    expect(editor).to_be_focused()
    if editor.get_attribute("role") == "combobox":
        page.keyboard.type(value)
        expect(page.get_by_role("option", name=value, exact=True)).to_be_visible()
        if shot:
            shoot(page, shot)
    else:
        editor.fill(value)
    page.keyboard.press("Enter")
    expect(page.locator("#portal .gdg-style")).to_have_count(0)
    settle(page)


def tick_cell(page: Page, *, row: int, column: int, grid: int = 0) -> None:
    """Toggle a checkbox cell from the keyboard (Space on the selected cell), then wait for
    the run the change causes."""
    _focus_cell(page, row=row, column=column, grid=grid)
    page.keyboard.press("Space")
    settle(page)


def select_row(page: Page, *, row: int, grid: int = 0) -> None:
    """Tick a row of a table with row selection (its marker, left of the first column),
    then wait for the run the selection causes."""
    table = page.locator('[data-testid="stDataFrame"]').nth(grid)
    expect(table.locator(f'[data-testid="glide-cell-1-{row}"]')).to_be_attached()
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 16, box["y"] + 35 * (row + 1) + 17)
    settle(page)
