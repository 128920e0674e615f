"""Capability: each product's process steps against their specification limits, month by month."""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import delete, insert, select

from core.capability import load_specs
from core.engine import Warehouse, write_transaction
from core.settings import Settings

log = logging.getLogger(__name__)


def build_capability(settings: Settings) -> int:
    """Rebuild ``process_capability`` from every run and the specs file; returns the rows written. Idempotent."""
    from transforms.capability import monthly_capability
    from transforms.kpi_tables import cycle_minutes
    from warehouse.ledger import utcnow
    from warehouse.schema import FACT_TABLES, process_capability

    specs = load_specs(settings.capability_specs)
    runs_table = FACT_TABLES["production_runs"]
    with Warehouse(settings.warehouse_url) as warehouse, write_transaction(warehouse.engine) as connection:
        rows = pd.DataFrame()
        if specs:
            query = select(
                runs_table.c.product_id, runs_table.c.step_id, runs_table.c.started_at, runs_table.c.finished_at
            )
            runs = pd.DataFrame(
                connection.execute(query).all(), columns=["product_id", "step_id", "started_at", "finished_at"]
            )
            rows = monthly_capability(runs.assign(cycle_minutes=cycle_minutes(runs)), specs)
        connection.execute(delete(process_capability))
        if not rows.empty:
            records = rows.astype(object).where(rows.notna(), None).to_dict("records")
            connection.execute(insert(process_capability), [{**r, "computed_at": utcnow()} for r in records])
    log.info("capability: %d product, step and month row(s) against %d spec(s)", len(rows), len(specs))
    return len(rows)
