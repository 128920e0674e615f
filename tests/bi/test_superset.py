"""Superset reads what QualityPulse provisions: the repository's assets imported into a real Superset (from PyPI, in
its own virtual environment), its database pointed at a PostgreSQL warehouse loaded by the pipeline through the
read-only BI role, and every chart's stored query asked through Superset's API: each answers, with the warehouse's
own numbers.

The Superset venv is built from ``deploy/superset/requirements.lock`` under ``.superset/`` (ignored by git), keyed by
the lock's hash: a local re-run reuses it, a fresh clone (CI) installs it. The install and Superset's own set-up
(``deploy/superset/init.sh``) run in the background while the demo warehouse is built.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bi.superset import KPI_VIEWS, Chart, charts, is_date, uid
from core.engine import engine_for
from core.kpi_registry import REGISTRY
from warehouse.bi_views import VIEWS, grant_read_only

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("superset")]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "superset"
LOCK = DEPLOY / "requirements.lock"
PLACEHOLDER_URI = "postgresql+psycopg2://qp_bi_reader:unused@127.0.0.1:1/none"  # no warehouse yet at first import
PERIOD_VIEW = {"P1D": "kpi_daily", "P1W": "kpi_weekly", "P1M": "kpi_monthly"}
PERIOD_DATE = {"kpi_daily": "kpi_day", "kpi_weekly": "week_start", "kpi_monthly": "month_start"}
# Metrics whose value for one row of their view is a column of that row (the view's own number).
OWN_COLUMN = {"check_pass_rate": "pass_rate", "row_pass_rate": "row_pass_rate"}


def superset_venv() -> Path:
    """Superset's venv for the lock as it is now: reused when built before, else installed (about a minute)."""
    key = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]
    venv = ROOT / ".superset" / f"venv-{key}"
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)  # an install that was cut short
    # uv, from the dev lock: the same pinned set as pip would install, in a third of the time.
    uv = str(Path(sys.executable).parent / "uv")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--no-deps",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(LOCK),
        ],
        check=True,
        capture_output=True,
    )
    (venv / ".complete").write_text(key)
    return venv


class Superset:
    """A Superset in a scratch folder: its venv, its config (SQLite metadata there), its environment."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.admin_password = secrets.token_urlsafe(16)
        self.venv: Path | None = None
        self.error: BaseException | None = None
        self.seconds: dict[str, float] = {}
        (home / "superset_config.py").write_text(
            "import os\n"
            "SECRET_KEY = os.environ['SUPERSET_SECRET_KEY']\n"
            f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{home / 'superset.db'}'\n"
            "WTF_CSRF_ENABLED = False\n"
        )
        self.secret_key = secrets.token_hex(32)

    def env(self, warehouse_uri: str) -> dict[str, str]:
        assert self.venv is not None
        return {
            **os.environ,
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "SUPERSET_CONFIG_PATH": str(self.home / "superset_config.py"),
            "SUPERSET_SECRET_KEY": self.secret_key,
            "SUPERSET_ADMIN_PASSWORD": self.admin_password,
            "QP_SUPERSET_WAREHOUSE_URI": warehouse_uri,
            "FLASK_APP": "superset",
            "PYTHONPATH": "",
        }

    def run(self, args: list[str], warehouse_uri: str, step: str) -> str:
        started = time.monotonic()
        done = subprocess.run(args, env=self.env(warehouse_uri), cwd=self.home, capture_output=True, text=True)
        self.seconds[step] = round(time.monotonic() - started, 1)
        log = done.stdout + done.stderr
        (self.home / f"{step}.log").write_text(log)
        assert done.returncode == 0, f"{step} failed:\n{log[-4000:]}"
        return log

    def set_up(self) -> None:
        """Install, then Superset's start-up as the compose stack runs it (init.sh), before any warehouse exists."""
        try:
            started = time.monotonic()
            self.venv = superset_venv()
            self.seconds["venv"] = round(time.monotonic() - started, 1)
            self.run(["sh", str(DEPLOY / "init.sh")], PLACEHOLDER_URI, "init")
        except BaseException as error:  # reported by the test that waits for it
            self.error = error


