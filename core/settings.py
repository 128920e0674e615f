"""One typed settings object, read from the environment (prefix ``QP_``) and an optional ``.env`` file."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import redaction
from core.alert_rules import DEFAULT_RULES_FILE

_UNSET = Path("")


def _working_data_dir() -> Path:
    """``./data`` in the directory the command runs from: never inside the installed package."""
    return Path.cwd() / "data"


class Settings(BaseSettings):
    """Where the sources, landing zone and warehouse live, and how regressions are judged."""

    model_config = SettingsConfigDict(env_prefix="QP_", env_file=".env", extra="ignore")

    # Everything QualityPulse writes (the embedded warehouse, landing zone, report, validation pages) lives here.
    # Set QP_DATA_DIR wherever the working directory is not the deployment's (Airflow workers, services).
    data_dir: Path = Field(default_factory=_working_data_dir)
    # Empty means "derive from data_dir": the embedded SQLite defaults below.
    warehouse_url: str = ""
    qms_url: str = ""
    finance_url: str = ""
    # SQL sources: re-read this far behind the watermark for rows that committed late.
    sql_lookback_minutes: int = 15
    # SQL sources stream this many rows at a time into the landing zone (bounded memory).
    sql_chunk_rows: int = 100_000
    # The LMS/HR reporting API; unset, `make run` and the tests serve the demo one (demo/lms_api.py).
    lms_api_url: str = ""
    lms_api_token: SecretStr = SecretStr("")
    lms_api_timeout_seconds: float = 30.0
    lms_api_retries: int = 4
    lms_api_page_size: int = 1000
    # Bounds, so a misbehaving API can't hold a worker: a Retry-After (seconds or an HTTP date) is waited at most
    # this long, and one dataset's extraction (every page, retry and wait) fails past the deadline.
    lms_api_retry_after_max_seconds: int = 120
    lms_api_deadline_seconds: float = 600.0
    # Deletes at SQL sources and the LMS API are found by reconciling keys over this many recent days of event dates
    # on every ingest run (0: off); records the API flags deleted are taken whatever their date.
    delete_reconciliation_days: int = 7
    # A load claims each batch before working on it; a claim this old is a crashed load's and is taken over (on
    # PostgreSQL a dead claimer's claim is taken over at once: it is also held as an advisory lock).
    batch_claim_timeout_seconds: int = 3600
    # Freshness deadlines (warehouse/freshness.py): the days each source's data is due, per source or dataset, over
    # the defaults {"qms": "daily", "finance": "daily", "lms": "daily", "survey": "weekdays"}: daily, weekdays, days
    # such as mon-sat, or off. A day's data is late freshness_grace_hours after the day ends (UTC). Facts are watched
    # per source (any of its facts counts); a dataset named here gets its own deadline; dimensions are not watched.
    freshness: dict[str, str] = {}
    freshness_grace_hours: float = 6.0
    # Implausible event dates are quarantined: later than the run's interval end plus this skew (source clocks and
    # time zones), or earlier than the floor (per dataset in event_date_floors: '{"production_runs": "2024-01-01"}').
    event_date_skew_days: float = 1.0
    event_date_floor: date = date(2000, 1, 1)
    event_date_floors: dict[str, date] = {}
    # The finance ledger's currency (ISO 4217): its amounts and the shipments' revenue carry none of their own.
    ledger_currency: str = "EUR"
    # Unset paths ("") are derived from data_dir.
    survey_drop_dir: Path = _UNSET
    lms_store_dir: Path = _UNSET
    landing_dir: Path = _UNSET
    data_docs_dir: Path = _UNSET  # every batch's validation page (report.validation_pages)

    # Events that trigger ingestion between nightly runs (orchestration/events.py): ready markers in signal_dir, and
    # a message queue: "redis+pubsub" (channel <prefix>.<source>, Airflow connection event_conn_id), an SQS or
    # Kafka queue URI, or "" for none.
    signal_dir: Path = _UNSET
    signal_poke_seconds: float = 5.0
    event_queue: str = "redis+pubsub"
    event_channel_prefix: str = "qualitypulse"
    event_conn_id: str = "qp_events"
    event_poll_seconds: float = 1.0

    # Where a task that failed for good is reported: Airflow connection ids of alert channels (alerts/channels.py);
    # the ones not defined are skipped.
    task_failure_channels: str = "qp_alert_email,qp_alert_slack,qp_alert_webhook"
    # A failed task's first retry waits this long (then doubles, up to 15 minutes): long enough for a restarted
    # database or API to come back, short enough that a worker lost mid-task costs minutes, not an hour.
    task_retry_delay_seconds: float = 60.0
    # Deadlines (Airflow DeadlineAlerts, orchestration/dag_defaults.py): a run of an ingest DAG, or of qp_kpis, that is
    # not done this many minutes after it was queued is reported on the same channels; 0: no deadline. Read while the
    # DAGs are parsed.
    ingest_deadline_minutes: float = 60.0
    kpis_deadline_minutes: float = 60.0

    # The regression rules and their routing (alerts/rules.yaml); empty: the bundled defaults.
    alert_rules: Path = _UNSET
    # Where notifications link to: the report's URL (each alert has an anchor); empty: the report file.
    report_url: str = ""
    # Improvements to judge, kept as YAML beside `qp improvement add` (core/improvements.py); empty:
    # <data>/improvements.yaml, which is optional.
    improvements: Path = _UNSET
    # Specification limits for process capability (core/capability.py); empty: <data>/capability.yaml, optional.
    capability_specs: Path = _UNSET

    @model_validator(mode="after")
    def _derive_locations(self) -> Settings:
        data = self.data_dir
        if not self.warehouse_url:
            self.warehouse_url = f"sqlite:///{data / 'warehouse' / 'qualitypulse.db'}"
        if not self.qms_url:
            self.qms_url = f"sqlite:///{data / 'sources' / 'qms.db'}"
        if not self.finance_url:
            self.finance_url = f"sqlite:///{data / 'sources' / 'finance.db'}"
        if self.survey_drop_dir == _UNSET:
            self.survey_drop_dir = data / "sources" / "survey" / "drop"
        if self.lms_store_dir == _UNSET:
            self.lms_store_dir = data / "sources" / "lms"
        if self.landing_dir == _UNSET:
            self.landing_dir = data / "landing"
        if self.signal_dir == _UNSET:
            self.signal_dir = data / "signals"
        if self.alert_rules == _UNSET:
            self.alert_rules = DEFAULT_RULES_FILE
        if not self.report_url:
            self.report_url = (data / "report" / "index.html").resolve().as_uri()
        if self.data_docs_dir == _UNSET:
            self.data_docs_dir = data / "data_docs"
        if self.improvements == _UNSET:
            self.improvements = data / "improvements.yaml"
        if self.capability_specs == _UNSET:
            self.capability_specs = data / "capability.yaml"
        return self

    @model_validator(mode="after")
    def _mask_secrets(self) -> Settings:
        """The passwords and tokens this process is configured with are masked wherever they would be shown: in
        every log record (of any logger), event, message, summary and report (core/redaction.py)."""
        urls = (self.warehouse_url, self.qms_url, self.finance_url, self.lms_api_url, self.report_url)
        in_urls = [secret for url in urls for secret in redaction.secrets_in_url(url)]
        redaction.remember_secret(self.lms_api_token.get_secret_value(), *in_urls)
        redaction.install_log_redaction(redaction.PROJECT_LOGGERS)
        return self

    def event_date_bounds(self, dataset: str, interval_end: datetime) -> tuple[datetime, datetime]:
        """The plausible range of a dataset's event dates in a batch whose run covers up to ``interval_end``."""
        floor = self.event_date_floors.get(dataset, self.event_date_floor)
        return datetime.combine(floor, time(0)), interval_end + timedelta(days=self.event_date_skew_days)

    @property
    def task_failure_channel_ids(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.task_failure_channels.split(",") if c.strip())

    @property
    def warehouse_url_redacted(self) -> str:
        """The warehouse URL with any password masked: the only form that may reach logs and reports."""
        return redact_url(self.warehouse_url)


def redact_url(url: str) -> str:
    """``url`` with its password, secret query values and webhook secret masked (core/redaction.py)."""
    return redaction.redact_url(url)


def get_settings() -> Settings:
    """Settings as the environment has them now (cheap; not cached, so tasks see the current environment)."""
    return Settings()
