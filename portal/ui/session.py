"""Signing in and out, and who is signed in, for every run of the app.

The password check is ours (`portal.accounts.users.authenticate`): lockout kept in the database,
audit, constant time for unknown users, passwords of any characters. Each sign-in is
recorded server-side (`user_sessions`, keyed by the hash of a random token) and the browser
keeps the token in an `HttpOnly` cookie that the server writes (`portal.ui.login_cookie`).
Every run asks the database whether this browser's session still counts: a logout ends it,
a password change ends the others, a deactivation or "sign out everywhere" ends all, and an
idle one expires. A cookie the portal did not issue, or one it has revoked, signs nobody in.

A session is restored from the cookie the browser sent when it opened this connection
(`st.context.cookies`), before navigation is built, so a reload or a deep link stays on its
page. Nothing here draws a component that reports back: a rerun it caused after each page
load used to cut short the run of a click made in that moment (a Sign in click came back as
the sign-in form again, or signed in without the cookie ever being written).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import partial

import streamlit as st
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from streamlit.navigation.page import StreamlitPage

from portal.accounts import password_links, users
from portal.core import actions
from portal.core.access import Actor
from portal.core.config import get_settings
from portal.core.db import is_busy
from portal.core.models import Role
from portal.core.throttle import client_address_from
from portal.ui import login_cookie
from portal.ui.feedback import DATABASE_BUSY, DATABASE_DOWN, perform

SESSION_ID = "_portal_session_id"
NOTICE = "_portal_notice"
LOGIN_BUTTON = "login_submit"
SESSION_ENDED = "Your session has ended. Please sign in again."
LOGOUT_REQUESTED = "_portal_logout_requested"
# Who Home.py found signed in at the start of this run, for the page it runs.
ACTOR_OF_THIS_RUN = "_actor_of_this_run"
# The cookie this browser should now hold: a new token's writer, or the eraser.
COOKIE_IMAGE = "_portal_cookie_image"
MAX_COOKIE_LENGTH = 200  # our tokens are 43 characters; anything longer is not ours


def _restore_from_cookie(db: Session) -> Actor | None:
    """Sign this connection in from the cookie its browser sent, if it names a live session,
    and return who that is (read in `db`); a cookie that does not is erased."""
    if st.session_state.get("authentication_status"):
        return None
    token = st.context.cookies.get(get_settings().cookie_name)
    # Once this connection has written or erased the cookie, the one its browser sent when
    # it connected is out of date: never restore from it (it may name an older session).
    if not isinstance(token, str) or COOKIE_IMAGE in st.session_state:
        return None
    found = users.session_for_token(db, token=token) if len(token) <= MAX_COOKIE_LENGTH else None
    if found is None:  # signed out, expired, idle, or never issued by this portal
        st.session_state[COOKIE_IMAGE] = login_cookie.eraser()
        return None
    session_id, actor = found
    _mark_signed_in(actor, session_id)
    return actor


def _mark_signed_in(actor: Actor, session_id: int | None) -> None:
    st.session_state.update(
        {
            "authentication_status": True,
            "username": actor.username,
            SESSION_ID: session_id,
        }
    )


def client_address() -> str | None:
    """The client's address, for throttling (see `validation.client_address_from`)."""
    settings = get_settings()
    header = settings.client_address_header
    forwarded = st.context.headers.get(header, "") if header else ""
    peer = st.context.ip_address
    return client_address_from(
        peer if isinstance(peer, str) and peer else None,  # a mock in AppTest
        forwarded if isinstance(forwarded, str) else "",
        trusted_proxies=settings.trusted_proxies,
    )


def _sign_in() -> None:
    """The Sign in button's callback: check the form's submission and start the session.

    A callback, not a check in the script, so that the sign-in has happened before the
    script draws anything."""
    st.session_state.pop(NOTICE, None)
    try:
        username = st.session_state.get("login_username", "")
        password = st.session_state.get("login_password", "")
        address = client_address()
        result = actions.run(
            lambda session: users.authenticate(
                session, username=username, password=password, client_address=address
            )
        )
        if result.actor is None:
            st.session_state[NOTICE] = ("error", result.message)
            return
        _start_session(result.actor)
    except (OperationalError, InterfaceError) as error:
        st.session_state[NOTICE] = ("error", DATABASE_BUSY if is_busy(error) else DATABASE_DOWN)
    finally:
        st.session_state.pop("login_password", None)  # keep no password in session memory


def _start_session(actor: Actor) -> None:
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(days=get_settings().cookie_expiry_days)
    assert actor.user_id is not None
    user_id, address, agent = actor.user_id, client_address(), st.context.headers.get("User-Agent")
    session_id = actions.run(
        lambda session: users.open_session(
            session,
            user_id=user_id,
            token=token,
            expires_at=expires_at,
            client_address=address,
            user_agent=agent,
        )
    )
    _mark_signed_in(actor, session_id)
    st.session_state[COOKIE_IMAGE] = login_cookie.writer(
        token, expires_at, browser=st.context.cookies.get(login_cookie.BROWSER_COOKIE, "")
    )


