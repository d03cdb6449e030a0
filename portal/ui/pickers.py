"""Choosing a partner: a program may have ten thousand, too many for one select box, so
by id (filters) or by a few letters of the name (actions)."""

from __future__ import annotations

import streamlit as st

from portal.core.access import Actor
from portal.core.errors import NotFound
from portal.core.models import PartnerStatus
from portal.partners import partners
from portal.ui import fmt
from portal.ui.feedback import read


def partner_filter(actor: Actor, *, key: str, container=st) -> int | None:  # type: ignore[no-untyped-def]
    """A partner id input (empty for all partners); shows whose it is, or that none has it."""
    chosen = container.number_input(
        "Partner id", min_value=1, step=1, value=None, key=key, placeholder="All partners"
    )
    if chosen is None:
        return None
    try:
        partner = read(
            lambda session: partners.get_partner(session, actor=actor, partner_id=int(chosen))
        )
    except NotFound:
        container.error(f"Partner id: no partner has the id {int(chosen)}.")
        return None
    container.caption(fmt.inert(partner.company_name))
    return partner.id


MATCHES = 20


def partner_by_name(actor: Actor, *, key: str) -> int | None:
    """A search box for the company name and the active partners it matches; the chosen
    partner's id (None until one is chosen)."""
    typed = st.text_input(
        "Partner name", max_chars=200, key=f"{key}-search", placeholder="A few letters"
    )
    if not typed.strip():
        return None
    found = read(
        lambda session: (
            partners.list_partners(
                session, actor=actor, status=PartnerStatus.ACTIVE, search=typed, limit=MATCHES
            ).items
        )
    )
    if not found:
        st.error(fmt.inert(f"Partner name: no active partner's name contains “{typed.strip()}”."))
        return None
    names = {partner.id: f"{partner.company_name} (#{partner.id})" for partner in found}
    return st.selectbox(
        "Partner",
        list(names),
        format_func=names.__getitem__,
        key=f"{key}-choice",
        help=f"The first {MATCHES} active partners whose name contains what you typed.",
    )
