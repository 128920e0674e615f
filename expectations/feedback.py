"""Customer feedback (survey tool): NPS on 0..10 and CSAT on 1..5, as KPIS.md defines the scales."""

import great_expectations as gx

from core.catalog import FEEDBACK
from expectations.rules import between, fresh, known, not_null, typical_distribution, typical_volume, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=FEEDBACK.name,
        expectations=[
            *[not_null(c) for c in FEEDBACK.required],
            unique("response_id"),
            between("nps_score", 0, 10),
            between("csat_score", 1, 5),
            known("site_id", "sites"),
            known("customer_id", "customer_accounts"),
            fresh("responded_at", lag_hours=72),
            *typical_volume(),
            *typical_distribution("nps_score", "responded_at"),
            *typical_distribution("csat_score", "responded_at"),
        ],
    )
