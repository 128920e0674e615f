"""An incremental rebuild of training outcomes reads the seven weeks before the rebuilt one, and knows when a line's
trailing correlation needs more (a gap, a new line, a week whose values are all NULL, which has no row of its own)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from warehouse.kpi_store import _periods_before, _trailing_periods_read

pytestmark = pytest.mark.unit

REBUILT = date(2026, 1, 5)  # a Monday


def _weeks(line: str, starts: list[date], values: list[float] | None = None) -> pd.DataFrame:
    values = values if values is not None else [0.9] * len(starts)
    return pd.DataFrame(
        {
            "kpi": "fpy",
            "period": "week",
            "period_start": starts,
            "grain": "line",
            "site_id": "S1",
            "line_id": line,
            "value": values,
        }
    )


def _before(weeks: int) -> list[date]:
    return [REBUILT - timedelta(weeks=w) for w in range(weeks, 0, -1)]


def test_the_read_reaches_seven_weeks_and_seven_months_back():
    assert _periods_before(REBUILT, "week") == date(2025, 11, 17)
    assert _periods_before(date(2026, 1, 1), "month") == date(2025, 6, 1)


def test_seven_earlier_weeks_of_every_rebuilt_line_are_enough():
    periods = pd.concat([_weeks("L1", [*_before(7), REBUILT]), _weeks("L2", [*_before(7), REBUILT])])
    assert _trailing_periods_read(periods, REBUILT)


def test_a_gap_or_a_week_of_nulls_needs_the_exact_reach():
    gap = _weeks("L1", [*_before(7)[1:], REBUILT])  # six earlier weeks read: the seventh lies further back
    assert not _trailing_periods_read(gap, REBUILT)
    nulls = _weeks("L1", [*_before(7), REBUILT], [0.9, 0.9, np.nan, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert not _trailing_periods_read(nulls, REBUILT)  # the NULL week is no row of the outcome table


def test_a_line_without_a_value_in_the_rebuilt_week_needs_nothing():
    periods = pd.concat([_weeks("L1", [*_before(7), REBUILT]), _weeks("L2", [REBUILT], [np.nan])])
    assert _trailing_periods_read(periods, REBUILT)
