"""Build the quality report: one self-contained HTML file (Plotly's JS, the styles and the data inlined), so it
works offline, from a file or a local server, and no request leaves the page."""

from __future__ import annotations

import json
import logging
import os
from datetime import date, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import Connection, text

from core.alert_rules import load_rules
from core.engine import Warehouse
from core.redaction import redact_data
from core.settings import Settings
from report.data import report_data
from report.validation_pages import write_validation_pages
from warehouse.bi_views import qualified

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DOCS_FOLDER = "data_docs"  # beside the report: every batch's validation page


class ReportRangeError(ValueError):
    """The range asked for can't make a report: reversed, or without a day of KPIs; nothing was written."""


def default_range(settings: Settings, days: int = 90) -> tuple[date, date]:
    """The last ``days`` days that have KPI rows."""
    with Warehouse(settings.warehouse_url) as warehouse:
        engine = warehouse.engine
        with engine.connect() as connection:
            # Like every panel of the report, read from the BI views.
            kpi_daily = qualified("kpi_daily", connection)
            last = connection.scalar(text(f"select max(kpi_day) from {kpi_daily}"))
    if last is None:
        raise ReportRangeError("the warehouse has no KPI rows yet: run the pipeline first (make run)")
    last = last if isinstance(last, date) else date.fromisoformat(str(last)[:10])
    return last - timedelta(days=days - 1), last


def build_report(settings: Settings, first_day: date, last_day: date, out: Path | None = None) -> Path:
    """Write the report for ``first_day`` .. ``last_day`` and return its path (default ``<data>/report/index.html``),
    with every batch's validation page beside it (``data_docs/``), so the links work from the file and a server.

    A reversed range, or one without KPI days, is refused before anything is written: the report notifications link
    to is never replaced by an empty one. The page is replaced whole (written beside it, then renamed).
    """
    import plotly.offline

    if first_day > last_day:
        raise ReportRangeError(f"the report's range is reversed: {first_day} is after {last_day}")
    out = out or settings.data_dir / "report" / "index.html"
    with Warehouse(settings.warehouse_url) as warehouse:
        engine = warehouse.engine
        with engine.connect() as connection:
            days = _kpi_days(connection, first_day, last_day)
            if not days:
                raise ReportRangeError(f"no KPI days between {first_day} and {last_day}: nothing to report")
            data = report_data(
                connection, first_day, last_day, load_rules(settings.alert_rules), settings.ledger_currency
            )
            write_validation_pages(connection, out.parent / DOCS_FOLDER)
    data["warehouse"] = settings.warehouse_url_redacted
    data["docs"] = DOCS_FOLDER
    # Batch errors, blocked reasons and alert texts are shown as stored; no credential reaches the page. Each string
    # is masked on its own (masking the page would touch Plotly's code).
    data = redact_data(data)
    page = (
        (HERE / "template.html")
        .read_text()
        .replace("/*STYLE*/", (HERE / "report.css").read_text())
        .replace("/*PLOTLY*/", plotly.offline.get_plotlyjs())
        # "</" can't appear inside an inline script: JSON escapes it.
        .replace("/*DATA*/", json.dumps(data, separators=(",", ":")).replace("</", "<\\/"))
        .replace("/*SCRIPT*/", (HERE / "report.js").read_text())
        .replace("{{first_day}}", first_day.isoformat())
        .replace("{{last_day}}", last_day.isoformat())
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, out)
    log.info("report for %s..%s written to %s", first_day, last_day, out)
    return out


def _kpi_days(connection: Connection, first_day: date, last_day: date) -> int:
    kpi_daily = qualified("kpi_daily", connection)
    query = text(f"select count(distinct kpi_day) from {kpi_daily} where kpi_day between :first and :last")  # noqa: S608
    return int(connection.scalar(query, {"first": first_day, "last": last_day}) or 0)


def serve(path: Path, port: int = 8050) -> None:
    """Serve the report's folder on 127.0.0.1 until interrupted."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(path.parent))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving the report on http://127.0.0.1:{port}/{path.name} (Ctrl-C stops)")
        server.serve_forever()
