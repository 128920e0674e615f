"""``qp``: the QualityPulse command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.catalog import SOURCES
from core.redaction import PROJECT_LOGGERS, install_excepthook, install_log_redaction
from core.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:
    from demo.source_systems import DemoSpec


def yesterday() -> date:
    """The last whole day (UTC): where the demo's sources end and the nightly run's interval ends."""
    return datetime.now(UTC).date() - timedelta(days=1)


def _migrate(_: argparse.Namespace) -> None:
    from core.engine import Warehouse
    from warehouse.migrate import upgrade

    settings = get_settings()
    with Warehouse(settings.warehouse_url) as warehouse:
        upgrade(warehouse.engine)
    print(f"warehouse at the newest schema: {settings.warehouse_url_redacted}")


def _demo_sources(args: argparse.Namespace) -> None:
    from demo.source_systems import DemoLocations, DemoSpec, generate

    settings = get_settings()
    marker = settings.data_dir / "sources" / "demo.json"
    if marker.exists() and not args.force:
        print(f"demo sources exist ({json.loads(marker.read_text())}); --force regenerates them")
        return
    spec = DemoSpec(
        end_date=args.end_date or yesterday(),
        days=args.days,
        seed=args.seed,
        sites=args.sites,
        lines_per_site=args.lines_per_site,
        products=args.products,
        customers=args.customers,
        employees_per_line=args.employees_per_line,
    )
    counts = generate(spec, DemoLocations.of(settings))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"start_date": spec.start_date.isoformat(), **_size(spec)}, default=str))
    print(f"demo sources for {spec.start_date}..{spec.end_date} (seed {spec.seed}): {counts}")


def _simulate(args: argparse.Namespace) -> None:
    """Append the next day to every demo source (after ``demo-sources``)."""
    from demo.simulate import simulate_day
    from demo.source_systems import DemoLocations, DemoSpec

    settings = get_settings()
    marker = settings.data_dir / "sources" / "demo.json"
    if not marker.exists():
        raise SystemExit("no demo sources yet: run `qp demo-sources` first")
    known = json.loads(marker.read_text())
    start, end = date.fromisoformat(known.pop("start_date")), date.fromisoformat(known.pop("end_date"))
    known.pop("days", None)
    spec = DemoSpec(end_date=end, days=(end - start).days + 1, **known)
    where = DemoLocations.of(settings)
    for _ in range(args.days):
        spec, counts = simulate_day(spec, where, written_at=datetime.now(UTC).replace(tzinfo=None))
        marker.write_text(json.dumps({"start_date": start.isoformat(), **_size(spec)}, default=str))
        print(f"{spec.end_date}: {counts}")
        if args.run_dags:
            args.day = spec.end_date
            _run_dags(args)


def _size(spec: DemoSpec) -> dict[str, object]:
    """What the demo marker keeps: enough to rebuild the spec (for ``simulate``)."""
    from dataclasses import asdict

    return {**asdict(spec), "end_date": spec.end_date.isoformat()}


def _run_dags(args: argparse.Namespace) -> None:
    from demo.services import demo_alert_sink, demo_lms_api, sink_deliveries
    from orchestration.runner import run_dags

    # The nightly run covering a day is due at the midnight that ends it.
    day = args.day or yesterday()
    with demo_lms_api(get_settings()), demo_alert_sink(get_settings()) as sink:
        before = sink_deliveries(sink)
        states = run_dags(datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC))
        delivered = sink_deliveries(sink) - before
    print("DAG runs: " + ", ".join(f"{dag_id} {state}" for dag_id, state in states.items()))
    if delivered:
        print(f"{delivered} notification(s) for channels without a connection went to the local demo sink: {sink}")


def _stage(args: argparse.Namespace) -> None:
    """Run one stage without a scheduler (operations and debugging); alert channels are Airflow connections."""

    from orchestration.connections import configured_channels
    from pipeline.alerting import check_regressions, send_notifications
    from pipeline.ingest import ingest_source
    from pipeline.kpis import build_kpis
    from pipeline.load import validate_and_load

    settings = get_settings()
    run_id = f"cli__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    if args.stage == "ingest":
        end = datetime.combine(args.interval_end or yesterday() + timedelta(days=1), time(0))
        from demo.services import demo_lms_api

        with demo_lms_api(settings) as configured:
            for result in ingest_source(args.source, end, run_id, configured):
                print(result)
    elif args.stage == "load":
        for report in validate_and_load(settings):
            print(report)
    elif args.stage == "kpis":
        print(f"{build_kpis(run_id, settings, full=args.full)} KPI rows written")
    elif args.stage == "check":
        print(f"{len(check_regressions(run_id, settings, configured_channels))} open alert(s)")
    elif args.stage == "notify":
        delivery = send_notifications(settings, configured_channels)
        print(f"{delivery.sent} notification(s) sent, {delivery.pending} pending")
        for error in delivery.errors.values():
            print(f"  pending: {error}")


def _report(args: argparse.Namespace) -> None:
    """Build the HTML report for a date range (default: the last 90 days with KPIs); optionally serve it."""
    from report.build import build_report, default_range, serve

    settings = get_settings()
    first, last = default_range(settings, args.days)
    path = build_report(settings, args.first_day or first, args.last_day or last, args.out)
    print(f"Report: {path}")
    if args.serve is not None:
        serve(path, args.serve)


def _alerts(args: argparse.Namespace) -> None:
    """List the alerts (open and acknowledged; --all for resolved too), acknowledge one, or triage it."""
    from sqlalchemy import select

    from alerts.lifecycle import acknowledge
    from core.engine import Warehouse
    from warehouse import ledger
    from warehouse.schema import alert, incident

    if args.action in ("assign", "cause", "note", "exclude"):
        _triage(args)
        return
    with Warehouse(get_settings().warehouse_url) as warehouse:
        engine = warehouse.engine
        if args.action == "ack":
            if not args.alert_id or not args.by:
                raise SystemExit("qp alerts ack ALERT_ID --by NAME: which alert, and who takes it")
            with engine.begin() as connection:
                if not acknowledge(connection, args.alert_id, args.by, ledger.utcnow()):
                    raise SystemExit(f"no open alert with id {args.alert_id!r} (or the prefix matches several)")
            print(f"alert {args.alert_id} acknowledged by {args.by}")
            return
        # Each alert under its incident: what one message told people about, together.
        query = (
            select(alert, incident.c.title)
            .outerjoin(incident, incident.c.incident_id == alert.c.incident_id)
            .order_by(incident.c.first_date.nulls_last(), alert.c.incident_id, alert.c.since_date, alert.c.alert_id)
        )
        if not args.all:
            query = query.where(alert.c.status != "resolved")
        shown = "-"  # no incident's header printed yet
        with engine.connect() as connection:
            for a in connection.execute(query).mappings():
                if a["incident_id"] != shown:
                    shown = a["incident_id"]
                    print(f"incident {a['incident_id'][:12]}: {a['title']}" if a["incident_id"] else "not grouped yet")
                print(f"  {a['alert_id'][:12]}  {a['status']:<12} [{a['severity']}] {a['subject']}")


def _improvement(args: argparse.Namespace) -> None:
    """Register an improvement, list the register with each one's verdicts, or judge them all now."""
    from pydantic import ValidationError
    from sqlalchemy import select

    from core.engine import Warehouse
    from core.improvements import DEFAULT_WINDOW_DAYS, Improvement, ImprovementsFileError
    from pipeline.improvements import evaluate_improvements as evaluate_all
    from warehouse import improvements as store
    from warehouse import ledger
    from warehouse.schema import improvement_effect

    settings = get_settings()

    def judged() -> int:
        """Judge every improvement now; a bad improvements file or a name clash is a one-line error."""
        try:
            return evaluate_all(settings)
        except (ImprovementsFileError, store.ImprovementExists) as error:
            raise SystemExit(f"qp improvement {args.action}: {error}") from None

    if args.action == "add":
        missing = [
            flag for flag, value in (("--name", args.name), ("--date", args.date), ("--kpi", args.kpi)) if not value
        ]
        if missing:
            raise SystemExit(f"qp improvement add needs {', '.join(missing)} (see qp improvement -h)")
        try:
            change = Improvement(
                name=args.name,
                change_date=args.date,
                scope=args.scope,
                kpis=tuple(args.kpi),
                window_days=args.window_days or DEFAULT_WINDOW_DAYS,
                description=args.description,
            )
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise SystemExit(f"qp improvement add: {problems}") from None
        with Warehouse(settings.warehouse_url) as warehouse, warehouse.engine.begin() as connection:
            try:
                store.add(connection, change, "cli", ledger.utcnow())
            except store.ImprovementExists as error:
                raise SystemExit(f"qp improvement add: {error}") from None
        print(f"improvement {change.improvement_id} registered: {change.name}, {change.change_date}, {change.scope}")
        print(f"{judged()} KPI comparison(s) judged")
        return
    if args.action == "evaluate":
        print(f"{judged()} KPI comparison(s) judged")
    with Warehouse(settings.warehouse_url) as warehouse, warehouse.engine.connect() as connection:
        listed = store.registered(connection)
        effects = connection.execute(select(improvement_effect)).mappings().all()
    if not listed:
        print("no improvements registered: `qp improvement add` or the improvements file " + str(settings.improvements))
        return
    for change, origin in listed:
        print(f"{change.improvement_id}  {change.change_date}  {change.scope}  ({origin}): {change.name}")
        for effect in (e for e in effects if e["improvement_id"] == change.improvement_id):
            print(f"    {_effect_line(effect)}")


