"""Payouts for managers: pre-flight and batch, payout files, settling one payout or a bank
statement, and the history. Every step that moves money asks for confirmation first."""

import io
from datetime import date
from decimal import Decimal

import streamlit as st

from portal import exports, payout_files, payouts
from portal.db import unit_of_work
from portal.models import PayoutStatus, Role
from portal.payouts import STATEMENT_COLUMNS, PayoutView
from portal.ui import confirm, downloads, fmt
from portal.ui.feedback import perform
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Payouts")
confirm.show_confirmed()
today = fmt.utc_today()
# Bumping this clears the settle form and the statement upload after each recorded outcome.
generation = st.session_state.setdefault("payout_form_generation", 0)


def _cleared() -> None:
    st.session_state["payout_form_generation"] = generation + 1


st.subheader("Pre-flight", anchor=False)
cutoff = st.date_input(
    "Cut-off date (UTC)",
    value=today,
    max_value=today,
    help="Pays every commission whose hold ended by the end of this day (UTC) and by the "
    "moment the batch runs, net of every open clawback.",
)
plan = perform(
    lambda session: payouts.preview(session, actor=actor, cutoff=cutoff), {"cutoff": "Cut-off date"}
)
if plan is None:
    st.stop()
cards = st.columns(3)
cards[0].metric("Payouts", len(plan.paid))
cards[1].metric("Total", fmt.money(plan.total))
cards[2].metric("Left out", len(plan.left_out))
if plan.paid:
    st.dataframe(
        [
            {
                "Partner": p.partner_id,
                "Company": p.company_name,
                "Amount": fmt.money(p.amount, currency=False),
                "Lines": p.lines,
            }
            for p in plan.paid
        ],
        hide_index=True,
    )
if plan.left_out:
    st.text("Left out, and why")
    st.dataframe(
        [
            {
                "Partner": p.partner_id,
                "Company": p.company_name,
                "Owed": fmt.money(p.amount, currency=False),
                "Why": "; ".join(p.reasons),
            }
            for p in plan.left_out
        ],
        hide_index=True,
    )
if st.button(f"Run the batch for {cutoff}…", type="primary", disabled=not plan.paid):
    confirm.ask("batch", (cutoff, len(plan.paid), plan.total))


def _run_batch(session, payload: tuple[date, int, Decimal]) -> str:
    day = payload[0]
    result = payouts.run_batch(session, actor=actor, cutoff=day)
    total = sum((p.amount for p in result.scheduled), Decimal("0.00"))
    return f"Scheduled {len(result.scheduled)} payout(s) for {day}, {fmt.money(total)} in all."


confirm.dialog(
    "batch",
    title="Run the payout batch?",
    lines=lambda p: [
        f"Cut-off: {p[0]}",
        f"{p[1]} payout(s), {fmt.money(p[2])} in all, will be scheduled.",
        "Partners left out stay owed and are paid by a later batch.",
    ],
    confirm_label="Run the batch",
    act=_run_batch,
    labels={"cutoff": "Cut-off date"},
)

st.subheader("Scheduled payouts", anchor=False)
with unit_of_work(reads_only=True) as session:
    scheduled = payouts.list_payouts(
        session, actor=actor, status=PayoutStatus.SCHEDULED, limit=500
    ).items
    made_files = payout_files.list_payout_files(session, actor=actor, limit=20)
by_id: dict[int, PayoutView] = {p.id: p for p in scheduled}
if not scheduled:
    st.text("Nothing is waiting to be paid.")
