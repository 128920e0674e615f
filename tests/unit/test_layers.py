"""What the layering promises beyond imports (import-linter checks those): one place for database differences, and
one warehouse object per stage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.dialect import PostgreSQLDialect, SQLiteDialect, dialect_of

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "transforms", "sources", "expectations", "warehouse", "alerts", "report", "bi", "pipeline", "demo")
PACKAGES += ("orchestration", "cli", "dags")
# Where a database is named: the dialect module, the revisions (fixed history), the mapping of Airflow's
# connection types to SQLAlchemy URLs, and the mapping of database URLs to OpenLineage's dataset names (its naming
# conventions, read while DAGs are parsed: without the dialect module's pandas and pyarrow).
ALLOWED = {Path("core/dialect.py"), Path("orchestration/connections.py"), Path("pipeline/lineage.py")}


def _modules():  # type: ignore[no-untyped-def]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative not in ALLOWED and "migrations" not in relative.parts:
                yield relative, ast.parse(path.read_text())


def test_sqlite_and_postgresql_differences_live_in_the_dialect_module():
    found = []
    for relative, tree in _modules():
        for node in ast.walk(tree):
            named = isinstance(node, ast.Constant) and node.value in ("postgresql", "postgres", "sqlite")
            asks_name = isinstance(node, ast.Attribute) and node.attr == "name" and "dialect" in ast.unparse(node)
            if named or asks_name:
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    assert found == [], "database differences outside core/dialect.py:\n" + "\n".join(found)


def test_only_the_warehouse_object_builds_warehouse_engines():
    """``engine_for`` is for source databases; a stage works through one ``Warehouse`` (core.engine)."""
    found = []
    for relative, tree in _modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "engine_for"
                and "warehouse_url" in ast.unparse(node.args[0] if node.args else node)
            ):
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    assert found == [], "warehouse engines built outside core.engine.Warehouse:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("sqlite:////tmp/w.db", SQLiteDialect),
        ("postgresql://u@h/db", PostgreSQLDialect),
        ("postgresql+psycopg://u@h/db", PostgreSQLDialect),
        ("postgres", PostgreSQLDialect),
    ],
)
def test_the_dialect_follows_the_url(url, dialect):
    assert isinstance(dialect_of(url), dialect)


def test_view_names_and_day_arithmetic_differ_only_in_the_dialect():
    sqlite, postgresql = dialect_of("sqlite"), dialect_of("postgresql")
    assert (sqlite.view_name("kpi_daily"), postgresql.view_name("kpi_daily")) == ("bi_kpi_daily", "bi.kpi_daily")
    sql = "select day_of(loaded_at) as day"
    assert (sqlite.day_of(sql), postgresql.day_of(sql)) == (
        "select date(loaded_at) as day",
        "select cast(loaded_at as date) as day",
    )
    hours = "select hours_between(raised_at, resolved_at) as hours"
    assert (sqlite.day_of(hours), postgresql.day_of(hours)) == (
        "select ((julianday( resolved_at) - julianday(raised_at)) * 24) as hours",
        "select (extract(epoch from ( resolved_at - raised_at)) / 3600) as hours",
    )
