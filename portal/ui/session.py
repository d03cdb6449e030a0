"""Signing in and out, and who is signed in, for every run of the app.

streamlit-authenticator writes and reads the login cookie (an HS256 JWT of the username and
its expiry, signed with the configured cookie key). The password check is ours
(`portal.users.authenticate`): lockout kept in the database, audit, constant time for unknown
users, passwords of any characters. Each sign-in is recorded server-side (`user_sessions`,
keyed by the hash of the cookie's token), and every run asks the database whether this
browser's session still counts: a logout ends it, a password change ends the others, a
deactivation or "sign out everywhere" ends all, and an idle one expires. A cookie the portal
did not issue — or one it has revoked — signs nobody in, even when signed with the right key.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from portal import users
from portal.access import Actor
from portal.config import get_settings
from portal.db import unit_of_work
from portal.models import Role

AUTHENTICATOR = "_portal_authenticator"
SESSION_ID = "_portal_session_id"
NOTICE = "_portal_notice"
LOGIN_BUTTON = "login_submit"
SESSION_ENDED = "Your session has ended. Please sign in again."
LOGOUT_REQUESTED = "_portal_logout_requested"


def _authenticator() -> stauth.Authenticate:
    settings = get_settings()
    # Filled below with the one user a cookie names: the library keeps this dict by reference.
    credentials: dict[str, dict[str, object]] = {"usernames": {}}
    authenticator = stauth.Authenticate(
        credentials,
        settings.cookie_name,
        settings.cookie_key,
        settings.cookie_expiry_days,
        auto_hash=False,
        login_sleep_time=0,  # brute force is met by the database lockout instead
    )
    st.session_state[AUTHENTICATOR] = authenticator
    return authenticator


def _cookie_is_well_formed() -> bool:
    """Whether the login cookie, if any, is an HS256 token of our shape signed with our key.

    The library only catches a bad signature or bad encoding: `alg: none`, HS512, a missing or
    non-numeric expiry raised out of every run and locked that browser out of the sign-in
    page. Anything else is discarded here, before the library reads it.
    """
    settings = get_settings()
    raw = st.context.cookies.get(settings.cookie_name)
    if raw is None:
        return True
    try:
        claims = jwt.decode(raw, settings.cookie_key, algorithms=["HS256"])
        return isinstance(claims["username"], str) and math.isfinite(float(claims["exp_date"]))
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return False


def _restore_from_cookie(authenticator: stauth.Authenticate) -> None:
    if st.session_state.get("authentication_status"):
        return
    if not _cookie_is_well_formed():
        authenticator.cookie_controller.delete_cookie()
        return
    token = authenticator.cookie_controller.get_cookie()
    if not token:
        return
    raw = st.context.cookies.get(get_settings().cookie_name, "")
    with unit_of_work() as session:
        session_id = users.session_for_token(session, token=raw)
        entry = users.restorable_login(session, username=str(token["username"]))
    if session_id is None:  # signed out, expired, idle, or never issued by this portal
        authenticator.cookie_controller.delete_cookie()
        return
    if entry is not None:
        authenticator.authentication_controller.authentication_model.credentials["usernames"][
            str(token["username"])
        ] = entry
    try:
        authenticator.login(location="unrendered")
    except LoginError:
        authenticator.cookie_controller.delete_cookie()
        return
    if st.session_state.get("authentication_status"):
        st.session_state[SESSION_ID] = session_id


def client_address() -> str | None:
    """The client's address, for throttling: from the trusted proxy's header when one is
    configured (behind a proxy every connection comes from the proxy), else the server's
    view of the connection; None on localhost."""
    header = get_settings().client_address_header
    if header:
        forwarded = st.context.headers.get(header, "")
        first = forwarded.split(",")[0].strip()
        return first[:64] or None
    address = st.context.ip_address
    return address if isinstance(address, str) and address else None  # a mock in AppTest


def _sign_in(authenticator: stauth.Authenticate) -> None:
    """Check the login form's submission (before navigation is built, so the signed-in
    pages appear in this same run) and write the cookie on success."""
    with unit_of_work() as session:
        result = users.authenticate(
            session,
            username=st.session_state.get("login_username", ""),
            password=st.session_state.get("login_password", ""),
            client_address=client_address(),
        )
    st.session_state.pop("login_password", None)  # keep no password in session memory
    st.session_state.pop(NOTICE, None)
    if result.actor is None:
        st.session_state[NOTICE] = ("error", result.message)
        return
    _start_session(authenticator, result.actor)


def _start_session(authenticator: stauth.Authenticate, actor: Actor) -> None:
    st.session_state.update(
        {
            "authentication_status": True,
            "username": actor.username,
            "name": actor.display_name,
            "roles": [actor.role.value],
            "logout": False,
        }
    )
    # No st.rerun() after this: the cookie component must render for the cookie to be written.
    authenticator.cookie_controller.set_cookie()
    cookie = authenticator.cookie_controller.cookie_model
    # The token just written, as the library makes it (HS256 of the username and expiry).
    token = jwt.encode(
        {"username": actor.username, "exp_date": cookie.exp_date},
        get_settings().cookie_key,
        algorithm="HS256",
    )
    assert actor.user_id is not None
    with unit_of_work() as session:
        st.session_state[SESSION_ID] = users.open_session(
            session,
            user_id=actor.user_id,
            token=token,
            expires_at=datetime.fromtimestamp(float(cookie.exp_date), UTC),
            client_address=client_address(),
            user_agent=st.context.headers.get("User-Agent"),
        )


def _sign_out(authenticator: stauth.Authenticate, *, notice: str | None = None) -> None:
    if st.session_state.get("authentication_status"):
        authenticator.logout(location="unrendered")
    st.session_state.pop(SESSION_ID, None)
    if notice:
        st.session_state[NOTICE] = ("info", notice)


def current_actor() -> Actor | None:
    """Build the authenticator (once per run), handle sign-in and sign-out, restore the
    session from the cookie, and return who is signed in, checked against the database."""
    authenticator = _authenticator()
    if st.session_state.pop(LOGOUT_REQUESTED, False) and st.session_state.get(
        "authentication_status"
    ):
        actor = signed_in_actor()
        if actor is not None:
            with unit_of_work() as session:
                users.end_session(session, actor=actor, session_id=st.session_state.get(SESSION_ID))
        _sign_out(authenticator, notice="You are signed out.")
        return None
    if st.session_state.get(LOGIN_BUTTON) and not st.session_state.get("authentication_status"):
        _sign_in(authenticator)
    _restore_from_cookie(authenticator)
    actor = signed_in_actor()
    if actor is None and st.session_state.get("authentication_status"):
        _sign_out(authenticator, notice=SESSION_ENDED)
    return actor


def logout_button() -> None:
    """The sign-out button; the next run of Home.py ends this browser's session."""
    st.button("Log out", on_click=st.session_state.__setitem__, args=(LOGOUT_REQUESTED, True))


