"""``qp``: the QualityPulse command line.

Configured by the environment (``QP_*``, or a ``.env`` file): ``QP_DATA_DIR``, ``QP_WAREHOUSE_URL`` and the rest
of the README's configuration table.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from cli.errors import Refused, explain, require_current_warehouse
from cli.output import aligned, progress
from core.catalog import SOURCES
from core.redaction import PROJECT_LOGGERS, install_excepthook, install_log_redaction, redact
from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from demo.source_systems import DemoSpec

Params = ParamSpec("Params")
Result = TypeVar("Result")

DAY = "YYYY-MM-DD"
EXTRACTED_SOURCES = [s for s in SOURCES if s != "survey"]  # the SQL and API sources (a backfill re-reads them)

app = typer.Typer(
    name="qp",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
alerts_app = typer.Typer(
    help="List the regression alerts, acknowledge one, or triage it (assign, cause, note, exclude).",
    no_args_is_help=True,
)
improvement_app = typer.Typer(
    help="Register an improvement, list them with their before/after verdicts, or judge them now.",
    no_args_is_help=True,
)
quarantine_app = typer.Typer(
    help="List the open quarantined rows, replay them after a fix, or dismiss a batch's rows.", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")
app.add_typer(improvement_app, name="improvement")
app.add_typer(quarantine_app, name="quarantine")


@dataclass
class Invocation:
    """What the whole command line says, beside the command: read by :func:`main` when the command fails."""

    verbose: bool = False


def yesterday() -> date:
    """The last whole day (UTC): where the demo's sources end and the nightly run's interval ends."""
    return datetime.now(UTC).date() - timedelta(days=1)


def parse_day(text: str) -> date:
    """A day as the command line gives it; anything else is refused with the one format it takes."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected {DAY}, got {text!r}") from None


def one_of(choices: list[str]) -> Callable[[str], str]:
    """A parser that takes one of ``choices`` and refuses anything else, naming them."""

    def choice(text: str) -> str:
        if text not in choices:
            raise typer.BadParameter(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return choice


def warehouse_command(command: Callable[Params, Result]) -> Callable[Params, Result]:
    """The command reads or writes the warehouse: it first checks that the warehouse is there and at the newest
    schema revision, and says `qp migrate` (or what to correct) before doing anything if not."""

    @functools.wraps(command)
    def checked(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        require_current_warehouse(get_settings())
        return command(*args, **kwargs)

    return checked


def _run_id(kind: str) -> str:
    return f"{kind}__{datetime.now(UTC):%Y%m%dT%H%M%S}"


@app.callback()
def root(
    context: typer.Context,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Log progress (INFO) and show the traceback of a failure.")
    ] = False,
) -> None:
    """qp: the QualityPulse command line (configured by QP_* environment variables or a .env file)."""
    context.ensure_object(Invocation).verbose = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# --- the warehouse and the demo ------------------------------------------------------------------------------------


@app.command()
def migrate() -> None:
    """Create or upgrade the warehouse schema to the newest revision."""
    from core.engine import Warehouse
    from warehouse.migrate import upgrade

    settings = get_settings()
    with Warehouse(settings.warehouse_url) as warehouse:
        upgrade(warehouse.engine)
    print(f"warehouse at the newest schema: {settings.warehouse_url_redacted}")


@app.command("demo-sources")
def demo_sources(
    end_date: Annotated[
        date | None,
        typer.Option(parser=parse_day, metavar=DAY, help="The last day with data (default: yesterday, UTC)."),
    ] = None,
    days: Annotated[int, typer.Option(help="How many days of history, up to the end date.")] = 90,
    seed: Annotated[int, typer.Option(help="The random seed: the same seed writes the same sources.")] = 7,
    sites: Annotated[int, typer.Option(help="How many sites (plants).")] = 2,
    lines_per_site: Annotated[int, typer.Option(help="Production lines per site.")] = 3,
    products: Annotated[int, typer.Option(help="How many products.")] = 3,
    customers: Annotated[int, typer.Option(help="How many customer accounts.")] = 400,
    employees_per_line: Annotated[int, typer.Option(help="Employees per line (the LMS/HR export).")] = 12,
    force: Annotated[bool, typer.Option(help="Regenerate even if the demo sources exist.")] = False,
) -> None:
    """Write the demo source systems: a QMS/MES and a finance database, survey drops, an LMS/HR export."""
    from demo.source_systems import DemoLocations, DemoSpec, generate

    settings = get_settings()
    marker = settings.data_dir / "sources" / "demo.json"
    if marker.exists() and not force:
        print(f"demo sources exist ({json.loads(marker.read_text())}); --force regenerates them")
        return
    spec = DemoSpec(
        end_date=end_date or yesterday(),
        days=days,
        seed=seed,
        sites=sites,
        lines_per_site=lines_per_site,
        products=products,
        customers=customers,
        employees_per_line=employees_per_line,
    )
    with progress("demo sources") as on_step:
        counts = generate(spec, DemoLocations.of(settings), on_step=on_step)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"start_date": spec.start_date.isoformat(), **_size(spec)}, default=str))
    print(f"demo sources for {spec.start_date}..{spec.end_date} (seed {spec.seed}): {counts}")


