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
    """Step back to the previous page or on to the next one (`cursors[-1]` is the current).
    The step is taken in the buttons' callbacks, before the run their click causes: that one
    run draws the new page (inside a fragment, the fragment's run alone), where a step taken
    after the click would need a second run, of the whole page."""

    def back() -> None:
        cursors.pop()

    newer, _, older = st.columns([1, 4, 1])
    newer.button("← Newer", disabled=len(cursors) == 1, key=f"{key}_newer", on_click=back)
    older.button(
        "Older →",
        disabled=next_cursor is None,
        key=f"{key}_older",
        on_click=cursors.append,
        args=(next_cursor,),
    )
