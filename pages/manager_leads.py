"""All leads for managers: every partner's leads, with convert, reopen, reverse, reassign."""

import streamlit as st

from portal.models import Role
from portal.ui import edit_table, lead_table
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("All leads")
st.caption(
    "Convert a qualified lead by choosing 'converted' and entering its deal value; "
    "reverse a conversion by moving it back to 'qualified'; reopen a lost lead by moving "
    "it to 'pending'; reassign by entering the new partner's id."
)
edit_table.show_outcomes("all_leads", "Lead")
page = lead_table.filtered_page(actor, "all_leads", partner_filter=True)
if page is None:
    st.stop()
if page.items:
    lead_table.editor(actor, page, "all_leads", can_edit=True)
else:
    st.info("No leads match these filters.")
lead_table.details(actor, page)
