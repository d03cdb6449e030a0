"""Choosing whom something is for (an announcement, a resource): every partner, or the
partners of some groups (the default group included)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from portal.partners import groups


def picker(found: Sequence[groups.GroupView], *, help: str | None = None) -> list[int]:
    """The audience chosen among `found` groups: their ids (the default group's is
    `groups.DEFAULT_GROUP`); none chosen means every partner."""
    names = {
        group.id if group.id is not None else groups.DEFAULT_GROUP: group.name for group in found
    }
    return st.multiselect(
        "For the partners of",
        list(names),
        format_func=names.__getitem__,
        placeholder="Every partner",
        help=help,
    )
