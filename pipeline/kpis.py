"""KPIs: rebuild the KPI partitions that loaded batches touched (all of them on ``full``)."""

from __future__ import annotations

import logging

import pandas as pd

from core.engine import Warehouse, write_transaction
from core.settings import Settings

log = logging.getLogger(__name__)


def build_kpis(pipeline_run_id: str, settings: Settings, full: bool = False) -> int:
    """Recompute the KPI rows of the days that newly loaded batches touched (every day with ``full``).

    The recomputed days replace their old rows, and the batches are marked built, in one transaction.
    """
    from transforms.kpi_tables import (
        cost_kpis,
        customer_kpis,
        feedback_kpis,
        people_kpis,
        production_kpis,
        retention_kpis,
        training_kpis,
    )
    from warehouse import kpi_holds, kpi_store

    with Warehouse(settings.warehouse_url) as warehouse:
        engine = warehouse.engine
        with write_transaction(engine) as connection:
            holds = kpi_holds.sync_holds(connection)
            partitions = kpi_store.pending_partitions(connection, full=full).with_holds(holds)
            if partitions.empty:
                log.info("KPIs: no day changed since the last build")
                written = kpi_store.replace_partitions(connection, partitions, {}, pipeline_run_id)
            else:
                days = partitions.days
                as_of = kpi_store.training_as_of(connection)
                builders = {
                    "production": lambda d: production_kpis(*kpi_store.read_production(connection, d)),
                    "cost": lambda d: cost_kpis(*kpi_store.read_cost(connection, d)),
                    "customer": lambda d: customer_kpis(*kpi_store.read_customer(connection, d)),
                    "retention": lambda d: retention_kpis(
                        kpi_store.read_accounts(connection),
                        sorted(d if d is not None else kpi_store.activity_days(connection)),
                    ),
                    "feedback": lambda d: feedback_kpis(kpi_store.read_feedback(connection, d)),
                    "people": lambda d: people_kpis(
                        *kpi_store.read_people(connection),
                        sorted(d if d is not None else kpi_store.people_days(connection)),
                    ),
                    "training": lambda d: (
                        training_kpis(kpi_store.read_training(connection, d), as_of) if as_of else pd.DataFrame()
                    ),
                }
                frames = {
                    family: kpi_holds.without_held_days(build(days[family]), holds.held.get(family))
                    for family, build in builders.items()
                    if days[family] is None or days[family]
                }
                written = kpi_store.replace_partitions(connection, partitions, frames, pipeline_run_id)
                log.info(
                    "KPIs: rebuilt %s; %d rows written",
                    {f: "all days" if d is None else f"{len(d)} day(s)" for f, d in days.items()},
                    written,
                )
    return written
