"""Passwords in URL settings never show: not in logs, extraction events, error messages, the summary or the report.

A source that is down is the moment its URL gets printed: the LMS/HR API's URL carries ``user:password@``, the QMS
database URL a password, and on PostgreSQL the warehouse URL one too (the test server trusts 127.0.0.1, so the
warehouse works with it). Each failing extraction runs through the pipeline and the ``qp`` CLI.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cli.main import main
from demo.services import free_port
from pipeline.ingest import ingest_dataset
from sources.extract import SourceUnavailable
from tests.helpers import read_table

pytestmark = pytest.mark.integration

SECRET = "s3cret"
INTERVAL_END = datetime(2026, 11, 25)


@pytest.fixture
def leaky(settings):  # type: ignore[no-untyped-def]
    """``settings`` whose LMS API and QMS database are down, and whose URLs all carry the password ``s3cret``."""
    warehouse_url = settings.warehouse_url
    if warehouse_url.startswith("postgresql"):
        warehouse_url = make_url(warehouse_url).set(password=SECRET).render_as_string(hide_password=False)
    return settings.model_copy(
        update={
            "warehouse_url": warehouse_url,
            "lms_api_url": f"http://reporting:{SECRET}@127.0.0.1:{free_port()}/api",
            "lms_api_retries": 0,
            "lms_api_timeout_seconds": 2.0,
            "qms_url": f"postgresql://qp:{SECRET}@127.0.0.1:{free_port()}/qms",
        }
    )


def _environment(configured) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "QP_DATA_DIR": str(configured.data_dir),
        "QP_WAREHOUSE_URL": configured.warehouse_url,
        "QP_LMS_API_URL": configured.lms_api_url,
        "QP_LMS_API_TOKEN": "",
        "QP_LMS_API_RETRIES": "0",
        "QP_LMS_API_TIMEOUT_SECONDS": "2",
        "QP_QMS_URL": configured.qms_url,
    }


def test_a_source_that_is_down_never_shows_the_password_of_its_url(leaky, caplog, monkeypatch, capsys):
    with caplog.at_level(logging.DEBUG):
        for dataset in ("training_assignments", "production_runs"):
            with pytest.raises(SourceUnavailable) as caught:
                ingest_dataset(dataset, INTERVAL_END, "secrets-test", leaky)
            assert SECRET not in str(caught.value)

    assert SECRET not in caplog.text
    assert "reporting:***@127.0.0.1" in caplog.text  # the URL is still there to read, its password masked
    events = read_table(leaky, "extraction_event")
    assert set(events.kind) == {"source_unavailable"}
    assert set(events.dataset) == {"training_assignments", "production_runs"}
    assert not events.detail.str.contains(SECRET).any() and not events.subject.str.contains(SECRET).any()
    assert read_table(leaky, "batch_ledger").empty  # nothing landed: the watermarks stay for the next run

    for name, value in _environment(leaky).items():
        monkeypatch.setenv(name, value)
    assert main(["summary"]) == 0
    summary = capsys.readouterr().out
    assert SECRET not in summary
    assert "training_assignments: source_unavailable" in summary and "reporting:***@" in summary
    if leaky.warehouse_url.startswith("postgresql"):
        assert f"Warehouse:  {leaky.warehouse_url.replace(SECRET, '***')}" in summary

    from report.build import ReportRangeError, build_report

    # Nothing landed, so there is no KPI day to report: the refusal names the range, not a credential.
    with pytest.raises(ReportRangeError) as refused:
        build_report(leaky, date(2026, 11, 1), date(2026, 11, 24), leaky.data_dir / "report.html")
    assert SECRET not in str(refused.value) and not (leaky.data_dir / "report.html").exists()


def test_the_cli_masks_the_password_in_its_log_and_in_the_traceback_of_a_failed_ingest(leaky, tmp_path: Path):
    environment = {**os.environ, **_environment(leaky)}
    qp = Path(sys.executable).parent / "qp"
    failed = subprocess.run(
        [str(qp), "-v", "ingest", "lms"], env=environment, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert failed.returncode != 0
    assert "SourceUnavailable" in failed.stderr and "reporting:***@127.0.0.1" in failed.stderr
    assert SECRET not in failed.stderr and SECRET not in failed.stdout
