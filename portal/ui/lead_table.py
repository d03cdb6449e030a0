"""The lead table shared by partners and managers: filters, keyset pages, inline edits, and
one lead's details. Managers get the partner column, flags, deal value and reassignment."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from portal import commissions, leads
from portal.access import Actor
from portal.config import get_settings
from portal.models import MAX_ID, LeadStatus, LostReason
from portal.pagination import Page
from portal.ui import edit_table, fmt, paging, pickers
from portal.ui.feedback import perform

PAGE_SIZE = 50
LABELS = {"created_to": "To", "search": "Search name, email or company", "cursor": "Page"}


def filtered_page(
    actor: Actor, prefix: str, *, partner_filter: bool = False
) -> Page[leads.LeadView] | None:
    """Filter widgets, then the current keyset page of leads (None if the filters are bad)."""
    columns = st.columns([1, 2, 2, 2] if partner_filter else [1, 2, 2])
    status = columns[0].selectbox(
        "Status", ["all", *[s.value for s in LeadStatus]], key=f"{prefix}_status"
    )
    search = columns[1].text_input(
        "Search name, email or company", max_chars=200, key=f"{prefix}_search"
    )
    dates = columns[2].date_input(
        "Registered between", value=[], max_value=date.today(), key=f"{prefix}_dates"
    )
    partner_id, self_referral, awaiting = None, None, False
    if partner_filter:
        partner_id = pickers.partner_filter(actor, key=f"{prefix}_partner", container=columns[3])
        flags = st.columns(2)
        self_referral = (
            True if flags[0].toggle("Self-referrals only", key=f"{prefix}_self") else None
        )
        awaiting = flags[1].toggle("Awaiting contact only", key=f"{prefix}_awaiting")
    days = list(dates) if isinstance(dates, tuple) else []  # a range: none, one or two days
    created_from, created_to = (days[0], days[-1]) if days else (None, None)
    filters = (
        status,
        search.strip(),
        created_from,
        created_to,
        partner_id,
        self_referral,
        awaiting,
    )
    cursors = paging.cursors(prefix, filters)
    return perform(
        lambda session: leads.list_leads(
            session,
            actor=actor,
            status=None if status == "all" else LeadStatus(status),
            search=search,
            created_from=created_from,
            created_to=created_to,
            partner_id=partner_id,
            self_referral=self_referral,
            awaiting=awaiting,
            after=cursors[-1],
            limit=PAGE_SIZE,
        ),
        LABELS,
    )


def _frame(actor: Actor, items: list[leads.LeadView], can_edit: bool) -> pd.DataFrame:
    columns: dict[str, list[object]] = {}
    if actor.is_manager:
        columns["Partner"] = [lead.partner_name or "" for lead in items]
    columns |= {
        "Client": [lead.client_name for lead in items],
        "Status": [lead.status.value for lead in items],
        "Can move to": [
            ", ".join(m.value for m in leads.allowed_moves(actor, lead.status)) if can_edit else ""
            for lead in items
        ],
        "Lost reason": [lead.lost_reason.value if lead.lost_reason else None for lead in items],
    }
    if actor.is_manager:
        columns["Deal value"] = [
            float(lead.deal_value) if lead.deal_value else None for lead in items
        ]
        columns["Reassign to"] = [None for _ in items]
        columns["Self-referral"] = [bool(lead.self_referral) for lead in items]
    columns |= {
        "Email": [lead.client_email for lead in items],
        "Company": [lead.company or "" for lead in items],
        "Service": [lead.service for lead in items],
        "Registered": [fmt.day(lead.created_at) for lead in items],
        "Claim": [
            (
                "held while qualified"
                if lead.status is LeadStatus.QUALIFIED
                else f"until {fmt.day(lead.claim_expires_at)}"
            )
            if lead.claim_live
            else "—"
            for lead in items
        ],
        "Awaiting contact": [lead.awaiting_contact for lead in items],
        "Commission": [
            fmt.money(lead.commission, currency=False) if lead.commission else "" for lead in items
        ],
        "version": [lead.version for lead in items],
    }
    return pd.DataFrame(columns, index=pd.Index([lead.id for lead in items], name="Lead"))


def _number(value: object) -> float | None:
    """A number cell's value (the editor gives floats, NaN for an emptied cell)."""
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def editor(actor: Actor, page: Page[leads.LeadView], prefix: str, *, can_edit: bool) -> None:
    """The lead table with inline edits, a save button, and newer/older page buttons."""
    frame = _frame(actor, page.items, can_edit)
    cursors = st.session_state[f"{prefix}_cursors"]

    def lead_edit(lead_id: int, row: pd.Series, edited: dict[str, Any]) -> leads.LeadEdit:
        target = edited.get("Status", row["Status"])
        deal = _number(edited.get("Deal value", row.get("Deal value")))
        reassign = _number(edited.get("Reassign to"))
        return leads.LeadEdit(
            lead_id=lead_id,
            expected_version=int(row["version"]),
            to=target if target != row["Status"] else None,
            lost_reason=edited.get("Lost reason", row["Lost reason"]),
            # As typed: the service checks and refuses, it is not rounded here.
            deal_value=str(deal) if deal is not None else None,
            reassign_to=int(reassign) if reassign is not None else None,
        )

    edit_table.edit_table(
        frame,
        name=prefix,
        view=f"{len(cursors)}-{cursors[-1]}",
        editable=(
            ["Status", "Lost reason"] + (["Deal value", "Reassign to"] if actor.is_manager else [])
            if can_edit
            else None
        ),
        column_config={
            "Status": st.column_config.SelectboxColumn(
                options=[s.value for s in LeadStatus],
                required=True,
                help="The new status; 'Can move to' lists the moves allowed from each row.",
            ),
            "Lost reason": st.column_config.SelectboxColumn(
                options=[r.value for r in LostReason], help="Needed for a move to lost."
            ),
            "Deal value": st.column_config.NumberColumn(
                min_value=0.01, step=0.01, format="%.2f", help="Needed to convert a lead."
            ),
            "Reassign to": st.column_config.NumberColumn(
                min_value=1, step=1, format="%d", help="The id of the partner to move it to."
            ),
            "Awaiting contact": st.column_config.CheckboxColumn(
                help=f"Still pending after {get_settings().awaiting_contact_days} days."
            ),
            "version": None,
        },
        edit=lead_edit,
        apply=lambda session, edits: leads.apply_edits(session, actor=actor, edits=edits),
    )
    paging.pager(cursors, page.next_cursor, key=prefix)