def signed_in_actor() -> Actor | None:
    """The signed-in user as the database sees it now, or None."""
    username = st.session_state.get("username")
    session_id = st.session_state.get(SESSION_ID)
    if not st.session_state.get("authentication_status") or not username or session_id is None:
        return None
    with unit_of_work() as session:
        actor = users.actor_for_session(session, session_id=session_id)
    return actor if actor is not None and actor.username == username else None


def current_session_id() -> int | None:
    """This browser's session, as the password form and the sessions list need it."""
    return st.session_state.get(SESSION_ID)


def require(role: Role) -> Actor:
    """The signed-in actor if it has this role; otherwise the page says no and stops."""
    actor = signed_in_actor()
    if actor is None:
        ended = st.session_state.get("authentication_status")
        st.warning(SESSION_ENDED if ended else "Please sign in to see this page.")
        st.stop()
    if actor.role is not role:
        st.error(f"This page is for {role.value}s.")
        st.stop()
    return actor


def login_page() -> None:
    """The sign-in form (its submission is handled by `current_actor` on the next run)."""
    st.title("Partner Portal")
    st.caption("Sign in to follow your referrals, commissions and payouts.")
    # Kept (not popped) until the next sign-in attempt: the cookie component reruns the
    # page once more after a sign-out, and the message should survive that.
    notice = st.session_state.get(NOTICE)
    if notice:
        kind, message = notice
        (st.error if kind == "error" else st.info)(message)
    with st.form("login"):
        st.text_input("Username", key="login_username", autocomplete="username")
        st.text_input(
            "Password", type="password", key="login_password", autocomplete="current-password"
        )
        st.form_submit_button("Login", key=LOGIN_BUTTON, type="primary")
