"""Calendar attributes of days, for the date dimension."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta


def calendar_rows(days: Iterable[date]) -> list[dict[str, object]]:
    rows = []
    for day in days:
        iso = day.isocalendar()
        rows.append(
            {
                "date_day": day,
                "year": day.year,
                "quarter": (day.month - 1) // 3 + 1,
                "month": day.month,
                "month_name": day.strftime("%B"),
                "iso_year": iso.year,
                "iso_week": iso.week,
                "week_start": day - timedelta(days=day.weekday()),
                "day_of_week": iso.weekday,
                "day_name": day.strftime("%A"),
                "is_weekend": day.weekday() >= 5,
            }
        )
    return rows
