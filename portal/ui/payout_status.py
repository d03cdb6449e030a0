"""The partner's next payout as the tracker and the dashboard both show it: what it will carry,
or what is owed and held, why, and what to do (from `commissions.payout_eligibility`)."""

from __future__ import annotations

import streamlit as st

from portal.core import fmt
from portal.money.commissions import CommissionSummary, PayoutOutlook


def next_payout(summary: CommissionSummary) -> None:
    """Payouts on their way, what the next payout day holds (`summary.outlook`), and each
    step to release what is held."""
    for payout in summary.scheduled:
        arrives = fmt.arrives(payout.payout_amount, payout.payout_currency, payout.exchange_rate)
        text = (
            f"Payout #{payout.id} of {fmt.money(payout.amount)} for the payout day "
            f"{fmt.day(payout.cutoff)} is scheduled"
            + (f": {arrives} (rate of {fmt.day(payout.rate_date)})." if arrives else ".")
        )
        if payout.held:
            st.info(
                text + " It waits until your partner manager confirms your new payment details.",
                icon=":material/hourglass:",
            )
        else:
            st.success(text, icon=":material/schedule_send:")
    day = fmt.day(summary.next_payout_date)
    if summary.outlook is PayoutOutlook.DUE:
        st.metric(f"Next payout on {day}", fmt.money(summary.expected_next_payout))
    elif summary.outlook is PayoutOutlook.HELD and summary.owed_next_payout > 0:
        st.metric(
            f"Owed by {day}, held",
            fmt.money(summary.owed_next_payout),
            help="What your commissions due by the next payout day add up to. It is not paid "
            "on that day until each point below is resolved; it stays yours meanwhile.",
        )
        st.warning(
            f"Nothing will be paid on {day}: this amount is held.", icon=":material/pause_circle:"
        )
    elif summary.outlook is PayoutOutlook.HELD:
        st.warning(summary.headline, icon=":material/pause_circle:")
    else:
        st.info(summary.headline, icon=":material/info:")
    # The partner's state (under review, suspended) is the page's banner: not said twice.
    said = {b.remedy for b in summary.blockers if b.kind == "standing"}
    reasons = [reason for reason in summary.held_reasons if reason not in said]
    if len(reasons) == 1:
        st.info(reasons[0], icon=":material/info:")
    elif reasons:  # one box, a line each, not a stack of boxes
        st.info("\n".join(f"- {fmt.inert(reason)}" for reason in reasons), icon=":material/info:")
