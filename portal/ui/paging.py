"""Newer/older buttons over keyset pages; the cursor stack lives in session state."""

from __future__ import annotations

import streamlit as st


def pager(cursors: list[str | None], next_cursor: str | None, *, key: str) -> None:
    """Step back to the previous page or on to the next one (`cursors[-1]` is the current)."""
    newer, _, older = st.columns([1, 4, 1])
    if newer.button("← Newer", disabled=len(cursors) == 1, key=f"{key}_newer"):
        cursors.pop()
        st.rerun()
    if older.button("Older →", disabled=next_cursor is None, key=f"{key}_older"):
        cursors.append(next_cursor)
        st.rerun()
