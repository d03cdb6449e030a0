"""CSV exports on the pages: a button that builds the file, then one that downloads it.

The file is built in the script (not in the download button's callable) so a refusal shows
on the page, and held in session state until the next build. Each attempt writes into a
fresh buffer, so a retried build (database busy) starts on an empty file.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import streamlit as st
from sqlalchemy.orm import Session

from portal.core import fmt
from portal.core.access import Actor
from portal.reporting import exports
from portal.ui.feedback import perform


def csv_export(
    actor: Actor,
    kind: str,
    *,
    prepare: str,
    file_name: str,
    noun: str,
    plural: str = "",
    filters: exports.Filters | None = None,
    progress: Callable[[int], None] | None = None,
) -> bool:
    """The "prepare" button and, once a file is built for these filters, its download
    button ("Download 1,234 leads as CSV": `noun` in the singular, `plural` when it does not
    take an -s). True when this run built the file."""
    state = f"_csv_{kind}_{file_name}"
    built = False
    if st.button(prepare, key=f"{state}_prepare"):

        def build(session: Session) -> tuple[bytes, int]:
            sink = io.StringIO()
            rows = exports.write_csv(
                session, actor=actor, kind=kind, sink=sink, filters=filters, progress=progress
            )
            return sink.getvalue().encode("utf-8"), rows

        made = perform(build)
        if made is not None:
            st.session_state[state] = (filters, *made)
            built = True
    kept = st.session_state.get(state)
    if kept is not None and kept[0] == filters:
        _, data, rows = kept
        st.download_button(
            f"Download {fmt.count(rows, noun, plural)} as CSV",
            data,
            file_name,
            "text/csv",
            key=f"{state}_get",
            on_click="ignore",
        )
    return built
