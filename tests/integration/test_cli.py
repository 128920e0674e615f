"""The ``qp`` command line as a user meets it: help for everything, a line or two naming the setting and the fix
when something is wrong (the traceback with ``-v``), guard rails on ids, dates and the rules file, aligned tables.

Every failure is a real one: a closed port, a database that isn't there on the test's PostgreSQL server, a role the
server refuses, a warehouse at no schema, the demo LMS API answering a wrong token with 401.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest
import typer
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from alerts.evaluate import Episode
from alerts.lifecycle import reconcile
from cli.main import app, main
from core.alert_rules import load_rules
from core.engine import engine_for
from demo.services import free_port
from tests.conftest import migrated_settings
from tests.helpers import PROJECT_ROOT
from warehouse.schema import alert

pytestmark = pytest.mark.integration

SECRET = "s3cret-pw"


@pytest.fixture
def environment(monkeypatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Point ``qp`` at a warehouse URL the way a user's shell does; returns the setter."""
    monkeypatch.chdir(tmp_path)  # no .env of the project
    monkeypatch.setenv("QP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")  # help and messages at a width no line of them reaches

    def use(warehouse_url: str) -> None:
        monkeypatch.setenv("QP_WAREHOUSE_URL", warehouse_url)

    return use


def _failure(capsys, *argv: str, code: int = 1) -> str:  # type: ignore[no-untyped-def]
    """Run ``qp argv``, which must fail with ``code`` and print nothing to stdout; returns its stderr."""
    assert main(list(argv)) == code
    printed = capsys.readouterr()
    assert printed.out == ""
    return printed.err


# --- help ------------------------------------------------------------------------------------------------------------


