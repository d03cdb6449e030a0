"""Payouts for managers: pre-flight, run the batch, settle payouts, download the payout file."""

import io
from datetime import date

import streamlit as st

from portal import commissions, exports, payouts
from portal.db import unit_of_work
from portal.errors import PortalError
from portal.models import PayoutStatus, Role
from portal.ui import fmt
from portal.ui.feedback import show_error
from portal.ui.session import require

actor = require(Role.MANAGER)
st.title("Payouts")

for message in st.session_state.pop("payout_messages", []):
    st.success(message)

st.subheader("Pre-flight", anchor=False)
cutoff = st.date_input(
    "Cut-off date",
    value=min(date.today(), commissions.next_payout_date(date.today())),
    max_value=date.today(),
    help="Pays every commission whose hold ended by the end of this day.",
)
try:
    with unit_of_work() as session:
        plan = payouts.preview(session, actor=actor, cutoff=cutoff)
except PortalError as error:
    show_error(error, {"cutoff": "Cut-off date"})
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
    st.caption("Left out")
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
if st.button(f"Run the batch for {cutoff}", type="primary", disabled=not plan.paid):
    try:
        with unit_of_work() as session:
            result = payouts.run_batch(session, actor=actor, cutoff=cutoff)
        st.session_state["payout_messages"] = [
            f"Scheduled {len(result.scheduled)} payout(s) for {cutoff}."
        ]
        st.rerun()
    except PortalError as error:
        show_error(error)

st.subheader("Scheduled payouts", anchor=False)
with unit_of_work() as session:
    scheduled = payouts.list_payouts(
        session, actor=actor, status=PayoutStatus.SCHEDULED, limit=500
    ).items
if not scheduled:
    st.caption("Nothing is waiting to be paid.")
else:
    st.dataframe(
        [
            {
                "Payout": p.id,
                "Company": p.company_name,
                "Amount": fmt.money(p.amount),
                "Lines": p.lines,
                "Method": fmt.label(p.payment_method),
                "Cut-off": fmt.day(p.cutoff),
            }
            for p in scheduled
        ],
        hide_index=True,
    )
    if st.button("Prepare the payout file (CSV)"):
        sink = io.StringIO()
        with unit_of_work() as session:
            exports.write_csv(
                session,
                actor=actor,
                kind="payouts",
                sink=sink,
                filters=exports.Filters(status="scheduled"),
            )
        st.session_state["payout_file"] = sink.getvalue().encode("utf-8")
    if "payout_file" in st.session_state:
        st.download_button(
            "Download the payout file",
            st.session_state["payout_file"],
            "payouts-scheduled.csv",
            "text/csv",
        )
    with st.form("settle"):
        chosen = st.selectbox(
            "Payout",
            [p.id for p in scheduled],
            format_func=lambda i: next(
                f"#{p.id} {p.company_name} · {fmt.money(p.amount)}" for p in scheduled if p.id == i
            ),
        )
        outcome = st.radio("Outcome", ["paid", "failed", "canceled"], horizontal=True)
        reference = st.text_input("Payment reference (for paid)", max_chars=100)
        reason = st.text_input("Reason (for failed or canceled)", max_chars=1000)
        if st.form_submit_button("Record outcome", type="primary"):
            try:
                with unit_of_work() as session:
                    if outcome == "paid":
                        view = payouts.mark_paid(
                            session, actor=actor, payout_id=chosen, reference=reference
                        )
                    else:
                        view = payouts.close_unpaid(
                            session, actor=actor, payout_id=chosen, status=outcome, reason=reason
                        )
                st.session_state["payout_messages"] = [
                    f"Payout #{view.id} is now {view.status.value}."
                ]
                st.rerun()
            except PortalError as error:
                show_error(error, {"reference": "Payment reference", "reason": "Reason"})

st.subheader("History", anchor=False)
with unit_of_work() as session:
    history = payouts.list_payouts(session, actor=actor, limit=100).items
st.dataframe(
    [
        {
            "Payout": p.id,
            "Company": p.company_name,
            "Amount": fmt.money(p.amount),
            "Status": p.status.value,
            "Reference": p.reference,
            "Scheduled": fmt.day(p.created_at),
            "Paid": fmt.day(p.paid_at),
        }
        for p in history
    ],
    hide_index=True,
)
