"""Customer complaints (QMS): each against a customer, site and product, on a day, with a known defect code.

Complaints are rare events: a day without any is normal, so there is no volume or freshness check.
"""

import great_expectations as gx

from core.catalog import COMPLAINTS
from expectations.rules import known, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=COMPLAINTS.name,
        expectations=[
            *[not_null(c) for c in COMPLAINTS.required],
            unique("complaint_id"),
            known("customer_id", "customer_accounts"),
            known("site_id", "sites"),
            known("line_id", "lines"),
            known("product_id", "products"),
            known("defect_code", "defect_codes"),
        ],
    )
