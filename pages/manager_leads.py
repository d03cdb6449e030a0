"""All leads for managers: every partner's leads, moved in the table (convert, reverse and
lose through a dialog), opened from their row, reassigned in bulk."""

import streamlit as st

from portal.core.models import Role
from portal.ui import lead_table
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("All leads")
st.caption(
    "Change a lead's Status to move it: converting asks for the deal value and shows the "
    "commission first; moving a converted lead back to qualified reverses its commission; "
    "moving a lost lead to pending reopens it. Tick Select on leads to reassign them."
)
lead_table.table(actor, "all_leads", can_edit=True, partner_filter=True)
