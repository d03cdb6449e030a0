"""Partners for managers: select rows, then approve, suspend, reactivate or pin a rate (each
confirmed, several partners at once); create; inspect one. Newest first, fifty to a page."""

from decimal import Decimal
from functools import partial

import pandas as pd
import streamlit as st

from portal.accounts import users
from portal.core import fmt
from portal.core import two_factor as two_factor_service
from portal.core.actions import Session
from portal.core.errors import ValidationError
from portal.core.models import PartnerStatus, Role
from portal.core.rows import RowOutcome
from portal.leads import leads
from portal.partners import groups, partners, profiles
from portal.partners.partners import PartnerEdit, PartnerView
from portal.reporting import statistics
from portal.ui import confirm, paging, tables, two_factor
from portal.ui.feedback import perform, read
from portal.ui.session import require

SELECTION = "partners_selection"
ACTION_LABELS = {"approve": "Approve", "suspend": "Suspend", "reactivate": "Reactivate"}
DONE = {"approve": "Approved", "suspend": "Suspended", "reactivate": "Reactivated"}
EFFECTS = {
    "approve": "They can sign in and register leads; each is told by e-mail.",
    "suspend": "They keep read-only access; their leads and commissions stay; each is told "
    "by e-mail.",
    "reactivate": "They can register and move leads again; each is told by e-mail.",
}
LABELS = {
    "company_name": "Company name",
    "company_email": "Company email",
    "username": "Username",
    "display_name": "Contact name",
    "email": "Contact email",
    "password": "Password",
    "commission_rate": "Pinned rate",
}

actor = require(Role.MANAGER)
st.title("Partners")
two_factor.step_up(actor)
confirm.show_confirmed()

left, right = st.columns([1, 3])
status_filter = left.selectbox("Status", ["all", *[s.value for s in PartnerStatus]])
search = right.text_input("Search by company name", max_chars=200)
cursors = paging.cursors("partner", (status_filter, search.strip()))
listing = perform(
    lambda session: partners.list_partners(
        session,
        actor=actor,
        search=search,
        status=None if status_filter == "all" else PartnerStatus(status_filter),
        after=cursors[-1],
    ),
    reads_only=True,
)
if listing is None:
    st.stop()
rows = listing.items
selected: list[PartnerView] = []

if rows:
    picked = st.dataframe(
        pd.DataFrame(
            {
                "Company": [p.company_name for p in rows],
                # Money first after the name: on a phone the later columns are off-screen.
                "Earned": [fmt.money(p.total_earnings, currency=False) for p in rows],
                "Paid": [fmt.money(p.paid_earnings, currency=False) for p in rows],
                "Status": [fmt.label(p.status.value) for p in rows],
                "Pinned rate": [
                    fmt.rate(p.commission_rate) if p.commission_rate is not None else "tier's"
                    for p in rows
                ],
                "Referrals": [p.total_referrals for p in rows],
                "Email": [p.email for p in rows],
                "Joined": [fmt.day(p.created_at) for p in rows],
            },
            index=pd.Index([p.id for p in rows], name="Partner"),
        ),
        key=f"{SELECTION}-{len(cursors)}-{st.session_state.get(SELECTION, 0)}",
        on_select="rerun",
        selection_mode="multi-row",
        **tables.phone_layout(
            ["Company", "Earned", "Status"],
            {"Company": st.column_config.TextColumn(pinned=True)},
            selectable=True,
        ),
    )
    selected = [rows[position] for position in picked.selection.rows]
    paging.pager(cursors, listing.next_cursor, key="partners")
    st.caption(
        fmt.inert(
            f"Selected: {', '.join(p.company_name for p in selected)}"
            if selected
            else "Select partners' rows to act on them (several at once) and to see one's "
            "details below."
        )
    )
    buttons = st.columns(5)
    for column, (action, label) in zip(buttons, ACTION_LABELS.items(), strict=False):
        able = [p for p in selected if p.status in partners.STATUS_ACTIONS[action][0]]
        if column.button(
            f"{label} ({len(able)})…" if selected else f"{label}…",
            disabled=not able,
            key=f"partners-{action}",
            help=f"{label} the selected partners that are "
            + " or ".join(s.value for s in partners.STATUS_ACTIONS[action][0])
            + ".",
        ):
            confirm.ask(f"partners-{action}", (action, able))
    if buttons[3].button("Pin a rate…", disabled=not selected, key="partners-pin"):
        confirm.ask("partners-pin", ("pin", selected))
    if buttons[4].button("Move to a group…", disabled=not selected, key="partners-group"):
        confirm.ask("partners-group", selected)
else:
    st.info("No partners match.")


def _told(outcomes: list[RowOutcome], done: str, chosen: list[PartnerView]) -> confirm.Partly:
    """What a bulk action did and what it refused; refused outright if it did nothing."""
    names = {p.id: p.company_name for p in chosen}
    refused = [f"Not changed: {names[o.key]} — {o.message}" for o in outcomes if not o.saved]
    if len(refused) == len(outcomes):
        raise ValidationError({"partners": "\n\n".join(refused)})
    st.session_state[SELECTION] = st.session_state.get(SELECTION, 0) + 1  # a fresh selection
    return confirm.Partly(f"{done} {fmt.count(len(outcomes) - len(refused), 'partner')}.", refused)


