"""Benchmark (f): the validation and load stage on Celery, with 1 and with 2 workers, side by side in one run.

    .venv/bin/python -m benchmarks.scaling [--sites 20] [--days 30] [--workers 1 2] [--concurrency 1]

The production topology (docker-compose.yml's Airflow services, run natively by orchestration/local_stack.py) on
fresh PostgreSQL databases for Airflow's metadata and the warehouse (created and dropped here). A larger demo
(``--sites`` sites, three lines each) is generated once and its every source ingested in-process into each run's
own warehouse, so each run starts from the same landed batches. Then ``qp_validate_load`` is triggered and timed
by Airflow's own clock (the run's start to its end): one mapped task per dataset, dimensions first, spread over the
workers by Celery, the warehouse pool set to 4 slots as the compose file's default. Each worker takes one task at a
time (``--concurrency``), so the workers are the unit that scales. The last line gives the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from benchmarks.progress import step
from benchmarks.scratch import scratch_database
from core.catalog import SOURCES
from core.engine import engine_for
from core.settings import Settings
from demo.services import demo_lms_api
from demo.source_systems import DemoLocations, DemoSpec, generate
from orchestration.local_stack import LocalStack, free_port, local_host_settings
from pipeline.ingest import ingest_source
from warehouse.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]


def _rows(url: str, query: str) -> list[tuple]:
    """Rows of a query on Airflow's metadata or the warehouse."""
    engine = engine_for(url.replace("postgresql+psycopg://", "postgresql://", 1))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def timed_load(sources_dir: Path, end: date, workers: int, concurrency: int, work: Path) -> dict[str, object]:
    """Land every source into a fresh warehouse, then time one ``qp_validate_load`` run on ``workers`` workers."""
    with scratch_database("qp_bench_wh") as warehouse_url, scratch_database("qp_bench_af") as metadata_url:
        data = work / f"data-{workers}"
        settings = Settings(
            data_dir=data,
            warehouse_url=warehouse_url,
            qms_url=f"sqlite:///{sources_dir / 'sources' / 'qms.db'}",
            finance_url=f"sqlite:///{sources_dir / 'sources' / 'finance.db'}",
            survey_drop_dir=sources_dir / "sources" / "survey" / "drop",
            lms_store_dir=sources_dir / "sources" / "lms",
        )
        engine = engine_for(warehouse_url)
        upgrade(engine)
        engine.dispose()
        interval_end = datetime.combine(end + timedelta(days=1), datetime.min.time())
        with demo_lms_api(settings) as served, step(f"land every source ({workers} worker run)"):
            for source in SOURCES:
                ingest_source(source, interval_end, f"bench-{uuid.uuid4().hex[:6]}", served)
        metadata = metadata_url.replace("postgresql://", "postgresql+psycopg://", 1)
        host = {
            **local_host_settings(metadata_url, free_port(), queue=f"qp-bench-{uuid.uuid4().hex[:8]}"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "QP_DATA_DIR": str(data),
            "QP_SIGNAL_DIR": str(data / "signals"),
            "QP_WAREHOUSE_URL": warehouse_url,
            "QP_QMS_URL": settings.qms_url,
            "QP_FINANCE_URL": settings.finance_url,
            "QP_LMS_API_URL": "http://127.0.0.1:9/unused",  # nothing is extracted: the batches are landed already
            "QP_LMS_API_TOKEN": "unused",
            "QP_INGEST_SCHEDULE": "0 0 1 1 *",  # no nightly run during the measurement
            "QP_EVENT_QUEUE": "",  # no watchers: only the triggered run
        }
        with LocalStack(ROOT / "docker-compose.yml", work / f"airflow-{workers}", host, workers, concurrency) as stack:
            with step(f"start the stack with {workers} worker(s)"):
                stack.wait("the stack", stack.ready, 300)
                parsed = "select count(*) from dag where dag_id = 'qp_validate_load' and not is_paused"
                stack.wait("the DAG to be parsed", lambda: _rows(metadata, parsed)[0][0] == 1, 300)
            started = time.monotonic()
            subprocess.run(
                [str(stack.bin / "airflow"), "dags", "trigger", "qp_validate_load"],
                env=stack.environment,
                check=True,
                capture_output=True,
            )

            def run_state() -> str | None:
                rows = _rows(metadata, "select state from dag_run where dag_id = 'qp_validate_load'")
                return str(rows[0][0]) if rows else None

            with step(f"qp_validate_load on {workers} worker(s)"):
                stack.wait("the load run", lambda: run_state() in ("success", "failed"), 3600, poll=1.0)
            wall = time.monotonic() - started
            (state, seconds), *_ = _rows(
                metadata,
                "select state, extract(epoch from end_date - start_date) from dag_run"
                " where dag_id = 'qp_validate_load'",
            )
            hosts = _rows(
                metadata,
                "select hostname, count(*), sum(duration) from task_instance where dag_id = 'qp_validate_load'"
                " and task_id like 'validate_and_load_%' group by hostname order by hostname",
            )
            rows = _rows(warehouse_url, "select coalesce(sum(rows_extracted), 0) from batch_ledger")
        return {
            "workers": workers,
            "state": state,
            "seconds": float(seconds),
            "wall": wall,
            "hosts": hosts,
            "rows": int(rows[0][0]),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    # The scheduler runs on the wall clock: the data must be fresh by it, as in production.
    end = datetime.now(UTC).date() - timedelta(days=1)
    with tempfile.TemporaryDirectory(prefix="qp-bench-scaling-") as folder:
        work = Path(folder)
        sources = work / "sources-data"
        spec = DemoSpec(end_date=end, days=args.days, sites=args.sites)
        with step(f"demo sources: {args.sites} sites, {args.days} days"):
            generate(spec, DemoLocations.of(Settings(data_dir=sources)))
        results = [timed_load(sources, end, n, args.concurrency, work) for n in args.workers]
    print(f"\nvalidation and load of {results[0]['rows']:,} source rows ({args.sites} sites, {args.days} days):")
    print("| workers | run (Airflow's clock) | state | mapped loads per worker |")
    print("| --- | --- | --- | --- |")
    for r in results:
        spread = ", ".join(f"{h}: {c}" for h, c, _ in r["hosts"])  # type: ignore[attr-defined]
        print(f"| {r['workers']} | {r['seconds']:.1f} s | {r['state']} | {spread} |")
    base = results[0]
    for r in results[1:]:
        print(
            f"scaling: {base['workers']} worker(s) {base['seconds']:.1f} s, {r['workers']} worker(s) "
            f"{r['seconds']:.1f} s, speed-up {float(base['seconds']) / float(r['seconds']):.2f}x"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
