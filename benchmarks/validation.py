"""Benchmark (d): validation with the full GX suites, and its share of an end-to-end run of the benchmark year.

    .venv/bin/python -m benchmarks.validation [--rows N] [--days D]

On fresh PostgreSQL databases (created and dropped here):

1. One batch of ``--rows`` defect rows (1 M by default), landed as Parquet and read back like any batch, judged
   with the defects suite fully armed (known codes from the warehouse, freshness and volume bounds set):
   the whole verdict (conform, duplicates, GX, row verdicts) and GX alone, on clean rows and on rows of which
   5% are broken (a missing code, a retired code, a negative count, a re-used id); then each verdict written
   to the warehouse (facts, quarantine, results, ledger), so the difference is the cost of quarantine per row.
2. The benchmark year (the four fact datasets at benchmark scale, one batch each, as an initial load) run
   stage by stage with the pipeline's own functions: land, read, validate, load, then the full KPI build.
   Extraction is left out (see ``benchmarks.extract``), which makes validation's share an upper bound.
   Also the fixed cost of validating a small daily batch, which dominates nightly runs of small datasets.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from benchmarks.progress import step
from benchmarks.scale_data import (
    DEFECT_CODES,
    Scale,
    defects,
    feedback,
    production_runs,
    products,
    training_assignments,
)
from benchmarks.scratch import scratch_database
from core import landing
from core.catalog import BY_NAME
from core.engine import engine_for
from core.settings import Settings
from expectations.context import BatchScope, expectation_parameters
from expectations.runner import BatchValidator
from expectations.verdict import judge_batch
from pipeline.kpis import build_kpis
from pipeline.load import validate_and_load
from warehouse import ledger
from warehouse.history import WarehouseHistory
from warehouse.loads import apply_verdict
from warehouse.migrate import upgrade

T = TypeVar("T")
MASTER_CHANGED = datetime(2024, 12, 1)


def _timed(action: Callable[[], T]) -> tuple[T, float]:
    """What ``action`` returns and how long it took (shown on stderr by the name of what it calls)."""
    start = time.perf_counter()
    with step(getattr(action, "func", action).__name__.strip("_").replace("_", " ")):
        result = action()
    return result, time.perf_counter() - start


def _land(settings: Settings, dataset: str, frame: pd.DataFrame, interval_end: datetime) -> str:
    engine = engine_for(settings.warehouse_url)
    try:
        manifest = landing.land(
            frame,
            source=BY_NAME[dataset].source,
            dataset=dataset,
            landing_dir=settings.landing_dir,
            interval_end=interval_end,
            watermark_from=None,
            watermark_to=interval_end - timedelta(seconds=1),
        )
        ledger.record_landed(engine, manifest, "bench")
        return manifest.batch_id
    finally:
        engine.dispose()


def _master_data(runs: pd.DataFrame, answers: pd.DataFrame, assignments: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Dimensions that hold every key the benchmark facts refer to, so the referential checks pass on clean data."""
    lines = runs[["line_id", "site_id"]].drop_duplicates()
    people = assignments[["employee_id", "site_id", "line_id"]].drop_duplicates("employee_id")
    return {
        "sites": pd.DataFrame({"site_id": sorted(set(runs.site_id)), "site_name": "Plant"}),
        "lines": lines.assign(line_name=lines.line_id),
        "process_steps": pd.DataFrame(
            {
                "step_id": sorted(set(runs.step_id)),
                "step_name": "Step",
                "step_sequence": range(1, 1 + runs.step_id.nunique()),
            }
        ),
        "defect_codes": _defect_codes(),
        "products": products(),
        "customer_accounts": pd.DataFrame(
            {
                "customer_id": sorted(set(answers.customer_id)),
                "customer_name": "-",
                "site_id": "S00",
                "acquired_on": "2024-01-01",
            }
        ),
        "employees": people.assign(role="operator", hired_on="2024-01-01"),
        "courses": pd.DataFrame(
            {"course_id": ["C-SAFETY"], "title": "Safety", "hours": 4.0, "pass_mark": 70.0, "validity_days": 365}
        ),
    }


