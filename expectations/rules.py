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
