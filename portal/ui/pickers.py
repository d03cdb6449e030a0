"""Choosing a partner by id: a program may have ten thousand, too many for a select box."""

from __future__ import annotations

import streamlit as st

from portal import partners
from portal.access import Actor
from portal.db import unit_of_work
from portal.errors import NotFound
from portal.ui import fmt


def partner_filter(actor: Actor, *, key: str, container=st) -> int | None:  # type: ignore[no-untyped-def]
    """A partner id input (empty for all partners); shows whose it is, or that none has it."""
    chosen = container.number_input(
        "Partner id", min_value=1, step=1, value=None, key=key, placeholder="All partners"
    )
    if chosen is None:
        return None
    try:
        with unit_of_work() as session:
            partner = partners.get_partner(session, actor=actor, partner_id=int(chosen))
    except NotFound:
        container.error(f"Partner id: no partner has the id {int(chosen)}.")
        return None
    container.caption(fmt.inert(partner.company_name))
    return partner.id