def _act(session: Session, payload: tuple[str, list[PartnerView]]) -> confirm.Partly:
    action, chosen = payload
    edits = [PartnerEdit(partner_id=p.id, action=action) for p in chosen]
    outcomes = partners.apply_edits(session, actor=actor, edits=edits)
    return _told(outcomes, DONE[action], chosen)


def _names(chosen: list[PartnerView]) -> str:
    return ", ".join(p.company_name for p in chosen[:10]) + (" …" if len(chosen) > 10 else "")


def _lines(label: str, payload: tuple[str, list[PartnerView]]) -> list[str]:
    return [
        f"{label}: {_names(payload[1])} ({fmt.count(len(payload[1]), 'partner')}).",
        EFFECTS[payload[0]],
    ]


for action, label in ACTION_LABELS.items():
    confirm.dialog(
        f"partners-{action}",
        title=f"{label} these partners?",
        lines=partial(_lines, label),
        confirm_label=label,
        act=_act,
    )


def _rate(payload: tuple[str, list[PartnerView]]) -> float | None:
    return st.number_input(
        "Pinned rate (%)",
        min_value=0.0,
        max_value=float(partners.MAX_PINNED_RATE * 100),
        step=0.5,
        format="%.2f",
        value=None,
        placeholder="Empty: back to the tier's rate",
        key="partners-pin-rate",
    )


def _pin(
    session: Session, answer: tuple[tuple[str, list[PartnerView]], float | None]
) -> confirm.Partly:
    (_, chosen), percent = answer
    rate = None if percent is None else Decimal(str(percent)) / 100
    edits = [PartnerEdit(partner_id=p.id, rate_changed=True, rate=rate) for p in chosen]
    outcomes = partners.apply_edits(session, actor=actor, edits=edits)
    return _told(
        outcomes,
        f"Pinned {fmt.rate(rate)} for" if rate is not None else "Back to the tier's rate for",
        chosen,
    )


confirm.dialog(
    "partners-pin",
    title="Pin a commission rate?",
    lines=lambda payload: [
        f"For: {_names(payload[1])} ({fmt.count(len(payload[1]), 'partner')}).",
        "Their future conversions earn this rate whatever their tier; leave it empty to "
        "go back to the tier's rate. Commissions already earned keep theirs.",
    ],
    inputs=_rate,
    confirm_label="Pin the rate",
    act=_pin,
)

with (
    st.expander("Create a partner with its first login", icon=":material/add:"),
    st.form("create_partner"),
):
    # One row per pair: on a phone, where columns stack, each pair stays together.
    left, right = st.columns(2)
    company_name = left.text_input("Company name")
    company_email = right.text_input("Company email")
    left, right = st.columns(2)
    display_name = left.text_input("Contact name")
    user_email = right.text_input("Contact email")
    left, right = st.columns(2)
    username = left.text_input("Username")
    password = right.text_input(
        "Initial password",
        type="password",
        help="Leave it empty to e-mail the contact an invitation to choose their own "
        "(recommended); or at least 12 characters, shared safely.",
    )
    status = st.radio("The new partner starts", ["active", "pending"], horizontal=True)
    if st.form_submit_button("Create partner", type="primary"):
        created = perform(
            lambda session: partners.create_partner(
                session,
                actor=actor,
                company_name=company_name,
                company_email=company_email,
                username=username,
                display_name=display_name,
                user_email=user_email,
                password=password,
                status=PartnerStatus(status),
            ),
        )
        if created is not None:
            invited = " and e-mailed its login an invitation" if not password else ""
            st.success(f"Created partner #{created.id}{invited}.")

