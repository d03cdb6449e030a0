"""Account: who is signed in, the password, and where the account is signed in."""

import streamlit as st

from portal.core.models import Role
from portal.ui import two_factor
from portal.ui.account import api_keys_panel, change_password_form, sessions_panel
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Account")
st.text(f"{actor.display_name} ({actor.username}) · program manager")
change_password_form(actor)
two_factor.setup_panel(actor)
sessions_panel(actor)
api_keys_panel(actor)