@app.command()
def simulate(
    days: Annotated[int, typer.Option(help="How many days to append.")] = 1,
    run_dags: Annotated[bool, typer.Option(help="Run the DAGs over each new day after writing it.")] = False,
) -> None:
    """Append the next day to every demo source (after `qp demo-sources`)."""
    from demo.simulate import simulate_day
    from demo.source_systems import DemoLocations, DemoSpec

    settings = get_settings()
    marker = settings.data_dir / "sources" / "demo.json"
    if not marker.exists():
        raise Refused("no demo sources yet: run `qp demo-sources` first")
    if run_dags:
        require_current_warehouse(settings)
    known = json.loads(marker.read_text())
    start, end = date.fromisoformat(known.pop("start_date")), date.fromisoformat(known.pop("end_date"))
    known.pop("days", None)
    spec = DemoSpec(end_date=end, days=(end - start).days + 1, **known)
    where = DemoLocations.of(settings)
    for _ in range(days):
        # Never stamped later than now: an event right after this picks the whole day up.
        spec, counts = simulate_day(spec, where, written_at=datetime.now(UTC).replace(tzinfo=None))
        marker.write_text(json.dumps({"start_date": start.isoformat(), **_size(spec)}, default=str))
        print(f"{spec.end_date}: {counts}")
        if run_dags:
            _run_dags(spec.end_date, settings)


def _size(spec: DemoSpec) -> dict[str, object]:
    """What the demo marker keeps: enough to rebuild the spec (for ``simulate``)."""
    from dataclasses import asdict

    return {**asdict(spec), "end_date": spec.end_date.isoformat()}


@app.command("demo-api")
def demo_api(
    host: Annotated[str, typer.Option(help="The address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8765,
) -> None:
    """Serve the demo LMS/HR API until interrupted (the bearer token it accepts: QP_LMS_API_TOKEN)."""
    import os

    from demo.lms_api import DemoApi

    token = os.environ.get("QP_LMS_API_TOKEN")
    if not token:
        raise Refused("set QP_LMS_API_TOKEN to the bearer token the API should accept")
    with DemoApi(get_settings().lms_store_dir, token, host=host, port=port) as api:
        print(f"demo LMS/HR API at {api.url} (Ctrl-C stops it)", flush=True)
        try:
            api.wait()
        except KeyboardInterrupt:
            pass


@app.command()
def docs(
    output: Annotated[Path, typer.Option(help="Where to write the warehouse's documentation.")] = Path(
        "docs/warehouse.md"
    ),
) -> None:
    """Write docs/warehouse.md from the schema."""
    from warehouse.docs import render

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render())
    print(f"wrote {output}")


@app.command("superset-assets")
def superset_assets(
    output: Annotated[Path, typer.Option(help="Where to write Superset's asset files.")] = Path(
        "deploy/superset/assets"
    ),
) -> None:
    """Write Superset's assets (database, datasets, KPI metrics, charts, dashboard) from the BI views and KPIs."""
    from bi.superset import build, write

    written = write(output, build())
    print(f"wrote {len(written)} files under {output}")


@app.command("bi-role")
@warehouse_command
def bi_role(
    role: Annotated[str, typer.Argument(help="The login role to create or update.")] = "qp_bi_reader",
    close_database: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="Another database of the server the role must not connect to (repeatable)."),
    ] = None,
    close_other_databases: Annotated[
        bool, typer.Option(help="Close every other database of the server to the role (see the README).")
    ] = False,
) -> None:
    """Create a read-only PostgreSQL role for BI tools: it reads the BI views and nothing else (QP_BI_PASSWORD)."""
    import os

    from core.engine import Warehouse
    from warehouse.bi_views import grant_read_only, other_databases

    password = os.environ.get("QP_BI_PASSWORD")
    if not password:
        raise Refused("set QP_BI_PASSWORD to the password the BI role should have")
    settings = get_settings()
    with Warehouse(settings.warehouse_url) as warehouse:
        try:
            with warehouse.engine.begin() as connection:
                others = other_databases(connection) if close_other_databases else []
                closing = list(close_database or []) + others
                reachable = grant_read_only(connection, role, password, closing)
        except (ValueError, PermissionError) as error:
            raise Refused(str(error)) from None
    print(f"role {role} can read the bi views of {settings.warehouse_url_redacted}, and nothing else there")
    if closing:
        print(f"closed to it (other roles keep their access): {', '.join(closing)}")
    if reachable:
        print(
            f"it can still connect to {', '.join(reachable)} (PUBLIC's default there): close them with "
            "--close-other-databases, or refuse the role in pg_hba.conf"
        )


