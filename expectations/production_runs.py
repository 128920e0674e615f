"""Production runs (QMS/MES): counts are non-negative and consistent with each other."""

import great_expectations as gx

from core.catalog import PRODUCTION_RUNS
from expectations.rules import at_least, between, fresh, known, not_null, typical_volume, unique

# Every run happens at a known site, on a known line and step, making a known product.
REFERENCES = (("site_id", "sites"), ("line_id", "lines"), ("step_id", "process_steps"), ("product_id", "products"))


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
            *[known(c, d) for c, d in REFERENCES],
            fresh("updated_at", lag_hours=48),
            *typical_volume(),
        ],
    )
