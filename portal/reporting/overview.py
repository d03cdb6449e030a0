"""The manager's view of the whole program, read from rollups and indexes, never full scans."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.core import program
from portal.core.access import Actor, require_manager
from portal.core.models import (
    Commission,
    CommissionStatus,
    Lead,
    LeadStatus,
    Partner,
    PartnerStatus,
    ProgramConversionStats,
    ProgramLeadStats,
    ProgramPartnerStats,
)
from portal.core.types import utc_now
from portal.leads.leads import LeadView, awaiting_contact_since, loaded_views
from portal.money.commissions import CommissionState, on_hold
from portal.reporting.statistics import CHART_MONTHS, conversion_rate

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class TopPartner:
    partner_id: int
    company_name: str
    total_earnings: Decimal
    total_referrals: int


@dataclass(frozen=True)
class ProgramOverview:
    partners_by_status: dict[PartnerStatus, int]
    leads_by_status: dict[LeadStatus, int]
    total_leads: int
    conversion_rate: Decimal
    commissions: dict[CommissionState, Decimal]
    leads_per_month: dict[date, int] = field(default_factory=dict)
    conversions_per_month: dict[date, int] = field(default_factory=dict)
    top_partners: list[TopPartner] = field(default_factory=list)
    awaiting_contact: list[LeadView] = field(default_factory=list)
    awaiting_contact_days: int = 0  # the program's rule the list above is drawn by
    self_referrals: list[LeadView] = field(default_factory=list)


def program_overview(session: Session, *, actor: Actor, flagged_limit: int = 20) -> ProgramOverview:
    """Program KPIs, monthly series, top partners and the leads that need a manager's eye."""
    actor = require_manager(session, actor)
    now = utc_now()
    today = now.date()
    first_month = (today.replace(day=1) - timedelta(days=31 * (CHART_MONTHS - 1))).replace(day=1)

    partners_by_status = {status: 0 for status in PartnerStatus}
    for partner_status, partner_count in session.execute(
        select(ProgramPartnerStats.status, ProgramPartnerStats.partner_count)
    ):
        partners_by_status[partner_status] = partner_count

    leads_by_status = {status: 0 for status in LeadStatus}
    leads_per_month: dict[date, int] = defaultdict(int)
    for month, lead_status, lead_count in session.execute(
        select(ProgramLeadStats.month, ProgramLeadStats.status, ProgramLeadStats.lead_count)
    ):
        leads_by_status[lead_status] += int(lead_count)
        if month >= first_month:
            leads_per_month[month] += int(lead_count)

    conversions_per_month: dict[date, int] = defaultdict(int)
    for day, count in session.execute(
        select(ProgramConversionStats.day, ProgramConversionStats.conversions).where(
            ProgramConversionStats.day >= first_month
        )
    ):
        conversions_per_month[day.replace(day=1)] += int(count)

    held = on_hold(now)
    # What has been paid is the sum of the partners' paid earnings (an invariant `verify`
    # checks); the ledger is summed only for the lines still moving, a small share of it once
    # a program has run a while.
    money = {state: ZERO for state in CommissionState}
    money[CommissionState.PAID] = session.scalar(select(func.sum(Partner.paid_earnings))) or ZERO
    for commission_status, is_held, amount in session.execute(
        select(Commission.status, held, func.sum(Commission.amount))
        .where(Commission.status != CommissionStatus.PAID)
        .group_by(Commission.status, held)
    ):
        if commission_status is CommissionStatus.OPEN:
            state = CommissionState.ON_HOLD if is_held else CommissionState.PAYABLE
        else:
            state = CommissionState(commission_status.value)
        money[state] += amount

    top = [
        TopPartner(row.id, row.company_name, row.total_earnings, row.total_referrals)
        for row in session.execute(
            select(
                Partner.id, Partner.company_name, Partner.total_earnings, Partner.total_referrals
            )
            .where(Partner.status == PartnerStatus.ACTIVE)
            .order_by(Partner.total_earnings.desc(), Partner.id)
            .limit(10)
        )
    ]
    rules = program.current(session)
    sla = awaiting_contact_since(now, rules)
    with_partner = select(Lead, Partner.company_name).join(Partner, Partner.id == Lead.partner_id)
    waiting = session.execute(
        with_partner.where(Lead.status == LeadStatus.PENDING, Lead.created_at <= sla)
        .order_by(Lead.created_at, Lead.id)
        .limit(flagged_limit)
    ).all()
    flagged = session.execute(
        with_partner.where(Lead.self_referral, Lead.status != LeadStatus.LOST)
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(flagged_limit)
    ).all()
    total = sum(leads_by_status.values())
    return ProgramOverview(
        partners_by_status=partners_by_status,
        leads_by_status=leads_by_status,
        total_leads=total,
        conversion_rate=conversion_rate(leads_by_status[LeadStatus.CONVERTED], total),
        commissions=money,
        leads_per_month=dict(sorted(leads_per_month.items())),
        conversions_per_month=dict(sorted(conversions_per_month.items())),
        top_partners=top,
        awaiting_contact=loaded_views(waiting, actor, rules),
        awaiting_contact_days=rules.awaiting_contact_days,
        self_referrals=loaded_views(flagged, actor, rules),
    )