# --- the pipeline, without a scheduler -----------------------------------------------------------------------------


@app.command("run-dags")
@warehouse_command
def run_dags(
    day: Annotated[
        date | None,
        typer.Option(parser=parse_day, metavar=DAY, help="The day the nightly run covers (default: yesterday, UTC)."),
    ] = None,
) -> None:
    """Run the Airflow DAGs in-process (dag.test), in Asset order: the nightly run of one day."""
    _run_dags(day or yesterday(), get_settings())


def _run_dags(day: date, settings: Settings) -> None:
    from demo.services import demo_alert_sink, demo_lms_api, sink_deliveries
    from orchestration.runner import run_dags

    # The nightly run covering a day is due at the midnight that ends it.
    with demo_lms_api(settings), demo_alert_sink(settings) as sink, progress(f"DAG runs for {day}") as on_step:
        before = sink_deliveries(sink)
        states = run_dags(datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC), on_step=on_step)
        delivered = sink_deliveries(sink) - before
    print("DAG runs: " + ", ".join(f"{dag_id} {state}" for dag_id, state in states.items()))
    if delivered:
        print(f"{delivered} notification(s) for channels without a connection went to the local demo sink: {sink}")


@app.command()
@warehouse_command
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            parser=one_of(list(SOURCES)), metavar="SOURCE", help=f"The source system to extract: {', '.join(SOURCES)}."
        ),
    ],
    interval_end: Annotated[
        date | None,
        typer.Option(parser=parse_day, metavar=DAY, help="Extract changes up to this midnight (default: today's)."),
    ] = None,
) -> None:
    """Extract one source's new records and land them as raw batches, without Airflow."""
    from demo.services import demo_lms_api
    from pipeline.ingest import ingest_source

    end = datetime.combine(interval_end or yesterday() + timedelta(days=1), time(0))
    with demo_lms_api(get_settings()) as configured:
        for result in ingest_source(source, end, _run_id("cli"), configured):
            print(result)


@app.command()
@warehouse_command
def load() -> None:
    """Validate every landed batch with Great Expectations and load it, without Airflow."""
    from pipeline.load import validate_and_load

    with progress("load") as on_step:
        reports = validate_and_load(get_settings(), on_step=on_step)
    for report in reports:
        print(report)


@app.command()
@warehouse_command
def kpis(
    full: Annotated[bool, typer.Option(help="Rebuild every day, not only the days new batches touched.")] = False,
) -> None:
    """Rebuild the KPI days that new batches touched, without Airflow."""
    from pipeline.kpis import build_kpis

    print(f"{build_kpis(_run_id('cli'), get_settings(), full=full)} KPI rows written")


@app.command()
@warehouse_command
def check() -> None:
    """Judge regressions by the alert rules and raise alerts, without Airflow."""
    from orchestration.connections import configured_channels
    from pipeline.alerting import check_regressions

    print(f"{len(check_regressions(_run_id('cli'), get_settings(), configured_channels))} open alert(s)")


@app.command()
@warehouse_command
def notify() -> None:
    """Send the pending alert notifications (retrying a channel that was down), without Airflow."""
    from orchestration.connections import configured_channels
    from pipeline.alerting import send_notifications

    delivery = send_notifications(get_settings(), configured_channels)
    print(f"{delivery.sent} notification(s) sent, {delivery.pending} pending")
    for error in delivery.errors.values():
        print(f"  pending: {error}")


