"""Account panels shared by the partner profile and the manager account page: password,
sessions, API keys."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from sqlalchemy.orm import Session

from portal.accounts import api_keys, users
from portal.core import fmt
from portal.core.access import Actor
from portal.messaging import webhooks
from portal.ui import tables
from portal.ui.feedback import perform, read
from portal.ui.session import current_session_id

LABELS = {"current_password": "Current password", "new_password": "New password"}


def _change_password_form(actor: Actor) -> None:
    """Ask for the current password and a new one twice; other sessions end on success."""
    with st.form("change_password", clear_on_submit=True):
        current = st.text_input("Current password", type="password")
        new = st.text_input(
            "New password",
            type="password",
            help=f"At least {users.MIN_PASSWORD_LENGTH} characters, any you "
            "like; at most 72 bytes.",
        )
        repeat = st.text_input("Repeat the new password", type="password")
        end_keys = st.checkbox(
            "Also revoke my API keys",
            help="Keys made with the old password keep working unless you revoke them here "
            "(a reset by e-mail, 'Sign out everywhere' and deactivation always end them).",
        )
        if not st.form_submit_button("Change password"):
            return
    problems = users.new_password_problems(new, repeat)
    for problem in problems.values():  # every one at once, before anything is sent
        st.error(problem, icon=":material/warning:")
    if problems:
        return
    ended = perform(
        lambda session: users.change_password(
            session,
            actor=actor,
            current_password=current,
            new_password=new,
            keep_session_id=current_session_id(),
            end_api_keys=end_keys,
        ),
    )
    if ended is not None:
        signed_out = f" {fmt.count(ended, 'other sign-in')} ended." if ended else ""
        st.success(f"Password changed.{signed_out}")


def _sessions_panel(actor: Actor) -> None:
    """Where the actor is signed in, and a way to sign out everywhere."""
    sessions = read(lambda session: users.list_sessions(session, actor=actor))
    this = current_session_id()
    tables.show(
        [
            {
                "Browser": ("This browser · " if item.id == this else "")
                + fmt.browser(item.user_agent),
                "Address": item.client_address or "—",
                "Signed in": fmt.moment(item.created_at),
                "Last seen": fmt.moment(item.last_seen_at),
            }
            for item in sessions
        ],
        key="sessions",
        compact=["Browser", "Signed in", "Last seen"],
    )
    if st.button("Sign out everywhere", help="Ends every session, this browser's too."):
        perform(lambda session: users.end_sessions(session, actor=actor))
        st.rerun()


API_KEY_SHOWN = "_portal_new_api_key"
SCOPE_WORDS = {
    "read": "Read only",
    "write": "Read and write",
    "payout_details": "Read, write and payout details",
}


def _show_once(key: str, what: str) -> None:
    """A secret made on the previous run, shown this once (it is not kept anywhere else)."""
    secret = st.session_state.pop(key, None)
    if secret is not None:
        st.success(f"{what}. Copy it now: it is not shown again.", icon=":material/key:")
        st.code(secret, language=None)


def _make_secret(work: Callable[[Session], tuple[object, str]], key: str) -> None:
    """Run `work`, which makes something with a secret; on success keep the secret for the
    next run's `_show_once(key, …)` and rerun, else the refusal shows under its field."""
    created = perform(work)
    if created is not None:
        st.session_state[key] = created[1]
        st.rerun()


def _events_of(events: list[str]) -> str:
    return "; ".join(webhooks.event_words(event).lower() for event in events)


def _api_keys_panel(actor: Actor) -> None:
    """The actor's API keys: make one (shown once), see when each was last used, revoke."""
    st.caption(
        "Let your own systems (a CRM, a spreadsheet script) call the portal's API at "
        "`/api/v1` with `Authorization: Bearer <key>`: see the "
        "[API reference](/api/v1/docs) (opens the interactive documentation)."
    )
    _show_once(API_KEY_SHOWN, "Your new key")
    with st.form("new_api_key", clear_on_submit=True):
        left, middle, right = st.columns([2, 1, 1])
        name = left.text_input("Key name", max_chars=100, placeholder="e.g. CRM sync")
        scope: str = (
            middle.selectbox("Access", list(SCOPE_WORDS), format_func=SCOPE_WORDS.__getitem__)
            or "read"
        )
        expires = right.number_input(
            "Expires after (days)",
            min_value=0,
            max_value=api_keys.MAX_EXPIRY_DAYS,
            value=365,
            help="0: never.",
        )
        password = st.text_input(
            "Your password, for payout details access",
            type="password",
            help="Needed only for a key with payout details access: such a key can change "
            "where payouts go.",
        )
        made = st.form_submit_button("Create key")
    if made:
        _make_secret(
            lambda session: api_keys.create_key(
                session,
                actor=actor,
                name=name,
                scope=scope,
                expires_days=int(expires) or None,
                password=password,
            ),
            API_KEY_SHOWN,
        )
    keys = read(lambda session: api_keys.list_keys(session, actor=actor))
    if not keys:
        st.text("No API keys yet.")
        return
    tables.show(
        [
            {
                "Name": key.name,
                "Key": f"{key.prefix}_…",
                "Access": SCOPE_WORDS[key.scope.value],
                "Created": fmt.moment(key.created_at),
                "Last used": fmt.moment(key.last_used_at),
                "Expires": fmt.moment(key.expires_at) if key.expires_at else "Never",
                "State": "Active" if key.active else ("Revoked" if key.revoked_at else "Expired"),
            }
            for key in keys
        ],
        key="api-keys",
        compact=["Name", "Access", "State"],
    )
    live = [key for key in keys if key.revoked_at is None]
    if not live:
        return
    with st.form("revoke_api_key"):
        chosen = st.selectbox(
            "Revoke a key",
            live,
            index=None,
            format_func=lambda key: f"{key.name} ({key.prefix}_…)",
            placeholder="Choose a key",
        )
        revoke = st.form_submit_button("Revoke key")
    if revoke and chosen is not None:
        done = perform(lambda session: api_keys.revoke_key(session, actor=actor, key_id=chosen.id))
        if done is not None:
            st.rerun()


