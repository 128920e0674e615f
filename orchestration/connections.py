"""Airflow connections: they override the environment's settings for the source systems, where they are defined,
and they are the alert channels.

    qp_lms_api      HTTP connection: host, port and schema make the base URL, the password is the bearer token
    qp_qms_db       any SQLAlchemy URL as the connection URI (the QMS/MES database)
    qp_finance_db   likewise, the finance / ERP database

Without a connection the ``QP_*`` variables apply, so the same code runs under Airflow, the CLI and the tests.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import SecretStr
from sqlalchemy import URL

from alerts.channels import ALL_CHANNELS, Channel, channel_from_connection
from core.settings import Settings

LMS_API = "qp_lms_api"
DATABASES = {"qp_qms_db": "qms_url", "qp_finance_db": "finance_url"}


def with_airflow_connections(settings: Settings) -> Settings:
    """``settings`` with the source locations of any Airflow connections above."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    updates: dict[str, Any] = {}
    try:
        api = BaseHook.get_connection(LMS_API)
        scheme = "https" if api.conn_type == "https" or api.port == 443 else "http"
        port = f":{api.port}" if api.port else ""
        updates["lms_api_url"] = f"{scheme}://{api.host}{port}/{(api.schema or '').strip('/')}".rstrip("/")
        updates["lms_api_token"] = SecretStr(api.password or "")
    except AirflowNotFoundException:
        pass
    for conn_id, field in DATABASES.items():
        try:
            updates[field] = _sqlalchemy_url(BaseHook.get_connection(conn_id))
        except AirflowNotFoundException:
            pass
    return settings.model_copy(update=updates) if updates else settings


def _sqlalchemy_url(connection: Any) -> str:
    """A SQLAlchemy URL from a connection's parts (its ``sqlalchemy_url`` extra wins when given)."""
    explicit = connection.extra_dejson.get("sqlalchemy_url")
    if explicit:
        return str(explicit)
    if connection.conn_type == "sqlite":
        return f"sqlite:///{connection.host}"
    driver = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}.get(
        connection.conn_type, connection.conn_type
    )
    url = URL.create(
        driver,
        username=connection.login or None,
        password=connection.password or None,
        host=connection.host or None,
        port=connection.port or None,
        database=connection.schema or None,
    )
    return url.render_as_string(hide_password=False)


def configured_channels(conn_ids: Collection[str] = ALL_CHANNELS) -> dict[str, Channel]:
    """The alert channels among ``conn_ids`` whose Airflow connection is defined, by connection id."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    channels: dict[str, Channel] = {}
    for conn_id in sorted(conn_ids):
        try:
            connection = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            continue
        channels[conn_id] = channel_from_connection(conn_id, connection)
    return channels
