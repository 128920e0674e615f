"""Run the pipeline's real Airflow DAGs in-process, in Asset order, with ``dag.test()``.

This is what ``make run`` uses: the same DAG files the scheduler runs, without a scheduler. Asset-triggered
DAGs don't fire under ``dag.test()``, so the runner plays the scheduler's part: it runs the ingest DAGs, then
each Asset-scheduled DAG whose schedule condition is met by the Assets that this round's successful tasks
updated (a skipped task updates nothing).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from core.catalog import SOURCES
from core.progress import OnStep, Step
from core.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DAG_ORDER = (*(f"qp_ingest_{source}" for source in SOURCES), "qp_validate_load", "qp_kpis")


class DagRunFailed(RuntimeError):
    pass


def run_dags(
    run_after: datetime, dags_folder: Path = PROJECT_ROOT / "dags", on_step: OnStep | None = None
) -> dict[str, str]:
    """Run each DAG once as a manual run due at ``run_after``; returns the final state per DAG, raises on failure.
    ``on_step`` hears of each DAG as its run ends (its state and how long it took).

    Like any manual Airflow run, a run due at ``run_after`` covers the last complete data interval before it:
    the nightly run due at midnight covers the previous day.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import AssetOrTimeSchedule

    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        raise DagRunFailed(f"DAG import errors: {bag.import_errors}")
    states: dict[str, str] = {}
    updated: set[str] = set()
    for done, dag_id in enumerate(DAG_ORDER, start=1):
        dag = bag.dags[dag_id]
        condition = dag.timetable.asset_condition
        # Ingest DAGs run nightly *or* on their source's signal: as the nightly run, they always run here.
        only_on_assets = _is_asset_condition(condition) and not isinstance(dag.timetable, AssetOrTimeSchedule)
        if only_on_assets and not condition_met(condition, updated):
            states[dag_id] = "not triggered"
            if on_step:
                on_step(Step(done, len(DAG_ORDER), dag_id, states[dag_id]))
            continue
        started = time.monotonic()
        run = dag.test(run_after=run_after, logical_date=run_after)
        states[dag_id] = str(run.state)
        if on_step:
            on_step(Step(done, len(DAG_ORDER), dag_id, states[dag_id], time.monotonic() - started))
        if run.state != "success":
            raise DagRunFailed(f"{dag_id} ended {run.state}; see the task log above")
        for ti in run.get_task_instances():
            if ti.state == "success":
                updated.update(getattr(o, "name", "") for o in dag.get_task(ti.task_id).outlets)
    return states


def _is_asset_condition(condition: Any) -> bool:
    return hasattr(condition, "objects") or hasattr(condition, "name")


def condition_met(condition: Any, updated: set[str]) -> bool:
    """Evaluate an Asset schedule (an Asset, or nested AssetAny / AssetAll) against updated Asset names."""
    from airflow.sdk import AssetAll

    if hasattr(condition, "objects"):
        verdicts = [condition_met(c, updated) for c in condition.objects]
        return all(verdicts) if isinstance(condition, AssetAll) else any(verdicts)
    return getattr(condition, "name", None) in updated