chosen = selected[-1] if selected else None
if chosen is not None:
    chosen_id = chosen.id
    st.subheader(fmt.inert(chosen.company_name), anchor=False, help=f"Partner #{chosen_id}")
    stats, logins, profile, recent = read(
        lambda session: (
            statistics.partner_statistics(session, actor=actor, partner_id=chosen_id),
            users.list_users(session, actor=actor, partner_id=chosen_id),
            profiles.get_profile(session, actor=actor, partner_id=chosen_id),
            leads.list_leads(session, actor=actor, partner_id=chosen_id, limit=10).items,
        )
    )
    cards = st.columns(5)
    cards[0].metric("Referrals", stats.total_referrals)
    cards[1].metric("Conversion rate", fmt.percent(stats.conversion_rate))
    cards[2].metric("Earned", fmt.money(stats.total_earnings))
    cards[3].metric("Tier", stats.tier.title())
    cards[4].metric(
        "Rate", fmt.rate(stats.effective_rate) + (" (pinned)" if stats.rate_pinned else "")
    )
    method = fmt.method(profile.payment_method.value) if profile.payment_method else "—"
    if profile.tax_form:
        lapse = (
            f", lapses {fmt.day(profile.tax_form_expires_on)}"
            if profile.tax_form_expires_on
            else ""
        )
        tax_form = (
            f"{profile.tax_form.value} verified {fmt.day(profile.tax_form_received_at)}{lapse}"
        )
    else:
        tax_form = "awaiting review" if profile.tax_form_pending else "missing"
    bank = f"{profile.bank_account} {profile.bank_code or ''}".strip() or "—"
    st.text(
        f"Payment: {method} · {profile.payment_email or '—'} · bank {bank}"
        f"\nTax: id {profile.tax_id or '—'} · form {tax_form}"
        f"\nContact: {profile.contact_name or '—'} · {profile.contact_email or '—'} · "
        f"{fmt.phone(profile.contact_phone)} · {profile.website or '—'}"
    )
    st.markdown("**Logins**")
    if not logins:
        st.text("This partner has no logins yet.")
    else:
        tables.show(
            [
                {
                    "Username": u.username,
                    "Name": u.display_name,
                    "Email": u.email,
                    "Active": "yes" if u.is_active else "no",
                    "Last login": fmt.moment(u.last_login_at),
                    "Locked until": fmt.moment(u.locked_until) if u.locked_until else "",
                }
                for u in logins
            ],
            key="logins",
            compact=["Username", "Active", "Last login"],
        )
        left, middle, right = st.columns(3)
        target = left.selectbox(
            "Change a login",
            [u.id for u in logins],
            index=None,
            placeholder="Choose a login",
            format_func=lambda i: next(
                f"{u.username} ({u.display_name})" for u in logins if u.id == i
            ),
        )
        if target is not None:
            current = next(u for u in logins if u.id == target)
            verb = "Deactivate" if current.is_active else "Reactivate"
            if middle.button(f"{verb} {current.username}…"):
                confirm.ask("partners-login", (current, not current.is_active))
            if right.button(f"Reset two-factor of {current.username}…"):
                confirm.ask("partners-2fa", current)
            if current.locked_until is not None and right.button(f"Unlock {current.username}"):
                user_id = current.id
                unlocked = perform(
                    lambda session: users.unlock(session, actor=actor, user_id=user_id)
                )
                if unlocked is not None:
                    st.rerun()
    st.markdown("**Latest leads**")
    if not recent:
        st.text("No leads yet.")
    else:
        tables.show(
            [
                {
                    "Lead": lead.id,
                    "Client": lead.client_name,
                    "Status": fmt.label(lead.status.value),
                    "Registered": fmt.day(lead.created_at),
                }
                for lead in recent
            ],
            key="partner-leads",
            compact=["Lead", "Client", "Status", "Registered"],
        )


def _set_login(session: Session, payload: tuple[users.UserView, bool]) -> str:
    login, active = payload
    users.set_active(session, actor=actor, user_id=login.id, active=active)
    return f"{login.username} is {'active again' if active else 'deactivated'}."


def _reset_two_factor(session: Session, login: users.UserView) -> str:
    two_factor_service.reset(session, actor=actor, user_id=login.id)
    return f"{login.username}'s two-factor sign-in is reset; they can set it up again."


confirm.dialog(
    "partners-2fa",
    title="Reset two-factor sign-in?",
    lines=lambda login: [
        f"Remove {login.username}'s authenticator app and recovery codes (a lost phone).",
        "They sign in with their password alone until they set it up again.",
    ],
    confirm_label="Reset",
    act=_reset_two_factor,
)

confirm.dialog(
    "partners-login",
    title="Change this login?",
    lines=lambda p: [
        f"{'Reactivate' if p[1] else 'Deactivate'} {p[0].username} ({p[0].display_name}).",
        "They can sign in again with their password."
        if p[1]
        else "They are signed out everywhere, their API keys stop working, and they cannot "
        "sign in until a manager reactivates them.",
    ],
    confirm_label="Confirm",
    act=_set_login,
)


def _group_choice(chosen: list[PartnerView]) -> int | None:
    found = {group.id: group.name for group in read(lambda s: groups.list_groups(s, actor=actor))}
    return st.selectbox(
        "Group", list(found), format_func=found.__getitem__, key="partners-group-choice"
    )


def _move(session: Session, answer: tuple[list[PartnerView], int | None]) -> str:
    chosen, group_id = answer
    moved = groups.move_partners(
        session, actor=actor, partner_ids=[p.id for p in chosen], group_id=group_id
    )
    st.session_state[SELECTION] = st.session_state.get(SELECTION, 0) + 1  # a fresh selection
    return (
        f"Moved {fmt.count(moved, 'partner')}; their group's terms apply from now on."
        if moved
        else "They were in that group already."
    )


confirm.dialog(
    "partners-group",
    title="Move these partners to another group?",
    lines=lambda chosen: [
        f"Partners: {_names(chosen)} ({fmt.count(len(chosen), 'partner')}).",
        "The group's tier rates, hold days and minimum payout apply to them from now on; "
        "commissions already earned keep their rate and hold.",
    ],
    inputs=_group_choice,
    confirm_label="Move",
    act=_move,
)