@app.command()
@warehouse_command
def backfill(
    first_day: Annotated[date, typer.Argument(parser=parse_day, metavar=DAY, help="The first day to re-extract.")],
    last_day: Annotated[date, typer.Argument(parser=parse_day, metavar=DAY, help="The last day (included).")],
    source: Annotated[
        str | None,
        typer.Option(
            parser=one_of(EXTRACTED_SOURCES),
            metavar="|".join(EXTRACTED_SOURCES),
            help="One source (default: every SQL/API source).",
        ),
    ] = None,
) -> None:
    """Re-extract a date range from the sources, load it and rebuild the KPIs it touched (idempotent)."""
    from demo.services import demo_lms_api
    from pipeline.kpis import build_kpis
    from pipeline.load import validate_and_load
    from pipeline.replay import backfill

    if last_day < first_day:
        raise typer.BadParameter(f"the last day {last_day} is before the first day {first_day}", param_hint="LAST_DAY")
    run_id = f"backfill__{first_day}__{last_day}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with demo_lms_api(get_settings()) as settings:
        for one in [source] if source else EXTRACTED_SOURCES:
            with progress(f"backfill {one}") as on_step:
                results = backfill(one, first_day, last_day, run_id, settings, on_step=on_step)
            for result in results:
                print(result)
        with progress("load") as on_step:
            reports = validate_and_load(settings, on_step=on_step)
        for report in reports:
            print(report)
        print(f"{build_kpis(run_id, settings)} KPI rows rewritten")


@app.command()
@warehouse_command
def replay(
    batch_ids: Annotated[list[str], typer.Argument(help="The landed batches to validate and load again.")],
) -> None:
    """Validate and load landed batches again, from the landing zone (after a fix), and rebuild their KPIs."""
    from pipeline.kpis import build_kpis
    from pipeline.replay import replay

    settings = get_settings()
    with progress("replay") as on_step:
        reports = replay(batch_ids, settings, on_step=on_step)
    for report in reports:
        print(report)
    print(f"{build_kpis(_run_id('replay'), settings)} KPI rows rewritten")


# --- what people read ------------------------------------------------------------------------------------------------


@app.command()
@warehouse_command
def summary() -> None:
    """Print the run summary: batches, quality, KPIs, alerts, what needs attention."""
    from pipeline.summary import render

    print(render(get_settings()))


@app.command()
@warehouse_command
def report(
    first_day: Annotated[
        date | None,
        typer.Option("--from", parser=parse_day, metavar=DAY, help="The first day (default: --days before the last)."),
    ] = None,
    last_day: Annotated[
        date | None,
        typer.Option("--to", parser=parse_day, metavar=DAY, help="The last day (default: the latest KPI day)."),
    ] = None,
    days: Annotated[int, typer.Option(help="The default range's length in days.")] = 90,
    out: Annotated[Path | None, typer.Option(help="Where to write it (default: <data>/report/index.html).")] = None,
    serve: Annotated[bool, typer.Option(help="Serve it on 127.0.0.1 until interrupted.")] = False,
    port: Annotated[int, typer.Option(help="The port --serve listens on.")] = 8050,
) -> None:
    """Build the HTML quality report from the warehouse (default: the last 90 days with KPIs); optionally serve it."""
    from report.build import build_report, default_range
    from report.build import serve as serve_report

    settings = get_settings()
    if last_day is None:
        last_day = default_range(settings, days)[1]
    if first_day is None:
        first_day = last_day - timedelta(days=days - 1)  # --days back from the last day, given or found
    path = build_report(settings, first_day, last_day, out)
    print(f"Report: {path}")
    if serve:
        serve_report(path, port)


# --- alerts ----------------------------------------------------------------------------------------------------------

AlertId = Annotated[
    str, typer.Argument(help="The alert's id, or a prefix of at least 6 characters that only it starts with.")
]


