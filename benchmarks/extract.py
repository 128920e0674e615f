"""Benchmark: extraction of the benchmark year's defect rows from a PostgreSQL QMS into the landing zone.

    .venv/bin/python -m benchmarks.extract [--rows N] [--chunk-rows N]

A QMS database is created (and dropped after) holding ~5 M defect rows. Side by side it measures
  1. ``COPY defects TO STDOUT (FORMAT binary)`` read to the end by the client: the server's limit for getting
     the rows out;
  2. the pipeline's extraction: the incremental query streamed as Arrow batches (ADBC) in chunks into a zstd
     Parquet batch in the landing zone, with its manifest and ledger entry;
and prints rows/s, the ratio, and the extraction process's peak memory (it runs in a child process, so the
figure is its own) next to the size of the rows in memory, to show the memory is bounded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pyarrow as pa

from benchmarks.progress import step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="limit the rows (default: the full year, ~5 M)")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, metavar=("QMS_URL", "FOLDER", "CHUNK_ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _extract_in_child(*args.child)
        return

    from benchmarks.scale_data import Scale, defects, production_runs
    from benchmarks.scratch import scratch_database

    with step("generating the defect rows"):
        frame = defects(production_runs(Scale()), Scale())
    if args.rows:
        frame = frame.iloc[: args.rows]
    in_memory_mb = frame.memory_usage(deep=True).sum() / 2**20
    with scratch_database("qp_bench_qms") as url:
        with step("writing the source table"):
            _create_source(url, frame)
        with step("COPY TO: the floor"):
            copy_seconds, copy_bytes = _copy_out(url)
        with tempfile.TemporaryDirectory(prefix="qp-bench-extract-") as folder, step("the pipeline's extraction"):
            child = subprocess.run(
                [sys.executable, "-m", "benchmarks.extract", "--child", url, folder, str(args.chunk_rows)],
                check=True,
                capture_output=True,
                text=True,
            )
        measured = json.loads(child.stdout.strip().splitlines()[-1])
    rows = len(frame)
    print(f"{rows:,} defect rows ({in_memory_mb:,.0f} MB as a pandas frame)\n")
    print(f"{'method':<58}{'seconds':>9}{'rows/s':>12}")
    print(
        f"{'COPY defects TO STDOUT (binary), read by the client':<58}{copy_seconds:>9.2f}{rows / copy_seconds:>12,.0f}"
    )
    extract = measured["seconds"]
    print(f"{'pipeline: Arrow stream -> Parquet batch + manifest':<58}{extract:>9.2f}{rows / extract:>12,.0f}")
    print(f"\npipeline rows/s as a share of COPY TO: {copy_seconds / extract:.0%}")
    print(
        f"extraction process peak RSS: {measured['peak_mb']:,.0f} MB (after imports: {measured['base_mb']:,.0f} MB), "
        f"chunks of {args.chunk_rows:,} rows; Parquet batch {measured['parquet_mb']:,.0f} MB, "
        f"COPY stream {copy_bytes / 2**20:,.0f} MB"
    )


def _create_source(url: str, frame) -> None:  # type: ignore[no-untyped-def]
    import adbc_driver_postgresql.dbapi as adbc

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "create table defects (defect_id text primary key, run_id text not null, defect_code text not null, "
            "defect_count integer not null, recorded_at timestamp not null, updated_at timestamp not null)"
        )
    table = pa.Table.from_pandas(frame.astype({"defect_count": "int32"}), preserve_index=False)
    with adbc.connect(url) as connection, connection.cursor() as cursor:
        cursor.adbc_ingest("defects", table, mode="append")
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("create index on defects (updated_at)")  # what an incremental source offers
        connection.execute("vacuum analyze defects")


def _copy_out(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    size = 0
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        with cursor.copy("copy defects to stdout (format binary)") as copy:
            for block in copy:
                size += len(block)
    return time.perf_counter() - start, size


def _extract_in_child(qms_url: str, folder: str, chunk_rows: str) -> None:
    from core.engine import engine_for
    from core.settings import Settings
    from pipeline.ingest import ingest_dataset
    from warehouse.migrate import upgrade

    settings = Settings(data_dir=Path(folder), qms_url=qms_url, sql_chunk_rows=int(chunk_rows))
    engine = engine_for(settings.warehouse_url)
    upgrade(engine)  # the ledger the extraction writes to
    engine.dispose()
    base = _peak_mb()
    start = time.perf_counter()
    result = ingest_dataset("defects", datetime(2100, 1, 1), "bench", settings)
    seconds = time.perf_counter() - start
    parquet = sum(p.stat().st_size for p in Path(folder).rglob("*.parquet"))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": result.rows,
                "peak_mb": _peak_mb(),
                "base_mb": base,
                "parquet_mb": parquet / 2**20,
            }
        )
    )


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: ``ru_maxrss`` would include the parent's before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    main()
