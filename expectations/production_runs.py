"""Production runs (QMS/MES): counts are non-negative and consistent with each other."""

import great_expectations as gx

from expectations.rules import at_least, between, not_null, unique
from sources.catalog import PRODUCTION_RUNS


def build_suite() -> gx.ExpectationSuite:
    counts = ("units_entered", "units_first_pass", "units_inspected", "units_defective")
    return gx.ExpectationSuite(
        name=PRODUCTION_RUNS.name,
        expectations=[
            *[not_null(c) for c in PRODUCTION_RUNS.required],
            unique("run_id"),
            *[between(c, 0, None) for c in counts],
            at_least("units_inspected", "units_defective"),
            at_least("units_entered", "units_first_pass"),
            at_least("finished_at", "started_at"),
            # OEE inputs: present, non-negative, and downtime within the planned time.
            *[not_null(c) for c in ("planned_minutes", "downtime_minutes", "ideal_cycle_seconds")],
            between("planned_minutes", 0, 24 * 60),
            between("downtime_minutes", 0, None),
            between("ideal_cycle_seconds", 0, None),
            at_least("planned_minutes", "downtime_minutes"),
        ],
    )
