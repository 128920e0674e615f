"""The run summary as a user reads it: corrections counted, every number with its unit (money with its currency),
ties in a stable order, messages shortened between words; and a run that sent nothing doesn't say it sent."""

from __future__ import annotations

import json
import os
import smtplib
import urllib.request
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from core.engine import engine_for
from core.kpi_registry import REGISTRY, Kpi, Measure
from core.records import ALL
from pipeline.ingest import ingest_dataset
from pipeline.load import validate_and_load
from pipeline.summary import render
from tests.helpers import INTERVAL_END, ingest_and_load, read_table
from warehouse.schema import extraction_event, kpi_daily, quarantine

pytestmark = pytest.mark.integration

SCRAP_COST = Kpi(
    "scrap_cost",
    "Scrap cost",
    "cost",
    "currency",
    False,
    Measure("scrap booked", "cost_ledger", "booked_on", "internal_failure"),
    None,
    "amount",
    ("site", "company"),
    "imr",
    "scrap costs booked",
    summary=True,
)
DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 25, 6)


def _summary_row(summary: str, label: str) -> str:
    (row,) = [line for line in summary.splitlines() if line.strip().startswith(label)]
    return row


def test_a_correction_at_the_source_is_counted_as_updated(settings, demo_sources):
    ingest_and_load(settings, "production_runs")
    qms = engine_for(settings.qms_url)
    with qms.begin() as connection:  # the MES books a rework on a run already extracted
        connection.execute(
            text(
                "update production_runs set units_reworked = units_reworked + 1, units_scrapped = units_scrapped - 1,"
                " updated_at = :at where run_id = (select min(run_id) from production_runs where units_scrapped > 0)"
            ),
            {"at": INTERVAL_END + timedelta(hours=9)},
        )
    qms.dispose()

    ingest_dataset("production_runs", INTERVAL_END + timedelta(days=1), "next night", settings)
    (report,) = validate_and_load(settings)

    assert (report.extracted, report.loaded) == (1, 1)
    ledger = read_table(settings, "batch_ledger").sort_values("landed_at")
    assert list(ledger.rows_updated) == [0, 1]  # the first batch inserted every run; the second corrected one
    rows = render(settings).split("Rows per dataset")[1].split("\n\n")[0]
    dataset, batches, extracted, loaded, updated, *_ = _summary_row(rows, "production_runs").split()
    assert (batches, loaded, updated) == ("2", str(ledger.rows_loaded.sum()), "1")
    assert int(extracted) == ledger.rows_extracted.sum()


def test_numbers_carry_their_units_and_money_the_ledgers_currency(settings):
    engine = engine_for(settings.warehouse_url)
    common = {"kpi_date": DAY, "site_id": ALL, "line_id": ALL, "step_id": ALL, "grain": "company"}
    written = {"pipeline_run_id": "test", "computed_at": NOW}
    fpy, dpmo = (REGISTRY[code] for code in ("fpy", "dpmo"))
    with REGISTRY.extended(SCRAP_COST):
        with engine.begin() as connection:
            connection.execute(
                kpi_daily.insert(),
                [
                    {
                        **common,
                        **written,
                        "kpi": SCRAP_COST.code,
                        "numerator": 1234.5,
                        "denominator": 1,
                        "value": 1234.5,
                    },
                    {**common, **written, "kpi": fpy.code, "numerator": 97, "denominator": 100, "value": 0.97},
                    {**common, **written, "kpi": dpmo.code, "numerator": 2, "denominator": 1000, "value": 2000},
                ],
            )
        summary = render(settings.model_copy(update={"ledger_currency": "CHF"}))
    engine.dispose()
    kpis = summary.split("KPIs, company-wide")[1].split("\n\n")[0]

    assert _summary_row(kpis, "Scrap cost").split()[2:4] == ["1,234.50", "CHF"]
    assert _summary_row(kpis, fpy.narrow_label).split()[len(fpy.narrow_label.split())] == "97.00%"
    assert "2,000 ppm" in _summary_row(kpis, dpmo.narrow_label)


def test_ties_come_in_a_stable_order_and_messages_end_between_words(settings):
    engine = engine_for(settings.warehouse_url)
    detail = " ".join(f"word{i:02d}" for i in range(40))  # 279 characters
    entries = [  # two reasons, each twice, the later in the alphabet first
        ("b2", "rule: units_scrapped >= 0"),
        ("b2", "rule: units_scrapped >= 0"),
        ("b1", "rule: units_inspected >= units_defective"),
        ("b1", "rule: units_inspected >= units_defective"),
    ]
    with engine.begin() as connection:
        connection.execute(
            extraction_event.insert().values(
                dataset="defects", kind="schema_drift", subject="defects", detail=detail, occurred_at=NOW
            )
        )
        connection.execute(
            quarantine.insert(),
            [
                {
                    "batch_id": batch,
                    "source_row": row,
                    "dataset": "production_runs",
                    "failed_rules": json.dumps([reason]),
                    "raw_record": "{}",
                    "quarantined_at": NOW,
                }
                for row, (batch, reason) in enumerate(entries)
            ],
        )
    engine.dispose()

    summary = render(settings)

    reasons = summary.split("Quarantine: the most frequent reasons")[1].split("\n\n")[0].strip().splitlines()
    assert [line.split(None, 1) for line in reasons] == [
        ["2", "production_runs: rule: units_inspected >= units_defective"],
        ["2", "production_runs: rule: units_scrapped >= 0"],
    ]
    shown = _summary_row(summary, "defects: schema_drift").split("defects: schema_drift defects: ")[1]
    assert shown.endswith(" ...") and len(shown) <= 100
    assert detail.startswith(shown.removesuffix(" ...") + " ")  # whole words, cut before a space


def test_the_demo_sink_counts_only_what_was_sent_to_it(settings, monkeypatch):
    from demo.services import demo_alert_sink, sink_deliveries

    for channel in ("EMAIL", "SLACK", "WEBHOOK"):
        monkeypatch.delenv(f"AIRFLOW_CONN_QP_ALERT_{channel}", raising=False)
    with demo_alert_sink(settings) as folder:
        assert sink_deliveries(folder) == 0  # a run that sends nothing has nothing to say it sent
        mail = urlsplit(os.environ["AIRFLOW_CONN_QP_ALERT_EMAIL"])
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "qp@localhost", "quality@localhost", "digest"
        message.set_content("an incident")
        with smtplib.SMTP(mail.hostname or "", mail.port or 0) as smtp:
            smtp.send_message(message)
        slack = os.environ["AIRFLOW_CONN_QP_ALERT_SLACK"]
        request = urllib.request.Request(slack, data=b'{"text": "an incident"}', method="POST")
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - the local sink
        assert sink_deliveries(folder) == 2
    assert sink_deliveries(folder) == 2  # the sink is gone with its context; what it kept stays
