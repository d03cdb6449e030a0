"""The risk center for managers: what the risk rules found, grouped by partner and rule; each
event resolved or dismissed with a reason; the rules run again over everything on demand."""

import streamlit as st

from portal.core import fmt
from portal.core.models import RiskRule, RiskStatus, Role
from portal.risk import center
from portal.risk.rules import DESCRIPTIONS
from portal.ui import tables
from portal.ui.feedback import FormErrors, perform, read
from portal.ui.session import require

NOTICE = "risk_center_notice"
SHOWN = {
    RiskStatus.OPEN: "Open",
    RiskStatus.RESOLVED: "Resolved",
    RiskStatus.DISMISSED: "Dismissed",
}

actor = require(Role.MANAGER)
st.title("Risk center")
st.caption(
    "What the risk rules found: payout details two partners share, self-referrals, "
    "throwaway client addresses, bursts of registrations, websites at another domain, "
    "applications from one address. A rule chosen on the Program settings page holds the "
    "payouts of a partner with an open event; the partner is told a review is pending."
)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(fmt.inert(notice), icon=":material/check_circle:")

if st.button("Run the rules over everything", icon=":material/policy:"):
    new = perform(lambda session: center.scan(session, actor=actor), busy="Running the rules…")
    if new is not None:
        st.session_state[NOTICE] = (
            f"{fmt.count(sum(new.values()), 'new event')} found."
            if any(new.values())
            else "Nothing new found."
        )
        st.rerun()

groups = read(lambda session: center.open_groups(session, actor=actor))
st.subheader("Open, by partner and rule", anchor=False)
if not groups:
    st.caption("No open event: nothing waits for a review.")
else:
    tables.show(
        [
            {
                "Severity": fmt.label(group.severity.value),
                "Partner": f"{group.partner_name} (#{group.partner_id})",
                "Rule": group.rule_words,
                "Events": group.events,
                "Latest": fmt.moment(group.last_raised_at),
                "Holds payouts": group.holds_payouts,
            }
            for group in groups
        ],
        key="risk-groups",
        compact=["Severity", "Partner", "Events"],
    )

st.subheader("Events", anchor=False)
left, right = st.columns(2)
status = (
    left.segmented_control(
        "Show",
        list(SHOWN),
        default=RiskStatus.OPEN,
        format_func=SHOWN.__getitem__,
        key="risk-status",
    )
    or RiskStatus.OPEN  # a second tap on the chosen one clears it: the open ones again
)
rule = right.selectbox(
    "Rule",
    [None, *RiskRule],
    format_func=lambda r: "Every rule" if r is None else DESCRIPTIONS[r],
    key="risk-rule",
)
found = read(
    lambda session: center.events(session, actor=actor, status=status or RiskStatus.OPEN, rule=rule)
)
if not found:
    st.caption(f"No {SHOWN[status].lower()} event" + (" of this rule." if rule else "."))
else:
    decided = status is not RiskStatus.OPEN
    tables.show(
        [
            {
                "Event": event.id,
                "Severity": fmt.label(event.severity.value),
                "Partner": f"{event.partner_name} (#{event.partner_id})",
                "Rule": event.rule_words,
                "Evidence": event.evidence,
                "Raised": fmt.moment(event.raised_at),
            }
            | (
                {
                    "Decided": fmt.moment(event.decided_at),
                    "By": event.decided_by or "—",
                    "Reason": event.decision_reason or "",
                }
                if decided
                else {"Holds payouts": event.holds_payouts}
            )
            for event in found
        ],
        key="risk-events",
        compact=["Severity", "Partner", "Evidence"],
    )

if status is RiskStatus.OPEN and found:
    by_id = {event.id: event for event in found}
    form = FormErrors("risk-decision")
    with st.form(form.key):
        st.markdown("**Review**")
        chosen = st.multiselect(
            "Events",
            list(by_id),
            format_func=lambda i: f"#{i} · {by_id[i].partner_name} · {by_id[i].rule_words}",
            placeholder="Choose the events this decision is about",
        )
        form.under("events")
        outcome = st.radio(
            "Decision",
            [RiskStatus.RESOLVED, RiskStatus.DISMISSED],
            format_func=lambda o: (
                "Resolved — a real problem, dealt with"
                if o is RiskStatus.RESOLVED
                else "Dismissed — not a problem"
            ),
        )
        reason = st.text_area("Reason *", max_chars=center.MAX_REASON)
        form.under("reason")
        form.others({"events", "reason", "outcome"})
        if st.form_submit_button("Record the decision", type="primary"):
            count = form.submit(
                lambda session: center.decide(
                    session, actor=actor, event_ids=chosen, outcome=outcome, reason=reason
                )
            )
            if count is not None:
                st.session_state[NOTICE] = (
                    f"{fmt.count(count, 'event')} {outcome.value}; the decision is in the "
                    "audit log."
                )
                st.rerun()
