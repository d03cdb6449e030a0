"""A client of Streamlit's own protocol over its websocket (`/_stcore/stream`: BackMsg out,
ForwardMsg in), as the browser speaks it — a widget inside a fragment reruns that fragment
alone — and that tells how each script run an action caused ended. Used by the tests that ask
a running server how many runs an action costs, and by the web-tier load bench
(`bench/web_load.py`), which drives hundreds of such sessions at once."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import websockets
from sqlalchemy import select
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from portal.accounts import users
from portal.core.config import get_settings
from portal.core.db import unit_of_work
from portal.core.models import User

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a page's largest message (tables, figures)
FINISHED_EARLY_FOR_RERUN = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
FINISHED_WITH_COMPILE_ERROR = ForwardMsg.ScriptFinishedStatus.FINISHED_WITH_COMPILE_ERROR
FINISHED_FRAGMENT_RUN = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
RUN_TIMEOUT = 60.0
SIGNED_IN_MARK = "Sign out"  # the sidebar button every signed-in page run draws


def open_sessions(usernames: list[str]) -> dict[str, str]:
    """A live login session per user, as signing in would open it: username → cookie token."""
    tokens = {}
    expires_at = datetime.now(UTC) + timedelta(days=1)
    with unit_of_work() as session:
        ids = {
            username: user_id
            for username, user_id in session.execute(
                select(User.username, User.id).where(User.username.in_(usernames))
            )
        }
        missing = sorted(set(usernames) - set(ids))
        if missing:
            raise SystemExit(f"no such users in the database: {', '.join(missing[:5])} …")
        for username in usernames:
            token = secrets.token_urlsafe(32)
            users.open_session(
                session,
                user_id=ids[username],
                token=token,
                expires_at=expires_at,
                client_address="127.0.0.1",
                user_agent="tests/streamlit_protocol.py",
            )
            tokens[username] = token
    return tokens


@dataclass
class Drawn:
    """What the last run drew that a person would act on."""

    widgets: dict[str, str] = field(default_factory=dict)  # label → widget id
    options: dict[str, list[str]] = field(default_factory=dict)
    # The data editor's id, its Arrow data and which of its columns can be edited.
    editor: tuple[str, bytes, set[str]] | None = None
    fragments: dict[str, str] = field(default_factory=dict)  # widget id → its fragment
    errors: list[str] = field(default_factory=list)


class ProtocolSession:
    """One signed-in user's connection: each `run` sends what the browser sends for a page
    view or a widget change and waits until the script run it caused has finished."""

    def __init__(self, url: str, cookie: str | None) -> None:
        self.url = url
        self.cookie = cookie
        self.page = ""
        # As a browser does: a run names its page by the script hash the navigation gave
        # (a page's own `st.rerun()` reruns the page its run was asked for by hash).
        self.page_hashes: dict[str, str] = {}  # url path → page script hash
        self.page_hash = ""  # of the page shown
        self.drawn = Drawn()
        self.socket: websockets.ClientConnection | None = None
        self.first_reply: float | None = None  # of the last run
        # How each script run the last action caused ended (a fragment's own run, a whole
        # page's, one cut short for another): one action should cost one run.
        self.finished: list[int] = []

    async def connect(self) -> None:
        headers = {"Origin": self.url}
        if self.cookie is not None:
            headers["Cookie"] = f"{get_settings().cookie_name}={self.cookie}"
        self.socket = await websockets.connect(
            self.url.replace("http", "ws", 1) + "/_stcore/stream",
            subprotocols=[websockets.Subprotocol("streamlit")],
            additional_headers=headers,
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=RUN_TIMEOUT,
            ping_interval=None,
        )

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()

    async def run(self, page: str | None = None, widgets: list[WidgetState] = ()) -> float:
        """Open `page` (None: the current one) with `widgets` changed; the seconds until the
        run finished. Raises on a failed run or an exception drawn on the page."""
        if page is not None:
            self.page = page
            self.page_hash = self.page_hashes.get(page, "")
        message = BackMsg()
        message.rerun_script.page_name = self.page
        message.rerun_script.page_script_hash = self.page_hash
        message.rerun_script.query_string = ""
        message.rerun_script.widget_states.widgets.extend(widgets)
        # A widget inside a fragment reruns that fragment alone, as the browser asks.
        fragments = {self.drawn.fragments.get(widget.id, "") for widget in widgets}
        if page is None and len(fragments) == 1:
            message.rerun_script.fragment_id = fragments.pop()
        assert self.socket is not None
        started = time.perf_counter()
        await self.socket.send(message.SerializeToString())
        drawn = Drawn()
        self.first_reply = None
        self.finished = []
        while True:
            data = await asyncio.wait_for(self.socket.recv(), RUN_TIMEOUT)
            if self.first_reply is None:
                self.first_reply = time.perf_counter() - started
            forward = ForwardMsg()
            forward.ParseFromString(data)
            kind = forward.WhichOneof("type")
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                _note(forward.delta.new_element, drawn, forward.delta.fragment_id)
            elif kind == "navigation":
                for app_page in forward.navigation.app_pages:
                    self.page_hashes[app_page.url_pathname] = app_page.page_script_hash
                    if app_page.is_default:
                        self.page_hashes[""] = app_page.page_script_hash
                self.page_hash = forward.navigation.page_script_hash
            elif kind == "page_not_found":
                drawn.errors.append(f"page not found: {self.page}")
            elif kind == "script_finished":
                self.finished.append(forward.script_finished)
                if forward.script_finished == FINISHED_EARLY_FOR_RERUN:
                    continue
                seconds = time.perf_counter() - started
                if forward.script_finished == FINISHED_WITH_COMPILE_ERROR:
                    drawn.errors.append("the page did not compile")
                if forward.script_finished == FINISHED_FRAGMENT_RUN:
                    drawn = self._merged(drawn)
                elif SIGNED_IN_MARK not in drawn.widgets:
                    # A blank page or the sign-in form would otherwise count as a fast view.
                    drawn.errors.append(f"not a signed-in page: no {SIGNED_IN_MARK!r} button")
                self.drawn = drawn
                if drawn.errors:
                    raise RuntimeError("; ".join(drawn.errors))
                return seconds

    def _merged(self, fragment: Drawn) -> Drawn:
        """After a fragment's run: what it drew replaces its part of the page only."""
        rerun = set(fragment.fragments.values())
        kept = {
            label: widget_id
            for label, widget_id in self.drawn.widgets.items()
            if self.drawn.fragments.get(widget_id, "") not in rerun
        }
        return Drawn(
            widgets={**kept, **fragment.widgets},
            options={**self.drawn.options, **fragment.options},
            editor=fragment.editor if fragment.editor is not None else self.drawn.editor,
            fragments={**self.drawn.fragments, **fragment.fragments},
            errors=fragment.errors,
        )

    def button(self, label: str) -> WidgetState:
        state = WidgetState(id=self._id(label))
        state.trigger_value = True
        return state

    def choice(self, label: str, option: str) -> WidgetState:
        state = WidgetState(id=self._id(label))
        state.string_value = option
        return state

    def _id(self, label: str) -> str:
        if label not in self.drawn.widgets:
            raise RuntimeError(f"no widget {label!r} on {self.page or 'the home page'}")
        return self.drawn.widgets[label]

    def status_edit(self, before: str, after: str) -> WidgetState | None:
        """The data editor's state after moving the first row showing `before` to `after`."""
        if self.drawn.editor is None:
            return None
        editor_id, data, editable = self.drawn.editor
        if "Status" not in editable:  # a partner whose account is read-only
            return None
        statuses = pa.ipc.open_stream(data).read_all().column("Status").to_pylist()
        if before not in statuses:
            return None
        row = statuses.index(before)
        state = WidgetState(id=editor_id)
        state.string_value = json.dumps(
            {"edited_rows": {str(row): {"Status": after}}, "added_rows": [], "deleted_rows": []}
        )
        return state