def _defect_codes() -> pd.DataFrame:
    return pd.DataFrame({"defect_code": DEFECT_CODES, "description": "-", "category": "process"})


def _broken(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """``share`` of the rows broken, evenly spread, each in one of four ways the defects suite must catch."""
    bad = frame.copy()
    rows = np.arange(0, len(bad), int(round(1 / share)))
    code = bad.columns.get_loc("defect_code")
    bad.iloc[rows[0::4], code] = None  # a missing code
    bad.iloc[rows[1::4], code] = "RETIRED_CODE"  # a code the catalogue doesn't know
    bad.iloc[rows[2::4], bad.columns.get_loc("defect_count")] = -1  # a reversal booked as a negative count
    reused = rows[3::4]
    ids = bad.columns.get_loc("defect_id")
    bad.iloc[reused, ids] = bad.iloc[reused - 1, ids].to_numpy()  # an id re-used by the next row
    return bad


def _judge_and_write(settings: Settings, frame: pd.DataFrame, interval_end: datetime) -> dict[str, Any]:
    """Land one defects batch on a warehouse that knows the codes, then time its verdict, GX alone, and the write."""
    engine = engine_for(settings.warehouse_url)
    upgrade(engine)
    validator, gx_start = _timed(BatchValidator)
    _land(settings, "defect_codes", _defect_codes().assign(updated_at=MASTER_CHANGED), MASTER_CHANGED)
    validate_and_load(settings, validator)
    batch_id = _land(settings, "defects", frame, interval_end)
    (batch,) = ledger.pending_batches(engine)
    raw = landing.read_batch(batch.raw_path, batch.raw_checksum)
    scope = BatchScope(batch_id, "defects", "incremental", interval_end)
    with engine.connect() as connection:
        parameters = expectation_parameters(WarehouseHistory(connection), scope, validator.expectations("defects"), raw)
    parameters.update(volume_floor=0.25 * len(raw), volume_ceiling=3.0 * len(raw))  # as after weeks of history
    verdict, judging = _timed(partial(judge_batch, raw, BY_NAME["defects"], batch_id, validator, lambda *_: parameters))
    _, gx_alone = _timed(partial(validator.validate, "defects", raw, batch_id + "-again", parameters))
    counts, writing = _timed(partial(apply_verdict, engine, verdict, len(raw)))
    engine.dispose()
    unjudged = [r.rule for r in verdict.results if not r.judged]
    assert not unjudged, unjudged
    return {
        "rows": len(raw),
        "judging": judging,
        "gx": gx_alone,
        "writing": writing,
        "counts": counts,
        "gx_start": gx_start,
    }


def one_million_defects(rows: int) -> None:
    scale = Scale(days=max(1, rows // 14_000 + 1))
    clean = defects(production_runs(scale), scale).head(rows)
    interval_end = pd.Timestamp(clean["updated_at"].max()).to_pydatetime() + timedelta(hours=1)
    print(f"1. {len(clean):,} defect rows, the defects suite fully armed")
    measured = {}
    for label, frame in (("clean", clean), ("5% bad", _broken(clean, 0.05))):
        with tempfile.TemporaryDirectory() as folder, scratch_database("qp_bench_validation") as url:
            m = measured[label] = _judge_and_write(
                Settings(data_dir=Path(folder), warehouse_url=url), frame, interval_end
            )
        counts = m["counts"]
        print(
            f"   {label:<7} verdict {m['judging']:6.2f} s ({m['rows'] / m['judging']:>9,.0f} rows/s), "
            f"GX alone {m['gx']:6.2f} s, write {m['writing']:6.2f} s; loaded {counts.loaded:,}, "
            f"quarantined {counts.quarantined:,}, duplicates {counts.duplicates:,}; GX start {m['gx_start']:.1f} s"
        )
    clean_m, bad_m = measured["clean"], measured["5% bad"]
    extra = (bad_m["judging"] + bad_m["writing"]) - (clean_m["judging"] + clean_m["writing"])
    quarantined = bad_m["counts"].quarantined - clean_m["counts"].quarantined
    print(f"   quarantine costs {extra / max(quarantined, 1) * 1e6:,.1f} µs per quarantined row (verdict and write)")


def benchmark_year(days: int) -> None:
    scale = Scale(days=days)
    runs = production_runs(scale)
    facts = {
        "production_runs": runs,
        "defects": defects(runs, scale),
        "feedback": feedback(scale),
        "training_assignments": training_assignments(scale),
    }
    interval_end = datetime.combine(scale.start + timedelta(days=days), datetime.min.time())
    rows = sum(len(f) for f in facts.values())
    print(f"2. the benchmark year: {days} days, {rows:,} fact rows, one batch per dataset")
    stages: dict[str, float] = dict.fromkeys(("land", "read", "validate", "load", "kpis"), 0.0)
    with tempfile.TemporaryDirectory() as folder, scratch_database("qp_bench_year") as url:
        settings = Settings(data_dir=Path(folder), warehouse_url=url)
        engine = engine_for(url)
        upgrade(engine)
        for name, frame in _master_data(runs, facts["feedback"], facts["training_assignments"]).items():
            _land(settings, name, frame.assign(updated_at=MASTER_CHANGED), MASTER_CHANGED)
        for name, frame in facts.items():
            _, seconds = _timed(partial(_land, settings, name, frame, interval_end))
            stages["land"] += seconds
        validator, seconds = _timed(BatchValidator)  # GX's import and context: part of validating
        stages["validate"] += seconds
        for batch in ledger.pending_batches(engine):
            raw, seconds = _timed(partial(landing.read_batch, batch.raw_path, batch.raw_checksum))
            stages["read"] += seconds
            scope = BatchScope(batch.batch_id, batch.dataset, batch.batch_kind, batch.interval_end)
            with engine.connect() as connection:
                judge = partial(
                    judge_batch,
                    raw,
                    BY_NAME[batch.dataset],
                    batch.batch_id,
                    validator,
                    partial(expectation_parameters, WarehouseHistory(connection), scope),
                )
                verdict, seconds = _timed(judge)
            stages["validate"] += seconds
            counts, seconds = _timed(partial(apply_verdict, engine, verdict, batch.rows_extracted))
            stages["load"] += seconds
            assert verdict.blocked_reason is None, verdict.blocked_reason
        _, stages["kpis"] = _timed(partial(build_kpis, "bench", settings, True))
        day = facts["production_runs"].production_date.max()
        daily = facts["production_runs"][facts["production_runs"].production_date == day]
        small = _land(
            settings,
            "production_runs",
            daily.assign(units_reworked=daily.units_reworked + 0),
            interval_end + timedelta(days=1),
        )
        (batch,) = [b for b in ledger.pending_batches(engine) if b.batch_id == small]
        raw = landing.read_batch(batch.raw_path, batch.raw_checksum)
        scope = BatchScope(batch.batch_id, batch.dataset, batch.batch_kind, batch.interval_end)
        with engine.connect() as connection:
            _, daily_seconds = _timed(
                lambda: judge_batch(
                    raw,
                    BY_NAME["production_runs"],
                    small,
                    validator,
                    partial(expectation_parameters, WarehouseHistory(connection), scope),
                )
            )
        engine.dispose()
    total = sum(stages.values())
    for stage, seconds in stages.items():
        print(f"   {stage:<9}{seconds:8.1f} s  {seconds / total:6.1%}")
    print(f"   total    {total:8.1f} s; validation's share {stages['validate'] / total:.1%} (target under 33%)")
    print(f"   a daily batch of {len(raw):,} production runs validates in {daily_seconds:.2f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    one_million_defects(args.rows)
    benchmark_year(args.days)


if __name__ == "__main__":
    main()
