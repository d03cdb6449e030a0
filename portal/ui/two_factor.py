"""Two-factor sign-in on the pages: setting it up (QR code, first code, recovery codes shown
once), and the code a manager gives before money and rule actions (`step_up`)."""

from __future__ import annotations

import streamlit as st

from portal.core import two_factor
from portal.core.access import Actor
from portal.ui.feedback import perform, read

ENROLMENT = "_portal_totp_enrolment"
CODES_SHOWN = "_portal_recovery_codes"


def setup_panel(actor: Actor) -> None:
    """A section of the Account (or Profile) page."""
    codes = st.session_state.pop(CODES_SHOWN, None)
    with st.expander(
        "Two-factor sign-in",
        icon=":material/phonelink_lock:",
        expanded=codes is not None or ENROLMENT in st.session_state,
    ):
        if codes is not None:
            st.success(
                "Two-factor sign-in is set up. Keep these recovery codes somewhere safe: each "
                "works once instead of the app's code, and they are not shown again.",
                icon=":material/key:",
            )
            st.code("\n".join(codes), language=None)
        state = read(lambda session: two_factor.status(session, actor=actor))
        if state.enrolled:
            st.text(
                "On: your authenticator app's code is asked before payout files, batch "
                f"approvals, program settings and rate changes ({state.recovery_codes_left} "
                "recovery codes left). Lost the phone? Another manager can reset it."
                if state.required
                else "On: a code from your authenticator app protects this account "
                f"({state.recovery_codes_left} recovery codes left)."
            )
            return
        st.caption(
            "Protect the account with a code from an authenticator app (Google Authenticator, "
            "1Password, Authy…) as well as the password."
            + (" Managers need it to make payout files and change rates." if state.required else "")
        )
        enrolment: two_factor.Enrolment | None = st.session_state.get(ENROLMENT)
        if enrolment is None:
            if st.button("Set up two-factor sign-in"):
                started = perform(lambda session: two_factor.begin(session, actor=actor))
                if started is not None:
                    st.session_state[ENROLMENT] = started
                    st.rerun()
            return
        st.image(enrolment.qr_svg, caption="Scan with the authenticator app", width=200)
        st.text(f"Or type this key into the app: {enrolment.secret}")
        with st.form("totp_confirm", clear_on_submit=True):
            code = st.text_input("Code from the app", max_chars=6, autocomplete="one-time-code")
            if st.form_submit_button("Turn on two-factor sign-in", type="primary"):
                made = perform(lambda session: two_factor.confirm(session, actor=actor, code=code))
                if made is not None:
                    st.session_state.pop(ENROLMENT, None)
                    st.session_state[CODES_SHOWN] = made
                    st.rerun()


def step_up(actor: Actor) -> None:
    """At the top of a page whose actions need a recent code: ask for one when this sign-in
    gave none within the last minutes (the services refuse the actions until then)."""
    state = read(lambda session: two_factor.status(session, actor=actor))
    if not state.required or state.recent:
        return
    if not state.enrolled:
        st.warning(
            "Payout files, batch approvals, program settings and rate changes need two-factor "
            "sign-in: set it up on your Account page.",
            icon=":material/phonelink_lock:",
        )
        return
    with st.form("totp_step_up", clear_on_submit=True, border=True):
        code = st.text_input(
            "Code from your authenticator app (or a recovery code)",
            max_chars=12,
            autocomplete="one-time-code",
            help=f"Money and rule actions need one within the last {two_factor.STEP_UP_MINUTES} "
            "minutes.",
        )
        if st.form_submit_button("Verify"):
            done = perform(lambda session: two_factor.verify(session, actor=actor, code=code))
            if done is not None:
                st.rerun()
