"""Benchmark (a): the pipeline's load of the defect facts against PostgreSQL's own limit, side by side.

    .venv/bin/python -m benchmarks.load [--rows N] [--rounds R]

On a fresh PostgreSQL database (created and dropped here) it loads the same rows four ways:
  1. plain binary COPY (ADBC, Arrow-native) into an empty table with the fact table's definition (its natural
     key's primary key is the only index): the server's limit for a table that makes duplicates impossible;
  2. plain binary COPY into an empty heap without any index: the server's raw limit, for reference;
  3. the pipeline: stage (binary COPY) and merge by natural key into the fact table, in one transaction;
  4. the pipeline again with the same rows (an idempotent reload: every row is an unchanged duplicate).
and prints rows/s and the pipeline's share of each COPY.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import pandas as pd
import psycopg
import pyarrow as pa

from benchmarks.progress import step
from benchmarks.scale_data import Scale, defects, production_runs
from benchmarks.scratch import scratch_database
from core.engine import engine_for
from warehouse.bulk import merge_frame
from warehouse.migrate import upgrade
from warehouse.schema import FACT_TABLES


def _rows(limit: int | None) -> pd.DataFrame:
    scale = Scale()
    frame = defects(production_runs(scale), scale)
    if limit:
        frame = frame.iloc[:limit]
    hashes = pd.util.hash_pandas_object(frame, index=False)
    return frame.assign(
        batch_id="bench-batch", row_hash=hashes.map(lambda h: f"{int(h):016x}"), loaded_at=pd.Timestamp("2026-01-01")
    )


def _timed(what: str, action: Callable[[], None]) -> float:
    start = time.perf_counter()
    with step(what):
        action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="limit the rows (default: the full year, ~5 M)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the best of each method is reported")
    args = parser.parse_args()
    t = time.perf_counter()
    with step("generating the defect rows"):
        frame = _rows(args.rows)
    print(f"generated {len(frame):,} defect rows in {time.perf_counter() - t:.1f} s")
    arrow = pa.Table.from_pandas(frame.astype({"defect_count": "int32"}), preserve_index=False)

    with scratch_database() as url:
        engine = engine_for(url)
        try:
            upgrade(engine)
            target = FACT_TABLES["defects"]
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute("drop table if exists copy_same_definition; drop table if exists copy_heap")
                    connection.execute(f"create table copy_same_definition (like {target.name} including all)")
                    connection.execute(f"create table copy_heap (like {target.name})")
                    connection.execute(f"truncate {target.name}")
                timings = {
                    name: _timed(name, action)
                    for name, action in (
                        (
                            "COPY into an empty table of the same definition",
                            lambda: _adbc(url, "copy_same_definition", arrow),
                        ),
                        ("COPY into an empty heap (no index)", lambda: _adbc(url, "copy_heap", arrow)),
                    )
                }
                for name in ("pipeline: stage + merge (fresh)", "pipeline: reload of the same rows"):
                    timings[name] = _timed(name, lambda: _merge(engine, target, frame))
                for name, seconds in timings.items():
                    best[name] = min(best.get(name, seconds), seconds)
            print(f"\n{'method':<52}{'seconds':>9}{'rows/s':>14}")
            for name, seconds in best.items():
                print(f"{name:<52}{seconds:>9.2f}{len(frame) / seconds:>14,.0f}")
            pipeline = best["pipeline: stage + merge (fresh)"]
            keyed = best["COPY into an empty table of the same definition"] / pipeline
            heap = best["COPY into an empty heap (no index)"] / pipeline
            print(f"pipeline rows/s as a share of COPY into the same (keyed) table: {keyed:.0%} (target >= 50%)")
            print(f"pipeline rows/s as a share of COPY into a bare heap:           {heap:.0%}")
            print(
                "A table that makes duplicates impossible maintains its key's index on every row; "
                "COPY into such a table is the limit a loader that keeps the key can reach."
            )
        finally:
            engine.dispose()


def _adbc(url: str, table: str, arrow: pa.Table) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url) as connection, connection.cursor() as cursor:
        cursor.adbc_ingest(table, arrow, mode="append")
        connection.commit()


def _merge(engine, target, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        merge_frame(connection, target, frame, ("defect_id",), "bench-batch")


if __name__ == "__main__":
    main()
