"""The BI views: what a BI tool sees, on both databases, and the read-only role on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.engine import engine_for
from tests.helpers import read_table
from warehouse.bi_views import VIEWS, qualified

pytestmark = pytest.mark.integration

TABLE_OF = {
    "kpi_daily": "kpi_daily",
    "quality_alerts": "alert",
    "incidents": "incident",
    "control_charts": "spc_point",
    "batch_ledger": "batch_ledger",
    "data_quality": "validation_result",
    "quarantined_rows": "quarantine",
}


def test_every_view_has_its_documented_columns_and_all_rows(demo_warehouse):
    settings, _ = demo_warehouse
    engine = engine_for(settings.warehouse_url)
    with engine.connect() as connection:
        for view in VIEWS:
            result = connection.execute(text(f"select * from {qualified(view.name, engine.dialect.name)}"))
            assert list(result.keys()) == list(view.columns), view.name
            rows = result.fetchall()
            if view.name in TABLE_OF:
                assert len(rows) == len(read_table(settings, TABLE_OF[view.name])) > 0, view.name
        weekly = connection.execute(text(f"select count(*) from {qualified('kpi_weekly', engine.dialect.name)}"))
        assert weekly.scalar() > 0
    engine.dispose()


def test_postgresql_views_carry_comments(demo_warehouse):
    settings, _ = demo_warehouse
    if not settings.warehouse_url.startswith("postgresql"):
        return  # SQLite has no comments; docs/warehouse.md carries them
    with psycopg.connect(settings.warehouse_url) as connection:
        view_comment = connection.execute("select obj_description('bi.kpi_daily'::regclass)").fetchone()[0]
        column_comment = connection.execute("select col_description('bi.kpi_daily'::regclass, 9)").fetchone()[
            0
        ]  # kpi_value
    assert "Grain: one row per KPI, day" in view_comment
    assert column_comment.startswith("the KPI: a fraction 0..1")


def test_the_bi_role_reads_the_views_and_nothing_else(demo_warehouse, monkeypatch, capsys):
    """Logged in as the role `qp bi-role` made: the views read, and nothing else works, not even what PostgreSQL
    grants PUBLIC by default (temporary tables, connecting to another database of the server)."""
    from cli.main import main

    settings, _ = demo_warehouse
    if not settings.warehouse_url.startswith("postgresql"):
        return  # roles are a PostgreSQL feature; this test runs on the PostgreSQL warehouse
    role, password = f"qp_bi_test_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    other = f"qp_test_other_{uuid.uuid4().hex[:8]}"  # stands in for another application's database on the server
    admin = psycopg.connect(make_url(settings.warehouse_url).set(database="postgres").render_as_string(False))
    admin.autocommit = True
    admin.execute(f'create database "{other}"')
    monkeypatch.setenv("QP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("QP_WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("QP_BI_PASSWORD", password)
    reader_url = make_url(settings.warehouse_url).set(username=role, password=password)
    try:
        assert main(["bi-role", role, "--close-database", other]) == 0
        printed = capsys.readouterr().out
        assert f"role {role} can read the bi views" in printed and "closed to it" in printed
        assert password not in printed
        with psycopg.connect(reader_url.render_as_string(hide_password=False), autocommit=True) as reader:
            assert reader.execute("select count(*) from bi.kpi_daily").fetchone()[0] > 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute("select count(*) from public.batch_ledger")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # the role's sessions are read-only ...
                reader.execute("delete from public.kpi_daily")
            reader.execute("set default_transaction_read_only = off")  # ... but that is not what holds it back:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute("delete from public.kpi_daily")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary tables"):
                reader.execute("create temporary table scratch (x int)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema public"):
                reader.execute("create table public.scratch (x int)")
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(reader_url.set(database=other).render_as_string(hide_password=False)).close()
        # The pipeline's own role, and any other role, keep what PUBLIC gave them.
        with psycopg.connect(make_url(settings.warehouse_url).set(database=other).render_as_string(False)) as owner:
            owner.execute("create temporary table scratch (x int)")
        assert main(["bi-role", role, "--close-database", other]) == 0  # again: idempotent
    finally:
        admin.execute(f'drop database if exists "{other}" with (force)')
        admin.close()
        engine = engine_for(settings.warehouse_url)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'drop owned by "{role}"')
            connection.exec_driver_sql(f'drop role "{role}"')
        engine.dispose()


def test_ledger_quarantine_and_results_agree_and_the_daily_view_adds_them_up(demo_warehouse):
    """What a data steward cross-checks: every row a rule caught is in quarantine under that rule, each batch's
    quarantine matches its ledger count, and the daily data-quality view sums the ledger."""
    settings, _ = demo_warehouse
    results = read_table(settings, "validation_result")
    quarantine = read_table(settings, "quarantine")
    ledger = read_table(settings, "batch_ledger")
    caught = results[(results.severity == "critical") & results.unexpected_count.notna()]
    by_rule = Counter(
        (row.batch_id, reason.removeprefix("rule: "))
        for row in quarantine.itertuples()
        for reason in json.loads(row.failed_rules)
    )
    disagreeing = {
        (r.batch_id, r.rule): (int(r.unexpected_count), by_rule.get((r.batch_id, r.rule), 0))
        for r in caught.itertuples()
        if int(r.unexpected_count) != by_rule.get((r.batch_id, r.rule), 0)
    }
    assert disagreeing == {} and caught.unexpected_count.sum() > 0
    assert (
        quarantine.groupby("batch_id").size().to_dict()
        == ledger.set_index("batch_id").rows_quarantined[lambda n: n > 0].to_dict()
    )

    engine = engine_for(settings.warehouse_url)
    with engine.connect() as connection:
        daily = connection.execute(text(f"select * from {qualified('data_quality_daily', engine.dialect.name)}"))
        daily_rows = [dict(row._mapping) for row in daily]
    engine.dispose()
    for column in ("rows_extracted", "rows_loaded", "rows_quarantined", "rows_duplicate"):
        assert sum(row[column] for row in daily_rows) == ledger[column].sum(), column
    assert sum(row["checks_run"] for row in daily_rows) == int(results.judged.sum())
    assert sum(row["checks_passed"] for row in daily_rows) == int((results.judged & results.success).sum())