@pytest.fixture(scope="session")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Superset, threading.Thread]]:
    """Superset being installed and set up in the background; join the thread before using it. Session-scoped so
    that pytest starts it before the session's demo warehouse, which it overlaps."""
    instance = Superset(tmp_path_factory.mktemp("superset"))
    worker = threading.Thread(target=instance.set_up, daemon=True)
    worker.start()
    yield instance, worker
    worker.join()


@pytest.fixture
def bi_reader(demo_warehouse) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The demo warehouse's URL through a read-only BI role made as `qp bi-role` makes it (dropped afterwards)."""
    settings, _ = demo_warehouse
    role, password = f"qp_bi_superset_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    engine = engine_for(settings.warehouse_url)
    with engine.begin() as connection:
        grant_read_only(connection, role, password)
    try:
        yield make_url(settings.warehouse_url).set(username=role, password=password).render_as_string(False)
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'drop owned by "{role}"')
            connection.exec_driver_sql(f'drop role "{role}"')
        engine.dispose()


@pytest.mark.parametrize("demo_warehouse", ["postgresql"], indirect=True)
def test_superset_answers_every_chart_with_the_warehouses_numbers(superset, demo_warehouse, bi_reader):
    instance, worker = superset
    started = time.monotonic()
    worker.join(timeout=1500)
    waited = time.monotonic() - started
    assert not worker.is_alive(), "Superset's install and set-up did not finish"
    if instance.error is not None:
        raise instance.error
    uri = make_url(bi_reader).set(drivername="postgresql+psycopg2").render_as_string(False)
    # The stack's later starts re-import over the first: the database now points at the warehouse.
    log = instance.run(
        [str(instance.venv / "bin" / "python"), str(DEPLOY / "import_assets.py"), str(DEPLOY / "assets")], uri, "import"
    )
    password = make_url(bi_reader).password
    assert password and password not in log
    output = instance.home / "charts.json"
    instance.run(
        [str(instance.venv / "bin" / "python"), str(ROOT / "tests" / "bi" / "superset_charts.py"), str(output)],
        uri,
        "charts",
    )
    answers = json.loads(output.read_text())
    print(f"\nSuperset: {instance.seconds} s; waited {waited:.1f} s for it after the warehouse was built")

    specs = {uid("chart", c.slug): c for c in charts()}
    assert set(answers) == set(specs)
    settings, _ = demo_warehouse
    engine = engine_for(bi_reader)
    try:
        with engine.connect() as connection:
            views = {v.name: pd.read_sql(text(f"select * from bi.{v.name}"), connection) for v in VIEWS}
            date_columns = {
                (r.table_name, r.column_name)
                for r in connection.execute(
                    text(
                        "select table_name, column_name from information_schema.columns where table_schema = 'bi' "
                        "and (data_type = 'date' or data_type like 'timestamp%')"
                    )
                )
            }
    finally:
        engine.dispose()
    assert {(v.name, c) for v in VIEWS for c in v.columns if is_date(c)} == date_columns
    for chart_uuid, answer in answers.items():
        chart = specs[chart_uuid]
        assert answer["status"] == 200, (chart.slug, answer["response"])
        result = answer["response"]["result"][0]
        assert not result.get("error"), (chart.slug, result["error"])
        assert result["rowcount"] > 0, chart.slug
        assert_same_numbers(chart, pd.DataFrame(result["data"]), views)


# --- the warehouse's own numbers ---------------------------------------------------------------------------------


