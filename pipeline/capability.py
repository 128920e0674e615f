"""Capability: each product's process steps against their specification limits, month by month."""

from __future__ import annotations

import logging

import pandas as pd

from core.capability import load_specs
from core.engine import Warehouse, write_transaction
from core.settings import Settings

log = logging.getLogger(__name__)


def build_capability(settings: Settings) -> int:
    """Rebuild ``process_capability`` from every run and the specs file; returns the rows written. Idempotent."""
    from transforms.capability import CAPABILITY_COLUMNS, monthly_capability
    from transforms.kpi_tables import cycle_minutes
    from warehouse import kpi_store
    from warehouse.ledger import utcnow

    specs = load_specs(settings.capability_specs)
    with Warehouse(settings.warehouse_url) as warehouse, write_transaction(warehouse.engine) as connection:
        rows = pd.DataFrame(columns=CAPABILITY_COLUMNS)
        if specs:
            runs = kpi_store.read_run_times(connection)
            rows = monthly_capability(runs.assign(cycle_minutes=cycle_minutes(runs)), specs)
        kpi_store.replace_capability(connection, rows, utcnow())
    log.info("capability: %d product, step and month row(s) against %d spec(s)", len(rows), len(specs))
    return len(rows)
