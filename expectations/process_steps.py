"""Process steps (QMS master data): a step's place in a route is its sequence number."""

import great_expectations as gx

from core.catalog import PROCESS_STEPS
from expectations.rules import between, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=PROCESS_STEPS.name,
        expectations=[
            *[not_null(c) for c in PROCESS_STEPS.required],
            unique("step_id"),
            between("step_sequence", 1, None),
        ],
    )
