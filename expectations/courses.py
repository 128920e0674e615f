"""LMS course catalog: hours, a pass mark on 0..100 and how long a completion stays valid."""

import great_expectations as gx

from core.catalog import COURSES
from expectations.rules import between, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=COURSES.name,
        expectations=[
            *[not_null(c) for c in COURSES.required],
            unique("course_id"),
            between("hours", 0, 200),
            between("pass_mark", 0, 100),
            between("validity_days", 1, None),
        ],
    )
