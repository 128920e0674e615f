"""Customer feedback (survey tool): NPS on 0..10 and CSAT on 1..5, as KPIS.md defines the scales."""

import great_expectations as gx

from expectations.rules import between, not_null, unique
from sources.catalog import FEEDBACK


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=FEEDBACK.name,
        expectations=[
            *[not_null(c) for c in FEEDBACK.required],
            unique("response_id"),
            between("nps_score", 0, 10),
            between("csat_score", 1, 5),
        ],
    )
