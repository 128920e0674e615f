"""Benchmark: the nightly delete reconciliation of the benchmark year's defects (PostgreSQL source and warehouse).

    .venv/bin/python -m benchmarks.deletes [--rows N] [--window-days 7] [--deleted 100]

A QMS database holding the year's ~5 M defect rows and a warehouse whose ``fact_defect`` holds the same rows are
created (and dropped after); ``--deleted`` rows of the last days are then deleted from the source. Side by side it
measures
  1. the floor: the window's keys read out of both databases with ``COPY (select key ... where event date in the
     window) TO STDOUT`` (binary), which any reconciliation has to read;
  2. the pipeline's reconciliation for one ingest run (``pipeline.ingest._land_deletes``): the warehouse's keys
     in the window, the source's, the set difference, confirmation by key, and the deletion batch landed;
and prints both, the ratio, and how many deletes were found (it must be exactly ``--deleted``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa

from benchmarks.progress import step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="limit the rows (default: the full year, ~5 M)")
    parser.add_argument("--window-days", type=int, default=7)
    parser.add_argument("--deleted", type=int, default=100)
    args = parser.parse_args()

    from benchmarks.extract import _create_source
    from benchmarks.scale_data import Scale, defects, production_runs
    from benchmarks.scratch import scratch_database

    with step("generating the defect rows"):
        frame = defects(production_runs(Scale()), Scale())
    if args.rows:
        frame = frame.iloc[: args.rows]
    interval_end = pd.Timestamp(frame["recorded_at"].max()).to_pydatetime() + timedelta(minutes=1)
    since = interval_end - timedelta(days=args.window_days)
    with scratch_database("qp_bench_qms") as source_url, scratch_database("qp_bench_wh") as warehouse_url:
        with step("writing the source and the warehouse"):
            _create_source(source_url, frame)
            with psycopg.connect(source_url, autocommit=True) as connection:
                connection.execute("create index on defects (recorded_at)")  # the event time a QMS indexes
            _create_warehouse(warehouse_url, frame)
        recent = frame[frame["recorded_at"] >= since]
        gone = recent.sample(args.deleted, random_state=7)["defect_id"].tolist()
        with psycopg.connect(source_url, autocommit=True) as connection:
            connection.execute("delete from defects where defect_id = any(%s)", (gone,))
        with step("COPY of the window's keys: the floor"):
            floor = _copy_keys(warehouse_url, "fact_defect", since) + _copy_keys(source_url, "defects", since)
        with step("the pipeline's reconciliation"):
            seconds, found = _reconcile(source_url, warehouse_url, interval_end, args.window_days)
    print(f"{len(frame):,} defect rows; window {args.window_days} days ({len(recent):,} keys); {len(gone)} deleted\n")
    print(f"{'method':<62}{'seconds':>9}")
    print(f"{'floor: COPY the window keys out of the warehouse and the source':<62}{floor:>9.2f}")
    print(f"{'pipeline: reconcile, confirm by key, land the deletion batch':<62}{seconds:>9.2f}")
    print(f"\nreconciliation time / floor: {seconds / floor:.1f}x; deletes found: {found} of {len(gone)}")
    if found != len(gone):
        raise SystemExit("the reconciliation found a different number of deletes than were made")


def _create_warehouse(url: str, frame: pd.DataFrame) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    from core.engine import engine_for
    from warehouse.migrate import upgrade

    engine = engine_for(url)
    upgrade(engine)
    engine.dispose()
    loaded = frame.assign(batch_id="bench", row_hash="0" * 16, loaded_at=datetime(2026, 1, 1))
    table = pa.Table.from_pandas(loaded.astype({"defect_count": "int32"}), preserve_index=False)
    with adbc.connect(url) as connection, connection.cursor() as cursor:
        cursor.adbc_ingest("fact_defect", table, mode="append")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("vacuum analyze fact_defect")


def _copy_keys(url: str, table: str, since: datetime) -> float:
    start = time.perf_counter()
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        keys = f"select defect_id from {table} where recorded_at >= '{since.isoformat()}'"
        query = f"copy ({keys}) to stdout (format binary)"
        with cursor.copy(query) as copy:
            for _ in copy:
                pass
    return time.perf_counter() - start


def _reconcile(source_url: str, warehouse_url: str, interval_end: datetime, window_days: int) -> tuple[float, int]:
    from core.catalog import BY_NAME
    from core.engine import engine_for
    from core.settings import Settings
    from pipeline.ingest import _land_deletes

    with tempfile.TemporaryDirectory(prefix="qp-bench-deletes-") as folder:
        settings = Settings(
            data_dir=Path(folder),
            qms_url=source_url,
            warehouse_url=warehouse_url,
            delete_reconciliation_days=window_days,
        )
        engine = engine_for(warehouse_url)
        try:
            start = time.perf_counter()
            batch_id = _land_deletes(BY_NAME["defects"], engine, interval_end, "bench", settings, set())
            seconds = time.perf_counter() - start
            with engine.connect() as connection:
                found = connection.exec_driver_sql(
                    f"select rows_extracted from batch_ledger where batch_id = '{batch_id}'"
                ).scalar()
        finally:
            engine.dispose()
    return seconds, int(found or 0)


if __name__ == "__main__":
    main()
