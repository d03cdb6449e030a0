"""An editable table whose edits are saved together: the one save loop of the pages.

The edits are read back from the editor's state (positions, mapped to rows through the frame
that was drawn), turned into the service's edit objects, applied in one unit of work (each
row saved or refused on its own, `portal.batch`), and what happened to each row is shown
above the table after the rerun. Each save draws a fresh editor, so no edit outlives it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from portal.batch import RowOutcome
from portal.ui import fmt
from portal.ui.feedback import perform

Edit = TypeVar("Edit")


def show_outcomes(name: str, noun: str) -> None:
    """What the last save did to each row ("Lead 12: Saved: now contacted.")."""
    for outcome in st.session_state.pop(f"{name}_outcomes", []):
        message = fmt.inert(f"{noun} {outcome.key}: {outcome.message}")
        (st.success if outcome.saved else st.error)(message)


def edit_table(
    frame: pd.DataFrame,
    *,
    name: str,
    view: str,
    editable: Sequence[str] | None,
    column_config: Mapping[str, Any],
    edit: Callable[[int, pd.Series, dict[str, Any]], Edit],
    apply: Callable[[Session, list[Edit]], list[RowOutcome]],
) -> None:
    """Draw `frame` (indexed by the rows' ids) with `editable` columns (None: read-only) and
    a Save button that turns each edited row into `edit(row_id, row, changed_cells)` and
    saves them all with `apply`. `view` names what is shown (the page of the listing), so an
    edit made on one page never lands on another."""
    saves = st.session_state.get(f"{name}_saves", 0)
    key = f"{name}-{view}-{saves}"
    st.data_editor(
        frame,
        key=key,
        num_rows="fixed",
        disabled=True if editable is None else [c for c in frame.columns if c not in editable],
        column_config=column_config,
    )
    if editable is None:
        return
    edited_rows = st.session_state.get(key, {}).get("edited_rows", {})
    if not st.button("Save changes", type="primary", disabled=not edited_rows, key=f"{name}_save"):
        return
    edits = [
        edit(int(frame.index[int(position)]), frame.iloc[int(position)], changed)
        for position, changed in edited_rows.items()
    ]
    outcomes = perform(lambda session: apply(session, edits))
    if outcomes is None:
        return
    st.session_state[f"{name}_outcomes"] = outcomes
    st.session_state[f"{name}_saves"] = saves + 1
    st.rerun()
