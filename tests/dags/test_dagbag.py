"""The DAG folder as Airflow's DagBag sees it: no import errors, and the operational policy on every DAG."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog import SOURCES

pytestmark = [pytest.mark.dags, pytest.mark.xdist_group("dagbag")]  # one worker parses the folder once

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {*(f"qp_ingest_{source}" for source in SOURCES), "qp_validate_load", "qp_kpis"}


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


def test_every_dag_has_owner_tags_docs_and_retrying_tasks(dagbag):
    for dag in dagbag.dags.values():
        assert "qualitypulse" in dag.tags, dag.dag_id
        assert dag.doc_md and "QualityPulse" in dag.doc_md, dag.dag_id
        assert dag.max_active_runs == 1, dag.dag_id
        for task in dag.tasks:
            assert task.owner == "quality-data", task.task_id
            assert task.retries >= 1 and task.execution_timeout is not None, task.task_id


def test_assets_wire_ingest_to_load_to_kpis(dagbag):
    from airflow.sdk import AssetAny

    from orchestration.runner import condition_met

    load_schedule = dagbag.dags["qp_validate_load"].timetable.asset_condition
    assert isinstance(load_schedule, AssetAny)  # one source's new batch is enough
    assert condition_met(load_schedule, {"qualitypulse.raw.feedback"})
    from core.catalog import datasets_of

    produced = {o.name for task in dagbag.dags["qp_ingest_qms"].tasks for o in task.outlets}
    assert produced == {f"qualitypulse.raw.{d.name}" for d in datasets_of("qms")}
    kpi_schedule = dagbag.dags["qp_kpis"].timetable.asset_condition
    facts = {o.name for task in dagbag.dags["qp_validate_load"].tasks for o in task.outlets}
    assert condition_met(kpi_schedule, facts)
    assert not condition_met(kpi_schedule, {"qualitypulse.raw.feedback"})


def test_dag_files_do_no_io_at_import_time():
    for path in DAGS.glob("*.py"):
        top_level = [line for line in path.read_text().splitlines() if line and not line.startswith((" ", "#"))]
        for line in top_level:
            for forbidden in ("read_csv", "create_engine", "engine_for", "get_settings()", "Variable.get", "open("):
                assert forbidden not in line, f"{path.name}: {line}"


def test_each_ingest_dag_runs_nightly_and_on_its_sources_signal(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    for source in SOURCES:
        timetable = dagbag.dags[f"qp_ingest_{source}"].timetable
        assert isinstance(timetable, AssetOrTimeSchedule), source
        assert timetable.timetable.expression == "0 0 * * *"  # the nightly cron, covering the day before
        signal = timetable.asset_condition
        assert signal.name == f"qualitypulse.signal.{source}"
        kinds = {type(w.trigger).__name__ for w in signal.watchers}
        assert kinds == {"DirectoryFileDeleteTrigger", "MessageQueueTrigger"}, source


def test_the_folder_parses_in_under_a_second_per_dag(dagbag):
    """What the dag-processor pays every refresh: imports inside tasks keep GX and pandas out of parsing."""
    stats = dagbag.dagbag_stats
    seconds = sum(s.duration.total_seconds() for s in stats)
    dags = sum(s.dag_num for s in stats)
    assert dags == len(EXPECTED) and seconds / dags < 1.0, [(s.file, s.duration, s.dag_num) for s in stats]


def test_validation_fans_out_per_dataset_dimensions_before_facts(dagbag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dag = dagbag.dags["qp_validate_load"]
    dimensions, facts = dag.get_task("validate_and_load_dimensions"), dag.get_task("validate_and_load_facts")
    assert isinstance(dimensions, MappedOperator) and isinstance(facts, MappedOperator)
    assert facts.task_id in dimensions.downstream_task_ids  # facts see the keys their dimensions brought
    assert dimensions.pool == facts.pool == "qp_warehouse"
    publish = dag.get_task("replay_orphans_and_publish")
    assert {o.name for o in publish.outlets} == {"qualitypulse.warehouse.facts"}
    assert {dimensions.task_id, facts.task_id} <= publish.upstream_task_ids
