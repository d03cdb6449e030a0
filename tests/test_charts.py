"""The dashboard figures: months on a category axis, quiet months shown as empty."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from portal.models import LeadStatus
from portal.statistics import MonthCount, MonthEarnings
from portal.ui import charts


def test_month_span_fills_quiet_months_across_a_new_year():
    span = charts.month_span([date(2026, 11, 1), date(2027, 2, 1), date(2026, 11, 1)])
    assert span == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
    assert charts.month_span([]) == []


def test_one_month_is_one_category_not_a_sliver_of_time():
    figure = charts.leads_by_month([MonthCount(date(2026, 11, 1), LeadStatus.PENDING, 3)])
    assert figure.layout.xaxis.type == "category"
    pending = next(bar for bar in figure.data if bar.name == "pending")
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
