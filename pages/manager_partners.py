"""Partners for managers: approve, suspend, reactivate and pin rates inline; create; inspect.
Newest first, fifty to a page."""

from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from portal import leads, partners, profiles, statistics, users
from portal.db import unit_of_work
from portal.models import PartnerStatus, Role
from portal.partners import PartnerEdit
from portal.ui import edit_table, fmt, paging
from portal.ui.feedback import perform
from portal.ui.session import require

ACTIONS = ["", *partners.STATUS_ACTIONS]
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

edit_table.show_outcomes("partners", "Partner")

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
    {"search": "Search by company name"},
)
if listing is None:
    st.stop()
rows = listing.items

if rows:
    frame = pd.DataFrame(
        {
            "Company": [p.company_name for p in rows],
            "Email": [p.email for p in rows],
            "Status": [p.status.value for p in rows],
            "Action": ["" for _ in rows],
            "Pinned rate": [
                float(p.commission_rate) if p.commission_rate is not None else None for p in rows
            ],
            "Referrals": [p.total_referrals for p in rows],
            "Earned": [fmt.money(p.total_earnings, currency=False) for p in rows],
            "Paid": [fmt.money(p.paid_earnings, currency=False) for p in rows],
            "Joined": [fmt.day(p.created_at) for p in rows],
        },
        index=pd.Index([p.id for p in rows], name="Partner"),
    )

    def partner_edit(partner_id: int, row: pd.Series, edited: dict[str, Any]) -> PartnerEdit:
        rate = edited.get("Pinned rate", row["Pinned rate"])
        return PartnerEdit(
            partner_id=partner_id,
            action=edited.get("Action") or None,
            rate_changed="Pinned rate" in edited,
            rate=None if rate is None or pd.isna(rate) else Decimal(str(rate)),
        )

    edit_table.edit_table(
        frame,
        name="partners",
        view=str(len(cursors)),
        editable=["Action", "Pinned rate"],
        column_config={
            "Action": st.column_config.SelectboxColumn(
                options=ACTIONS, help="approve a pending partner, suspend, or reactivate"
            ),
            "Pinned rate": st.column_config.NumberColumn(
                min_value=0.0,
                max_value=0.5,
                step=0.0001,
                format="%.4f",
                help="A negotiated rate (0–0.5); empty means the tier's default rate.",
            ),
        },
        edit=partner_edit,
        apply=lambda session, edits: partners.apply_edits(session, actor=actor, edits=edits),
    )
    paging.pager(cursors, listing.next_cursor, key="partners")
else:
    st.info("No partners match.")

with (
    st.expander("Create a partner with its first login", icon=":material/add:"),
    st.form("create_partner"),
):
    left, right = st.columns(2)
    company_name = left.text_input("Company name")
    company_email = right.text_input("Company email")
    display_name = left.text_input("Contact name")
    user_email = right.text_input("Contact email")
    username = left.text_input("Username")
    password = right.text_input(
        "Initial password",
        type="password",
        help="Leave it empty to e-mail the contact an invitation to choose their own "
        "(recommended); or at least 12 characters, shared safely.",
    )
    status = st.radio("Status", ["active", "pending"], horizontal=True)
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
            LABELS,
        )
        if created is not None:
            invited = " and e-mailed its login an invitation" if not password else ""
            st.success(f"Created partner #{created.id}{invited}.")

st.subheader("Partner details", anchor=False)
chosen = st.selectbox(
    "Partner",
    [p.id for p in rows],
    index=None,
    placeholder="Choose",
    format_func=lambda i: f"#{i} {next(p.company_name for p in rows if p.id == i)}",
)
if chosen is not None:
    with unit_of_work() as session:
        stats = statistics.partner_statistics(session, actor=actor, partner_id=chosen)
        logins = users.list_users(session, actor=actor, partner_id=chosen)
        profile = profiles.get_profile(session, actor=actor, partner_id=chosen)
        recent = leads.list_leads(session, actor=actor, partner_id=chosen, limit=10).items
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
        f"{profile.contact_phone or '—'} · {profile.website or '—'}"
    )
    st.dataframe(
        [
            {
                "User": u.id,
                "Username": u.username,
                "Name": u.display_name,
                "Email": u.email,
                "Active": u.is_active,
                "Last login": fmt.moment(u.last_login_at),
                "Locked until": fmt.moment(u.locked_until) if u.locked_until else "",
            }
            for u in logins
        ],
        hide_index=True,
    )
    left, middle, right = st.columns(3)
    target = left.selectbox(
        "User",
        [u.id for u in logins],
        index=None,
        placeholder="Choose",
        format_func=lambda i: next(u.username for u in logins if u.id == i),
    )
    if target is not None:
        current = next(u for u in logins if u.id == target)
        if middle.button("Deactivate" if current.is_active else "Reactivate"):
            with unit_of_work() as session:
                users.set_active(session, actor=actor, user_id=target, active=not current.is_active)
            st.rerun()
        if current.locked_until and right.button("Unlock"):
            with unit_of_work() as session:
                users.unlock(session, actor=actor, user_id=target)
            st.rerun()
    st.dataframe(
        [
            {
                "Lead": lead.id,
                "Client": lead.client_name,
                "Status": fmt.label(lead.status.value),
                "Registered": fmt.day(lead.created_at),
            }
            for lead in recent
        ],
        hide_index=True,
    )
