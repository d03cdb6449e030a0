"""Load on the web tier: many partners (and a few managers) signed in at once, each acting
like a person — Dashboard, Leads (older page, a status filter, one inline status edit),
Commissions — with think time between actions, for a fixed time, against app processes this
harness starts on free ports. It reports page-settle p50/p95/p99 (from the action sent until the
script run it caused has finished), completed actions per second, errors, each server's CPU
and resident memory, and memory once every session has closed.

    DATABASE_URL=postgresql+psycopg://…/scale .venv/bin/python bench/web_load.py \\
        --partners 100 --managers 2 --think 10 --seconds 90 [--processes 2] [--idle]
        [--balancer]   # through Debian's HAProxy with deploy/haproxy.cfg, as deployed

The sessions speak Streamlit's own protocol over its websocket (`/_stcore/stream`: BackMsg
out, ForwardMsg in), as the browser does — a widget inside a fragment reruns that fragment
alone — which costs the client a few per cent of a core, so the server is what is measured.
The same actions are then run against the web floor (`bench/floor/`: the same pages drawing
the same elements, with every action (`actions.run`) answered from memory after its first time: no
database, no services) and the page settle is printed as a ratio to it; `--repeats N` runs
each N times, alternating (portal, floor, floor, portal, …), and gives the ratio of all their
page settles, so that a drift in the machine's speed falls on both sides. `--idle` first
measures what idle sessions cost in memory and whether closing them gives it back.

The database must hold a generated program (`python -m portal generate …`): users
`partner<N>` and `manager` exist; sessions are opened for them directly (no password typed).
The partners taken are the active ones with the most pending leads, so that repeated runs on
one database still find leads to move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from portal.core.config import get_settings  # noqa: E402
from portal.core.db import get_engine, unit_of_work  # noqa: E402
from portal.core.models import Lead, LeadStatus, Partner, PartnerStatus, User  # noqa: E402
from portal.tools import serve  # noqa: E402
from tests.streamlit_protocol import (  # noqa: E402
    RUN_TIMEOUT,
    ProtocolSession,
    open_sessions,
)

# --- app processes -----------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")


@dataclass
class Front:
    """Where the simulated browsers connect: an app process, or the balancer in front."""

    url: str


def start_balancer(servers: list[Server], log_dir: Path) -> tuple[Front, subprocess.Popen[bytes]]:
    """Debian's HAProxy with deploy/haproxy.cfg (as deployed) in front of two app processes:
    each browser's websocket is balanced once and stays on its process."""
    if len(servers) != 2:
        raise SystemExit("--balancer runs deploy/haproxy.cfg, which has two app processes")
    port = serve.free_port()
    env = {
        **os.environ,
        "PORTAL_LB_BIND": f"127.0.0.1:{port}",
        "PORTAL_APP1": servers[0].url.removeprefix("http://"),
        "PORTAL_APP2": servers[1].url.removeprefix("http://"),
    }
    log = (log_dir / f"haproxy-{port}.log").open("w")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    process = subprocess.Popen(
        [haproxy, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    front = Front(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{front.url}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return front, process
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"haproxy did not come up; see {log.name}")
        time.sleep(0.2)


def start_server(script: str, env: dict[str, str], log_dir: Path) -> Server:
    port = serve.free_port()
    log = (log_dir / f"server-{port}.log").open("w")
    server = Server(f"http://127.0.0.1:{port}", serve.start(port, env, script=script, log=log))
    try:
        serve.wait_until_healthy(server.url, server.process)
    except RuntimeError as error:
        raise RuntimeError(f"{error}; see {log.name}") from None
    return server


# --- sign-in -----------------------------------------------------------------------------


def partners_with_pending_leads(count: int) -> list[str]:
    """Usernames of the active partners with the most pending leads (the big first one aside):
    every round moves one pending lead on, for good, and runs repeat on the same database, so
    partners picked by number would run out of leads to move and their edits turn into reruns."""
    pending = (
        select(Lead.partner_id, func.count().label("leads"))
        .where(Lead.status == LeadStatus.PENDING)
        .group_by(Lead.partner_id)
        .subquery()
    )
    with unit_of_work() as session:
        usernames = session.scalars(
            select(User.username)
            .join(Partner, Partner.id == User.partner_id)
            .join(pending, pending.c.partner_id == Partner.id)
            .where(
                Partner.status == PartnerStatus.ACTIVE,
                User.is_active.is_(True),
                User.username != "partner1",
            )
            .order_by(pending.c.leads.desc(), Partner.id)
            .limit(count)
        ).all()
    if len(usernames) < count:
        raise SystemExit(f"only {len(usernames)} active partners with pending leads")
    return list(usernames)


# --- what a person does ------------------------------------------------------------------

# The steps each person repeats, in order (`act` says what each does).
# The older page before the filter: a partner's pending leads rarely fill a page.
PARTNER_ROUND = ("dashboard", "leads", "older", "filter", "edit", "commissions")
MANAGER_ROUND = ("overview", "all leads", "partners", "payouts")
MANAGER_PAGES = {
    "overview": "",
    "all leads": "manager_leads",
    "partners": "manager_partners",
    "payouts": "manager_payouts",
}


async def act(client: ProtocolSession, step: str) -> tuple[str, float]:
    """Take `step`; what was done and the seconds until its run finished. A step the page
    does not offer at the moment (no status filter, no older page, no pending lead to move)
    is a plain rerun, counted as "rerun", not as the step."""
    if step == "dashboard":
        return step, await client.run("")
    if step == "leads":
        return step, await client.run("partner_leads")
    if step == "filter":  # to the pending leads, which the edit then moves on
        if LeadStatus.PENDING.value in client.drawn.options.get("Status", []):
            pending = client.choice("Status", LeadStatus.PENDING.value)
            return step, await client.run(widgets=[pending])
    elif step == "older":
        if "Older →" in client.drawn.widgets:
            return step, await client.run(widgets=[client.button("Older →")])
    elif step == "edit":
        edit = client.status_edit("Pending", "Contacted")
        if edit is not None:
            return step, await client.run(widgets=[edit])
    elif step == "commissions":
        return step, await client.run("partner_commissions")
    else:
        return step, await client.run(MANAGER_PAGES[step])
    return "rerun", await client.run()


@dataclass
class Tally:
    settle: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    actions: int = 0
    # Action sent → the server's first message for it: how long the server took to take the
    # action up (its run's thread started; the page may still wait for a run slot after).
    first_reply: list[float] = field(default_factory=list)


async def person(
    server: Server,
    token: str,
    round_: tuple[str, ...],
    think: float,
    until: float,
    tally: Tally,
    rounds: int | None = None,
) -> None:
    """One person acting `think` seconds apart until `until`, and for one round at least (or
    for `rounds` rounds' worth of actions): every step is taken however slow the server."""
    client = ProtocolSession(server.url, token)
    wanted = len(round_) * (rounds if rounds is not None else 1)
    try:
        await client.connect()
        await asyncio.sleep(random.uniform(0, think))  # not everyone starts at once
        step = attempts = 0
        while attempts < wanted or (rounds is None and time.monotonic() < until):
            attempts += 1
            name = round_[step % len(round_)]
            try:
                done, seconds = await act(client, name)
                if attempts == 1:  # a new session's first view: signed in from the cookie
                    done = f"{done} (new)"
                tally.settle[done].append(seconds)
                first_reply = client.first_reply
                tally.first_reply.append(seconds if first_reply is None else first_reply)
                tally.actions += 1
            except Exception as error:
                tally.errors.append(f"{name}: {error}")
                client.page = ""  # start the round again from the dashboard
                step = -1
            step += 1
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
    except Exception as error:
        tally.errors.append(f"connect: {error}")
    finally:
        await client.close()


# --- the reference: real Chromium sessions --------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
BROWSER_ROUND = ("dashboard", "leads", "older", "commissions")
BROWSER_LINKS = {"dashboard": "Dashboard", "leads": "Leads", "commissions": "Commissions"}


async def browser_person(
    chromium: Any, server: Server, token: str, think: float, until: float, tally: Tally
) -> None:
    """A partner in Chromium doing the protocol round's page views (the sidebar's links, as
    the protocol sessions switch pages within their session; "open" is the first load of
    the app) and page turn; settled when the run its action asked for has finished (the
    browser tests' own run tracker)."""
    from tests.browser.conftest import RUN_TRACKER, SETTLED

    context = await chromium.new_context(viewport={"width": 1440, "height": 900})
    try:
        await context.add_cookies(
            [{"name": get_settings().cookie_name, "value": token, "url": server.url}]
        )
        await context.add_init_script(RUN_TRACKER)
        page = await context.new_page()
        await asyncio.sleep(random.uniform(0, think))
        started = time.perf_counter()
        try:
            await page.goto(server.url)
            await page.wait_for_function(SETTLED, timeout=RUN_TIMEOUT * 1000)
        except Exception as error:
            tally.errors.append(f"browser open: {error}")
            return
        tally.settle["open"].append(time.perf_counter() - started)
        tally.actions += 1  # however short the run, each browser session makes this one
        step = 1  # on the dashboard
        while time.monotonic() < until:
            name = BROWSER_ROUND[step % len(BROWSER_ROUND)]
            step += 1
            started = time.perf_counter()
            try:
                if name == "older":
                    older = page.get_by_role("button", name="Older →")
                    if not await older.count() or not await older.is_enabled():
                        continue
                    await older.click()
                else:
                    links = page.get_by_test_id("stSidebarNav")
                    await links.get_by_role("link", name=BROWSER_LINKS[name]).click()
                await page.wait_for_function(SETTLED, timeout=RUN_TIMEOUT * 1000)
                tally.settle[name].append(time.perf_counter() - started)
                tally.actions += 1
                if await page.get_by_test_id("stException").count():
                    tally.errors.append(f"browser {name}: an exception on the page")
            except Exception as error:
                tally.errors.append(f"browser {name}: {error}")
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
    finally:
        await context.close()


# --- one measured run --------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


@dataclass
class Figures:
    label: str
    sessions: int
    seconds: float
    tally: Tally
    cpu_percent: list[float]
    rss_start: list[float]
    rss_peak: list[float]
    rss_after: list[float]
    client_cpu_percent: float
    floor_misses: int = 0
    browser_tally: Tally | None = None
    client_lag_max: float = 0.0

    def cpu_ms_per_action(self) -> float:
        """Server CPU per completed action, the cost that bounds how many sessions fit."""
        cpu_seconds = sum(self.cpu_percent) / 100 * self.seconds
        return 1000 * cpu_seconds / max(1, self.tally.actions)

    def all_settle(self) -> list[float]:
        return [s for values in self.tally.settle.values() for s in values]

    def line(self) -> str:
        settle = self.all_settle()
        return (
            f"{self.label:<28} {self.sessions:>4} sessions  "
            f"p50 {percentile(settle, 0.5) * 1000:6.0f} ms  "
            f"p95 {percentile(settle, 0.95) * 1000:6.0f} ms  "
            f"p99 {percentile(settle, 0.99) * 1000:6.0f} ms  "
            f"{self.tally.actions / self.seconds:5.1f} actions/s  "
            f"errors {len(self.tally.errors)}  "
            f"CPU {'+'.join(f'{c:.0f}' for c in self.cpu_percent)} % "
            f"({self.cpu_ms_per_action():.0f} ms/action), client {self.client_cpu_percent:.0f} %  "
            f"RSS MB start {'+'.join(f'{m:.0f}' for m in self.rss_start)} "
            f"peak {'+'.join(f'{m:.0f}' for m in self.rss_peak)} "
            f"after {'+'.join(f'{m:.0f}' for m in self.rss_after)}"
        )


async def measure(
    label: str,
    servers: list[Server],
    tokens: list[tuple[str, tuple[str, ...]]],
    fronts: list[Any],
    think: float,
    seconds: float,
    settle_after: float,
    browser_tokens: list[str] | None = None,
    *,
    idle: bool = False,
) -> Figures:
    tally, browser_tally = Tally(), Tally()
    playwright = chromium = None
    if browser_tokens:
        from playwright.async_api import async_playwright

        playwright = await async_playwright().start()
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
    cpu_before = [s.cpu_seconds() for s in servers]
    client_before = time.process_time()
    rss_start = [s.rss_mb() for s in servers]
    peak = list(rss_start)
    started = time.monotonic()
    until = started + seconds
    people = [
        asyncio.create_task(person(fronts[index % len(fronts)], token, round_, think, until, tally))
        for index, (token, round_) in enumerate(tokens)
    ]
    people += [
        asyncio.create_task(
            browser_person(
                chromium, fronts[index % len(fronts)], token, think, until, browser_tally
            )
        )
        for index, token in enumerate(browser_tokens or [])
    ]
    client_lag: list[float] = []
    lag_watch = asyncio.create_task(loop_lag(client_lag))
    while not all(task.done() for task in people):
        await asyncio.sleep(1)
        peak = [max(p, s.rss_mb()) for p, s in zip(peak, servers, strict=True)]
    elapsed = time.monotonic() - started
    lag_watch.cancel()
    cpu = [
        100 * (s.cpu_seconds() - before) / elapsed
        for s, before in zip(servers, cpu_before, strict=True)
    ]
    client = 100 * (time.process_time() - client_before) / elapsed
    if chromium is not None and playwright is not None:
        await chromium.close()
        await playwright.stop()
    await asyncio.sleep(settle_after)  # sessions are dropped a moment after their socket closes
    rss_after = [s.rss_mb() for s in servers]
    figures = Figures(label, len(tokens), elapsed, tally, cpu, rss_start, peak, rss_after, client)
    figures.client_lag_max = max(client_lag, default=0.0)
    figures.browser_tally = browser_tally if browser_tokens else None
    return figures


async def loop_lag(lags: list[float], every: float = 0.1) -> None:
    """How late this client's event loop wakes: were it busy, the settles it measures would
    be its own delays, not the server's."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(time.perf_counter() - started - every)


async def warm_up(servers: list[Any], people: list[tuple[str, tuple[str, ...]]]) -> None:
    """One round per session without think time (pools, the floor's memory): every session's
    first page view reaches the fresh server at once, and must draw without an error."""
    tally = Tally()
    await asyncio.gather(
        *(
            person(servers[index % len(servers)], token, round_, 0.0, 0.0, tally, rounds=1)
            for index, (token, round_) in enumerate(people)
        )
    )
    if tally.errors:
        raise SystemExit(f"the warm-up round failed: {'; '.join(tally.errors[:5])}")


async def idle_sessions(
    server: Server, people: list[tuple[str, tuple[str, ...]]], settle_after: float
) -> str:
    """Resident memory before, with every person signed in and idle on the dashboard, and
    after they have all closed: what an idle session costs and whether it is given back."""
    before = server.rss_mb()
    clients = [ProtocolSession(server.url, token) for token, _ in people]
    for client in clients:
        await client.connect()
        await client.run("")
    await asyncio.sleep(5)
    idle = server.rss_mb()
    for client in clients:
        await client.close()
    await asyncio.sleep(settle_after)
    after = server.rss_mb()
    return (
        f"idle sessions: {len(clients)}  RSS MB before {before:.0f}, idle {idle:.0f} "
        f"({(idle - before) / len(clients):.2f} MB per session), after closing {after:.0f} "
        f"({100 * (after - before) / before:+.1f} %)"
    )


def floor_misses(servers: list[Server]) -> int:
    total = 0
    for server in servers:
        with urllib.request.urlopen(f"{server.url}/floor/misses", timeout=10) as answer:
            total += json.load(answer)["count"]
    return total


def run_against(
    script: str,
    label: str,
    args: argparse.Namespace,
    people: list[tuple[str, tuple[str, ...]]],
    browser_tokens: list[str] | None = None,
    *,
    idle: bool = False,
) -> Figures:
    logs = ROOT / "bench" / "logs"
    logs.mkdir(exist_ok=True)
    # The mail sender runs beside the app in `make run`; here it would only add noise.
    env = {
        **os.environ,
        "DATABASE_URL": get_settings().sqlalchemy_url,
        "PORTAL_MAIL_SENDER_THREAD": "false",
    }
    servers = [start_server(script, env, logs) for _ in range(args.processes)]
    balancer = None
    try:
        fronts: list[Any] = list(servers)
        if args.balancer:
            front, balancer = start_balancer(servers, logs)
            fronts = [front]
        asyncio.run(warm_up(fronts, people))
        floor = script.startswith("bench/floor")
        if idle:
            print(asyncio.run(idle_sessions(servers[0], people, args.settle_after)), flush=True)
        before = floor_misses(servers) if floor else 0
        figures = asyncio.run(
            measure(
                label,
                servers,
                people,
                fronts,
                args.think,
                args.seconds,
                args.settle_after,
                browser_tokens,
            )
        )
        if floor:
            figures.floor_misses = floor_misses(servers) - before
        return figures
    finally:
        if balancer is not None:
            balancer.terminate()
            balancer.wait(timeout=30)
        for server in servers:
            server.process.terminate()
            server.process.wait(timeout=30)


def print_figures(figures: Figures) -> None:
    print(figures.line(), flush=True)
    first_reply = figures.tally.first_reply
    print(
        f"  first reply p50 {percentile(first_reply, 0.5) * 1000:.0f} ms, "
        f"p95 {percentile(first_reply, 0.95) * 1000:.0f} ms; "
        f"the client's own event loop lagged at most {figures.client_lag_max * 1000:.0f} ms",
        flush=True,
    )
    for step, values in sorted(figures.tally.settle.items()):
        print(
            f"  {step:<12} n={len(values):5}  p50 {statistics.median(values) * 1000:6.0f} ms  "
            f"p95 {percentile(values, 0.95) * 1000:6.0f} ms",
            flush=True,
        )
    for error in figures.tally.errors[:10]:
        print(f"  error: {error}", flush=True)
    if figures.browser_tally is not None:
        browsers = figures.browser_tally
        print(f"  in Chromium: {browsers.actions} actions, errors {len(browsers.errors)}")
        for step, values in sorted(browsers.settle.items()):
            print(
                f"  browser {step:<12} n={len(values):5}  "
                f"p50 {statistics.median(values) * 1000:6.0f} ms  "
                f"p95 {percentile(values, 0.95) * 1000:6.0f} ms",
                flush=True,
            )
        for error in browsers.errors[:5]:
            print(f"  browser error: {error}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=20, help="active partners at once")
    parser.add_argument("--managers", type=int, default=1)
    parser.add_argument("--think", type=float, default=10.0, help="seconds between actions")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    parser.add_argument("--processes", type=int, default=1, help="app processes (sticky)")
    parser.add_argument("--settle-after", type=float, default=15.0)
    parser.add_argument(
        "--balancer",
        action="store_true",
        help="connect through Debian's HAProxy with deploy/haproxy.cfg (needs --processes 2)",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the web floor's run")
    parser.add_argument(
        "--idle", action="store_true", help="first measure the memory of idle sessions"
    )
    parser.add_argument(
        "--browsers", type=int, default=0, help="partners in Chromium besides (the reference)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="portal and floor runs each, alternating; the ratio is of all their page settles",
    )
    args = parser.parse_args()
    for name in ("partners", "processes", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.managers < 0 or args.browsers < 0 or args.think < 0 or args.seconds <= 0:
        parser.error("--managers and --think must not be negative, --seconds must be positive")

    chosen = partners_with_pending_leads(args.partners + args.browsers)
    partners, in_browsers = chosen[: args.partners], chosen[args.partners :]
    managers = ["manager"] * args.managers
    tokens = open_sessions(sorted(set(partners + managers + in_browsers)))
    get_engine().dispose()
    people = [(tokens[name], PARTNER_ROUND) for name in partners]
    people += [(tokens[name], MANAGER_ROUND) for name in managers]

    # Portal and floor alternate, each repeat in the other order (portal, floor, floor,
    # portal…): a machine whose speed drifts over the minutes of the runs (a shared host's does)
    # slows both sides alike instead of the one measured last.
    sides = [("portal/ui/server.py", "portal"), ("bench/floor/server.py", "floor")]
    if args.no_floor:
        sides = sides[:1]
    settles: dict[str, list[float]] = {name: [] for _, name in sides}
    for repeat in range(args.repeats):
        ran: dict[str, Figures] = {}
        for script, name in sides if repeat % 2 == 0 else sides[::-1]:
            first_portal_run = name == "portal" and repeat == 0
            figures = run_against(
                script,
                f"{name} ×{args.processes}" + (" via HAProxy" if args.balancer else ""),
                args,
                people,
                [tokens[who] for who in in_browsers] if first_portal_run else None,
                idle=args.idle and first_portal_run,
            )
            print_figures(figures)
            if name == "floor":
                print(f"  floor: {figures.floor_misses} action(s) missed memory during the run")
            ran[name] = figures
            settles[name] += figures.all_settle()
        if len(ran) == 2 and args.repeats > 1:
            print_ratios(ran["portal"].all_settle(), ran["floor"].all_settle(), f"run {repeat + 1}")
    if not args.no_floor:
        print_ratios(settles["portal"], settles["floor"], "page settle")


def print_ratios(ours: list[float], floor: list[float], label: str) -> None:
    for share, name in ((0.5, "p50"), (0.95, "p95")):
        ratio = percentile(ours, share) / percentile(floor, share)
        print(f"{label} {name}: portal / floor = {ratio:.2f}×  (target ≤ 1.5×)", flush=True)


if __name__ == "__main__":
    main()
