"""Partner dashboard: figures, charts, recent leads and notifications."""

import streamlit as st

from portal.core import fmt
from portal.core.config import get_settings
from portal.core.models import PartnerStatus, Role
from portal.leads import leads
from portal.messaging import announcements, notifications
from portal.money import commissions
from portal.partners import groups
from portal.reporting import statistics
from portal.ui import charts, partner_state, payout_status, tables
from portal.ui.feedback import perform, read
from portal.ui.session import require

actor = require(Role.PARTNER)
currency = get_settings().currency
stats, payout_summary, recent, unread, terms, news = read(
    lambda session: (
        statistics.partner_statistics(session, actor=actor),
        commissions.commission_summary(session, actor=actor),
        leads.list_leads(session, actor=actor, limit=5).items,
        notifications.list_notifications(session, actor=actor, unread_only=True, limit=10),
        groups.terms(session, actor=actor),
        announcements.for_me(session, actor=actor),
    )
)

st.title("Dashboard")
st.text(stats.company_name)
partner_state.status_news(actor, unread)
unread = [note for note in unread if note.kind != "partner_status"]  # told just above
partner_state.state_banner(actor)


def _dismiss(announcement_id: int) -> None:
    perform(
        lambda session: announcements.dismiss(session, actor=actor, announcement_id=announcement_id)
    )


for item in news:  # the program's announcements, until dismissed
    with st.container(border=True):
        st.markdown(f"**{fmt.inert(item.title)}**")
        st.text(item.body)
        st.caption(f"From the program · {fmt.moment(item.created_at)}")
        if st.button("Dismiss", key=f"dismiss-announcement-{item.id}"):
            _dismiss(item.id)
            st.rerun()

# Before a first referral every figure is a zero: six cards of them (stacked on a phone)
# say less than the tier and the sentence below.
if stats.total_referrals:
    row = st.columns(4)
    row[0].metric("Referrals", f"{stats.total_referrals:,}")
    row[1].metric(
        "Conversion rate",
        fmt.percent(stats.conversion_rate),
        help="Converted leads ÷ all leads you registered.",
    )
    row[2].metric(f"Total earnings ({currency})", fmt.money(stats.total_earnings, currency=False))
    row[3].metric(
        "Rank",
        f"{stats.rank} of {stats.ranked_partners}" if stats.rank else "—",
        help="By total earnings among active partners.",
    )
    row = st.columns(4)
    row[0].metric(
        f"Pending earnings ({currency})", fmt.money(stats.pending_earnings, currency=False)
    )
    row[1].metric(f"Paid earnings ({currency})", fmt.money(stats.paid_earnings, currency=False))
    tier_cards = row[2:]
else:
    tier_cards = st.columns(2)
tier_cards[0].metric(
    "Tier",
    stats.tier.title(),
    help=f"Your commission rate: {fmt.rate(stats.effective_rate)}"
    + (" (agreed with your partner manager)" if stats.rate_pinned else ""),
)
with tier_cards[1]:
    if stats.next_tier:
        st.progress(
            min(1.0, stats.tier_progress),
            text=f"{fmt.count(stats.conversions_to_next_tier, 'more conversion')} to "
            f"{stats.next_tier.title()}",
        )
    else:
        st.progress(1.0, text="Top tier reached")
    st.caption(f"{stats.trailing_conversions} conversions in the last 12 months")
st.caption(fmt.inert(partner_state.rate_sentence(stats) + " " + terms.sentence))

if payout_summary.total_earned:  # once anything was earned
    st.subheader("Next payout", anchor=False)
    payout_status.next_payout(payout_summary)

if stats.total_referrals == 0:
    if stats.status is PartnerStatus.ACTIVE:  # the others were told what they can do above
        st.info(
            "No leads yet. Register your first referral to start earning commission: open "
            "Leads in the menu.",
            icon=":material/rocket_launch:",
        )
else:
    left, right = st.columns(2)
    charts.draw(charts.leads_by_month(stats.leads_by_month), left)
    charts.draw(charts.earnings_by_month(stats.earnings_by_month, currency), right)
    left, right = st.columns(2)
    charts.draw(charts.pipeline_funnel(stats.pipeline), left)
    with right:
        st.subheader("Recent leads", anchor=False)
        tables.show(
            [
                {
                    "Client": lead.client_name,
                    "Company": lead.company or "",
                    "Status": fmt.label(lead.status.value),
                    "Registered": fmt.day(lead.created_at),
                }
                for lead in recent
            ],
            key="recent-leads",
            compact=["Client", "Status", "Registered"],
        )

st.subheader("Notifications", anchor=False)
if not unread:
    st.caption("You are all caught up.")
else:
    for note in unread:
        st.text(f"{fmt.moment(note.created_at)} — {note.message}")
    if st.button("Mark all as read"):
        perform(lambda session: notifications.mark_read(session, actor=actor))
        st.rerun()
