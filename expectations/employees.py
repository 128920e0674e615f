"""HR roster: every employee on a line, with a role and a hire date before any leaving date."""

import great_expectations as gx

from core.catalog import EMPLOYEES
from expectations.rules import at_least, in_set, known, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=EMPLOYEES.name,
        expectations=[
            *[not_null(c) for c in EMPLOYEES.required],
            unique("employee_id"),
            in_set("role", ["operator", "technician", "lead"]),
            at_least("left_on", "hired_on"),
            known("site_id", "sites"),
            known("line_id", "lines"),
        ],
    )
