"""Airflow connections (given as AIRFLOW_CONN_* variables, read by Airflow itself) override the settings."""

from __future__ import annotations

import pytest

from core.settings import Settings
from orchestration.connections import with_airflow_connections

pytestmark = pytest.mark.unit


def test_connections_set_the_lms_api_and_the_source_databases(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_QP_LMS_API", "http://:t%2Fok@lms.example.com:8443/api/v1")
    monkeypatch.setenv("AIRFLOW_CONN_QP_QMS_DB", "postgres://qms:pw@db.example.com:5432/qms")
    monkeypatch.setenv("AIRFLOW_CONN_QP_FINANCE_DB", '{"conn_type": "sqlite", "host": "/srv/finance.db"}')

    settings = with_airflow_connections(Settings(data_dir=tmp_path))

    assert settings.lms_api_url == "http://lms.example.com:8443/api/v1"
    assert settings.lms_api_token.get_secret_value() == "t/ok"
    assert settings.qms_url == "postgresql+psycopg://qms:pw@db.example.com:5432/qms"
    assert settings.finance_url == "sqlite:////srv/finance.db"
    assert "t/ok" not in repr(settings)


def test_without_connections_the_environment_settings_stand(monkeypatch, tmp_path):
    for name in ("AIRFLOW_CONN_QP_LMS_API", "AIRFLOW_CONN_QP_QMS_DB", "AIRFLOW_CONN_QP_FINANCE_DB"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path, lms_api_url="http://127.0.0.1:1/api/v1")

    assert with_airflow_connections(settings) == settings
