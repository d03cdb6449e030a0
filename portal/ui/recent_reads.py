"""A session's own recent reads of its heaviest figures, kept for a minute.

A partner moving between Dashboard and Commissions asks for the same statistics and
commission summary each time; they change when a lead moves or money is paid. Every page run
asks how many notifications are unread, for the sidebar. This browser session keeps what it
read for `KEEP_SECONDS`, with the tables its statements read, and forgets it the moment the
session itself writes to one of them (an insert, update or delete by any page or dialog), so
a page never shows the state from before the user's own action: a lead the partner moves
forgets the statistics (their lead counts), not the commission summary. Another user's
change (a manager converting a lead) shows within the minute, or at once after a browser
reload, which starts a new session.

What is kept is bounded by the names in use (a few per session), not by use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session
from streamlit.runtime.scriptrunner import get_script_run_ctx

from portal import commissions, notifications, statistics
from portal.access import Actor
from portal.commissions import CommissionSummary
from portal.db import ANY_TABLE, on_data_written, tables_read
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
    kept: dict[tuple[str, int | None], _Kept] = st.session_state.setdefault(_KEPT, {})
    key = (name, actor.user_id)
    now = monotonic()
    if key in kept and kept[key].until > now:
        value: T = kept[key].value
        return value
    with tables_read() as tables:
        value = load()
    kept[key] = _Kept(until=now + KEEP_SECONDS, tables=frozenset(tables), value=value)
    return value


@dataclass(frozen=True)
class _Kept:
    until: float  # monotonic seconds
    tables: frozenset[str]  # what it was read from
    value: Any


def forget(table: str) -> None:
    """Forget what this browser session read from `table` (called on each of its writes)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return
    kept: dict[tuple[str, int | None], _Kept] = st.session_state.get(_KEPT, {})
    for key, read in list(kept.items()):
        if table in read.tables or ANY_TABLE in read.tables or table == ANY_TABLE:
            del kept[key]


on_data_written(forget)
