"""The partner's next payout as the tracker and the dashboard both show it: what it will carry,
or what is owed and held, why, and what to do (from `commissions.payout_eligibility`)."""

from __future__ import annotations

import streamlit as st

from portal.money.commissions import CommissionSummary
from portal.ui import fmt


def next_payout(summary: CommissionSummary) -> None:
    """Payouts on their way, the next payout day with its amount, or the amount held and each
    step to release it."""
    for payout in summary.scheduled:
        arrives = fmt.arrives(payout.payout_amount, payout.payout_currency, payout.exchange_rate)
        text = f"Payout #{payout.id} of {fmt.money(payout.amount)} is scheduled" + (
            f": {arrives} (rate of {fmt.day(payout.rate_date)})." if arrives else "."
        )
        if payout.held:
            st.info(
                text + " It waits until your partner manager confirms your new payment details.",
                icon=":material/hourglass:",
            )
        else:
            st.success(text, icon=":material/schedule_send:")
    day = fmt.day(summary.next_payout_date)
    owed = summary.owed_next_payout
    if summary.blockers and owed > 0:
        st.metric(
            f"Owed by {day}, held",
            fmt.money(owed),
            help="What your commissions due by the next payout day add up to. It is not paid "
            "on that day until each point below is resolved; it stays yours meanwhile.",
        )
        st.warning(
            f"Nothing will be paid on {day}: this amount is held.", icon=":material/pause_circle:"
        )
    else:
        st.metric(f"Next payout on {day}", fmt.money(summary.expected_next_payout))
    if summary.held_reasons:
        for reason in summary.held_reasons:
            st.info(reason, icon=":material/info:")
    else:
        st.caption("Nothing is held back.")