def _effect_line(effect: object) -> str:
    """One KPI's before and after, as a quality manager reads it."""
    from core.kpi_format import format_value

    e = dict(effect)  # type: ignore[call-overload]
    if e["before_value"] is None or e["after_value"] is None:
        return f"{e['kpi']}: {e['verdict']} ({e['before_days']} day(s) before, {e['after_days']} after)"
    line = (
        f"{e['kpi']}: {format_value(e['kpi'], e['before_value'])} -> {format_value(e['kpi'], e['after_value'])}, "
        f"{e['verdict']}"
    )
    if e["p_value"] is not None:
        line += f" ({e['test']}, p = {e['p_value']:.3g}; {e['after_beyond_favourable']} day(s) beyond the before"
        line += f" limits on the better side, {e['after_beyond_adverse']} on the worse)"
    if e["data_flags"]:
        line += f"; check the data: {e['data_flags']}"
    return line


def _triage(args: argparse.Namespace) -> None:
    """qp alerts assign|cause|note|exclude: who works on an alert, why it happened, what was done and found, and
    days taken out of its rule's baselines."""
    from alerts import lifecycle
    from core.alert_rules import load_rules
    from core.engine import Warehouse
    from warehouse import ledger

    settings = get_settings()
    needs = {
        "assign": [("--to", args.to)],
        "cause": [],
        "note": [("--text", args.text), ("--by", args.by)],
        "exclude": [("--day", args.day), ("--reason", args.reason), ("--by", args.by)],
    }[args.action]
    missing = [flag for flag, value in [("ALERT_ID", args.alert_id), *needs] if not value]
    if missing:
        raise SystemExit(f"qp alerts {args.action} needs {', '.join(missing)} (see qp alerts -h)")
    now = ledger.utcnow()
    with Warehouse(settings.warehouse_url) as warehouse, warehouse.engine.begin() as connection:
        try:
            if args.action == "assign":
                found = lifecycle.assign(connection, args.alert_id, args.to, now)
                done = f"assigned to {args.to}"
            elif args.action == "cause":
                triage = load_rules(settings.alert_rules).triage
                found = lifecycle.set_cause(
                    connection, args.alert_id, args.cause, args.corrective, (triage.causes, triage.actions), now
                )
                done = ", ".join(
                    f"{what} {code}"
                    for what, code in (("cause", args.cause), ("corrective action", args.corrective))
                    if code
                )
            elif args.action == "note":
                found = lifecycle.add_note(connection, args.alert_id, args.text, args.by, now)
                done = f"note added by {args.by}"
            else:
                found = lifecycle.exclude_day(connection, args.alert_id, args.day, args.reason, args.by, now)
                done = f"{args.day} out of {found['rule_name']}'s baselines at this place from the next check on"
        except (lifecycle.AlertNotFound, ValueError) as error:
            raise SystemExit(f"qp alerts {args.action}: {error.args[0]}") from None
    print(f"alert {str(found['alert_id'])[:12]} ({found['subject']}): {done}")


