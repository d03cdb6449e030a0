"""Choosing a partner by a few letters of its name: a program may have ten thousand, too
many for one select box, so the box offers the first matches of what was typed."""

from __future__ import annotations

import streamlit as st

from portal.core import fmt
from portal.core.access import Actor
from portal.core.models import PartnerStatus
from portal.partners import partners
from portal.ui.feedback import read

MATCHES = 20


def partner_filter(actor: Actor, *, key: str, container=st) -> int | None:  # type: ignore[no-untyped-def]
    """A filter by partner: empty for all partners, else the partner chosen among those whose
    name contains what was typed (any status)."""
    return _by_name(
        actor,
        key=key,
        container=container,
        status=None,
        label="Filter by partner name",
        placeholder="All partners",
    )


def partner_by_name(actor: Actor, *, key: str) -> int | None:
    """The active partner an action is for, chosen among those whose name contains what was
    typed; None until one is chosen."""
    return _by_name(
        actor,
        key=key,
        container=st,
        status=PartnerStatus.ACTIVE,
        label="Partner name",
        placeholder="A few letters",
    )


def _by_name(  # type: ignore[no-untyped-def]
    actor: Actor,
    *,
    key: str,
    container,
    status: PartnerStatus | None,
    label: str,
    placeholder: str,
) -> int | None:
    typed = container.text_input(label, max_chars=200, key=f"{key}-search", placeholder=placeholder)
    if not typed.strip():
        return None
    found = read(
        lambda session: (
            partners.list_partners(
                session, actor=actor, status=status, search=typed, limit=MATCHES
            ).items
        )
    )
    kind = "active partner" if status is PartnerStatus.ACTIVE else "partner"
    if not found:
        container.error(fmt.inert(f"No {kind}'s name contains “{typed.strip()}”."))
        return None
    names = {partner.id: f"{partner.company_name} (#{partner.id})" for partner in found}
    chosen: int | None = container.selectbox(
        "Partner",
        list(names),
        format_func=names.__getitem__,
        key=f"{key}-choice",
        help=f"The first {MATCHES} {kind}s whose name contains what you typed.",
    )
    return chosen