@alerts_app.command("list")
@warehouse_command
def alerts_list(all_: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False) -> None:
    """List the open and acknowledged alerts, each under its incident."""
    from sqlalchemy import select

    from core.engine import Warehouse
    from warehouse.schema import alert, incident

    # Each alert under its incident: what one message told people about, together.
    query = (
        select(alert, incident.c.title)
        .outerjoin(incident, incident.c.incident_id == alert.c.incident_id)
        .order_by(incident.c.first_date.nulls_last(), alert.c.incident_id, alert.c.since_date, alert.c.alert_id)
    )
    if not all_:
        query = query.where(alert.c.status != "resolved")
    with Warehouse(get_settings().warehouse_url) as warehouse, warehouse.engine.connect() as connection:
        alerts = connection.execute(query).mappings().all()
    if not alerts:
        print("no alerts" if all_ else "no open or acknowledged alerts (--all: resolved ones too)")
        return
    lines = aligned([("", a["alert_id"][:12], a["status"], f"[{a['severity']}]", a["subject"]) for a in alerts])
    shown = "-"  # no incident's header printed yet
    for a, line in zip(alerts, lines, strict=True):
        if a["incident_id"] != shown:
            shown = a["incident_id"]
            print(f"incident {a['incident_id'][:12]}: {a['title']}" if a["incident_id"] else "not grouped yet")
        print(line)


@alerts_app.command("ack")
@warehouse_command
def alerts_ack(alert_id: AlertId, by: Annotated[str, typer.Option(help="Who acknowledges it (takes it on).")]) -> None:
    """Acknowledge an open alert: someone has taken it on."""
    from alerts import lifecycle
    from warehouse import ledger

    _triage(
        lambda connection: lifecycle.acknowledge(connection, alert_id, by, ledger.utcnow()),
        f"acknowledged by {by}",
    )


@alerts_app.command("assign")
@warehouse_command
def alerts_assign(alert_id: AlertId, to: Annotated[str, typer.Option(help="Who works on it.")]) -> None:
    """Give an alert to the person who works on it."""
    from alerts import lifecycle
    from warehouse import ledger

    _triage(lambda connection: lifecycle.assign(connection, alert_id, to, ledger.utcnow()), f"assigned to {to}")


@alerts_app.command("cause")
@warehouse_command
def alerts_cause(
    alert_id: AlertId,
    cause: Annotated[
        str | None, typer.Option(help="The assignable cause: a code of the rules file's triage list.")
    ] = None,
    corrective: Annotated[
        str | None,
        typer.Option("--action", help="The corrective action: a code of the rules file's triage list."),
    ] = None,
) -> None:
    """Record an alert's assignable cause and corrective action (codes from the rules file's triage lists)."""
    from alerts import lifecycle
    from core.alert_rules import load_rules
    from warehouse import ledger

    triage = load_rules(get_settings().alert_rules).triage
    done = ", ".join(f"{what} {code}" for what, code in (("cause", cause), ("corrective action", corrective)) if code)
    _triage(
        lambda connection: lifecycle.set_cause(
            connection, alert_id, cause, corrective, (triage.causes, triage.actions), ledger.utcnow()
        ),
        done,
    )


@alerts_app.command("note")
@warehouse_command
def alerts_note(
    alert_id: AlertId,
    text: Annotated[str, typer.Option(help="What was found or done.")],
    by: Annotated[str, typer.Option(help="Who writes the note.")],
) -> None:
    """Add a note to an alert: what was found or done."""
    from alerts import lifecycle
    from warehouse import ledger

    _triage(
        lambda connection: lifecycle.add_note(connection, alert_id, text, by, ledger.utcnow()),
        f"note added by {by}",
    )


@alerts_app.command("exclude")
@warehouse_command
def alerts_exclude(
    alert_id: AlertId,
    day: Annotated[date, typer.Option(parser=parse_day, metavar=DAY, help="The flagged day to take out.")],
    reason: Annotated[str, typer.Option(help="Why the day must not count in later baselines.")],
    by: Annotated[str, typer.Option(help="Who takes it out.")],
) -> None:
    """Take a day the alert's rule judged out of that rule's later baselines at the alert's place."""
    from alerts import lifecycle
    from warehouse import ledger

    _triage(
        lambda connection: lifecycle.exclude_day(connection, alert_id, day, reason, by, ledger.utcnow()),
        lambda found: f"{day} out of {found['rule_name']}'s baselines at this place from the next check on",
    )


