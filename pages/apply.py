"""Apply as a partner: a pending partner company and its first login."""

import streamlit as st

from portal.core.config import get_settings
from portal.partners import partners
from portal.ui.feedback import FormErrors
from portal.ui.session import client_address

LABELS = {
    "company_name": "Company name",
    "company_email": "Company email",
    "username": "Username",
    "display_name": "Your name",
    "email": "Your email",
    "password": "Password",
}

st.title("Apply as a partner")
if not get_settings().signup_allowed:
    st.info("Applications are closed. Ask a program manager for an invitation.")
    st.stop()
st.caption(
    "Refer clients, follow them through the pipeline and earn commission on every "
    "conversion. A partner manager reviews each application."
)
APPLIED = "_application_sent"
application = FormErrors("apply")
if st.session_state.pop(APPLIED, False):
    st.success(
        "Thank you! Your application is in, and a confirmation is on its way to your e-mail. "
        "Sign in to complete your profile while a partner manager reviews it.",
        icon=":material/check_circle:",
    )
with st.form(application.key):
    company_name = st.text_input("Company name", max_chars=200)
    application.under("company_name")
    company_email = st.text_input("Company email", max_chars=254)
    application.under("company_email")
    display_name = st.text_input("Your name", max_chars=200)
    application.under("display_name")
    user_email = st.text_input("Your email", max_chars=254)
    application.under("email")
    username = st.text_input("Username", max_chars=64)
    application.under("username")
    password = st.text_input(
        "Password", type="password", help="At least 12 characters, any you like."
    )
    application.under("password")
    repeat = st.text_input("Repeat the password", type="password")
    application.under("repeat")
    application.others({*LABELS, "repeat"})
    submitted = st.form_submit_button("Apply", type="primary")
if submitted:
    done = application.submit(
        lambda session: partners.apply(
            session,
            company_name=company_name,
            company_email=company_email,
            username=username,
            display_name=display_name,
            user_email=user_email,
            password=password,
            password_repeat=repeat,
            client_address=client_address(),
        ),
        busy="Sending your application…",
    )
    if done is not None:
        st.session_state[APPLIED] = True
        st.rerun()
