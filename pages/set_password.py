"""Set a password from a single-use link (an invitation or a reset); no sign-in needed."""

import streamlit as st

from portal.accounts import password_links, users
from portal.core.models import TokenPurpose
from portal.ui.feedback import perform, read
from portal.ui.session import sign_in_page

LABELS = {"new_password": "New password", "token": "Link"}

token = st.query_params.get("token", "")
owner = read(lambda session: password_links.link_owner(session, token=token))
if owner is None and not st.session_state.get("password_set"):
    st.title("Set a password")
    if token:
        st.error(password_links.LINK_REFUSED, icon=":material/link_off:")
    else:
        st.info(
            "Open the link from your invitation or reset e-mail. To get a new one, use "
            "“Forgot your password?” on the sign-in page.",
            icon=":material/mail:",
        )
    st.page_link(sign_in_page(), label="Go to sign in", icon=":material/login:")
    st.stop()
if st.session_state.pop("password_set", None):
    st.title("Password set")
    st.success("Your password is set. Sign in with it.", icon=":material/check_circle:")
    st.page_link(sign_in_page(), label="Go to sign in", icon=":material/login:")
    st.stop()

assert owner is not None
username, purpose = owner
st.title(
    "Welcome: choose your password"
    if purpose is TokenPurpose.INVITATION
    else "Choose a new password"
)
st.text(f"Account: {username}")
with st.form("set_password"):
    new_password = st.text_input(
        "New password",
        type="password",
        autocomplete="new-password",
        help="At least 12 characters, any you like.",
    )
    repeat = st.text_input("Repeat the new password", type="password", autocomplete="new-password")
    submitted = st.form_submit_button("Set password", type="primary")
if submitted:
    problems = users.new_password_problems(new_password, repeat)
    for problem in problems.values():  # every one at once, before anything is sent
        st.error(problem, icon=":material/warning:")
    if not problems:
        done = perform(
            lambda session: password_links.set_password(
                session, token=token, new_password=new_password
            ),
        )
        if done is not None:
            st.query_params.clear()
            st.session_state["password_set"] = True
            st.rerun()
