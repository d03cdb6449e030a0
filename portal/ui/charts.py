"""Plotly figures for the dashboards, built from service results (never from queries)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from portal.core import fmt
from portal.core.models import LeadStatus
from portal.reporting.statistics import MonthCount, MonthEarnings

STATUS_COLOURS = {
    LeadStatus.PENDING: "#9aa5b8",
    LeadStatus.CONTACTED: "#5b8def",
    LeadStatus.QUALIFIED: "#f2a541",
    LeadStatus.CONVERTED: "#2fa36b",
    LeadStatus.LOST: "#d9534f",
}
FUNNEL = (LeadStatus.PENDING, LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.CONVERTED)


# Plotly's mode bar (zoom, pan, download) covers the chart on a phone and offers nothing a
# partner needs: the figures are small, and their numbers are on the page.
CHART_CONFIG = {"displayModeBar": False}


def draw(figure: go.Figure, container: Any = st) -> None:
    """A figure as the pages show every chart: full width, no mode bar."""
    container.plotly_chart(figure, width="stretch", config=CHART_CONFIG)


def _figure(data: list[dict[str, Any]], layout: dict[str, Any], title: str) -> go.Figure:
    """One figure from plain traces and layout, built in one step.

    Plotly checks every property of a figure as it is built; on the dashboard that was three
    quarters of a page run's time (about 20 ms a figure, three figures a view, and every
    session's views share the process). These specs are ours and fixed, so they are built
    unchecked; `tests/ui/test_charts.py` builds each one checked and compares the two.
    """
    margin = {"l": 10, "r": 10, "t": 64, "b": 10, **layout.pop("margin", {})}
    title_spec = {
        "text": title,
        "x": 0,
        "xanchor": "left",
        # The title sits on the plot's top edge and the mode bar (shown on hover) in the
        # top margin's upper part, so a title as wide as the chart stays uncovered.
        "y": 1,
        "yref": "paper",
        "yanchor": "bottom",
        "pad": {"b": 8},
        **layout.pop("title", {}),
    }
    spec = {
        "data": data,
        "layout": {
            "title": title_spec,
            "margin": margin,
            "height": 340,
            # Below the axis title, not over it.
            "legend": {"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0},
            "plot_bgcolor": "white",
            "separators": ".,",  # 1,234.56 everywhere
            **layout,
        },
    }
    return go.Figure(spec, _validate=False)


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


MAX_MONTH_TICKS = 6  # level, two-line labels that fit a phone-wide chart


def _month_axis(months: Sequence[date], title: str | None) -> dict[str, Any]:
    # Categories, not dates: plotly would otherwise draw a single month as a bar a few
    # milliseconds wide on a time axis. Plotly tilts and clips long category labels on a
    # narrow chart ("Aug 2"): label every few months instead, level, on two lines.
    labels = _month_labels(months)
    step = max(1, math.ceil(len(labels) / MAX_MONTH_TICKS))
    shown = list(range(len(labels) - 1, -1, -step))[::-1]  # always the latest month
    axis = {
        "type": "category",
        "tickangle": 0,
        "tickmode": "array",
        "tickvals": [labels[index] for index in shown],
        "ticktext": [months[index].strftime("%b<br>%Y") for index in shown],
        "automargin": True,
    }
    if title is not None:
        axis["title"] = {"text": title}
    return axis


def leads_by_month(counts: Sequence[MonthCount]) -> go.Figure:
    """Leads registered per month, stacked by their status now."""
    months = month_span(count.month for count in counts)
    labels = _month_labels(months)
    bars = []
    for status in LeadStatus:
        per_month = {c.month: c.count for c in counts if c.status is status}
        bars.append(
            {
                "type": "bar",
                "name": fmt.label(status.value),
                "x": labels,
                "y": [per_month.get(month, 0) for month in months],
                "marker": {"color": STATUS_COLOURS[status]},
                "hovertemplate": "%{x}: %{y:,} %{fullData.name}<extra></extra>",
            }
        )
    layout = {
        "barmode": "stack",
        "yaxis": {"title": {"text": "Leads"}, "tickformat": ",d"},
        # No x title: the legend sits there; the title says what the months are.
        "xaxis": _month_axis(months, None),
    }
    return _figure(bars, layout, "Leads per month registered, by status now")


def earnings_by_month(earnings: Sequence[MonthEarnings], currency: str) -> go.Figure:
    """Commission earned per month of conversion."""
    per_month = {e.month: e.commission for e in earnings}
    months = month_span(per_month)
    bar = {
        "type": "bar",
        "name": "Commission",
        "x": _month_labels(months),
        "y": [float(per_month.get(month, 0)) for month in months],
        "marker": {"color": "#2fa36b"},
        "hovertemplate": f"%{{x}}: %{{y:,.2f}} {currency}<extra></extra>",
    }
    layout = {
        "yaxis": {"title": {"text": f"Commission ({currency})"}, "tickformat": ",.0f"},
        "xaxis": _month_axis(months, "Month converted"),
    }
    return _figure([bar], layout, "Earnings per month")


def program_trend(leads: dict[date, int], conversions: dict[date, int]) -> go.Figure:
    """The program's registrations (bars) and conversions (line) per month."""
    months = month_span([*leads, *conversions])
    labels = _month_labels(months)
    series = [
        {
            "type": "bar",
            "name": "Leads",
            "x": labels,
            "y": [leads.get(month, 0) for month in months],
            "marker": {"color": "#5b8def"},
        },
        {
            "type": "scatter",
            "name": "Conversions",
            "x": labels,
            "y": [conversions.get(month, 0) for month in months],
            "marker": {"color": "#2fa36b"},
        },
    ]
    layout = {
        "yaxis": {"title": {"text": "Leads"}, "tickformat": ",d"},
        "xaxis": _month_axis(months, None),  # the legend sits where an x title would
    }
    return _figure(series, layout, "Leads and conversions per month")