def _demo_api(args: argparse.Namespace) -> None:
    """Serve the demo LMS/HR API until interrupted (the docker-compose demo source, or by hand)."""
    import os

    from demo.lms_api import DemoApi

    token = os.environ.get("QP_LMS_API_TOKEN")
    if not token:
        raise SystemExit("set QP_LMS_API_TOKEN to the bearer token the API should accept")
    with DemoApi(get_settings().lms_store_dir, token, host=args.host, port=args.port) as api:
        print(f"demo LMS/HR API at {api.url} (Ctrl-C stops it)", flush=True)
        try:
            api.wait()
        except KeyboardInterrupt:
            pass


def _backfill(args: argparse.Namespace) -> None:
    """Re-extract a date range, load it, and rebuild the KPIs it touched: idempotent end to end."""
    from demo.services import demo_lms_api
    from pipeline.kpis import build_kpis
    from pipeline.load import validate_and_load
    from pipeline.replay import backfill

    run_id = f"backfill__{args.first_day}__{args.last_day}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with demo_lms_api(get_settings()) as settings:
        sources = [args.source] if args.source else [s for s in SOURCES if s != "survey"]
        for source in sources:
            for result in backfill(source, args.first_day, args.last_day, run_id, settings):
                print(result)
        for report in validate_and_load(settings):
            print(report)
        print(f"{build_kpis(run_id, settings)} KPI rows rewritten")