def _triage(change: Callable[[Connection], dict[str, object]], done: str | Callable[[dict[str, object]], str]) -> None:
    """Apply one change to one alert in a transaction, and say which alert (its id and subject) and what was done;
    a wrong id or code is refused with what to give instead."""
    from alerts import lifecycle
    from core.engine import Warehouse

    with Warehouse(get_settings().warehouse_url) as warehouse, warehouse.engine.begin() as connection:
        try:
            found = change(connection)
        except (lifecycle.AlertNotFound, ValueError) as error:
            raise Refused(error.args[0]) from None
    print(f"alert {str(found['alert_id'])[:12]} ({found['subject']}): {done if isinstance(done, str) else done(found)}")


# --- improvements ----------------------------------------------------------------------------------------------------


@improvement_app.command("add")
@warehouse_command
def improvement_add(
    name: Annotated[str, typer.Option(help="What changed, in words (its id is made from it).")],
    change_date: Annotated[
        date, typer.Option("--date", parser=parse_day, metavar=DAY, help="The first day after the change.")
    ],
    kpi: Annotated[list[str], typer.Option(help="A KPI code it should move (repeatable).")],
    scope: Annotated[str, typer.Option(help="SITE, SITE/LINE or SITE/LINE/STEP; ALL: the company.")] = "ALL",
    window_days: Annotated[
        int | None, typer.Option(help="Days per stage before and after the change (default 28).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What was done, and why.")] = None,
) -> None:
    """Register an improvement, then judge every improvement's KPIs before and after."""
    from pydantic import ValidationError

    from core.engine import Warehouse
    from core.improvements import DEFAULT_WINDOW_DAYS, Improvement
    from warehouse import improvements as store
    from warehouse import ledger

    settings = get_settings()
    try:
        change = Improvement(
            name=name,
            change_date=change_date,
            scope=scope,
            kpis=tuple(kpi),
            window_days=window_days or DEFAULT_WINDOW_DAYS,
            description=description,
        )
    except ValidationError as error:
        raise Refused("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from None
    with Warehouse(settings.warehouse_url) as warehouse, warehouse.engine.begin() as connection:
        try:
            store.add(connection, change, "cli", ledger.utcnow())
        except store.ImprovementExists as error:
            raise Refused(str(error)) from None
    print(f"improvement {change.improvement_id} registered: {change.name}, {change.change_date}, {change.scope}")
    print(f"{_judged(settings)} KPI comparison(s) judged")


@improvement_app.command("evaluate")
@warehouse_command
def improvement_evaluate() -> None:
    """Judge every improvement's KPIs before and after its change now, and list them."""
    settings = get_settings()
    print(f"{_judged(settings)} KPI comparison(s) judged")
    _list_improvements(settings)


@improvement_app.command("list")
@warehouse_command
def improvement_list() -> None:
    """List the registered improvements, each with its KPIs' before/after verdicts."""
    _list_improvements(get_settings())


def _judged(settings: Settings) -> int:
    """Judge every improvement now; a name registered twice is refused (a bad file is explained by cli.errors)."""
    from pipeline.improvements import evaluate_improvements
    from warehouse import improvements as store

    try:
        return evaluate_improvements(settings)
    except store.ImprovementExists as error:
        raise Refused(str(error)) from None


def _list_improvements(settings: Settings) -> None:
    from sqlalchemy import select

    from core.engine import Warehouse
    from warehouse import improvements as store
    from warehouse.schema import improvement_effect

    with Warehouse(settings.warehouse_url) as warehouse, warehouse.engine.connect() as connection:
        listed = store.registered(connection)
        effects = connection.execute(select(improvement_effect)).mappings().all()
    if not listed:
        print(f"no improvements registered: `qp improvement add` or the improvements file {settings.improvements}")
        return
    lines = aligned([(c.improvement_id, str(c.change_date), c.scope, f"({origin}): {c.name}") for c, origin in listed])
    for (change, _), line in zip(listed, lines, strict=True):
        print(line)
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


# --- the quarantine --------------------------------------------------------------------------------------------------

Dataset = Annotated[str | None, typer.Option(help="Only this dataset's rows.")]
Batch = Annotated[str | None, typer.Option(help="Only this batch's rows.")]


@quarantine_app.command("list")
@warehouse_command
def quarantine_list(dataset: Dataset = None, batch: Batch = None) -> None:
    """List the open quarantined rows by reason, the most frequent first."""
    import pandas as pd

    from core.engine import Warehouse
    from warehouse import ledger

    with Warehouse(get_settings().warehouse_url) as warehouse:
        rows = ledger.open_quarantine(warehouse.engine, dataset, batch)
    if rows.empty:
        print("no open quarantined rows")
        return
    reasons: dict[tuple[str, str], list[str]] = {}
    for row in rows.itertuples(index=False):
        for reason in json.loads(row.failed_rules):
            key = f"{row.batch_id} row {row.source_row}" if pd.isna(row.record_key) else str(row.record_key)
            reasons.setdefault((row.dataset, reason), []).append(key)
    by_count = sorted(reasons.items(), key=lambda item: -len(item[1]))
    for line in aligned(
        [("rows", "dataset", "reason", "e.g.")]
        + [(str(len(keys)), ds, reason[:100], ", ".join(keys[:3])) for (ds, reason), keys in by_count]
    ):
        print(line)
    print(f"{len(rows)} open rows in {rows['batch_id'].nunique()} batch(es); `qp quarantine replay` after a fix")


@quarantine_app.command("replay")
@warehouse_command
def quarantine_replay(dataset: Dataset = None, batch: Batch = None) -> None:
    """Validate the open quarantined rows again (after a fix of a rule or a row), load those that pass, and rebuild
    the KPIs they touch."""
    from pipeline.kpis import build_kpis
    from pipeline.replay import replay_quarantined
    from warehouse import ledger

    run_id = _run_id("quarantine_replay")
    try:
        reports = replay_quarantined(run_id, get_settings(), dataset, batch)
    except ledger.UnknownBatch as error:
        raise Refused(f"{error.args[0]}: check the batch id") from None
    for report in reports:
        print(report)
    print(f"{build_kpis(run_id, get_settings())} KPI rows rewritten")


@quarantine_app.command("dismiss")
@warehouse_command
def quarantine_dismiss(
    batch: Annotated[str, typer.Option(help="The batch whose rows are given up on.")],
    reason: Annotated[str, typer.Option(help="Why the rows are dismissed (kept with them).")],
) -> None:
    """Give up on a batch's rows (the source re-sent them corrected, say), releasing the KPI days it held."""
    from pipeline.kpis import build_kpis
    from pipeline.replay import dismiss
    from warehouse import ledger

    settings = get_settings()
    try:
        dismissed = dismiss(batch, reason, settings)
    except ledger.UnknownBatch as error:
        raise Refused(f"{error.args[0]}: check the batch id") from None
    print(f"{dismissed} row(s) of {batch} dismissed: {reason}")
    run_id = _run_id("quarantine_dismiss")
    print(f"{build_kpis(run_id, settings)} KPI rows rewritten (days the batch held are released)")


# --- the entry point -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run ``qp`` with ``argv`` (default: the process's arguments); returns the exit status.

    A failure :func:`cli.errors.explain` knows ends as a line or two on stderr (and the traceback with ``-v``);
    any other keeps its traceback, credentials masked.
    """
    # No credential of a configured URL reaches the terminal: not in a log line, not in a traceback.
    install_log_redaction(PROJECT_LOGGERS)
    install_excepthook()
    invocation = Invocation()
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="qp", standalone_mode=False, obj=invocation)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        return 130
    except typer.TyperException as error:  # the command line itself is wrong (click's UsageError and kin)
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":  # `qp alerts`: typer has shown its help
            return 2
        where = context.command_path if context is not None else "qp"
        print(f"{where}: {error.format_message()}", file=sys.stderr)
        print(f"({where} --help lists what it takes)", file=sys.stderr)
        return error.exit_code
    except Exception as error:
        said = explain(error, _settings_or_none())
        if said is None:
            raise
        if invocation.verbose:
            import traceback

            sys.stderr.write(redact("".join(traceback.format_exception(error))))
        print(f"{' '.join(['qp', *_command_words(command, argv)])}: {said}", file=sys.stderr)
        return 1
    return 0


def _settings_or_none() -> Settings | None:
    try:
        return get_settings()
    except Exception:  # noqa: BLE001 (the settings themselves may be what failed; explain says so)
        return None


def _command_words(command: object, argv: list[str] | None) -> list[str]:
    """The command's words of the command line (``alerts ack``), to begin a message with."""
    words: list[str] = []
    for word in sys.argv[1:] if argv is None else argv:
        if word.startswith("-"):
            continue
        commands = getattr(command, "commands", {})
        if word not in commands:
            break
        words.append(word)
        command = commands[word]
    return words


if __name__ == "__main__":
    sys.exit(main())
