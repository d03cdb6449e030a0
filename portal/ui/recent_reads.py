"""A session's own recent reads of its heaviest figures, kept for a minute.

A partner moving between Dashboard and Commissions asks for the same statistics and
commission summary each time; they change when a lead moves or money is paid. Every page run
asks how many notifications are unread, for the sidebar. This browser
session keeps what it read for `KEEP_SECONDS` and forgets all of it the moment the session
itself writes anything (any unit of work that inserts, updates or deletes, through any page
or dialog), so a page never shows the state from before the user's own action. Another
user's change (a manager converting a lead) shows within the minute, or at once after a
browser reload, which starts a new session.

What is kept is bounded by the names in use (a few per session), not by use.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.runtime.scriptrunner import get_script_run_ctx

from portal import commissions, notifications, statistics
from portal.access import Actor
from portal.commissions import CommissionSummary
from portal.db import on_data_written
from portal.statistics import PartnerStatistics

T = TypeVar("T")
KEEP_SECONDS = 60.0
_KEPT = "_recent_reads"


def partner_statistics(session: Session, actor: Actor) -> PartnerStatistics:
    return _read("statistics", actor, lambda: statistics.partner_statistics(session, actor=actor))


def commission_summary(session: Session, actor: Actor) -> CommissionSummary:
    return _read("commissions", actor, lambda: commissions.commission_summary(session, actor=actor))


def unread_count(session: Session, actor: Actor) -> int:
    return _read("unread", actor, lambda: notifications.unread_count(session, actor=actor))


def _read(name: str, actor: Actor, load: Callable[[], T]) -> T:
    """What `load` reads (in the page's unit of work), or what it gave this session for
    `actor` within the minute."""
    kept: dict[tuple[str, int | None], tuple[float, Any]] = st.session_state.setdefault(_KEPT, {})
    key = (name, actor.user_id)
    now = monotonic()
    if key in kept and kept[key][0] > now:
        value: T = kept[key][1]
        return value
    value = load()
    kept[key] = (now + KEEP_SECONDS, value)
    return value


def forget() -> None:
    """Forget every kept read of this browser session (called on each of its writes)."""
    if get_script_run_ctx(suppress_warning=True) is not None:
        st.session_state.pop(_KEPT, None)


on_data_written(forget)
