"""What an applicant or a suspended partner is told: one message per state, the same on every
partner page (what happens next, what they can still do), and the news of an approval or a
reactivation once, on the next visit."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from portal.core import fmt
from portal.core.access import Actor
from portal.core.models import PartnerStatus
from portal.messaging import notifications
from portal.reporting.statistics import PartnerStatistics
from portal.ui.feedback import perform

PENDING = (
    "Your application is under review. A partner manager decides, and you get an e-mail "
    "when they do. Meanwhile you can complete your profile (payment details, tax form); "
    "registering leads opens once you are approved."
)
SUSPENDED = (
    "Your partner account is suspended, so it is read-only: you can see your leads, "
    "commissions and payouts, but not register or move leads or change your profile. What "
    "you are owed is kept for you and paid once the account is reactivated; your partner "
    "manager can tell you more."
)


def state_banner(actor: Actor) -> None:
    """The one message of the partner's state, if it is not simply active."""
    if actor.partner_status is PartnerStatus.PENDING:
        st.info(PENDING, icon=":material/hourglass_top:")
    elif actor.partner_status is PartnerStatus.SUSPENDED:
        st.warning(SUSPENDED, icon=":material/block:")


def status_news(actor: Actor, unread: list[notifications.NotificationView]) -> None:
    """Tell an approved (or reactivated) partner once, at its next visit: the newest unread
    news of its status (from the unread notifications the page has read), then marked read."""
    if actor.partner_status is not PartnerStatus.ACTIVE:
        return
    news = [note for note in unread if note.kind == "partner_status"]
    if not news:
        return
    perform(
        lambda session: notifications.mark_read(
            session, actor=actor, notification_ids=[n.id for n in news]
        )
    )
    st.success(news[0].message, icon=":material/celebration:")


def rate_sentence(stats: PartnerStatistics) -> str:
    """The partner's commission rate today, and why it is that rate."""
    why = (
        "agreed with your partner manager (it stays whatever your tier)"
        if stats.rate_pinned
        else f"the {stats.tier.title()} tier's rate"
    )
    return f"Your commission rate today: {fmt.rate(stats.effective_rate)}, {why}."


def line_rate_note(line_rate: Decimal | None, today: Decimal) -> str:
    """Why a commission line's rate is not today's: rates are fixed at conversion."""
    if line_rate is None or line_rate == today:
        return ""
    return "your rate when it converted"
