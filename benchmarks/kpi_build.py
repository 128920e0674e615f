"""Benchmark (b): the full KPI build for a year against the incremental rebuild after one new day.

    .venv/bin/python -m benchmarks.kpi_build [--days N]

On a fresh PostgreSQL database (created and dropped here) it loads a year of facts at benchmark scale through the
pipeline's own merge, builds every KPI for every day (full), then lands one more day of production, defects,
feedback and training and rebuilds incrementally. Target: the incremental rebuild costs under 5% of the full one.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import pandas as pd
from sqlalchemy import insert

from benchmarks.scale_data import Scale, defects, feedback, production_runs, products, training_assignments
from benchmarks.scratch import scratch_database
from core.catalog import BY_NAME
from core.engine import engine_for
from core.settings import Settings
from pipeline.kpis import build_kpis
from warehouse.bulk import merge_frame
from warehouse.migrate import upgrade
from warehouse.schema import FACT_TABLES, batch_ledger


def _load(engine, dataset: str, frame: pd.DataFrame, batch_id: str) -> None:  # type: ignore[no-untyped-def]
    frame = frame.reindex(columns=list(BY_NAME[dataset].columns))  # columns the generator leaves out are NULL
    hashes = pd.util.hash_pandas_object(frame, index=False).map(lambda h: f"{int(h):016x}")
    rows = frame.assign(batch_id=batch_id, row_hash=hashes, loaded_at=pd.Timestamp("2026-01-01"))
    with engine.begin() as connection:
        merge_frame(connection, FACT_TABLES[dataset], rows, BY_NAME[dataset].key, batch_id)
        connection.execute(
            insert(batch_ledger).values(
                batch_id=batch_id,
                source=BY_NAME[dataset].source,
                dataset=dataset,
                raw_path="-",
                raw_checksum="-",
                rows_extracted=len(frame),
                rows_loaded=len(frame),
                status="loaded",
                landed_at=pd.Timestamp("2026-01-01"),
            )
        )


def _year_and_one_more_day(days: int) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    scale = Scale(days=days + 1)
    runs = production_runs(scale)
    year_end = pd.Timestamp(scale.start) + timedelta(days=days)
    facts = {
        "production_runs": runs,
        "defects": defects(runs, scale),
        "feedback": feedback(scale),
        "training_assignments": training_assignments(scale),
    }
    day_of = {
        "production_runs": lambda f: pd.to_datetime(f["production_date"]),
        "defects": lambda f: pd.to_datetime(f["recorded_at"]).dt.normalize(),
        "feedback": lambda f: pd.to_datetime(f["responded_at"]).dt.normalize(),
        "training_assignments": lambda f: pd.to_datetime(f["updated_at"]).dt.normalize(),
    }
    year = {name: frame[day_of[name](frame) < year_end] for name, frame in facts.items()}
    new_day = {name: frame[day_of[name](frame) >= year_end] for name, frame in facts.items()}
    return year, new_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    year, new_day = _year_and_one_more_day(args.days)
    print(
        "year:",
        {k: f"{len(v):,}" for k, v in year.items()},
        "| new day:",
        {k: f"{len(v):,}" for k, v in new_day.items()},
    )
    with scratch_database() as url:
        engine = engine_for(url)
        try:
            upgrade(engine)
            settings = Settings(warehouse_url=url)
            _load(engine, "products", products(), "products-1")
            for name, frame in year.items():
                _load(engine, name, frame, f"{name}-year")
            start = time.perf_counter()
            full_rows = build_kpis("bench-full", settings, full=True)
            full = time.perf_counter() - start
            for name, frame in new_day.items():
                _load(engine, name, frame, f"{name}-new-day")
            start = time.perf_counter()
            incremental_rows = build_kpis("bench-incremental", settings)
            incremental = time.perf_counter() - start
            print(f"\n{'KPI build':<40}{'seconds':>9}{'rows written':>14}")
            print(f"{'full (every day of the year)':<40}{full:>9.2f}{full_rows:>14,}")
            print(f"{'incremental (one new day)':<40}{incremental:>9.2f}{incremental_rows:>14,}")
            print(f"incremental cost as a share of the full build: {incremental / full:.1%} (target: under 5%)")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
