"""Customer complaints (QMS): each against a customer, site and product, on a day."""

import great_expectations as gx

from expectations.rules import not_null, unique
from sources.catalog import COMPLAINTS


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=COMPLAINTS.name, expectations=[*[not_null(c) for c in COMPLAINTS.required], unique("complaint_id")]
    )
