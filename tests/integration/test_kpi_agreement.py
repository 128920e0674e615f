"""The KPI tables agree across SQLite and PostgreSQL, and with a direct pandas computation from the facts."""

from __future__ import annotations

import pandas as pd
import pytest

from demo.services import demo_lms_api
from tests.conftest import fresh_warehouse, migrated_settings, write_demo_sources
from tests.helpers import read_table, run_chain

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("kpi-agreement")]  # one worker builds the pair once

KEY = ["kpi", "kpi_date", "site_id", "line_id", "step_id"]


@pytest.fixture(scope="module")
def both(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The demo chain run once into a SQLite and once into a PostgreSQL warehouse, from the same sources."""
    built = {}
    with fresh_warehouse("postgresql", tmp_path_factory.mktemp("pg")) as pg_url:
        for kind, url in (("sqlite", None), ("postgresql", pg_url)):
            folder = tmp_path_factory.mktemp(kind)
            with demo_lms_api(migrated_settings(folder, url or f"sqlite:///{folder / 'warehouse.db'}")) as settings:
                write_demo_sources(settings)
                run_chain(settings)
            built[kind] = settings
        yield built


def _kpis(settings) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = read_table(settings, "kpi_daily")
    frame["kpi_date"] = pd.to_datetime(frame["kpi_date"]).dt.date
    return frame.set_index(KEY).sort_index()


def test_sqlite_and_postgresql_hold_the_same_kpis(both):
    sqlite, postgres = _kpis(both["sqlite"]), _kpis(both["postgresql"])
    assert len(sqlite) > 40_000
    assert sqlite.index.equals(postgres.index)
    for column in ("numerator", "denominator", "value"):
        difference = (sqlite[column] - postgres[column]).abs()
        off = ~(difference.fillna(0) < 1e-6 * sqlite[column].abs().clip(lower=1).fillna(1))
        assert not off.any(), (column, pd.concat([sqlite.loc[off, column], postgres.loc[off, column]], axis=1).head(8))
        assert sqlite[column].isna().equals(postgres[column].isna()), column


def _facts(settings, name: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return read_table(settings, name)


GRAIN_DIMS = {"company": [], "site": ["site_id"], "line": ["line_id"]}


def _check(kpis: pd.DataFrame, kpi: str, expected: pd.Series, grain: str) -> None:
    """Compare a direct computation (indexed by date plus the grain's dim) with the KPI table."""
    rows = kpis.xs(kpi, level="kpi").reset_index()
    rows = rows[rows["grain"] == grain]
    actual = rows.set_index(["kpi_date", *GRAIN_DIMS[grain]])["value"].astype("float64")
    expected = expected.rename("value")
    expected.index = expected.index.set_names(["kpi_date", *GRAIN_DIMS[grain]])
    joined = pd.concat([actual.rename("actual"), expected.rename("expected")], axis=1, join="inner")
    assert len(joined) == len(expected) > 0, kpi
    assert ((joined.actual - joined.expected).abs() < 1e-9 * joined.expected.abs().clip(lower=1)).all(), kpi


def test_kpis_match_a_direct_pandas_computation(both):
    settings = both["sqlite"]
    kpis = _kpis(settings)
    runs = _facts(settings, "fact_production_run")
    runs["kpi_date"] = pd.to_datetime(runs["production_date"]).dt.date
    by_line = runs.groupby(["kpi_date", "line_id"])

    fpy = by_line["units_first_pass"].sum() / by_line["units_entered"].sum()
    _check(kpis, "fpy", fpy, "line")

    oee = (runs["ideal_cycle_seconds"] * runs["units_first_pass"] / 60).groupby([runs.kpi_date, runs.line_id]).sum()
    _check(kpis, "oee", oee / by_line["planned_minutes"].sum(), "line")
    # KPIS.md: pooled over runs of different ideal cycle times, quality is weighted by ideal cycle time.
    ideal = (runs["ideal_cycle_seconds"] * runs["units_entered"] / 60).groupby([runs.kpi_date, runs.line_id]).sum()
    _check(kpis, "oee_quality", oee / ideal, "line")

    defects = _facts(settings, "fact_defect").merge(runs[["run_id", "kpi_date"]], on="run_id")
    products = _facts(settings, "dim_product").set_index("product_id")["opportunities_per_unit"]
    opportunities = (runs["units_inspected"] * runs["product_id"].map(products)).groupby(runs.kpi_date).sum()
    dpmo = defects.groupby("kpi_date")["defect_count"].sum().reindex(opportunities.index, fill_value=0)
    _check(kpis, "dpmo", dpmo / opportunities * 1e6, "company")

    feedback = _facts(settings, "fact_feedback")
    feedback["kpi_date"] = pd.to_datetime(feedback["responded_at"]).dt.date
    nps = feedback.groupby(["kpi_date", "site_id"])["nps_score"].apply(
        lambda s: ((s >= 9).sum() - (s <= 6).sum()) / s.notna().sum() * 100
    )
    _check(kpis, "nps", nps, "site")

    shipments = _facts(settings, "fact_shipment")
    complaints = _facts(settings, "fact_complaint")
    units = shipments.groupby([pd.to_datetime(shipments.shipped_on).dt.date, "site_id"])["units"].sum()
    counts = complaints.groupby([pd.to_datetime(complaints.received_on).dt.date, "site_id"]).size()
    shipped_days = units[units > 0]
    rate = counts.reindex(shipped_days.index, fill_value=0) / shipped_days * 1000
    _check(kpis, "complaint_rate", rate, "site")

    ledger = _facts(settings, "fact_cost_ledger")
    ledger["kpi_date"] = pd.to_datetime(ledger["booked_on"]).dt.date
    total = ledger.groupby("kpi_date")["amount"].sum()
    failure = ledger[ledger.category.isin(["internal_failure", "external_failure"])].groupby("kpi_date")["amount"].sum()
    _check(kpis, "copq", failure, "company")
    _check(kpis, "coq_total", total, "company")


def test_oee_is_availability_times_performance_times_quality_on_every_row(both):
    """KPIS.md: at every grain (a step's runs, a line's, a site's, the company's) the three factors multiply to OEE,
    although the demo's products have different ideal cycle times."""
    kpis = _kpis(both["sqlite"])["value"].unstack("kpi")
    factors = kpis[["oee", "oee_availability", "oee_performance", "oee_quality"]].dropna()
    runs = _facts(both["sqlite"], "fact_production_run")
    assert runs.groupby("line_id")["ideal_cycle_seconds"].nunique().max() > 1  # pooling that weights matter for
    assert len(factors) > 1_000
    product = factors["oee_availability"] * factors["oee_performance"] * factors["oee_quality"]
    assert ((product - factors["oee"]).abs() < 1e-12).all()


def test_sqlite_and_postgresql_judge_the_improvements_alike(both):
    """The demo's improvements, judged on each warehouse from the same sources: the same rows and verdicts."""
    frames = []
    for kind in ("sqlite", "postgresql"):
        frame = read_table(both[kind], "improvement_effect").drop(columns="computed_at")
        frames.append(frame.sort_values(["improvement_id", "kpi"]).reset_index(drop=True))
    sqlite, postgres = frames
    assert len(sqlite) == 5 and list(sqlite.columns) == list(postgres.columns)
    numbers = sqlite.select_dtypes("number").columns
    for column in sqlite.columns:
        if column in numbers:
            assert sqlite[column].to_numpy() == pytest.approx(postgres[column].to_numpy(), rel=1e-9, nan_ok=True), (
                column
            )
        else:
            assert sqlite[column].astype(str).tolist() == postgres[column].astype(str).tolist(), column


def test_sqlite_and_postgresql_hold_the_same_capability(both):
    frames = [
        read_table(both[kind], "process_capability")
        .drop(columns="computed_at")
        .sort_values(["product_id", "step_id", "month_start"])
        for kind in ("sqlite", "postgresql")
    ]
    sqlite, postgres = (f.reset_index(drop=True) for f in frames)
    assert len(sqlite) > 20 and len(sqlite) == len(postgres)
    for column in sqlite.columns:
        if sqlite[column].dtype.kind == "f":
            assert sqlite[column].to_numpy() == pytest.approx(postgres[column].to_numpy(), rel=1e-9, nan_ok=True), (
                column
            )
        else:
            assert sqlite[column].astype(str).str[:10].tolist() == postgres[column].astype(str).str[:10].tolist(), (
                column
            )


def test_sqlite_and_postgresql_hold_the_same_incidents(both):
    """The same alerts group into the same incidents, with the same ids, members and titles, on each warehouse."""
    incidents, members = [], []
    for kind in ("sqlite", "postgresql"):
        frame = read_table(both[kind], "incident").drop(columns=["opened_at", "updated_at", "resolved_at"])
        frame[["first_date", "last_date"]] = frame[["first_date", "last_date"]].astype(str).apply(lambda c: c.str[:10])
        incidents.append(frame.sort_values("incident_id").reset_index(drop=True).astype(str))
        alerts = read_table(both[kind], "alert")
        members.append(dict(zip(alerts.alert_id, alerts.incident_id, strict=True)))
    sqlite, postgres = incidents
    assert len(sqlite) > 1 and sqlite.equals(postgres), pd.concat([sqlite, postgres]).drop_duplicates(keep=False)
    assert members[0] == members[1] and None not in members[0].values()
    assert sqlite.alert_count.astype(int).sum() == len(members[0])