else:
    st.dataframe(
        [
            {
                "Payout": p.id,
                "Company": p.company_name,
                "Amount": fmt.money(p.amount),
                "Lines": p.lines,
                "Method": fmt.method(p.payment_method),
                "Cut-off": fmt.day(p.cutoff),
            }
            for p in scheduled
        ],
        hide_index=True,
    )

    st.markdown("**Payout files**")
    batches = sorted({p.cutoff for p in scheduled}, reverse=True)
    left, right = st.columns(2)
    batch = left.selectbox("Batch (cut-off)", batches, format_func=fmt.day)
    file_format = right.selectbox(
        "Payout file format",
        list(payout_files.FORMATS),
        format_func=lambda f: payout_files.FORMATS[f].label,
    )
    if st.button("Prepare the payout file"):
        made = perform(
            lambda session: payout_files.build_payout_file(
                session, actor=actor, cutoff=batch, file_format=file_format
            ),
            {"payouts": "Payout file", "format": "Payout file format"},
            busy="Preparing the payout file…",
        )
        if made is not None:
            st.session_state["payout_file"] = made
    made = st.session_state.get("payout_file")
    if made is not None and (made.cutoff, made.file_format) == (batch, file_format):
        st.warning(
            "This file holds full bank account numbers: download it only to a safe place, "
            "hand it to the bank, then delete it.",
            icon=":material/lock:",
        )
        st.text(
            f"{made.payouts} payout(s), {fmt.money(made.total)}. SHA-256 {made.sha256} "
            "(recorded with who made it)."
        )
        st.download_button(
            f"Download {made.file_name}", made.content, made.file_name, made.media_type
        )

    st.markdown("**Record the outcome of one payout**")
    with st.form(f"settle-{generation}"):
        chosen = st.selectbox(
            "Payout",
            list(by_id),
            format_func=lambda i: (
                f"#{i} {by_id[i].company_name} · {fmt.money(by_id[i].amount)} · "
                f"{fmt.method(by_id[i].payment_method)}"
            ),
        )
        outcome = st.radio("Outcome", ["paid", "failed", "canceled"], horizontal=True)
        left, right = st.columns(2)
        reference = left.text_input("Payment reference (for paid)", max_chars=100)
        paid_on = right.date_input("Paid on (UTC)", value=today, max_value=today)
        reason = st.text_input("Reason (for failed or canceled)", max_chars=1000)
        if st.form_submit_button("Review and record…", type="primary"):
            confirm.ask("settle", (chosen, outcome, reference, paid_on, reason))

    def _settle(session, payload: tuple[int, str, str, date, str]) -> str:
        payout_id, result, ref, day, why = payload
        if result == "paid":
            view = payouts.mark_paid(
                session, actor=actor, payout_id=payout_id, reference=ref, paid_on=day
            )
        else:
            view = payouts.close_unpaid(
                session, actor=actor, payout_id=payout_id, status=result, reason=why
            )
        return f"Payout #{view.id} ({view.company_name}) is now {view.status.value}."

    def _settle_lines(payload: tuple[int, str, str, date, str]) -> list[str]:
        payout_id, result, ref, day, why = payload
        payout = by_id.get(payout_id)
        if payout is None:
            return [f"Payout #{payout_id} is no longer scheduled."]
        lines = [
            f"Payout #{payout.id} to {payout.company_name}",
            f"Amount: {fmt.money(payout.amount)} by {fmt.method(payout.payment_method)}",
        ]
        if result == "paid":
            return [*lines, f"Mark it paid on {day} with reference {ref.strip() or '(none)'}."]
        return [*lines, f"Mark it {result}: its commissions return to payable. {why}".strip()]

    confirm.dialog(
        "settle",
        title="Record this outcome?",
        lines=_settle_lines,
        confirm_label="Record it",
        act=_settle,
        labels={"reference": "Payment reference", "reason": "Reason", "paid_on": "Paid on"},
        on_success=_cleared,
    )

    st.markdown("**Mark several payouts paid from a bank statement**")
    st.text(
        "Upload the bank's statement or remittance file as CSV with the columns "
        f"{', '.join(STATEMENT_COLUMNS)} (paid_date as YYYY-MM-DD). Every row is checked "
        "first: one refused row records nothing."
    )
    several = st.multiselect(
        "Payouts for a statement template", list(by_id), format_func=lambda i: f"#{i}"
    )
    template = io.StringIO()
    template.write(",".join(STATEMENT_COLUMNS) + "\n")
    for payout_id in several:
        template.write(f"{payout_id},,{today.isoformat()}\n")
    st.download_button(
        "Download a statement template",
        template.getvalue(),
        "payout-statement.csv",
        "text/csv",
        disabled=not several,
    )
    statement = st.file_uploader(
        "Statement (CSV)",
        type=["csv"],
        key=f"statement-{generation}",
        max_upload_size=payouts.MAX_STATEMENT_BYTES // 1048576,
    )
    if statement is not None:
        content = statement.getvalue()
        rows = perform(
            lambda session: payouts.read_statement(session, actor=actor, content=content),
            {"statement": "Statement"},
            busy="Reading the bank statement…",
        )
        if rows is not None:
            st.dataframe(
                [
                    {
                        "Payout": row.payout_id,
                        "Company": row.company_name,
                        "Amount": fmt.money(row.amount),
                        "Reference": row.reference,
                        "Paid on": fmt.day(row.paid_on),
                        "Note": "already recorded" if row.already_paid else "",
                    }
                    for row in rows
                ],
                hide_index=True,
            )
            total = sum((row.amount for row in rows), Decimal("0.00"))
            if st.button(f"Mark {len(rows)} payout(s) paid…", type="primary"):
                confirm.ask("statement", (content, len(rows), total))

    def _settle_statement(session, payload: tuple[bytes, int, Decimal]) -> str:
        settled = payouts.settle_statement(session, actor=actor, content=payload[0])
        return f"Recorded {len(settled)} payout(s) as paid."

    confirm.dialog(
        "statement",
        title="Mark these payouts paid?",
        lines=lambda p: [f"{p[1]} payout(s), {fmt.money(p[2])} in all, are marked paid."],
        confirm_label="Mark them paid",
        act=_settle_statement,
        labels={"statement": "Statement"},
        on_success=_cleared,
    )

    downloads.csv_export(
        actor,
        "payouts",
        prepare="Prepare the payout report (CSV, accounts masked)",
        file_name="payouts-scheduled.csv",
        noun="scheduled payout(s)",
        filters=exports.Filters(status="scheduled"),
    )

st.subheader("History", anchor=False)
with unit_of_work(reads_only=True) as session:
    history = payouts.list_payouts(session, actor=actor, limit=100).items
st.dataframe(
    [
        {
            "Payout": p.id,
            "Company": p.company_name,
            "Amount": fmt.money(p.amount),
            "Status": fmt.label(p.status.value),
            "Reference": p.reference,
            "Scheduled": fmt.day(p.created_at),
            "Paid": fmt.day(p.paid_at),
        }
        for p in history
    ],
    hide_index=True,
)
if made_files:
    st.text("Payout files made")
    st.dataframe(
        [
            {
                "Made": fmt.moment(record.created_at),
                "Batch": fmt.day(record.cutoff),
                "File": record.file_format,
                "Payouts": record.payouts,
                "Total": fmt.money(record.total, currency=False),
                "SHA-256": record.sha256,
            }
            for record in made_files
        ],
        hide_index=True,
    )