def _day(value: Any) -> date | None:
    """A date as Superset's JSON gives it (epoch milliseconds) or as the warehouse does."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, (int, float)):
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)).date()
    return pd.Timestamp(value).date()


def _truncate(day: date, grain: str | None) -> date:
    if grain == "P1W":
        return day - timedelta(days=day.weekday())
    if grain == "P1M":
        return day.replace(day=1)
    return day


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _same(actual: Any, expected: Any) -> bool:
    a, e = _number(actual), _number(expected)
    if a is None or e is None:
        return a is e
    return a == pytest.approx(e, rel=1e-9, abs=1e-12)


def _filtered(chart: Chart, frame: pd.DataFrame) -> pd.DataFrame:
    for f in chart.filters:
        frame = frame[frame[f.column].isin(f.value)] if f.op == "IN" else frame[frame[f.column] == f.value]
    return frame


def assert_same_numbers(chart: Chart, got: pd.DataFrame, views: dict[str, pd.DataFrame]) -> None:
    """Superset's rows for the chart against the BI views: KPI metrics against the warehouse's own period view, the
    other metrics against the view's own column (one row per group) or its summed or counted rows."""
    rows = _filtered(chart, views[chart.view])
    if chart.viz == "table" and not chart.metrics:  # the rows themselves, in the chart's order
        expected = rows.sort_values(
            [c for c, _ in chart.order_by], ascending=[a for _, a in chart.order_by], kind="stable"
        )[list(chart.columns)]
        assert len(got) == len(expected), chart.slug
        for column in chart.columns:
            for a, e in zip(got[column], expected[column], strict=True):
                if is_date(column):
                    assert _day(a) == _day(e), (chart.slug, column)
                elif isinstance(e, str) or e is None:
                    assert a == e, (chart.slug, column)
                else:
                    assert _same(a, e), (chart.slug, column, a, e)
        return

    keys = [c for c in (chart.x_axis, *chart.groupby) if c]
    temporal = chart.x_axis is not None and chart.time_grain is not None
    if temporal:
        got = got.assign(**{chart.x_axis: got[chart.x_axis].map(_day)})
    for metric in chart.metrics:
        if chart.view in KPI_VIEWS:
            expected = _kpi_values(chart, metric, views)
        else:
            frame = rows.copy()
            if temporal:
                frame[chart.x_axis] = frame[chart.x_axis].map(lambda d: _truncate(_day(d), chart.time_grain))
            expected = _aggregated(frame, keys, metric)
        actual = {
            tuple(r[k] for k in keys): r[metric] for r in got.to_dict("records") if _number(r[metric]) is not None
        }
        expected = {k: v for k, v in expected.items() if _number(v) is not None}
        assert set(actual) == set(expected), (chart.slug, metric, set(actual) ^ set(expected))
        wrong = {k: (actual[k], expected[k]) for k in expected if not _same(actual[k], expected[k])}
        assert not wrong, (chart.slug, metric, list(wrong.items())[:5])


def _kpi_values(chart: Chart, metric: str, views: dict[str, pd.DataFrame]) -> dict[tuple[Any, ...], Any]:
    """The KPI as the warehouse computed it for the chart's period: kpi_daily, kpi_weekly or kpi_monthly."""
    assert metric in REGISTRY and chart.time_grain is not None
    period_view = PERIOD_VIEW[chart.time_grain]
    frame = _filtered(chart, views[period_view])
    frame = frame[frame["kpi_name"] == metric]
    date_column = PERIOD_DATE[period_view]
    return {(_day(r[date_column]), *(r[g] for g in chart.groupby)): r["kpi_value"] for r in frame.to_dict("records")}


def _aggregated(frame: pd.DataFrame, keys: list[str], metric: str) -> dict[tuple[Any, ...], Any]:
    out: dict[tuple[Any, ...], Any] = {}
    for key, group in frame.groupby(keys, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        if metric == "count":
            out[key] = len(group)
        elif metric.startswith("total_"):
            out[key] = group[metric.removeprefix("total_")].sum()
        elif metric == "adverse_days":
            out[key] = int(group["is_adverse"].sum())
        elif metric == "open_alerts":
            out[key] = int((group["alert_status"] != "resolved").sum())
        else:  # one row's own value: the group must be one row of the view
            column = OWN_COLUMN.get(metric, metric.removeprefix("row_"))
            out[key] = group[column].iloc[0] if len(group) == 1 else None
    return out
