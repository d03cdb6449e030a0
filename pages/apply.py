"""Apply as a partner: a pending partner company and its first login."""

import streamlit as st

from portal import partners
from portal.config import get_settings
from portal.ui.feedback import perform
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
with st.form("apply"):
    company_name = st.text_input("Company name", max_chars=200)
    company_email = st.text_input("Company email", max_chars=254)
    display_name = st.text_input("Your name", max_chars=200)
    user_email = st.text_input("Your email", max_chars=254)
    username = st.text_input("Username", max_chars=64)
    password = st.text_input(
        "Password", type="password", help="At least 12 characters, any you like."
    )
    repeat = st.text_input("Repeat the password", type="password")
    submitted = st.form_submit_button("Apply", type="primary")
if submitted:
    if password != repeat:
        st.error("Repeat the password: the two passwords differ.", icon=":material/warning:")
    else:
        done = perform(
            lambda session: partners.apply(
                session,
                company_name=company_name,
                company_email=company_email,
                username=username,
                display_name=display_name,
                user_email=user_email,
                password=password,
                client_address=client_address(),
            ),
            LABELS,
        )
        if done is not None:
            st.success(
                "Thank you! Your application is in. Sign in to complete your profile "
                "while a partner manager reviews it."
            )
