"""Keyset pages in the UI: the cursor stack of a listing, and its newer/older buttons."""

from __future__ import annotations

from collections.abc import Hashable

import streamlit as st


def cursors(key: str, filters: Hashable) -> list[str | None]:
    """The cursor stack of the listing `key` (`[-1]` is the current page's), back to the
    first page whenever its filters change: a cursor into one filtered list means nothing
    in another."""
    started = f"{key}_cursors" in st.session_state
    if not started or st.session_state.get(f"{key}_filters") != filters:
        st.session_state[f"{key}_filters"] = filters
        st.session_state[f"{key}_cursors"] = [None]
    stack: list[str | None] = st.session_state[f"{key}_cursors"]
    return stack


def pager(cursors: list[str | None], next_cursor: str | None, *, key: str) -> None:
    """Step back to the previous page or on to the next one (`cursors[-1]` is the current)."""
    newer, _, older = st.columns([1, 4, 1])
    if newer.button("← Newer", disabled=len(cursors) == 1, key=f"{key}_newer"):
        cursors.pop()
        st.rerun()
    if older.button("Older →", disabled=next_cursor is None, key=f"{key}_older"):
        cursors.append(next_cursor)
        st.rerun()