def _replay(args: argparse.Namespace) -> None:
    from pipeline.kpis import build_kpis
    from pipeline.replay import replay

    settings = get_settings()
    for report in replay(args.batch_ids, settings):
        print(report)
    run_id = f"replay__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    print(f"{build_kpis(run_id, settings)} KPI rows rewritten")


def _quarantine(args: argparse.Namespace) -> None:
    """List the open quarantined rows by reason, or replay them (after a fix) and rebuild the KPIs they touch."""
    import pandas as pd

    from core.engine import Warehouse
    from pipeline.kpis import build_kpis
    from pipeline.replay import dismiss, replay_quarantined
    from warehouse import ledger

    settings = get_settings()
    if args.action == "replay":
        run_id = f"quarantine_replay__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        for report in replay_quarantined(run_id, settings, args.dataset, args.batch):
            print(report)
        print(f"{build_kpis(run_id, settings)} KPI rows rewritten")
        return
    if args.action == "dismiss":
        if not (args.batch and args.reason):
            raise SystemExit("dismiss needs --batch and --reason: rows are dismissed one batch at a time, with why")
        try:
            dismissed = dismiss(args.batch, args.reason, settings)
        except ledger.UnknownBatch as error:
            raise SystemExit(f"qp quarantine dismiss: {error.args[0]}: check the batch id") from None
        print(f"{dismissed} row(s) of {args.batch} dismissed: {args.reason}")
        run_id = f"quarantine_dismiss__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        print(f"{build_kpis(run_id, settings)} KPI rows rewritten (days the batch held are released)")
        return
    with Warehouse(settings.warehouse_url) as warehouse:
        rows = ledger.open_quarantine(warehouse.engine, args.dataset, args.batch)
    if rows.empty:
        print("no open quarantined rows")
        return
    reasons: dict[tuple[str, str], list[str]] = {}
    for row in rows.itertuples(index=False):
        for reason in json.loads(row.failed_rules):
            key = f"{row.batch_id} row {row.source_row}" if pd.isna(row.record_key) else str(row.record_key)
            reasons.setdefault((row.dataset, reason), []).append(key)
    for (dataset, reason), keys in sorted(reasons.items(), key=lambda item: -len(item[1])):
        print(f"{len(keys):>6}  {dataset}: {reason[:100]}  (e.g. {', '.join(keys[:3])})")
    print(f"{len(rows)} open rows in {rows['batch_id'].nunique()} batch(es); `qp quarantine replay` after a fix")


def _docs(args: argparse.Namespace) -> None:
    from warehouse.docs import render

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render())
    print(f"wrote {args.output}")


