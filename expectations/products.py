"""Products (QMS master data): a product needs its defect opportunities per unit for DPMO."""

import great_expectations as gx

from core.catalog import PRODUCTS
from expectations.rules import between, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=PRODUCTS.name,
        expectations=[
            *[not_null(c) for c in PRODUCTS.required],
            unique("product_id"),
            between("opportunities_per_unit", 1, 100_000),
        ],
    )
