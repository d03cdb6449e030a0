"""Program overview for managers: KPIs, trends, top partners, leads needing attention."""

import plotly.graph_objects as go
import streamlit as st

from portal import program
from portal.commissions import CommissionState
from portal.config import get_settings
from portal.db import unit_of_work
from portal.models import PartnerStatus, Role
from portal.ui import fmt
from portal.ui.session import require

actor = require(Role.MANAGER)
with unit_of_work() as session:
    view = program.overview(session, actor=actor)
currency = get_settings().currency

st.title("Program overview")
cards = st.columns(6)
for column, status in zip(cards, PartnerStatus, strict=False):
    column.metric(f"Partners {status.value}", view.partners_by_status[status])
cards[3].metric("Leads", f"{view.total_leads:,}")
cards[4].metric("Conversion rate", fmt.percent(view.conversion_rate))
cards[5].metric(
    "Awaiting contact",
    len(view.awaiting_contact),
    help=f"Pending for over {get_settings().awaiting_contact_days} days "
    "(the oldest 20 are listed below).",
)
cards = st.columns(4)
for column, state in zip(
    cards,
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
trend = go.Figure()
trend.add_bar(
    name="Leads",
    x=[m.strftime("%Y-%m") for m in view.leads_per_month],
    y=list(view.leads_per_month.values()),
    marker_color="#5b8def",
)
trend.add_scatter(
    name="Conversions",
    x=[m.strftime("%Y-%m") for m in view.conversions_per_month],
    y=list(view.conversions_per_month.values()),
    marker_color="#2fa36b",
)
trend.update_layout(
    title="Leads and conversions per month",
    height=340,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
    legend={"orientation": "h"},
)
left.plotly_chart(trend)
top = go.Figure(
    go.Bar(
        x=[float(p.total_earnings) for p in view.top_partners][::-1],
        y=[p.company_name for p in view.top_partners][::-1],
        orientation="h",
        marker_color="#2fa36b",
    )
)
top.update_layout(
    title=f"Top partners by earnings ({currency})",
    height=340,
    margin={"l": 10, "r": 10, "t": 40, "b": 10},
)
right.plotly_chart(top)

st.subheader("Leads awaiting contact", anchor=False)
if view.awaiting_contact:
    st.dataframe(
        [
            {
                "Lead": lead.id,
                "Partner": lead.partner_name,
                "Client": lead.client_name,
                "Registered": fmt.day(lead.created_at),
            }
            for lead in view.awaiting_contact
        ],
        hide_index=True,
    )
else:
    st.caption("Every lead has been contacted within the SLA.")
st.subheader("Self-referral flags", anchor=False)
if view.self_referrals:
    st.dataframe(
        [
            {
                "Lead": lead.id,
                "Partner": lead.partner_name,
                "Client": lead.client_name,
                "Email": lead.client_email,
                "Status": lead.status.value,
            }
            for lead in view.self_referrals
        ],
        hide_index=True,
    )
else:
    st.caption("No lead shares its partner's email domain.")