WEBHOOK_SECRET_SHOWN = "_portal_new_webhook_secret"  # noqa: S105 - a session-state key


def _webhooks_panel(actor: Actor) -> None:
    """A partner's webhooks: register one (its secret shown once), read each one's delivery
    log with the receiver's answers, send a delivery again, disable."""
    st.caption(
        "Your system is told about your events as they happen: a signed JSON POST to your "
        "HTTPS address (Portal-Signature: t=…,v1=HMAC-SHA256 of “t.body” with the secret)."
    )
    _show_once(WEBHOOK_SECRET_SHOWN, "The signing secret")
    with st.form("new_webhook", clear_on_submit=True):
        url = st.text_input(
            "Endpoint URL", max_chars=500, placeholder="https://crm.example.com/hooks"
        )
        events = st.multiselect(
            "Events", list(webhooks.EVENTS), format_func=webhooks.EVENTS.__getitem__
        )
        added = st.form_submit_button("Add webhook")
    if added:
        _make_secret(
            lambda session: webhooks.add_endpoint(session, actor=actor, url=url, events=events),
            WEBHOOK_SECRET_SHOWN,
        )
    endpoints = read(lambda session: webhooks.list_endpoints(session, actor=actor))
    if not endpoints:
        st.text("No webhooks yet.")
        return
    chosen = st.selectbox(
        "Webhook",
        endpoints,
        format_func=lambda e: f"{e.url} ({'disabled' if e.disabled_at else _events_of(e.events)})",
    )
    if chosen is None:
        return
    log = read(
        lambda session: webhooks.list_deliveries(session, actor=actor, endpoint_id=chosen.id)
    )
    if log:
        tables.show(
            [
                {
                    "#": item.id,
                    "Event": webhooks.event_words(item.event),
                    "Queued": fmt.moment(item.created_at),
                    "State": DELIVERY_WORDS[item.status.value],
                    "Attempts": item.attempts,
                    "Answer": item.last_status_code or "—",
                    "Error": item.last_error,
                    "Delivered": fmt.moment(item.delivered_at),
                }
                for item in log
            ],
            key="deliveries",
            compact=["Event", "State", "Delivered"],
        )
        again = st.selectbox(
            "Send a delivery again",
            log,
            index=None,
            format_func=lambda item: (
                f"#{item.id} {webhooks.event_words(item.event)} ({fmt.moment(item.created_at)})"
            ),
            placeholder="Choose a delivery",
        )
        if again is not None and st.button("Send again"):
            delivery_id = again.id
            replayed = perform(
                lambda session: webhooks.replay(session, actor=actor, delivery_id=delivery_id)
            )
            if replayed is not None:
                st.rerun()
    else:
        st.text("Nothing delivered yet.")
    if chosen.disabled_at is None and st.button("Disable this webhook"):
        disabled = perform(
            lambda session: webhooks.disable_endpoint(session, actor=actor, endpoint_id=chosen.id)
        )
        if disabled is not None:
            st.rerun()


DELIVERY_WORDS = {
    "pending": "Waiting",
    "held": "Waiting",
    "digested": "Delivered",
    "sent": "Delivered",
    "dead": "Failed",
}


# Each panel is a section the user opens: with every panel open, the Profile page was 5,000
# px long on a phone. A section opens by itself to show a secret made on the last run.
def change_password_form(actor: Actor) -> None:
    with st.expander("Change password", icon=":material/password:"):
        _change_password_form(actor)


def sessions_panel(actor: Actor) -> None:
    with st.expander("Where you are signed in", icon=":material/devices:"):
        _sessions_panel(actor)


def api_keys_panel(actor: Actor) -> None:
    with st.expander(
        "API keys", icon=":material/vpn_key:", expanded=API_KEY_SHOWN in st.session_state
    ):
        _api_keys_panel(actor)


def webhooks_panel(actor: Actor) -> None:
    with st.expander(
        "Webhooks", icon=":material/webhook:", expanded=WEBHOOK_SECRET_SHOWN in st.session_state
    ):
        _webhooks_panel(actor)
