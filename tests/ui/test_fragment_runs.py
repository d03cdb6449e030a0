"""A click inside a fragment reruns that fragment alone, and a click outside one runs its page
once: asked of a running server through Streamlit's protocol (tests/streamlit_protocol.py),
which tells how each script run an action caused ended."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pyarrow as pa
import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from portal.core import config, migrate
from portal.core.db import get_engine
from portal.tools import generate
from tests.browser.conftest import run_app
from tests.conftest import create_sqlite_database
from tests.streamlit_protocol import FINISHED_FRAGMENT_RUN, ProtocolSession, open_sessions

pytestmark = pytest.mark.server

FINISHED = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY  # a whole page's run


@pytest.fixture(scope="module")
def partner_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running app on a generated program, and a login token of a partner with hundreds of
    leads (the first holds a tenth of them, the second the rest)."""
    folder = tmp_path_factory.mktemp("fragments")
    url = create_sqlite_database(folder)
    engine = get_engine(url)
    migrate.upgrade(engine)
    generate.generate(engine, partners=2, leads=600, seed=3)  # pages of 50: more than two
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        patch.setenv("PORTAL_DATA_DIR", str(folder))  # the server's secret key, as run_app's
        config.get_settings.cache_clear()
        token = open_sessions(["partner2"])["partner2"]
    config.get_settings.cache_clear()
    engine.dispose()
    with run_app(folder, url) as server:
        yield server.url, token


def test_the_lead_table_filters_and_turns_pages_in_one_fragment_run(partner_session):
    url, token = partner_session

    async def journey() -> list[tuple[str, list[int], list[int]]]:
        client = ProtocolSession(url, token)
        await client.connect()
        runs = []
        try:
            await client.run("")  # the first run signs in (from the cookie) on the dashboard
            await client.run("partner_leads")
            runs.append(("open the page", client.finished, _lead_ids(client)))
            for label, widgets in (
                ("older", lambda: [client.button("Older →")]),
                ("older again", lambda: [client.button("Older →")]),
                ("newer", lambda: [client.button("← Newer")]),
                ("filter", lambda: [client.choice("Status", "pending")]),
            ):
                await client.run(widgets=widgets())
                runs.append((label, client.finished, _lead_ids(client)))
        finally:
            await client.close()
        return runs

    runs = asyncio.run(journey())
    assert [(label, finished) for label, finished, _ in runs] == [
        ("open the page", [FINISHED]),
        ("older", [FINISHED_FRAGMENT_RUN]),
        ("older again", [FINISHED_FRAGMENT_RUN]),
        ("newer", [FINISHED_FRAGMENT_RUN]),
        ("filter", [FINISHED_FRAGMENT_RUN]),
    ]
    first, older, older_again, newer, _ = (ids for _, _, ids in runs)
    assert len(first) == len(older) == 50, "every page turn drew a full page of the table"
    assert not set(first) & set(older) and not set(first + older) & set(older_again), (
        "each turn drew leads not shown before"
    )
    assert newer == older


def _lead_ids(client: ProtocolSession) -> list[int]:
    """The leads in the table the last run drew (its rows are indexed by lead number)."""
    if client.drawn.editor is None:
        return []
    table = pa.ipc.open_stream(client.drawn.editor[1]).read_all()
    return [int(number) for number in table.column("Lead").to_pylist()]
