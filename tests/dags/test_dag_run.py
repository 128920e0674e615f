"""The chain through the real DAG files with ``dag.test()``: the Asset-ordered runs a scheduler would make."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from sources.catalog import SOURCES
from tests.conftest import DEMO_END
from tests.helpers import changed_tables, read_table, snapshot

pytestmark = pytest.mark.dags

RUN_AFTER = datetime.combine(DEMO_END + timedelta(days=1), time(0), tzinfo=UTC)  # the nightly run for DEMO_END


def test_the_dags_run_the_chain_and_a_rerun_changes_nothing(airflow_db, settings, demo_sources, monkeypatch):
    from qualitypulse.airflow_runner import run_dags

    # Tasks read their configuration from the environment, as they do under a scheduler.
    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)

    states = run_dags(RUN_AFTER)

    assert states == {dag_id: "success" for dag_id in states} and len(states) == len(SOURCES) + 2
    ledger = read_table(settings, "batch_ledger")
    assert (ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate == ledger.rows_extracted).all()
    assert ledger.groupby("dataset")["rows_extracted"].sum().to_dict() == demo_sources
    assert ledger.rows_quarantined.sum() > 0
    assert "S1-L2" in set(read_table(settings, "alert")["line_id"])
    before = snapshot(settings)

    rerun = run_dags(RUN_AFTER)

    assert rerun["qp_validate_load"] == "not triggered" and rerun["qp_kpis"] == "not triggered"
    assert changed_tables(before, snapshot(settings)) == {}
