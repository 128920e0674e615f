"""Defects (QMS): each row books a positive count of one defect code against a run."""

import great_expectations as gx

from core.catalog import DEFECTS
from expectations.rules import between, fresh, known, not_null, typical_volume, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=DEFECTS.name,
        expectations=[
            *[not_null(c) for c in DEFECTS.required],
            unique("defect_id"),
            between("defect_count", 1, None),
            known("defect_code", "defect_codes"),
            fresh("updated_at", lag_hours=48),
            *typical_volume(),
        ],
    )
