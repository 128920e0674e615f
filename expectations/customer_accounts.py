"""Customer accounts (finance/CRM): a churn date never precedes the acquisition date."""

import great_expectations as gx

from core.catalog import CUSTOMER_ACCOUNTS
from expectations.rules import at_least, known, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=CUSTOMER_ACCOUNTS.name,
        expectations=[
            *[not_null(c) for c in CUSTOMER_ACCOUNTS.required],
            unique("customer_id"),
            at_least("churned_on", "acquired_on"),
            known("site_id", "sites"),
        ],
    )
