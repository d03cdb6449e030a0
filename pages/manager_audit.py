"""Audit log for managers: filter by actor, action, object and date; export."""

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from portal.core import audit, fmt
from portal.core.models import Role
from portal.reporting import exports
from portal.ui import downloads, paging, tables
from portal.ui.feedback import perform, read
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Audit log")
known_actions = read(lambda session: audit.actions(session, actor=actor))
columns = st.columns(4)
who = columns[0].text_input("Actor (username)", max_chars=64)
action = columns[1].selectbox(
    "Action", known_actions, index=None, placeholder="Any", format_func=audit.action_words
)
object_type = columns[2].text_input("Object type", max_chars=32, placeholder="lead, partner…")
object_id = columns[3].text_input("Object id", max_chars=64)
dates = st.date_input("Between", value=[], max_value=date.today())
since = datetime.combine(dates[0], time.min, UTC) if dates else None
until = datetime.combine(dates[-1] + timedelta(days=1), time.min, UTC) if dates else None
cursors = paging.cursors("audit", (who, action, object_type, object_id, since, until))
page = perform(
    lambda session: audit.list_entries(
        session,
        actor=actor,
        actor_label=who or None,
        action=action,
        object_type=object_type.strip() or None,
        object_id=object_id.strip() or None,
        since=since,
        until=until,
        after=cursors[-1],
        limit=100,
    ),
    reads_only=True,
)
if page is None:
    st.stop()
tables.show(
    [
        {
            # What changed first: on a phone the columns after the first few are off-screen.
            "When": fmt.moment(e.created_at),
            "Object": e.object_name,
            "Change": e.change,
            "Who": e.actor_label,
            "Action": audit.action_words(e.action),
        }
        for e in page.items
    ],
    key="audit",
    compact=["When", "Action", "Who"],
)
paging.pager(cursors, page.next_cursor, key="audit")
downloads.csv_export(
    actor,
    "audit",
    prepare="Prepare CSV of this date range and action",
    file_name="audit-log.csv",
    noun="entry",
    plural="entries",
    filters=exports.Filters(
        status=action,
        date_from=dates[0] if dates else None,
        date_to=dates[-1] if dates else None,
    ),
)
