"""Shorthands that build GX expectations carrying a readable rule name and a severity.

``critical`` row-level failures quarantine the row; ``warning`` failures load and are reported.
"""

from __future__ import annotations

from typing import Literal

import great_expectations as gx
from great_expectations.expectations import Expectation

Severity = Literal["critical", "warning"]


def _meta(rule: str, severity: Severity) -> dict[str, str]:
    return {"rule": rule, "severity": severity}


def not_null(column: str, severity: Severity = "critical") -> Expectation:
    return gx.expectations.ExpectColumnValuesToNotBeNull(column=column, meta=_meta(f"{column} is present", severity))


def unique(column: str, severity: Severity = "critical") -> Expectation:
    return gx.expectations.ExpectColumnValuesToBeUnique(column=column, meta=_meta(f"{column} is unique", severity))


def between(column: str, low: float | None, high: float | None, severity: Severity = "critical") -> Expectation:
    rule = f"{column} >= {low}" if high is None else f"{column} between {low} and {high}"
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column, min_value=low, max_value=high, meta=_meta(rule, severity)
    )


def in_set(column: str, allowed: list[str], severity: Severity = "critical") -> Expectation:
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column, value_set=allowed, meta=_meta(f"{column} in {sorted(allowed)}", severity)
    )


def at_least(column_a: str, column_b: str, severity: Severity = "critical") -> Expectation:
    """``column_a >= column_b`` on every row where both are present."""
    return gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=column_a,
        column_B=column_b,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        meta=_meta(f"{column_a} >= {column_b}", severity),
    )


def matches(column: str, pattern: str, rule: str, severity: Severity = "critical") -> Expectation:
    return gx.expectations.ExpectColumnValuesToMatchRegex(column=column, regex=pattern, meta=_meta(rule, severity))


# Checks against the warehouse and the dataset's history. Their bounds are GX expectation parameters that
# ``expectations.context`` fills for each batch; ``check`` in the meta tells it which. A bound of ``None``
# means "not judged" (no history yet, or a backfill/replay batch): the expectation passes and still records
# what it observed.


def known(column: str, dimension: str, severity: Severity = "critical") -> Expectation:
    """Referential: every value of ``column`` is a key the warehouse's ``dimension`` holds (nulls aside)."""
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column,
        value_set={"$PARAMETER": f"known_{dimension}"},
        meta={**_meta(f"{column} is a known {dimension}", severity), "check": "known", "dimension": dimension},
    )


def fresh(column: str, lag_hours: int, severity: Severity = "critical") -> Expectation:
    """Freshness: the batch's newest ``column`` is at most ``lag_hours`` older than the end of its interval."""
    return gx.expectations.ExpectColumnMaxToBeBetween(
        column=column,
        min_value={"$PARAMETER": "fresh_after"},
        meta={
            **_meta(f"newest {column} within {lag_hours} h of the interval end", severity),
            "check": "fresh",
            "lag_hours": lag_hours,
        },
    )


def typical_volume(floor_share: float = 0.25, ceiling_share: float = 3.0) -> list[Expectation]:
    """Volume: a daily batch's rows within a band of the trailing average of the same weekday's batches.

    A collapse below the floor blocks the batch (the source lost data); a surge above the ceiling is a warning.
    """
    return [
        _volume_bound("floor", f"at least {floor_share:.0%}", floor_share, "critical"),
        _volume_bound("ceiling", f"at most {ceiling_share:.0%}", ceiling_share, "warning"),
    ]


def _volume_bound(bound: str, words: str, share: float, severity: Severity) -> Expectation:
    parameter = {"$PARAMETER": f"volume_{bound}"}
    return gx.expectations.ExpectTableRowCountToBeBetween(
        min_value=parameter if bound == "floor" else None,
        max_value=parameter if bound == "ceiling" else None,
        meta={
            **_meta(f"row count {words} of the weekday's trailing average", severity),
            "check": "volume",
            "bound": bound,
            "share": share,
        },
    )


def typical_distribution(column: str, time_column: str, standard_errors: float = 4.0) -> list[Expectation]:
    """Distribution: the batch's mean and standard deviation of ``column`` within a band of its history.

    The history is the loaded rows whose ``time_column`` falls in the trailing window before the batch.

    The band is ``standard_errors`` standard errors of the batch statistic around the trailing history's value,
    so it narrows for big batches and widens for small ones. A shift is a warning: the rows load.
    """
    check = {"check": "distribution", "time_column": time_column, "standard_errors": standard_errors}
    return [
        gx.expectations.ExpectColumnMeanToBeBetween(
            column=column,
            min_value={"$PARAMETER": f"{column}_mean_min"},
            max_value={"$PARAMETER": f"{column}_mean_max"},
            meta={**_meta(f"mean {column} within the band of its history", "warning"), **check},
        ),
        gx.expectations.ExpectColumnStdevToBeBetween(
            column=column,
            min_value={"$PARAMETER": f"{column}_stdev_min"},
            max_value={"$PARAMETER": f"{column}_stdev_max"},
            meta={**_meta(f"spread of {column} within the band of its history", "warning"), **check},
        ),
    ]
