"""Quality cost ledger (finance): every entry in one PAF category with a non-negative amount."""

import great_expectations as gx

from core.catalog import COST_LEDGER
from expectations.rules import between, fresh, in_set, known, not_null, unique

PAF_CATEGORIES = ["prevention", "appraisal", "internal_failure", "external_failure"]


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=COST_LEDGER.name,
        expectations=[
            *[not_null(c) for c in COST_LEDGER.required],
            unique("entry_id"),
            in_set("category", PAF_CATEGORIES),
            between("amount", 0, None),
            known("site_id", "sites"),
            known("line_id", "lines"),
            fresh("updated_at", lag_hours=72),
        ],
    )