def _bi_role(args: argparse.Namespace) -> None:
    """A login role that reads the BI views and nothing else; optionally close other databases of the server to it."""
    import os

    from core.engine import Warehouse
    from warehouse.bi_views import grant_read_only, other_databases

    password = os.environ.get("QP_BI_PASSWORD")
    if not password:
        raise SystemExit("set QP_BI_PASSWORD to the password the BI role should have")
    settings = get_settings()
    with Warehouse(settings.warehouse_url) as warehouse:
        try:
            with warehouse.engine.begin() as connection:
                others = other_databases(connection) if args.close_other_databases else []
                closing = list(args.close_database) + others
                reachable = grant_read_only(connection, args.role, password, closing)
        except (ValueError, PermissionError) as error:
            raise SystemExit(f"qp bi-role: {error}") from None
    print(f"role {args.role} can read the bi views of {settings.warehouse_url_redacted}, and nothing else there")
    if closing:
        print(f"closed to it (other roles keep their access): {', '.join(closing)}")
    if reachable:
        print(
            f"it can still connect to {', '.join(reachable)} (PUBLIC's default there): close them with "
            "--close-other-databases, or refuse the role in pg_hba.conf"
        )


def _summary(_: argparse.Namespace) -> None:
    from pipeline.summary import render

    print(render(get_settings()))


