"""Training assignments (LMS): dates in order, a known status, scores on 0..100."""

import great_expectations as gx

from core.catalog import TRAINING_ASSIGNMENTS
from expectations.rules import at_least, between, fresh, in_set, known, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=TRAINING_ASSIGNMENTS.name,
        expectations=[
            *[not_null(c) for c in TRAINING_ASSIGNMENTS.required],
            unique("assignment_id"),
            in_set("status", ["assigned", "completed", "exempt"]),
            at_least("due_on", "assigned_on"),
            at_least("completed_on", "assigned_on"),
            between("score", 0, 100),
            known("employee_id", "employees"),
            known("course_id", "courses"),
            known("line_id", "lines"),
            known("site_id", "sites"),
            fresh("updated_at", lag_hours=72),
        ],
    )
