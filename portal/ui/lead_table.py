"""The lead table shared by partners and managers: filters, keyset pages, status edits that
take effect as soon as a cell is changed (with a dialog for the moves that need more), and the
details of the lead opened from its row. Managers also get the partner column, flags, the
deal value and bulk reassignment."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from portal.core import fmt
from portal.core.access import Actor
from portal.core.config import get_settings
from portal.core.errors import ValidationError
from portal.core.models import LeadStatus, LostReason
from portal.core.pagination import Page
from portal.core.types import utc_now
from portal.leads import leads
from portal.money import commissions
from portal.ui import confirm, links, paging, pickers, run_slots, tables
from portal.ui.feedback import perform

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

PAGE_SIZE = 50
LABELS = {"created_to": "To", "search": "Search name, email or company", "cursor": "Page"}


def _filtered_page(
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
        reads_only=True,
    )


OPEN = "Open"
SELECT = "Select"
STATUS_WORDS = {status: fmt.label(status.value) for status in LeadStatus}
STATUS_OF = {words: status for status, words in STATUS_WORDS.items()}


def status_choices(actor: Actor, items: list[leads.LeadView]) -> list[str]:
    """The Status column's options: every status a lead on the page has (so no cell shows
    empty) and every move this actor may make from one of them — one list for the whole
    column, as the data editor takes it; a move a row does not allow is refused on that row."""
    wanted = {lead.status for lead in items}
    wanted |= {move for status in set(wanted) for move in leads.allowed_moves(actor, status)}
    return [STATUS_WORDS[status] for status in LeadStatus if status in wanted]


def _claim(lead: leads.LeadView) -> str:
    if not lead.claim_live:
        return "—"
    if lead.status is LeadStatus.QUALIFIED:
        return "held while qualified"
    return f"until {fmt.day(lead.claim_expires_at)}"


def _subject(lead: leads.LeadView) -> str:
    return f"Lead #{lead.id} {lead.client_name}"


def _frame(
    actor: Actor, items: list[leads.LeadView], can_edit: bool, opened: int | None, prefix: str
) -> pd.DataFrame:
    selected = _selected(prefix)
    columns: dict[str, list[object]] = {OPEN: [lead.id == opened for lead in items]}
    if actor.is_manager:
        columns[SELECT] = [lead.id in selected for lead in items]
    columns |= {
        "Client": [lead.client_name for lead in items],
        "Status": [STATUS_WORDS[lead.status] for lead in items],
        "Commission": [
            fmt.money(lead.commission, currency=False) if lead.commission else "" for lead in items
        ],
        "Claim": [_claim(lead) for lead in items],
    }
    if can_edit:
        columns["Can move to"] = [
            leads.in_words(leads.allowed_moves(actor, lead.status)) or "—" for lead in items
        ]
    if actor.is_manager:
        columns["Partner"] = [lead.partner_name or "" for lead in items]
        columns["Deal value"] = [
            fmt.money(lead.deal_value, currency=False) if lead.deal_value else "" for lead in items
        ]
        columns["Self-referral"] = [bool(lead.self_referral) for lead in items]
    columns |= {
        "Lost reason": [
            fmt.label(lead.lost_reason.value) if lead.lost_reason else "" for lead in items
        ],
        "Email": [lead.client_email for lead in items],
        "Company": [lead.company or "" for lead in items],
        "Service": [lead.service for lead in items],
        "Registered": [fmt.day(lead.created_at) for lead in items],
        "Awaiting contact": [lead.awaiting_contact for lead in items],
        "Version": [lead.version for lead in items],
    }
    return pd.DataFrame(columns, index=pd.Index([lead.id for lead in items], name="Lead"))


def _selected(prefix: str) -> dict[int, leads.LeadView]:
    """The rows a manager ticked for a bulk action (kept across pages until acted on)."""
    chosen: dict[int, leads.LeadView] = st.session_state.setdefault(f"{prefix}_selected", {})
    return chosen


def _generation(prefix: str) -> int:
    return int(st.session_state.get(f"{prefix}_generation", 0))


def _take_edit(actor: Actor, prefix: str) -> None:
    """Act on what the user just committed in the table the last run drew — each edit takes
    effect at once: a move is saved (or refused on the spot, saying which moves the lead
    allows), a move that needs more opens its dialog (lost: the reason; converted: the deal
    value and the commission it earns; a reversal: confirmation), ticking Open opens the
    lead below, ticking Select picks it for a bulk action. Call it before the page reads its
    leads, so the table drawn next shows the result; it also says what the last dialog did."""
    confirm.show_confirmed()
    drawn = st.session_state.pop(f"{prefix}_drawn", None)
    if drawn is None:
        return
    key, rows = drawn
    changes: dict[Any, dict[str, Any]] = st.session_state.get(key, {}).get("edited_rows", {})
    if not changes:
        st.session_state[f"{prefix}_drawn"] = drawn
        return
    # A fresh editor next run: no edit outlives the action it asked for.
    st.session_state[f"{prefix}_generation"] = _generation(prefix) + 1
    for position, changed in changes.items():
        lead: leads.LeadView = rows[int(position)]
        if OPEN in changed:
            if changed[OPEN]:
                st.query_params["lead"] = str(lead.id)
            elif st.query_params.get("lead") == str(lead.id):
                del st.query_params["lead"]
        if SELECT in changed:
            if changed[SELECT]:
                _selected(prefix)[lead.id] = lead
            else:
                _selected(prefix).pop(lead.id, None)
        if "Status" in changed:
            _move(actor, prefix, lead, STATUS_OF.get(str(changed["Status"])))


def _move(actor: Actor, prefix: str, lead: leads.LeadView, target: LeadStatus | None) -> None:
    if target is None or target is lead.status:
        return
    if target not in leads.allowed_moves(actor, lead.status):
        st.error(
            fmt.inert(f"{_subject(lead)}: {leads.transition_refusal(actor, lead.status, target)}")
        )
    elif target is LeadStatus.LOST:
        confirm.ask(f"{prefix}-lose", lead)
    elif target is LeadStatus.CONVERTED:
        confirm.ask(f"{prefix}-convert", lead)
    elif lead.status is LeadStatus.CONVERTED:
        confirm.ask(f"{prefix}-reverse", lead)
    else:
        moved = perform(
            lambda session: _moved(session, actor, lead, target), subject=_subject(lead)
        )
        if moved is not None:
            st.success(fmt.inert(moved))


def _moved(
    session: Session,
    actor: Actor,
    lead: leads.LeadView,
    target: LeadStatus,
    *,
    lost_reason: str | None = None,
    lost_note: str = "",
    deal_value: str | None = None,
) -> str:
    """Move the lead as it was drawn (its version), saying what the move did as the table
    will show it: status, claim, commission and version."""
    moved = leads.change_lead_status(
        session,
        actor=actor,
        lead_id=lead.id,
        to=target,
        expected_version=lead.version,
        lost_reason=lost_reason,
        lost_note=lost_note,
        deal_value=deal_value,
    )
    return _after_move(moved)


def _after_move(lead: leads.LeadView) -> str:
    """What a move did, in the words the table shows: the status, the claim and the
    commission."""
    claim = ""
    if lead.claim_live:
        claim = (
            ", your claim holds while it is qualified"
            if lead.status is LeadStatus.QUALIFIED
            else f", claimed until {fmt.day(lead.claim_expires_at)}"
        )
    commission = f", commission {fmt.money(lead.commission)}" if lead.commission else ""
    return f"{_subject(lead)}: now {lead.status.value}{claim}{commission}."


def _editor(
    actor: Actor,
    page: Page[leads.LeadView],
    prefix: str,
    *,
    can_edit: bool,
    highlight: int | None = None,
) -> None:
    """The lead table whose Status cells move leads as soon as they are changed, its Open
    (and, for managers, Select) ticks, and newer/older page buttons; `highlight` marks a
    row (the lead just registered)."""
    cursors = st.session_state[f"{prefix}_cursors"]
    frame = _frame(actor, page.items, can_edit, links.requested_lead(), prefix)
    key = f"{prefix}-{len(cursors)}-{cursors[-1]}-{_generation(prefix)}"
    st.session_state[f"{prefix}_drawn"] = (key, page.items)
    editable = [OPEN, SELECT] + (["Status"] if can_edit else [])
    shown: pd.DataFrame | Styler = frame
    if highlight in frame.index:
        shown = frame.style.apply(
            lambda row: [NEW_ROW if row.name == highlight else "" for _ in row], axis=1
        )
    st.data_editor(
        shown,
        key=key,
        num_rows="fixed",
        disabled=[column for column in frame.columns if column not in editable],
        # On a phone: what a partner acts on (the client and its status); the rest is in
        # the lead's details (Open).
        **tables.phone_layout(
            [OPEN, *([SELECT] if actor.is_manager else []), "Client", "Status"],
            {
                OPEN: st.column_config.CheckboxColumn(
                    width="small", help="Tick to open the lead's details below the table."
                ),
                **(
                    {
                        SELECT: st.column_config.CheckboxColumn(
                            width="small", help="Tick the leads to reassign together."
                        )
                    }
                    if actor.is_manager
                    else {}
                ),
                "Status": st.column_config.SelectboxColumn(
                    options=status_choices(actor, page.items),
                    required=True,
                    help="Choose the next status: it is saved at once. 'Can move to' lists the "
                    "moves each lead allows; lost asks for the reason.",
                ),
                "Client": st.column_config.TextColumn(pinned=True),
                "Awaiting contact": st.column_config.CheckboxColumn(
                    help="Still pending past the program's deadline for a first contact."
                ),
            },
            ticks=[OPEN, SELECT],
        ),
    )
    paging.pager(cursors, page.next_cursor, key=prefix)
    _dialogs(actor, prefix)
    if actor.is_manager:
        _bulk_actions(actor, prefix)


NEW_ROW = "background-color: #fff4c2"


def _dialogs(actor: Actor, prefix: str) -> None:
    def lost(session: Session, answer: tuple[leads.LeadView, tuple[str | None, str]]) -> str:
        lead, (reason, note) = answer
        return _moved(session, actor, lead, LeadStatus.LOST, lost_reason=reason, lost_note=note)

    def why_lost(lead: leads.LeadView) -> tuple[str | None, str]:
        reason = st.selectbox(
            "Reason *",
            [reason.value for reason in LostReason],
            index=None,
            format_func=fmt.label,
            placeholder="Choose a reason",
            key=f"{prefix}-lost-reason",
        )
        note = st.text_input("Note", max_chars=500, key=f"{prefix}-lost-note")
        return reason, note

    confirm.dialog(
        f"{prefix}-lose",
        title="Why was this lead lost?",
        lines=lambda lead: [f"{_subject(lead)} moves to lost; its claim on the client ends."],
        inputs=why_lost,
        confirm_label="Mark as lost",
        act=lost,
    )
    if not actor.is_manager:
        return

    def deal(lead: leads.LeadView) -> str:
        typed = st.text_input(
            f"Deal value ({get_settings().currency}) *", key=f"{prefix}-deal-value"
        )
        if typed.strip():
            preview = perform(
                lambda session: leads.preview_conversion(
                    session, actor=actor, lead_id=lead.id, deal_value=typed.strip()
                ),
            )
            if preview is not None:
                why = "the partner's pinned rate" if preview.rate_pinned else "the tier's rate"
                st.text(
                    f"Commission: {fmt.money(preview.commission)} "
                    f"({fmt.rate(preview.rate)}, {why}), on hold for "
                    f"{fmt.count(preview.hold_days, 'day')}."
                )
        return typed.strip()

    def convert(session: Session, answer: tuple[leads.LeadView, str]) -> str:
        lead, value = answer
        return _moved(session, actor, lead, LeadStatus.CONVERTED, deal_value=value)

    confirm.dialog(
        f"{prefix}-convert",
        title="Convert this lead?",
        lines=lambda lead: [f"{_subject(lead)} converts; its partner earns the commission."],
        inputs=deal,
        confirm_label="Convert",
        act=convert,
    )

    def reverse(session: Session, lead: leads.LeadView) -> str:
        return _moved(session, actor, lead, LeadStatus.QUALIFIED)

    confirm.dialog(
        f"{prefix}-reverse",
        title="Reverse this conversion?",
        lines=lambda lead: [
            f"{_subject(lead)} goes back to qualified.",
            f"Its commission of {fmt.money(lead.commission)} is reversed; if it was paid "
            "already, the amount is taken back from the partner's next payout.",
        ],
        confirm_label="Reverse the conversion",
        act=reverse,
    )


def _bulk_actions(actor: Actor, prefix: str) -> None:
    selected = _selected(prefix)
    left, right = st.columns([3, 1])
    left.caption(
        f"{fmt.count(len(selected), 'lead')} selected: "
        + ", ".join(f"#{i}" for i in sorted(selected))
        if selected
        else "Tick Select on leads to reassign them together."
    )
    if right.button(
        f"Reassign {fmt.count(len(selected), 'lead')}…",
        disabled=not selected,
        key=f"{prefix}-reassign",
    ):
        confirm.ask(f"{prefix}-reassign", list(selected.values()))

    def reassign(
        session: Session, answer: tuple[list[leads.LeadView], int | None]
    ) -> confirm.Partly:
        chosen, partner_id = answer
        if partner_id is None:
            raise ValidationError({"partner": "Choose the partner to move them to."})
        outcomes = leads.apply_edits(
            session,
            actor=actor,
            edits=[
                leads.LeadEdit(
                    lead_id=lead.id, expected_version=lead.version, reassign_to=partner_id
                )
                for lead in chosen
            ],
        )
        subjects = {lead.id: _subject(lead) for lead in chosen}
        refused = [
            f"Not reassigned: {subjects[o.key]} — {o.message}" for o in outcomes if not o.saved
        ]
        if len(refused) == len(outcomes):
            raise ValidationError({"partner": "\n\n".join(refused)})
        return confirm.Partly(
            f"Reassigned {fmt.count(len(outcomes) - len(refused), 'lead')}.", refused
        )

    confirm.dialog(
        f"{prefix}-reassign",
        title="Reassign the selected leads?",
        lines=lambda chosen: [
            f"{fmt.count(len(chosen), 'lead')} move to the partner you choose: "
            + ", ".join(_subject(lead) for lead in chosen[:10])
            + (" …" if len(chosen) > 10 else "")
        ],
        inputs=lambda chosen: pickers.partner_by_name(actor, key=f"{prefix}-reassign-to"),
        confirm_label="Reassign",
        act=reassign,
        on_success=lambda: st.session_state.pop(f"{prefix}_selected", None),
    )


def _time_left(until: datetime) -> str:
    left = until - utc_now()
    if left.days >= 1:
        return f"{fmt.count(left.days, 'day')} left"
    return f"{fmt.count(max(1, left.seconds // 3600), 'hour')} left"


def _details(actor: Actor) -> None:
    """The lead opened from its row's Open tick or by the address (`?lead=ID`): its fields,
    claim, timeline and commission chain."""
    links.bad_lead_in_address()
    chosen = links.requested_lead()
    if chosen is None:
        st.caption("Tick Open on a row to see its details, timeline and commission here.")
        return
    st.subheader(f"Lead #{chosen}", anchor=False)
    found = perform(
        lambda session: (
            leads.get_lead(session, actor=actor, lead_id=chosen),
            commissions.list_commissions(session, actor=actor, lead_id=chosen).items,
        ),
        reads_only=True,
    )
    if found is None:
        return
    detail, chain = found
    lead = detail.lead
    left, right = st.columns(2)
    left.text(
        f"Client: {lead.client_name}\nEmail: {lead.client_email}\n"
        f"Phone: {fmt.phone(lead.client_phone)}\nCompany: {lead.company or '—'}\n"
        f"Service: {lead.service}"
        + (f"\nPartner: {lead.partner_name}" if lead.partner_name else "")
    )
    claim = (
        "held while the lead is qualified"
        if lead.status is LeadStatus.QUALIFIED
        else f"until {fmt.moment(lead.claim_expires_at)} ({_time_left(lead.claim_expires_at)})"
        if lead.claim_live
        else "none (the lead is closed or its claim expired)"
    )
    right.text(
        f"Status: {STATUS_WORDS[lead.status]}\nRegistered: {fmt.moment(lead.created_at)}\n"
        f"Claim: {claim}\nDeal value: {fmt.money(lead.deal_value)}\n"
        f"Commission: {fmt.money(lead.commission)}"
        + (
            f"\nLost: {fmt.label(lead.lost_reason.value)} — {lead.lost_note or ''}"
            if lead.lost_reason
            else ""
        )
    )
    if lead.notes:
        st.text(f"Notes: {lead.notes}")
    st.page_link(
        links.page(
            "pages/manager_messages.py" if actor.is_manager else "pages/partner_messages.py",
            "Messages",
        ),
        label="Discuss this lead" if actor.is_manager else "Ask about this lead",
        query_params={"lead": str(lead.id)},
        icon=":material/forum:",
    )
    tables.show(
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
        key="timeline",
        compact=["When", "What", "To"],
    )
    if chain:
        st.caption("Commission chain: conversion → hold release → payout")
        tables.show(
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
            key="commission-chain",
            compact=["Line", "Amount", "State"],
        )


@run_slots.fragment
def table(
    actor: Actor,
    prefix: str,
    *,
    can_edit: bool,
    partner_filter: bool = False,
    highlight: int | None = None,
    empty: str = "No leads match these filters.",
) -> None:
    """The filters, the table and the opened lead, as one fragment: a filter, a page turn,
    an edit or an Open tick reruns this part alone, not the whole page (its header, forms
    and sidebar, and the sign-in check — every action still checks the actor itself). An
    action that changes more than the table (a dialog's confirmation) reruns the page."""
    _take_edit(actor, prefix)
    page = _filtered_page(actor, prefix, partner_filter=partner_filter)
    if page is None:
        return
    if page.items:
        _editor(actor, page, prefix, can_edit=can_edit, highlight=highlight)
    else:
        st.info(empty)
    _details(actor)
