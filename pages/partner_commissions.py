"""Partner commissions: totals per state, the next payout, the ledger, payouts, statements."""

from datetime import date

import streamlit as st

from portal.core import fmt
from portal.core.models import Role
from portal.money import commissions, monthly_statements, payouts
from portal.money.commissions import CommissionState
from portal.partners import groups
from portal.reporting import exports, statistics
from portal.ui import (
    charts,
    downloads,
    paging,
    partner_state,
    payout_status,
    tables,
)
from portal.ui.feedback import read
from portal.ui.session import require

actor = require(Role.PARTNER)
st.title("Commissions")
partner_state.state_banner(actor)
summary, stats, terms = read(
    lambda session: (
        commissions.commission_summary(session, actor=actor),
        statistics.partner_statistics(session, actor=actor),
        groups.terms(session, actor=actor),
    )
)
if any(summary.totals.values()):  # five cards of 0.00 would say nothing (the outlook does)
    cards = st.columns(5)
    for column, state in zip(cards, CommissionState, strict=True):
        column.metric(fmt.label(state.value), fmt.money(summary.totals[state], currency=False))
    st.caption(
        f"Amounts in {summary.currency}. Void lines are reversed conversions and are not owed."
    )
left, right = st.columns(2)
with left:
    st.subheader("Next payout", anchor=False)
    payout_status.next_payout(summary)
with right:
    if stats.earnings_by_month:
        charts.draw(charts.earnings_by_month(stats.earnings_by_month, summary.currency))
    else:
        st.subheader("Earnings per month", anchor=False)
        st.caption("Your earnings will show here month by month once a lead converts.")


st.subheader("Commission per lead", anchor=False)
st.caption(
    fmt.inert(
        partner_state.rate_sentence(stats)
        + " Each line keeps the rate of its conversion (the tier or agreed rate of that day). "
        + terms.sentence
    )
)
state_names = ["all", *[state.value for state in CommissionState]]
state_filter = st.selectbox("State", state_names)
cursors = paging.cursors("commission", state_filter)
page = read(
    lambda session: commissions.list_commissions(
        session,
        actor=actor,
        after=cursors[-1],
        limit=50,
        state=None if state_filter == "all" else CommissionState(state_filter),
    )
)
if page.items:
    tables.show(
        [
            {
                "Client": line.client_name,
                "Amount": fmt.money(line.amount, currency=False),
                "State": fmt.label(line.state.value),
                "Line": fmt.label(line.kind.value),
                "Deal": fmt.money(line.deal_value, currency=False) if line.deal_value else "",
                "Rate": fmt.rate(line.rate) if line.rate else "",
                "Rate note": partner_state.line_rate_note(line.rate, stats.effective_rate),
                "Lead": line.lead_id,
                "Converted": fmt.day(line.earned_at),
                "Hold ends": fmt.day(line.hold_until),
                "Payout": f"#{line.payout_id}" if line.payout_id else "",
                "Paid": fmt.day(line.paid_at) if line.paid_at else "",
            }
            for line in page.items
        ],
        key="commission-lines",
        compact=["Client", "Amount", "State"],
    )
    paging.pager(cursors, page.next_cursor, key="commissions")
else:
    st.caption("No commission lines yet: they appear when a lead converts.")


st.subheader("Payout history", anchor=False)
history = read(lambda session: payouts.list_payouts(session, actor=actor, limit=24).items)
if any(p.held_reason for p in history if p.status.value == "scheduled"):
    st.info(
        "You changed your payment details after a payout was scheduled. It waits until "
        "your partner manager confirms the new details, then it is paid to them.",
        icon=":material/hourglass:",
    )
if history:
    tables.show(
        [
            {
                "Payout": f"#{p.id}",
                "Scheduled": fmt.day(p.created_at),
                "Amount": fmt.money(p.amount),
                "Arrives": fmt.arrives(p.payout_amount, p.payout_currency, p.exchange_rate),
                "Lines": p.lines,
                "Status": fmt.label(p.status.value),
                "Method": fmt.method(p.payment_method),
                "Paid to": p.destination,
                "Reference": p.reference,
                "Paid": fmt.day(p.paid_at) if p.paid_at else "",
                "Note": (
                    "held: new payment details to confirm"
                    if p.held_reason and p.status.value == "scheduled"
                    else p.return_reason
                ),
            }
            for p in history
        ],
        key="payouts",
        compact=["Payout", "Amount", "Status"],
    )
else:
    st.caption("No payouts yet.")


st.subheader("Monthly statement", anchor=False)
months = monthly_statements.recent_months(date.today(), 24)
month = st.selectbox("Month", months, format_func=lambda m: m.strftime("%B %Y"))
statement = read(
    lambda session: monthly_statements.monthly_statement(session, actor=actor, month=month)
)
balances = st.columns(3)
balances[0].metric("Opening balance", fmt.money(statement.opening_balance))
balances[1].metric("Movements", f"{len(statement.lines)}")
balances[2].metric("Closing balance", fmt.money(statement.closing_balance))
rows = [
    {
        "When": fmt.moment(line.at),
        "Kind": line.kind,
        "Description": line.description,
        "Amount": fmt.money(line.amount, currency=False),
    }
    for line in statement.lines
]
if rows:
    tables.show(rows, key="statement", compact=["When", "Description", "Amount"])
else:
    st.text("No movements this month.")
st.download_button(
    "Download statement (CSV)",
    exports.statement_csv(statement).encode(),
    f"statement-{month:%Y-%m}.csv",
    "text/csv",
    on_click="ignore",  # a download changes nothing: no rerun
)

st.subheader("Export commissions", anchor=False)
downloads.csv_export(
    actor,
    "commissions",
    prepare="Prepare commissions CSV",
    file_name="commissions.csv",
    noun="line",
)