# Commands that read or write the warehouse: they check its schema first and say `qp migrate` if it is behind.
NEEDS_CURRENT_WAREHOUSE = {
    "run-dags",
    "ingest",
    "load",
    "kpis",
    "check",
    "summary",
    "backfill",
    "quarantine",
    "replay",
    "improvement",
    "alerts",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qp", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the warehouse schema").set_defaults(func=_migrate)
    demo = commands.add_parser("demo-sources", help="write the demo source systems")
    demo.add_argument("--end-date", type=date.fromisoformat, help="last day with data (default: yesterday, UTC)")
    demo.add_argument("--days", type=int, default=90)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--sites", type=int, default=2)
    demo.add_argument("--lines-per-site", type=int, default=3)
    demo.add_argument("--products", type=int, default=3)
    demo.add_argument("--customers", type=int, default=400)
    demo.add_argument("--employees-per-line", type=int, default=12)
    demo.add_argument("--force", action="store_true", help="regenerate even if the demo sources exist")
    demo.set_defaults(func=_demo_sources)
    simulate = commands.add_parser("simulate", help="append the next day to every demo source")
    simulate.add_argument("--days", type=int, default=1)
    simulate.add_argument("--run-dags", action="store_true", help="run the DAGs over each new day after writing it")
    simulate.set_defaults(func=_simulate)
    run = commands.add_parser("run-dags", help="run the Airflow DAGs in-process (dag.test) in Asset order")
    run.add_argument("--day", type=date.fromisoformat, help="the day the nightly run covers (default: yesterday)")
    run.set_defaults(func=_run_dags)
    ingest = commands.add_parser("ingest", help="extract and land one source without Airflow")
    ingest.add_argument("source", choices=list(SOURCES))
    ingest.add_argument("--interval-end", type=date.fromisoformat)
    ingest.set_defaults(func=_stage, stage="ingest")
    commands.add_parser("load", help="validate and load landed batches without Airflow").set_defaults(
        func=_stage, stage="load"
    )
    kpis = commands.add_parser("kpis", help="rebuild the KPI days that new batches touched, without Airflow")
    kpis.add_argument("--full", action="store_true", help="rebuild every day")
    kpis.set_defaults(func=_stage, stage="kpis")
    commands.add_parser("check", help="judge regressions and raise alerts without Airflow").set_defaults(
        func=_stage, stage="check"
    )
    commands.add_parser("notify", help="send the pending alert notifications without Airflow").set_defaults(
        func=_stage, stage="notify"
    )
    report = commands.add_parser("report", help="build the HTML quality report from the warehouse (and serve it)")
    report.add_argument("--from", dest="first_day", type=date.fromisoformat, help="first day (default: 90 days back)")
    report.add_argument("--to", dest="last_day", type=date.fromisoformat, help="last day (default: the latest KPI day)")
    report.add_argument("--days", type=int, default=90, help="the default range's length")
    report.add_argument("--out", type=Path, help="default: <data>/report/index.html")
    report.add_argument("--serve", type=int, nargs="?", const=8050, metavar="PORT", help="serve it on 127.0.0.1")
    report.set_defaults(func=_report)
    alerts = commands.add_parser(
        "alerts", help="list the regression alerts, acknowledge one, or triage it (assign, cause, note, exclude)"
    )
    alerts.add_argument("action", choices=["list", "ack", "assign", "cause", "note", "exclude"])
    alerts.add_argument(
        "alert_id", nargs="?", help="the alert's id (a unique prefix is enough; at least 6 characters to triage)"
    )
    alerts.add_argument("--by", help="ack, note, exclude: who")
    alerts.add_argument("--all", action="store_true", help="list: resolved alerts too")
    alerts.add_argument("--to", help="assign: who works on it")
    alerts.add_argument("--cause", help="cause: the assignable cause, a code of the rules file's triage list")
    alerts.add_argument(
        "--action", dest="corrective", help="cause: the corrective action, a code of the rules file's triage list"
    )
    alerts.add_argument("--text", help="note: what was found or done")
    alerts.add_argument("--day", type=date.fromisoformat, help="exclude: the flagged day to take out (YYYY-MM-DD)")
    alerts.add_argument("--reason", help="exclude: why the day must not count in later baselines")
    alerts.set_defaults(func=_alerts)
    improvement = commands.add_parser(
        "improvement", help="register an improvement, list them with their before/after verdicts, or judge them now"
    )
    improvement.add_argument("action", choices=["add", "list", "evaluate"])
    improvement.add_argument("--name", help="add: what changed, in words (its id is made from it)")
    improvement.add_argument("--date", type=date.fromisoformat, help="add: the first day after the change (YYYY-MM-DD)")
    improvement.add_argument(
        "--scope", default="ALL", help="add: SITE, SITE/LINE or SITE/LINE/STEP (default ALL: the company)"
    )
    improvement.add_argument("--kpi", action="append", help="add: a KPI code it should move (repeatable)")
    improvement.add_argument("--window-days", type=int, help="add: days per stage before and after (default 28)")
    improvement.add_argument("--description", help="add: what was done, and why")
    improvement.set_defaults(func=_improvement)
    commands.add_parser("summary", help="print the run summary").set_defaults(func=_summary)
    backfill = commands.add_parser("backfill", help="re-extract a date range and reload it (idempotent)")
    backfill.add_argument("first_day", type=date.fromisoformat)
    backfill.add_argument("last_day", type=date.fromisoformat)
    backfill.add_argument(
        "--source", choices=[s for s in SOURCES if s != "survey"], help="default: every SQL/API source"
    )
    backfill.set_defaults(func=_backfill)
    quarantine = commands.add_parser("quarantine", help="list open quarantined rows, or replay them after a fix")
    quarantine.add_argument(
        "action",
        choices=["list", "replay", "dismiss"],
        help="dismiss: give up on a batch's rows (the source re-sent them corrected, say), releasing its KPI hold",
    )
    quarantine.add_argument("--dataset")
    quarantine.add_argument("--batch")
    quarantine.add_argument("--reason", help="why the rows are dismissed (kept with them)")
    quarantine.set_defaults(func=_quarantine)
    replay = commands.add_parser("replay", help="validate and load landed batches again, from the landing zone")
    replay.add_argument("batch_ids", nargs="+")
    replay.set_defaults(func=_replay)
    api = commands.add_parser("demo-api", help="serve the demo LMS/HR API (token from QP_LMS_API_TOKEN)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8765)
    api.set_defaults(func=_demo_api)
    docs = commands.add_parser("docs", help="write docs/warehouse.md from the schema")
    docs.add_argument("--output", type=Path, default=PROJECT_ROOT / "docs" / "warehouse.md")
    docs.set_defaults(func=_docs)
    role = commands.add_parser("bi-role", help="create a read-only PostgreSQL role for BI tools (QP_BI_PASSWORD)")
    role.add_argument("role", nargs="?", default="qp_bi_reader")
    role.add_argument(
        "--close-database",
        action="append",
        default=[],
        metavar="NAME",
        help="another database of the server the role must not connect to (repeatable)",
    )
    role.add_argument(
        "--close-other-databases", action="store_true", help="every other database of the server (see the README)"
    )
    role.set_defaults(func=_bi_role)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # No credential of a configured URL reaches the terminal: not in a log line, not in a traceback.
    install_log_redaction(PROJECT_LOGGERS)
    install_excepthook()
    if args.command in NEEDS_CURRENT_WAREHOUSE:
        from core.engine import Warehouse
        from warehouse.migrate import WarehouseBehind, require_current

        with Warehouse(get_settings().warehouse_url) as warehouse:
            try:
                require_current(warehouse.engine)
            except WarehouseBehind as behind:
                print(f"qp {args.command}: {behind}", file=sys.stderr)
                return 2
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
