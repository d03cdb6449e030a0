"""Program overview for managers: KPIs, trends, top partners, leads needing attention."""

import streamlit as st

from portal.core import fmt
from portal.core.config import get_settings
from portal.core.models import PartnerStatus, Role
from portal.money.commissions import CommissionState
from portal.reporting import overview
from portal.ui import charts, tables
from portal.ui.feedback import read
from portal.ui.session import require

actor = require(Role.MANAGER)
view = read(lambda session: overview.program_overview(session, actor=actor))
currency = get_settings().currency

st.title("Program overview")
cards = st.columns(6)
for column, status in zip(cards, PartnerStatus, strict=False):
    column.metric(f"Partners {status.value}", f"{view.partners_by_status[status]:,}")
cards[3].metric("Leads", f"{view.total_leads:,}")
cards[4].metric("Conversion rate", fmt.percent(view.conversion_rate))
cards[5].metric(
    "Awaiting contact",
    len(view.awaiting_contact),
    help=f"Pending for over {fmt.count(view.awaiting_contact_days, 'day')} "
    "(the oldest 20 are listed below).",
)
money_cards = st.columns(4)
for column, state in zip(
    money_cards,
    (
        CommissionState.ON_HOLD,
        CommissionState.PAYABLE,
        CommissionState.IN_PAYOUT,
        CommissionState.PAID,
    ),
    strict=True,
):
    column.metric(
        f"Commissions {fmt.label(state.value).lower()} ({currency})",
        fmt.money(view.commissions[state], currency=False),
    )

left, right = st.columns(2)
charts.draw(charts.program_trend(view.leads_per_month, view.conversions_per_month), left)
earners = [partner for partner in view.top_partners if partner.total_earnings > 0]
if earners:
    charts.draw(
        charts.top_partners(
            [partner.company_name for partner in earners],
            [partner.total_earnings for partner in earners],
            currency,
        ),
        right,
    )
else:
    right.caption("Top partners by earnings: no partner has earned commission yet.")

st.subheader("Leads awaiting contact", anchor=False)
if view.awaiting_contact:
    tables.show(
        [
            {
                "Lead": lead.id,
                "Partner": lead.partner_name,
                "Client": lead.client_name,
                "Registered": fmt.day(lead.created_at),
            }
            for lead in view.awaiting_contact
        ],
        key="awaiting",
        compact=["Partner", "Client", "Registered"],
    )
else:
    st.caption("Every lead has been contacted within the SLA.")
st.subheader("Self-referral flags", anchor=False)
if view.self_referrals:
    tables.show(
        [
            {
                "Lead": lead.id,
                "Partner": lead.partner_name,
                "Client": lead.client_name,
                "Email": lead.client_email,
                "Status": fmt.label(lead.status.value),
            }
            for lead in view.self_referrals
        ],
        key="self-referrals",
        compact=["Partner", "Client", "Status"],
    )
else:
    st.caption("No lead shares its partner's email domain.")