def _commands(group, path: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_and_option_has_help_and_its_help_lists_them(environment, capsys):
    commands = list(_commands(typer.main.get_command(app)))
    assert {" ".join(path) for path, _ in commands} >= {
        "migrate", "demo-sources", "simulate", "run-dags", "ingest", "load", "kpis", "check", "notify", "report",
        "alerts", "alerts list", "alerts ack", "alerts assign", "alerts cause", "alerts note", "alerts exclude",
        "improvement", "improvement add", "improvement list", "improvement evaluate", "summary", "backfill",
        "quarantine", "quarantine list", "quarantine replay", "quarantine dismiss", "replay", "demo-api", "docs",
        "bi-role",
    }  # fmt: skip
    for path, command in commands:
        assert main([*path, "--help"]) == 0
        shown = " ".join(capsys.readouterr().out.replace("│", " ").split())
        assert command.help, f"qp {' '.join(path)} has no help"
        for parameter in command.params:
            named = " ".join(path) + " " + (parameter.opts[0] if parameter.opts else parameter.name)
            assert parameter.help, f"qp {named} has no help"
            assert " ".join(parameter.help.split()) in shown, f"qp {named}: its help is not in --help"
            if parameter.param_type_name == "option":
                assert parameter.opts[0] in shown


# --- errors ----------------------------------------------------------------------------------------------------------


def _server_url(postgres_url: str, **parts: object) -> str:
    return make_url(postgres_url).set(**parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


def test_an_unreachable_warehouse_is_one_line_naming_the_setting_with_the_password_masked(environment, capsys):
    port = free_port()  # nothing listens there
    environment(f"postgresql://qp:{SECRET}@127.0.0.1:{port}/qp")
    for argv in (["alerts", "list"], ["report"], ["summary"]):
        said = _failure(capsys, *argv)
        assert said.splitlines() == [
            f"qp {' '.join(argv)}: QP_WAREHOUSE_URL: the warehouse at postgresql://qp:***@127.0.0.1:{port}/qp is "
            f'unreachable (connection to server at "127.0.0.1", port {port} failed: Connection refused Is the server '
            "running on that host and accepting TCP/IP connections?): is the server running there?"
        ]


def test_verbose_adds_the_traceback_with_the_password_masked(environment, capsys):
    environment(f"postgresql://qp:{SECRET}@127.0.0.1:{free_port()}/qp")
    said = _failure(capsys, "-v", "alerts", "list")
    assert "Traceback (most recent call last)" in said and "OperationalError" in said
    assert said.splitlines()[-1].startswith("qp alerts list: QP_WAREHOUSE_URL: the warehouse at postgresql://qp:***@")
    assert SECRET not in said


def test_a_database_missing_on_the_server_says_create_it(environment, capsys, postgres_url):
    missing = f"qp_missing_{uuid.uuid4().hex[:8]}"
    environment(_server_url(postgres_url, database=missing))
    [line] = _failure(capsys, "alerts", "list").splitlines()
    assert f"QP_WAREHOUSE_URL: database {missing} does not exist on the server of" in line
    assert f"create it (createdb {missing})" in line and "`qp migrate`" in line


def test_a_login_the_server_refuses_is_an_authentication_failure(environment, capsys, postgres_url):
    """The test server trusts 127.0.0.1 (any password gets in), so the refusal here is a role that may not log in:
    PostgreSQL's other authorization failure, reported the same way as a wrong password."""
    role = f"qp_cli_test_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(_server_url(postgres_url, database="postgres"), autocommit=True)
    admin.execute(f"create role {role} nologin password 'right-password'")
    try:
        environment(_server_url(postgres_url, username=role, password="wrong-password"))
        [line] = _failure(capsys, "report").splitlines()
    finally:
        admin.execute(f"drop role {role}")
        admin.close()
    assert line.startswith("qp report: QP_WAREHOUSE_URL: authentication failed at postgresql://")
    assert f'role "{role}" is not permitted to log in' in line and "check the user and password in the URL" in line
    assert "wrong-password" not in line and ":***@" in line


@pytest.mark.parametrize(
    "libpq_says",
    [
        'connection to server at "db", port 5432 failed: FATAL:  password authentication failed for user "qp"',
        'connection to server at "db", port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9"',
    ],
)
def test_a_wrong_password_is_an_authentication_failure(libpq_says):
    from cli.errors import explain

    class OperationalError(Exception):  # as psycopg names it; the server's words are all psycopg gives
        __module__ = "psycopg"

    said = explain(OperationalError(libpq_says), None)
    assert said is not None and said.startswith("QP_WAREHOUSE_URL: authentication failed at the warehouse (")


def test_a_sqlite_warehouse_in_a_folder_that_does_not_exist_is_named_and_not_created(environment, capsys, tmp_path):
    folder = tmp_path / "typo" / "warehouse"
    environment(f"sqlite:///{folder / 'qualitypulse.db'}")
    [line] = _failure(capsys, "alerts", "list").splitlines()
    assert line == (
        f"qp alerts list: QP_WAREHOUSE_URL: no SQLite warehouse at {folder / 'qualitypulse.db'}: the folder {folder} "
        "does not exist (correct the path, or run `qp migrate` to create the warehouse there)"
    )
    assert not folder.exists()


def test_every_warehouse_command_checks_the_schema_first(environment, capsys, warehouse_url):
    environment(warehouse_url)  # a new database: no schema at all
    engine = engine_for(warehouse_url)
    engine.connect().close()  # a SQLite file is made on the first connection
    engine.dispose()
    for command, arguments in (
        ("alerts list", []),
        ("alerts ack", ["abcdef", "--by", "x"]),
        ("report", []),
        ("summary", []),
        ("quarantine list", []),
        ("improvement list", []),
        ("notify", []),
        ("load", []),
    ):
        [line] = _failure(capsys, *command.split(), *arguments).splitlines()
        assert line.startswith(f"qp {command}: the warehouse ") and "run `qp migrate`" in line
    assert main(["migrate"]) == 0
    assert main(["alerts", "list"]) == 0


def test_the_lms_api_refusing_the_token_names_the_token_setting(settings, environment, capsys, monkeypatch):
    # ``settings`` serves the demo API and puts its URL and token in the environment (first, so that monkeypatch
    # puts its token back before the fixture takes both away).
    environment(settings.warehouse_url)
    monkeypatch.setenv("QP_LMS_API_TOKEN", "not-the-token")
    monkeypatch.setenv("QP_LMS_API_RETRIES", "0")
    [line] = _failure(capsys, "ingest", "lms").splitlines()
    assert line.startswith("qp ingest: ") and "answered HTTP 401" in line
    assert line.endswith("the LMS API refused the token, check QP_LMS_API_TOKEN (and QP_LMS_API_URL)")
    assert "not-the-token" not in line


def test_a_bad_rules_file_is_refused_with_the_file_the_rules_and_what_is_allowed(
    settings, environment, capsys, monkeypatch, tmp_path
):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent("""
        routes:
          critical: [qp_alert_webhook]
        rules:
          - {name: line_yield, kpi: dpm, scope: line, method: p_chart, adverse: up, rules: [rule_1], severity: critical}
          - {name: line_nps, kpi: nps, scope: line, method: drop, adverse: down, points: 20, severity: critical}
          - {name: site_oee, kpi: oee, scope: plant, method: target, adverse: down, target: 0.6, severty: critical}
        """)
    )
    environment(settings.warehouse_url)
    monkeypatch.setenv("QP_ALERT_RULES", str(rules))
    said = _failure(capsys, "check").splitlines()
    assert said[0] == f"qp check: the alert rules file (QP_ALERT_RULES) is wrong: {rules}: 3 problem(s)"
    problems = "\n".join(said[1:])
    assert "rule site_oee, field scope: Input should be 'company', 'site', 'line' or 'step'" in problems
    assert "rule site_oee, field severity: Field required" in problems
    assert "rule site_oee, field severty: unknown field; the fields here are: name, kpi, scope, method" in problems
    assert len(said) == 4  # the unknown KPI waits for a file that passes the schema: a typo can't hide another
    rules.write_text(rules.read_text().replace("scope: plant", "scope: site").replace("severty", "severity"))
    said = _failure(capsys, "check").splitlines()
    assert said[0].endswith(f"{rules}: 2 problem(s)")
    assert said[1].startswith("  rule line_yield: unknown KPI 'dpm' (did you mean dpmo or dpu?); the KPIs are: fpy, ")
    assert said[1].endswith(", assessment_pass_rate")  # every code of the registry
    assert said[2] == "  rule line_nps: KPI nps is not computed at scope line; its scopes: site, company"


# --- guard rails: ids, dates -----------------------------------------------------------------------------------------

RULES = load_rules()


def _episode(rule_name: str, place: str, since: str) -> Episode:
    rule = next(r for r in RULES.rules if r.name == rule_name)
    site, _, line = place.partition("/")
    return Episode(
        rule=rule,
        site_id=site,
        line_id=line or "ALL",
        step_id="ALL",
        since_date=date.fromisoformat(since),
        last_date=date(2026, 11, 19),
        days_adverse=3,
        sample_size=400,
        resolved_date=None,
        value=0.05,
        centre=0.02,
        limit=0.03,
        fired="rule_1" if rule.rules else rule.method,  # what fired, as the evaluation codes it
    )


def test_ack_needs_an_unambiguous_prefix_of_six_and_echoes_the_alert_and_tables_align(
    environment, capsys, warehouse_url, tmp_path
):
    migrated_settings(tmp_path, warehouse_url)
    environment(warehouse_url)
    engine = engine_for(warehouse_url)
    episodes = [
        _episode("line_fraction_defective", "S1/S1-L2", "2026-11-13"),
        _episode("line_oee", "S2/S2-L1", "2026-11-17"),
        _episode("site_nps", "S1", "2026-11-16"),
    ]
    with engine.begin() as connection:
        reconcile(connection, episodes, datetime(2026, 11, 20, 6), "run-1")
        ids = sorted(connection.execute(select(alert.c.alert_id)).scalars())
        # Two ids that share their first seven characters, as hashes sometimes do.
        twins = {old: "c0ffee1" + old[7:] for old in ids[:2]}
        for old, new in twins.items():
            connection.execute(update(alert).where(alert.c.alert_id == old).values(alert_id=new))
        subjects = dict(connection.execute(select(alert.c.alert_id, alert.c.subject)).tuples().all())
    engine.dispose()
    first, second = sorted(twins.values())

    assert _failure(capsys, "alerts", "ack", "c0ffe", "--by", "maria").splitlines() == [
        "qp alerts ack: give at least 6 characters of the alert id, not 'c0ffe'"
    ]
    assert _failure(capsys, "alerts", "ack", "c0ffee1", "--by", "maria").splitlines() == [
        "qp alerts ack: 2 alerts have ids starting 'c0ffee1': give more characters"
    ]
    prefix = first[: next(i for i in range(8, 64) if first[:i] != second[:i])]
    assert main(["alerts", "ack", prefix, "--by", "maria"]) == 0
    assert capsys.readouterr().out == f"alert {first[:12]} ({subjects[first]}): acknowledged by maria\n"
    assert "is acknowledged, not open: nothing to acknowledge" in _failure(capsys, "alerts", "ack", first, "--by", "x")

    assert main(["alerts", "list"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    assert len(rows) == 3
    starts = {line.index(subjects[alert_id]) for line in rows for alert_id in subjects if subjects[alert_id] in line}
    assert len(starts) == 1  # every subject begins in the same column, whatever the status and severity before it
    [acknowledged] = [line for line in rows if first[:12] in line]
    assert re.match(rf"  {first[:12]}  acknowledged  \[(critical|warning)\] +", acknowledged)


@pytest.mark.parametrize(
    ("argv", "bad"),
    [
        (["report", "--from", "2026-02-30"], "2026-02-30"),
        (["run-dags", "--day", "24.11.2026"], "24.11.2026"),
        (["backfill", "2026-11-09", "nov-15"], "nov-15"),
        (["alerts", "exclude", "abcdef", "--day", "2026-13-01", "--reason", "x", "--by", "y"], "2026-13-01"),
        (["improvement", "add", "--name", "x", "--date", "tomorrow", "--kpi", "fpy"], "tomorrow"),
    ],
)
def test_a_bad_date_is_refused_plainly(environment, capsys, argv, bad):
    said = _failure(capsys, *argv, code=2).splitlines()
    assert said[0].startswith(f"qp {argv[0]}") and said[0].endswith(f": expected YYYY-MM-DD, got '{bad}'")
    assert said[1].endswith("--help lists what it takes)") and len(said) == 2


# --- the installed command -------------------------------------------------------------------------------------------


def test_the_installed_qp_fails_in_one_line_and_with_v_in_a_masked_traceback(tmp_path):
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QP_")}
    environment.update(
        QP_DATA_DIR=str(tmp_path / "data"),
        QP_WAREHOUSE_URL=f"postgresql://qp:{SECRET}@127.0.0.1:{port}/qp",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    qp = str(Path(sys.executable).parent / "qp")
    run = subprocess.run([qp, "summary"], env=environment, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 1 and run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith(f"qp summary: QP_WAREHOUSE_URL: the warehouse at postgresql://qp:***@127.0.0.1:{port}/qp")
    verbose = subprocess.run(
        [qp, "-v", "summary"], env=environment, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr
    assert SECRET not in verbose.stderr and verbose.stderr.splitlines()[-1] == line


# --- progress --------------------------------------------------------------------------------------------------------


def test_long_work_reports_each_step_on_stderr_and_keeps_stdout_for_results(environment, capsys, tmp_path):
    environment(f"sqlite:///{tmp_path / 'warehouse' / 'qp.db'}")
    demo = ["demo-sources", "--end-date", "2026-11-24", "--days", "20", "--customers", "40", "--sites", "1"]
    assert main(demo) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("demo sources for 2026-11-05..2026-11-24 (seed 7): ")
    steps = printed.err.splitlines()
    assert [re.sub(r" \(\d+\.\d s\)$", "", line) for line in steps] == [
        "demo sources: [1/5] production and customer data: done",
        "demo sources: [2/5] QMS/MES database: done",
        "demo sources: [3/5] finance database: done",
        "demo sources: [4/5] survey drops: done",
        "demo sources: [5/5] LMS/HR exports: done",
    ]
    assert main(["migrate"]) == 0 and main(["ingest", "qms", "--interval-end", "2026-11-25"]) == 0
    capsys.readouterr()
    assert main(["load"]) == 0
    printed = capsys.readouterr()
    steps = printed.err.splitlines()
    reports = [line for line in printed.out.splitlines() if line.startswith("BatchReport(")]
    assert len(steps) == len(reports) > 1  # a line per batch as it is done, a report per batch when all are
    assert re.fullmatch(r"load: \[1/\d+\] \w+: (loaded|blocked|failed) \(\d+\.\d s\)", steps[0])
    assert steps[-1].startswith(f"load: [{len(steps)}/{len(steps)}] ")


# --- the report's range ----------------------------------------------------------------------------------------------


def test_a_reversed_or_empty_report_range_is_refused_and_the_live_report_kept(environment, capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    migrated_settings(tmp_path, url)
    environment(url)
    live = tmp_path / "live" / "index.html"
    live.parent.mkdir()
    live.write_text("the report the notifications link to")
    said = _failure(capsys, "report", "--from", "2026-11-10", "--to", "2026-11-01", "--out", str(live))
    assert said.startswith("qp report: the report's range is reversed: 2026-11-10 is after 2026-11-01")
    assert "left as it was" in said and len(said.splitlines()) <= 2
    said = _failure(capsys, "report", "--out", str(live))
    assert "no KPI rows yet" in said
    assert live.read_text() == "the report the notifications link to"
