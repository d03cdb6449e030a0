"""Links from one page to another (`st.page_link`) that work wherever the page runs: in the
app, where Home.py's navigation holds the pages, and alone under AppTest."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from portal.core.config import PROJECT_ROOT
from portal.core.models import MAX_ID


def page(script: str, title: str) -> StreamlitPage:
    """The page of `script` ("pages/partner_leads.py"), by its path from the project's root:
    the same page as Home.py's navigation names, whichever script is running."""
    return st.Page(PROJECT_ROOT / script, title=title)


def requested_lead() -> int | None:
    """The lead the address names (`?lead=ID`), if it names one."""
    requested = st.query_params.get("lead")
    if requested is not None and requested.isdigit() and len(requested) <= 10:
        number = int(requested)
        return number if number <= MAX_ID else None
    return None


def bad_lead_in_address() -> bool:
    """Whether the address names a lead that is no lead number (then said so on the page)."""
    if "lead" in st.query_params and requested_lead() is None:
        st.error("The lead in the address (lead=…) must be a lead number.")
        return True
    return False
