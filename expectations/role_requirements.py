"""Which courses each role requires (HR): one row per role and course."""

import great_expectations as gx

from core.catalog import ROLE_REQUIREMENTS
from expectations.rules import known, not_null


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=ROLE_REQUIREMENTS.name,
        expectations=[
            *[not_null(c) for c in ROLE_REQUIREMENTS.required],
            gx.expectations.ExpectCompoundColumnsToBeUnique(
                column_list=["role", "course_id"],
                meta={"rule": "role and course_id are unique", "severity": "critical"},
            ),
            known("course_id", "courses"),
        ],
    )
