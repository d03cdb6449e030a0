"""Partner groups for managers: partners on terms of their own (tier rates, hold days, minimum
payout), each left empty to follow the program settings. Partners are moved between groups
from the Partners page, several at once."""

import streamlit as st

from portal.core import fmt, program
from portal.core.actions import Session
from portal.core.models import Role
from portal.partners import groups
from portal.ui import confirm, tables, two_factor
from portal.ui.feedback import FormErrors, read
from portal.ui.session import require

NOTICE = "groups_notice"
FIELDS = {"name", "description", "tier_rates", "hold_days", "min_payout"}

actor = require(Role.MANAGER)
st.title("Partner groups")
two_factor.step_up(actor)
st.caption(
    "A group gives its partners terms of their own; what it leaves empty follows the Program "
    "settings. Changes apply from now on: a conversion keeps the rate and hold it was made "
    "with. Move partners between groups on the Partners page."
)
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(fmt.inert(notice), icon=":material/check_circle:")
confirm.show_confirmed()

found, rules = read(
    lambda session: (groups.list_groups(session, actor=actor), program.current(session))
)


def _terms(group: groups.GroupView) -> str:
    parts = [f"{tier} {fmt.rate(rate)}" for tier, rate in group.tier_rates.items()]
    if group.hold_days is not None:
        parts.append(f"hold {fmt.count(group.hold_days, 'day')}")
    if group.min_payout is not None:
        parts.append(f"minimum {fmt.money(group.min_payout)}")
    return ", ".join(parts) or "the program's"


tables.show(
    [
        {
            "Group": group.name,
            "Partners": group.partners,
            "Terms": _terms(group),
            "Description": group.description,
        }
        for group in found
    ],
    key="groups",
    compact=["Group", "Partners", "Terms"],
)

editable = {group.id: group for group in found if group.id is not None}
choice = st.selectbox(
    "Group to change",
    [None, *editable],
    format_func=lambda i: "A new group" if i is None else editable[i].name,
)
current = editable.get(choice) if choice is not None else None
form = FormErrors(f"group-{choice}")
with st.form(form.key):
    name = st.text_input("Name *", value=current.name if current else "", max_chars=80)
    form.under("name")
    description = st.text_area(
        "Description", value=current.description if current else "", max_chars=500
    )
    form.under("description")
    st.markdown("**Tier rates (%)** — empty: the program's rate for that tier")
    columns = st.columns(len(rules.tiers))
    typed_rates = {}
    for column, (tier, _, program_rate) in zip(columns, rules.tiers, strict=True):
        mine = current.tier_rates.get(tier) if current else None
        typed_rates[tier] = column.text_input(
            tier.title(),
            value=f"{(mine * 100).normalize():f}" if mine is not None else "",
            placeholder=f"{(program_rate * 100).normalize():f}",
            max_chars=8,
        )
    form.under("tier_rates")
    left, right = st.columns(2)
    hold_days = left.text_input(
        "Hold days",
        value=str(current.hold_days) if current and current.hold_days is not None else "",
        placeholder=str(rules.hold_days),
        max_chars=5,
    )
    with left:
        form.under("hold_days")
    min_payout = right.text_input(
        f"Minimum payout ({fmt.program_currency()})",
        value=f"{current.min_payout:.2f}" if current and current.min_payout is not None else "",
        placeholder=f"{rules.min_payout:.2f}",
        max_chars=12,
    )
    with right:
        form.under("min_payout")
    form.others(FIELDS)
    if st.form_submit_button("Save the group", type="primary"):
        saved = form.submit(
            lambda session: groups.save_group(
                session,
                actor=actor,
                group_id=choice,
                name=name,
                description=description,
                tier_rates={
                    tier: groups.percent_to_rate(text) for tier, text in typed_rates.items()
                },
                hold_days=hold_days,
                min_payout=min_payout,
            )
        )
        if saved is not None:
            st.session_state[NOTICE] = f"Saved the group {saved.name}; its terms apply from now on."
            st.rerun()

if current is not None and st.button(f"Remove the group {current.name}…"):
    confirm.ask("group-delete", current)


def _delete(session: Session, group: groups.GroupView) -> str:
    assert group.id is not None
    moved = groups.delete_group(session, actor=actor, group_id=group.id)
    return f"Removed {group.name}; {fmt.count(moved, 'partner')} moved to the default group."


confirm.dialog(
    "group-delete",
    title="Remove this group?",
    lines=lambda group: [
        f"{group.name}: {fmt.count(group.partners, 'partner')} go to the default group and "
        "are paid on the program's terms from now on."
    ],
    confirm_label="Remove the group",
    act=_delete,
)