def identity_configured() -> bool:
    """Whether staff may sign in through the company's identity provider: Streamlit's
    `[auth]` section in .streamlit/secrets.toml (its `st.login`)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError):
        return False


def _sign_in_with_identity(db: Session) -> Actor | None:
    """A sign-in the identity provider has just confirmed (Streamlit's identity cookie):
    matched to a portal manager and started as a portal session, once."""
    claims = st.user.to_dict()
    address = client_address()
    result = actions.run(
        lambda session: users.sign_in_with_identity(session, claims=claims, client_address=address)
    )
    if result.actor is None:
        if result.message:
            st.session_state[NOTICE] = ("error", result.message)
        return None
    _start_session(result.actor)
    return signed_in_actor(db)


def _sign_out(*, notice: str | None = None) -> None:
    for key in ("authentication_status", "username", SESSION_ID):
        st.session_state.pop(key, None)
    st.session_state[COOKIE_IMAGE] = login_cookie.eraser()
    if notice:
        st.session_state[NOTICE] = ("info", notice)


def _end_this_session(session_id: int | None, session: Session) -> None:
    actor = signed_in_actor(session)
    if actor is not None:
        users.end_session(session, actor=actor, session_id=session_id)


def current_actor(db: Session) -> Actor | None:
    """Handle sign-out, restore the session from the cookie, and return who is signed in,
    checked against the database in `db`, the run's unit of work (the Sign in button's callback
    has signed in already)."""
    if st.session_state.pop(LOGOUT_REQUESTED, False) and st.session_state.get(
        "authentication_status"
    ):
        actions.run(partial(_end_this_session, st.session_state.get(SESSION_ID)))
        _sign_out(notice="You are signed out.")
        actor = None
        if identity_configured() and st.user.is_logged_in:
            # Streamlit's identity cookie goes too (and the provider's own session, where it
            # offers a logout): the next person at this browser meets the provider's sign-in.
            st.logout()
    else:
        actor = _restore_from_cookie(db)
    if actor is None:
        actor = signed_in_actor(db)
    if actor is None and st.session_state.get("authentication_status"):
        _sign_out(notice=SESSION_ENDED)
    if actor is None and identity_configured() and st.user.is_logged_in:
        actor = _sign_in_with_identity(db)
    _draw_cookie_image()
    st.session_state[ACTOR_OF_THIS_RUN] = actor
    return actor


def _draw_cookie_image() -> None:
    """Draw the pending cookie writer or eraser on every run: one drawn only once could be
    lost with a run cut short. The same markup each run is the same element, so the image
    is fetched once; the ticket in it expires within minutes."""
    image = st.session_state.get(COOKIE_IMAGE)
    if image is not None:
        st.sidebar.html(image)


def logout_button() -> None:
    """The sign-out button; the next run of Home.py ends this browser's session."""
    st.button("Sign out", on_click=st.session_state.__setitem__, args=(LOGOUT_REQUESTED, True))


def signed_in_actor(db: Session) -> Actor | None:
    """The signed-in user as the database sees it now, or None."""
    username = st.session_state.get("username")
    session_id = st.session_state.get(SESSION_ID)
    if not st.session_state.get("authentication_status") or not username or session_id is None:
        return None
    actor = users.actor_for_session(db, session_id=session_id)
    return actor if actor is not None and actor.username == username else None


def current_session_id() -> int | None:
    """This browser's session, as the password form and the sessions list need it."""
    return st.session_state.get(SESSION_ID)


def require(role: Role) -> Actor:
    """The signed-in actor if it has this role; otherwise the page says no and stops. The
    actor Home.py read at the start of this run is taken (once: a later run, or a page run
    on its own, reads it afresh)."""
    actor: Actor | None = st.session_state.pop(ACTOR_OF_THIS_RUN, None)
    if actor is None:
        actor = actions.run(signed_in_actor)
    if actor is None:
        ended = st.session_state.get("authentication_status")
        st.warning(SESSION_ENDED if ended else "Please sign in to see this page.")
        st.stop()
    if actor.role is not role:
        st.error(f"This page is for {role.value}s.")
        st.stop()
    return actor


def sign_in_page() -> StreamlitPage:
    """The sign-in page as navigation and links name it."""
    return st.Page(login_page, title="Sign in", icon=":material/login:", default=True)


def login_page() -> None:
    """The sign-in form (its Sign in button's callback signs in)."""
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
        st.form_submit_button("Sign in", key=LOGIN_BUTTON, type="primary", on_click=_sign_in)
    if identity_configured():
        st.caption("Program staff:")
        if st.button("Sign in with your company account", icon=":material/badge:"):
            st.login()
    with st.expander("Forgot your password?"), st.form("forgot_password", clear_on_submit=True):
        login = st.text_input("Username or email", key="forgot_login", autocomplete="username")
        asked = st.form_submit_button("Email me a link")
    if asked:
        answer = perform(
            lambda session: password_links.request_reset(session, login=login),
        )
        if answer is not None:
            st.info(answer, icon=":material/mail:")
