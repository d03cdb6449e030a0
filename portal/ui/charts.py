"""Plotly figures for the dashboards, built from service results (never from queries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal

import plotly.graph_objects as go

from portal.models import LeadStatus
from portal.statistics import MonthCount, MonthEarnings
from portal.ui import fmt

STATUS_COLOURS = {
    LeadStatus.PENDING: "#9aa5b8",
    LeadStatus.CONTACTED: "#5b8def",
    LeadStatus.QUALIFIED: "#f2a541",
    LeadStatus.CONVERTED: "#2fa36b",
    LeadStatus.LOST: "#d9534f",
}
FUNNEL = (LeadStatus.PENDING, LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.CONVERTED)


def _layout(figure: go.Figure, title: str) -> go.Figure:
    figure.update_layout(
        title=title,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=320,
        legend={"orientation": "h", "y": -0.2},
        plot_bgcolor="white",
    )
    return figure


def month_span(months: Iterable[date]) -> list[date]:
    """Every month from the first to the last given, so quiet months show as gaps."""
    present = sorted(set(months))
    if not present:
        return []
    span, month = [], present[0]
    while month <= present[-1]:
        span.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return span


def _month_labels(months: Sequence[date]) -> list[str]:
    return [month.strftime("%b %Y") for month in months]


def _month_axis(figure: go.Figure) -> None:
    # Categories, not dates: plotly would otherwise draw a single month as a bar a few
    # milliseconds wide on a time axis.
    figure.update_xaxes(type="category")


def leads_by_month(counts: Sequence[MonthCount]) -> go.Figure:
    """Leads registered per month, stacked by their status now."""
    months = month_span(count.month for count in counts)
    figure = go.Figure()
    for status in LeadStatus:
        per_month = {c.month: c.count for c in counts if c.status is status}
        figure.add_bar(
            name=status.value,
            x=_month_labels(months),
            y=[per_month.get(month, 0) for month in months],
            marker_color=STATUS_COLOURS[status],
        )
    figure.update_layout(barmode="stack")
    _month_axis(figure)
    return _layout(figure, "Leads per month")


def earnings_by_month(earnings: Sequence[MonthEarnings], currency: str) -> go.Figure:
    """Commission earned per month of conversion."""
    per_month = {e.month: e.commission for e in earnings}
    months = month_span(per_month)
    figure = go.Figure()
    figure.add_bar(
        name="Commission",
        x=_month_labels(months),
        y=[float(per_month.get(month, 0)) for month in months],
        marker_color="#2fa36b",
    )
    figure.update_yaxes(title=currency)
    _month_axis(figure)
    return _layout(figure, "Earnings per month")


def program_trend(leads: dict[date, int], conversions: dict[date, int]) -> go.Figure:
    """The program's registrations (bars) and conversions (line) per month."""
    months = month_span([*leads, *conversions])
    figure = go.Figure()
    figure.add_bar(
        name="Leads",
        x=_month_labels(months),
        y=[leads.get(month, 0) for month in months],
        marker_color="#5b8def",
    )
    figure.add_scatter(
        name="Conversions",
        x=_month_labels(months),
        y=[conversions.get(month, 0) for month in months],
        marker_color="#2fa36b",
    )
    _month_axis(figure)
    return _layout(figure, "Leads and conversions per month")


def top_partners(names: Sequence[str], earnings: Sequence[Decimal], currency: str) -> go.Figure:
    """Partners by total earnings, the highest on top."""
    figure = go.Figure(
        go.Bar(
            x=[float(amount) for amount in earnings][::-1],
            # Long names would squeeze the bars to nothing; the table beside has them whole.
            y=[fmt.chart_text(name if len(name) <= 40 else name[:39] + "…") for name in names][
                ::-1
            ],
            orientation="h",
            marker_color="#2fa36b",
        )
    )
    return _layout(figure, f"Top partners by earnings ({currency})")


def pipeline_funnel(pipeline: dict[LeadStatus, int]) -> go.Figure:
    """How many leads reached each stage (a converted lead was also contacted and qualified)."""
    reached = []
    for index, _ in enumerate(FUNNEL):
        reached.append(sum(pipeline.get(status, 0) for status in FUNNEL[index:]))
    figure = go.Figure(
        go.Funnel(
            y=[status.value for status in FUNNEL],
            x=reached,
            marker={"color": [STATUS_COLOURS[s] for s in FUNNEL]},
        )
    )
    return _layout(figure, "Pipeline")
