"""Defect codes (QMS master data): each code belongs to one category for the Pareto by category."""

import great_expectations as gx

from core.catalog import DEFECT_CODES
from expectations.rules import in_set, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=DEFECT_CODES.name,
        expectations=[
            *[not_null(c) for c in DEFECT_CODES.required],
            unique("defect_code"),
            in_set("category", ["workmanship", "component", "cosmetic", "process"]),
        ],
    )