def details(actor: Actor, page: Page[leads.LeadView]) -> None:
    """One lead: its fields, claim, timeline and commission chain (`?lead=ID` opens one)."""
    st.subheader("Lead details", anchor=False)
    requested = st.query_params.get("lead")
    lead_id = None
    if requested is not None:
        if requested.isdigit() and len(requested) <= 10 and int(requested) <= MAX_ID:
            lead_id = int(requested)
        else:
            st.error("The lead in the address (lead=…) must be a lead number.")
    options = [lead.id for lead in page.items]
    if lead_id is not None and lead_id not in options:
        options = [lead_id, *options]
    names = {lead.id: lead.client_name for lead in page.items}
    chosen = st.selectbox(
        "Open a lead",
        options,
        index=options.index(lead_id) if lead_id is not None else None,
        format_func=lambda i: f"#{i} {names.get(i, '')}",
        placeholder="Choose a lead",
    )
    if chosen is None:
        return
    found = perform(
        lambda session: (
            leads.get_lead(session, actor=actor, lead_id=chosen),
            commissions.list_commissions(session, actor=actor, lead_id=chosen).items,
        )
    )
    if found is None:
        return
    detail, chain = found
    lead = detail.lead
    left, right = st.columns(2)
    left.text(
        f"Client: {lead.client_name}\nEmail: {lead.client_email}\n"
        f"Phone: {lead.client_phone or '—'}\nCompany: {lead.company or '—'}\n"
        f"Service: {lead.service}"
        + (f"\nPartner: {lead.partner_name}" if lead.partner_name else "")
    )
    claim = (
        "held while the lead is qualified"
        if lead.status is LeadStatus.QUALIFIED
        else f"until {fmt.moment(lead.claim_expires_at)}"
        if lead.claim_live
        else "none (the lead is closed or its claim expired)"
    )
    right.text(
        f"Status: {lead.status.value}\nRegistered: {fmt.moment(lead.created_at)}\n"
        f"Claim: {claim}\nDeal value: {fmt.money(lead.deal_value)}\n"
        f"Commission: {fmt.money(lead.commission)}"
        + (f"\nLost: {lead.lost_reason.value} — {lead.lost_note or ''}" if lead.lost_reason else "")
    )
    if lead.notes:
        st.text(f"Notes: {lead.notes}")
    st.dataframe(
        [
            {
                "When": fmt.moment(entry.at),
                "What": entry.kind.value.replace("_", " "),
                "From": fmt.label(entry.from_status.value) if entry.from_status else "",
                "To": fmt.label(entry.to_status.value) if entry.to_status else "",
                "By": entry.actor,
                "Note": entry.note,
            }
            for entry in detail.timeline
        ],
        hide_index=True,
    )
    if chain:
        st.caption("Commission chain: conversion → hold release → payout")
        st.dataframe(
            [
                {
                    "Line": line.kind.value,
                    "Amount": fmt.money(line.amount),
                    "Converted": fmt.day(line.earned_at),
                    "Hold ends": fmt.day(line.hold_until),
                    "State": line.state.value.replace("_", " "),
                    "Payout": f"#{line.payout_id}" if line.payout_id else "",
                    "Paid": fmt.day(line.paid_at) if line.paid_at else "",
                }
                for line in chain
            ],
            hide_index=True,
        )
