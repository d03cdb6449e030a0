"""Program settings for managers: the rules of the program (hold days, minimum payout, payout
day, claims, tiers, services, payout currencies, the risk rules that hold payouts), changed
with a reason after seeing what the change would affect; every version kept."""

import pandas as pd
import streamlit as st

from portal.core import fmt, program
from portal.core.actions import Session
from portal.core.models import RiskRule, Role
from portal.money import currencies
from portal.reporting import settings_impact
from portal.risk.rules import DESCRIPTIONS
from portal.ui import confirm, tables, two_factor
from portal.ui.feedback import FormErrors, read
from portal.ui.session import require

FIELDS = {*program.LABELS, "reason"}

actor = require(Role.MANAGER)
st.title("Program settings")
two_factor.step_up(actor)
st.caption(
    "The rules partners are paid and credited by. A change applies from the moment it is "
    "saved: a conversion keeps the rate and hold it was made with, a claim its end date."
)
confirm.show_confirmed()
rules = read(program.current)
form = FormErrors("program-settings")

with st.form(form.key):
    st.subheader("Commissions and payouts")
    left, right = st.columns(2)
    hold_days = left.number_input(
        "Hold days",
        min_value=0,
        max_value=3650,
        value=rules.hold_days,
        step=1,
        help="How long a new commission is held before it can be paid (returns, refunds).",
    )
    with left:
        form.under("hold_days")
    min_payout = right.text_input(
        f"Minimum payout ({fmt.program_currency()})",
        value=f"{rules.min_payout:.2f}",
        help="A partner owed less is not paid in a batch; the balance rolls over.",
    )
    with right:
        form.under("min_payout")
    left, right = st.columns(2)
    payout_day = left.number_input(
        "Payout day",
        min_value=1,
        max_value=28,
        value=rules.payout_day,
        step=1,
        help="Day of the month payouts run (1 to 28, so every month has it).",
    )
    with left:
        form.under("payout_day")
    payout_currencies = right.multiselect(
        "Payout currencies",
        currencies.payable_codes(),
        default=list(rules.payout_currencies),
        help=f"Currencies partners may be paid in; {fmt.program_currency()}, the program "
        "currency, is always one of them.",
    )
    with right:
        form.under("payout_currencies")

    st.subheader("Leads")
    left, right = st.columns(2)
    claim_days = left.number_input(
        "Claim days",
        min_value=1,
        max_value=3650,
        value=rules.claim_days,
        step=1,
        help="How long a registration claims its client for the partner.",
    )
    with left:
        form.under("claim_days")
    awaiting_days = right.number_input(
        "Awaiting-contact days",
        min_value=1,
        max_value=365,
        value=rules.awaiting_contact_days,
        step=1,
        help="A lead still pending after this many days is flagged for its partner.",
    )
    with right:
        form.under("awaiting_contact_days")
    services = st.text_area(
        "Services (one per line)",
        value="\n".join(rules.services),
        height=160,
        help="What a lead can name; leads keep the service they named when it is removed.",
    )
    form.under("services")

    st.subheader("Tiers")
    st.caption(
        "A partner's tier is set by its conversions in the trailing 12 months; the lowest "
        "tier starts at 0. A pinned rate overrides the tier."
    )
    tiers = st.data_editor(
        pd.DataFrame(
            [
                (name, threshold, f"{(rate * 100).normalize():f}")
                for name, threshold, rate in rules.tiers
            ],
            columns=["Tier", "From converted leads", "Rate (%)"],
        ),
        num_rows="dynamic",
        width="stretch",
        key=f"{form.key}-tiers",
        **tables.phone_layout(
            ["Tier", "From converted leads", "Rate (%)"],
            {
                "Tier": st.column_config.TextColumn(required=True, max_chars=40),
                "From converted leads": st.column_config.NumberColumn(
                    required=True, min_value=0, step=1
                ),
                "Rate (%)": st.column_config.TextColumn(required=True, max_chars=8),
            },
            selectable=True,  # its row markers, to delete a tier
            bordered=True,
            hide_index=True,
        ),
    )
    form.under("tier_thresholds")
    form.under("tier_rates")

    st.subheader("Risk center")
    left, right = st.columns(2)
    risk_holds = left.multiselect(
        "Risk rules that hold payouts",
        list(RiskRule),
        default=[RiskRule(name) for name in rules.risk_holds],
        format_func=DESCRIPTIONS.__getitem__,
        help="A partner with an open event of one of these rules is left out of payout "
        "batches until a manager resolves or dismisses it; the partner is told a review is "
        "pending, not which rule.",
    )
    with left:
        form.under("risk_holds")
    burst = right.number_input(
        "Referrals an hour that raise a risk event",
        min_value=2,
        max_value=100_000,
        value=rules.risk_burst_per_hour,
        step=1,
        help="One partner registering this many referrals within one clock hour (UTC).",
    )
    with right:
        form.under("risk_burst_per_hour")

    reason = st.text_input("Reason for the change *", max_chars=500)
    form.under("reason")
    form.others(FIELDS)
    if st.form_submit_button("Review the change", type="primary"):
        changes = {
            "hold_days": hold_days,
            "min_payout": min_payout,
            "payout_day": payout_day,
            "payout_currencies": payout_currencies,
            "claim_days": claim_days,
            "awaiting_contact_days": awaiting_days,
            "services": [line for line in services.splitlines() if line.strip()],
            "risk_holds": [rule.value for rule in risk_holds],
            "risk_burst_per_hour": burst,
        }
        tier_rows = list(tiers.itertuples(index=False, name=None))
        impact = form.submit(
            lambda session: settings_impact.review(
                session, actor=actor, changes=changes, reason=reason, tier_rows=tier_rows
            )
        )
        if impact is not None:
            confirm.ask("program-settings", (impact, reason))


def lines(reviewed: tuple[settings_impact.Impact, str]) -> list[str]:
    impact, _ = reviewed
    changed = [f"{change.label}: {change.before} → {change.after}" for change in impact.changes]
    return [*changed, "", *impact.effects]


def save(session: Session, reviewed: tuple[settings_impact.Impact, str]) -> str:
    impact, why = reviewed
    program.change(
        session, actor=actor, changes=impact.proposed, reason=why, based_on=impact.based_on
    )
    return "The program settings are saved; they apply from now on."


confirm.dialog(
    "program-settings",
    title="Save the program settings?",
    lines=lines,
    confirm_label="Save the change",
    act=save,
)

st.subheader("History")
versions = read(lambda session: program.history(session, actor=actor))
if not versions:
    st.text("No change has been saved yet: the values above come from the configuration.")
else:
    tables.show(
        [
            {
                "Version": item.version,
                "From": fmt.moment(item.changed_at),
                "By": item.changed_by,
                "Changes": "; ".join(item.changes) or "The configuration's values",
                "Reason": item.reason,
            }
            for item in versions
        ],
        key="settings-history",
        compact=["Version", "From", "Changes"],
    )
