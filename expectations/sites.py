"""Sites (QMS master data)."""

import great_expectations as gx

from core.catalog import SITES
from expectations.rules import not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=SITES.name, expectations=[*[not_null(c) for c in SITES.required], unique("site_id")]
    )
