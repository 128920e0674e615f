"""The days a batch touched, from whatever the driver returns for a date column: dates, timestamps, or text."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from warehouse.kpi_store import _dates

pytestmark = pytest.mark.unit


def test_dates_and_timestamps_become_their_days_and_missing_values_none():
    values = [date(2026, 1, 1), datetime(2026, 1, 2, 23, 59), pd.Timestamp("2026-01-03 08:00"), None, pd.NaT]
    assert _dates(values) == {date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)}


def test_text_dates_as_sqlite_returns_them_are_parsed():
    assert _dates(["2026-01-01 00:00:00", "2026-01-02 10:00:00", None]) == {date(2026, 1, 1), date(2026, 1, 2)}


def test_no_values_touch_no_day():
    assert _dates([]) == set()
    assert _dates([None, pd.NaT]) == set()
