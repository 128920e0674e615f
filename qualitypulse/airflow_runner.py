"""Run the pipeline's real Airflow DAGs in-process, in Asset order, with ``dag.test()``.

This is what ``make run`` uses: the same DAG files the scheduler runs, without a scheduler. Asset-triggered
DAGs don't fire under ``dag.test()``, so the runner follows the Asset graph itself: the ingest DAGs, then the
DAG scheduled on the raw batches, then the DAG scheduled on the facts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from qualitypulse.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DAG_ORDER = ("qp_ingest_qms", "qp_ingest_survey", "qp_ingest_lms", "qp_validate_load", "qp_kpis")


class DagRunFailed(RuntimeError):
    pass


def run_dags(logical_date: datetime, dags_folder: Path = PROJECT_ROOT / "dags") -> dict[str, str]:
    """Run each DAG once for ``logical_date``; returns the final state per DAG and raises on a failure."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        raise DagRunFailed(f"DAG import errors: {bag.import_errors}")
    states = {}
    for dag_id in DAG_ORDER:
        run = bag.dags[dag_id].test(logical_date=logical_date)
        states[dag_id] = str(run.state)
        if run.state != "success":
            raise DagRunFailed(f"{dag_id} ended {run.state}; see the task log above")
    return states
