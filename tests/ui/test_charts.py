"""The dashboard figures: months on a category axis, quiet months shown as empty."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import plotly.graph_objects as go
import pytest

from portal.core.models import LeadStatus
from portal.reporting.statistics import MonthCount, MonthEarnings
from portal.ui import charts


def test_month_span_fills_quiet_months_across_a_new_year():
    span = charts.month_span([date(2026, 11, 1), date(2027, 2, 1), date(2026, 11, 1)])
    assert span == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
    assert charts.month_span([]) == []


def test_one_month_is_one_category_not_a_sliver_of_time():
    figure = charts.leads_by_month([MonthCount(date(2026, 11, 1), LeadStatus.PENDING, 3)])
    assert figure.layout.xaxis.type == "category"
    pending = next(bar for bar in figure.data if bar.name == "Pending")
    assert list(pending.x) == ["Nov 2026"] and list(pending.y) == [3]


def test_earnings_and_trend_show_gaps_as_zero():
    earnings = charts.earnings_by_month(
        [
            MonthEarnings(date(2026, 9, 1), 1, Decimal("10.00")),
            MonthEarnings(date(2026, 11, 1), 2, Decimal("25.50")),
        ],
        "USD",
    )
    assert list(earnings.data[0].x) == ["Sep 2026", "Oct 2026", "Nov 2026"]
    assert list(earnings.data[0].y) == [10.0, 0.0, 25.5]
    trend = charts.program_trend({date(2026, 10, 1): 4}, {date(2026, 12, 1): 1})
    assert [list(series.y) for series in trend.data] == [[4, 0, 0], [0, 0, 1]]
    assert trend.layout.xaxis.type == "category"


def test_the_pipeline_counts_stages_reached_and_names_them_in_words():
    figure = charts.pipeline_funnel(
        {
            LeadStatus.PENDING: 5,
            LeadStatus.CONTACTED: 4,
            LeadStatus.QUALIFIED: 3,
            LeadStatus.CONVERTED: 2,
            LeadStatus.LOST: 1234,
        }
    )
    (funnel,) = figure.data
    assert list(funnel.y) == ["Registered", "Contacted", "Qualified", "Converted"]
    assert list(funnel.x) == [1248, 9, 5, 2]
    assert "Lost: 1,234" in figure.layout.title.subtitle.text
    assert figure.layout.title.text.startswith("Pipeline: leads that reached")


def test_axes_have_titles_and_labels_stay_level():
    figure = charts.earnings_by_month(
        [MonthEarnings(date(2026, 8, 1), 1, Decimal("1234.5"))], "EUR"
    )
    assert figure.layout.yaxis.title.text == "Commission (EUR)"
    assert figure.layout.xaxis.title.text == "Month converted"
    assert figure.layout.xaxis.tickangle == 0
    assert "EUR" in figure.data[0].hovertemplate and ",.2f" in figure.data[0].hovertemplate


def test_a_long_span_labels_a_few_months_level_and_the_latest_always():
    counts = [MonthCount(date(2025, month, 1), LeadStatus.PENDING, 1) for month in range(1, 13)]
    counts.append(MonthCount(date(2026, 6, 1), LeadStatus.PENDING, 1))
    axis = charts.leads_by_month(counts).layout.xaxis
    assert len(axis.tickvals) <= charts.MAX_MONTH_TICKS
    assert axis.tickvals[-1] == "Jun 2026" and axis.ticktext[-1] == "Jun<br>2026"


def every_chart() -> dict[str, go.Figure]:
    months = [MonthCount(date(2025, m, 1), s, m * 3) for m in range(1, 13) for s in LeadStatus]
    return {
        "leads by month": charts.leads_by_month(months),
        "earnings by month": charts.earnings_by_month(
            [MonthEarnings(date(2026, 8, 1), 1, Decimal("1234.5"))], "EUR"
        ),
        "program trend": charts.program_trend({date(2026, 10, 1): 4}, {date(2026, 12, 1): 1}),
        "top partners": charts.top_partners(["Acme <b>Ltd</b>", "B" * 60], [Decimal(9)] * 2, "USD"),
        "pipeline": charts.pipeline_funnel({LeadStatus.PENDING: 5, LeadStatus.LOST: 2}),
    }


@pytest.mark.parametrize("name", list(every_chart()))
def test_each_figure_built_unchecked_is_what_plotly_accepts_checked(name):
    """The figures skip plotly's property checks for speed: built with them, each is the same
    (a misspelt property or a wrong value would raise here, or be dropped and differ)."""
    figure = every_chart()[name]
    unchecked = figure.to_plotly_json()
    checked = go.Figure(unchecked).to_plotly_json()
    assert json.dumps(checked, sort_keys=True) == json.dumps(unchecked, sort_keys=True)


def test_the_check_would_catch_a_misspelt_property():
    spec = charts.earnings_by_month([], "EUR").to_plotly_json()
    spec["layout"]["xaxis"]["tickangel"] = 0
    with pytest.raises(ValueError, match="tickangel"):
        go.Figure(spec)
