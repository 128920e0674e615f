"""Shipments (finance): units shipped and revenue, for complaint rates and COPQ as a share of revenue."""

import great_expectations as gx

from core.catalog import SHIPMENTS
from expectations.rules import between, fresh, known, not_null, typical_volume, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=SHIPMENTS.name,
        expectations=[
            *[not_null(c) for c in SHIPMENTS.required],
            unique("shipment_id"),
            between("units", 1, None),
            between("revenue", 0, None),
            known("customer_id", "customer_accounts"),
            known("site_id", "sites"),
            known("product_id", "products"),
            fresh("updated_at", lag_hours=72),
            *typical_volume(),
        ],
    )