def _note(element, drawn: Drawn, fragment_id: str) -> None:  # type: ignore[no-untyped-def]
    kind = element.WhichOneof("type")
    if kind == "exception":
        drawn.errors.append(f"exception: {element.exception.message[:200]}")
        return
    if kind == "alert" and element.alert.format == element.alert.ERROR:
        drawn.errors.append(f"error shown: {element.alert.body[:200]}")
        return
    if kind in ("dataframe", "arrow_data_frame"):  # named dataframe since Streamlit 1.6x
        frame = getattr(element, kind)
        if frame.id:  # editable
            data = frame.arrow_data.data if kind == "dataframe" else frame.data
            columns = json.loads(frame.columns or "{}")
            editable = {name for name, config in columns.items() if not config.get("disabled")}
            drawn.editor = (frame.id, data, editable)
            drawn.fragments[frame.id] = fragment_id
        return
    widget = getattr(element, kind, None) if kind else None
    if getattr(widget, "disabled", False):
        return  # nobody can click or change it
    label = getattr(widget, "label", None)
    widget_id = getattr(widget, "id", None)
    if label and widget_id:
        drawn.widgets[label] = widget_id
        drawn.fragments[widget_id] = fragment_id
        if kind == "selectbox":
            drawn.options[label] = list(widget.options)
