"""Helpers for AppTest: the app as a given user, and finding elements by what they say."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from portal.accounts import users
from portal.core.access import Actor
from portal.core.config import PROJECT_ROOT
from portal.core.db import unit_of_work
from portal.core.fmt import WORD_JOINER
from portal.core.types import utc_now
from portal.ui import session

HOME = str(PROJECT_ROOT / "Home.py")


def app() -> AppTest:
    return AppTest.from_file(HOME, default_timeout=60)


def signed_in(
    actor: Actor,
    page: str | None = None,
    *,
    logout_requested: bool = False,
    session_id: int | None = None,
) -> AppTest:
    """The app with `actor` signed in (session seeded, as the cookie would restore it): in a
    new recorded session, or in `session_id` (the same browser again, with no database write,
    as when the database is down)."""
    test = app()
    if logout_requested:
        test.session_state[session.LOGOUT_REQUESTED] = True
    _seed(test, actor, session_id)
    test.run()
    if page:
        test.switch_page(page).run()
    return test


def page_as(actor: Actor | None, page: str, **query: str) -> AppTest:
    """One page script run on its own (as a deep link would reach it, with `query` in its
    address) by `actor`."""
    test = AppTest.from_file(str(PROJECT_ROOT / page), default_timeout=60)
    if actor is not None:
        _seed(test, actor)
    for name, value in query.items():
        test.query_params[name] = value
    return test.run()


def _seed(test: AppTest, actor: Actor, session_id: int | None = None) -> None:
    test.session_state["authentication_status"] = True
    test.session_state["username"] = actor.username
    if session_id is None:
        with unit_of_work() as db:  # a recorded sign-in, as the login form makes one
            session_id = users.open_session(
                db,
                user_id=actor.user_id,
                token=secrets.token_urlsafe(24),
                expires_at=utc_now() + timedelta(days=1),
            )
    test.session_state[session.SESSION_ID] = session_id


def shown(element: object) -> str:
    """What a reader sees of a Markdown element: its text without the escapes and the
    invisible joiners that `fmt.inert` put in to keep user text inert."""
    return re.sub(r"\\(.)", r"\1", str(element.value)).replace(WORD_JOINER, "")  # type: ignore[attr-defined]


def texts(test: AppTest) -> str:
    """Everything the page says in text, markdown, titles, alerts and captions."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "text",
        "caption",
        "error",
        "warning",
        "info",
        "success",
    ):
        parts += [shown(element) for element in getattr(test, kind)]
    return "\n".join(parts)


def metric(test: AppTest, label: str) -> str:
    return next(m.value for m in test.metric if m.label == label)
