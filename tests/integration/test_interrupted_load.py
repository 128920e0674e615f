"""A load killed mid-way (its PostgreSQL connection terminated) leaves no partial batch; a rerun completes it."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from pipeline.ingest import ingest_source
from pipeline.load import validate_and_load
from tests.conftest import PG_ADMIN_URL, fresh_warehouse, migrated_settings, write_demo_sources
from tests.helpers import INTERVAL_END, read_table

pytestmark = pytest.mark.integration


def _terminate_when_blocked(database: str, stop: threading.Event, killed: list[str]) -> None:
    """Terminate the backend of ``database`` that waits on a lock: the load, in the middle of a batch."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        while not stop.is_set():
            row = admin.execute(
                "select pid, query from pg_stat_activity where datname = %s and wait_event_type = 'Lock'",
                (database,),
            ).fetchone()
            if row:
                admin.execute("select pg_terminate_backend(%s)", (row[0],))
                killed.append(row[1])
                return
            time.sleep(0.01)


def test_a_killed_connection_leaves_no_partial_batch_and_the_rerun_completes_it(tmp_path):
    with fresh_warehouse("postgresql", tmp_path) as url:
        settings = migrated_settings(tmp_path, url)
        write_demo_sources(settings)
        ingest_source("qms", INTERVAL_END, "test", settings)
        stop, killed = threading.Event(), []
        killer = threading.Thread(
            target=_terminate_when_blocked, args=(make_url(url).database, stop, killed), daemon=True
        )
        # The defect batch's merge waits on this lock after its rows are staged in its transaction: the killer
        # then terminates it there, every time, instead of racing a load that takes milliseconds.
        with psycopg.connect(url) as blocker:
            blocker.execute("lock table fact_defect in access exclusive mode")
            killer.start()
            with pytest.raises(Exception, match="(?i)terminat|connection|closed"):
                validate_and_load(settings)
            blocker.rollback()
        stop.set()
        killer.join()

        assert killed and "fact_defect" in killed[0], killed
        ledger = read_table(settings, "batch_ledger")
        loaded = ledger[ledger.status == "loaded"]
        for dataset, table in (("production_runs", "fact_production_run"), ("defects", "fact_defect")):
            rows = len(read_table(settings, table))
            # Each batch is all or nothing: loaded in full, or not at all and still waiting in the ledger.
            assert rows == loaded.loc[loaded.dataset == dataset, "rows_loaded"].sum()
        assert set(ledger.loc[ledger.dataset == "defects", "status"]) == {"landed"}  # the killed batch waits

        validate_and_load(settings)  # the rerun

        ledger = read_table(settings, "batch_ledger")
        assert set(ledger.status) == {"loaded"}
        assert len(read_table(settings, "fact_defect")) == ledger.loc[ledger.dataset == "defects", "rows_loaded"].sum()
        assert (ledger.rows_loaded + ledger.rows_quarantined + ledger.rows_duplicate == ledger.rows_extracted).all()