def top_partners(names: Sequence[str], earnings: Sequence[Decimal], currency: str) -> go.Figure:
    """Partners by total earnings, the highest on top."""
    bar = {
        "type": "bar",
        "x": [float(amount) for amount in earnings][::-1],
        # Long names would squeeze the bars to nothing; the table beside has them whole.
        "y": [fmt.chart_text(name if len(name) <= 40 else name[:39] + "…") for name in names][::-1],
        "orientation": "h",
        "marker": {"color": "#2fa36b"},
        "hovertemplate": f"%{{y}}: %{{x:,.2f}} {currency}<extra></extra>",
    }
    # Compact ticks ("250k", "1M") with the margin made room for: a full "1,000,000" at the
    # axis end ran past the chart's edge.
    layout = {
        "xaxis": {
            "title": {"text": f"Total earnings ({currency})"},
            "tickformat": "~s",
            "automargin": True,
        }
    }
    return _figure([bar], layout, f"Top partners by earnings ({currency})")


def pipeline_funnel(pipeline: dict[LeadStatus, int]) -> go.Figure:
    """How many leads reached each stage (a converted lead was also contacted and qualified)."""
    reached = []
    for index, _ in enumerate(FUNNEL):
        reached.append(sum(pipeline.get(status, 0) for status in FUNNEL[index:]))
    lost = pipeline.get(LeadStatus.LOST, 0)
    reached[0] += lost  # every lead was registered; where a lost one got to is not kept here
    funnel = {
        "type": "funnel",
        "y": ["Registered", "Contacted", "Qualified", "Converted"],
        "x": reached,
        "marker": {"color": [STATUS_COLOURS[s] for s in FUNNEL]},
        "texttemplate": "%{value:,}",
        "hovertemplate": "%{y}: %{x:,} leads reached this stage<extra></extra>",
    }
    layout = {
        "title": {
            "subtitle": {"text": f"Lost: {lost:,} (counted under Registered only)"},
            "pad": {"b": 28},  # the subtitle hangs below the title: keep it off the plot
        },
        "margin": {"t": 88},
    }
    return _figure([funnel], layout, "Pipeline: leads that reached each stage")
