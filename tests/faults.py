"""Fault injection for the tests: ``qp`` as a separate process, its state read from the warehouse, and a throwaway
PostgreSQL cluster that a test may restart under a running load (never the machine's own server).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
import sqlalchemy
from sqlalchemy.engine import make_url

from core.settings import Settings
from demo.services import free_port
from tests.helpers import PROJECT_ROOT

# What `qp -v load` logs when it claims a batch, before working on it (its reports print only at the end, so a
# load that dies later would not show them).
_CLAIM_LINE = re.compile(r"pipeline\.load: (?P<dataset>\S+) (?P<batch_id>\S+): claimed by (?P<claimer>\S+)$", re.M)


@dataclass
class QpProcess:
    """A ``qp`` command running in its own process, its output kept in a file (a pipe could fill and block it)."""

    process: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as late:
            self.process.kill()
            self.process.wait()
            message = f"`qp` did not finish within {timeout:.0f} s; its output:\n{self.text()[-3000:]}"
            raise AssertionError(message) from late

    def kill(self) -> None:
        """SIGKILL: no cleanup, no rollback, no exit handler, as when a worker is OOM-killed or its node dies."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def claimed_batches(self) -> dict[str, str]:
        """The batches this process claimed (and so worked on), with their dataset."""
        return {m["batch_id"]: m["dataset"] for m in _CLAIM_LINE.finditer(self.text())}


def qp_environment(settings: Settings) -> dict[str, str]:
    """The environment a user's shell would give ``qp`` for this data folder and warehouse."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QP_")}
    environment.update(
        QP_DATA_DIR=str(settings.data_dir),
        QP_WAREHOUSE_URL=settings.warehouse_url,
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONUNBUFFERED="1",
    )
    return environment


def start_qp(settings: Settings, *args: str, output: Path) -> QpProcess:
    """Start ``qp <args>`` (verbose) on ``settings``' warehouse; the working folder holds no ``.env`` of the project."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "-v", *args],
            env=qp_environment(settings),
            cwd=output.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return QpProcess(process, output)


def run_qp(settings: Settings, *args: str, output: Path, timeout: float = 180) -> QpProcess:
    """Run ``qp <args>`` to its end; it must succeed."""
    command = start_qp(settings, *args, output=output)
    code = command.wait(timeout)
    assert code == 0, f"qp {' '.join(args)} exited with {code}:\n{command.text()[-3000:]}"
    return command


def read_frame(url: str, query: str) -> pd.DataFrame:
    """A query's rows, on a connection of its own that is closed at once (the test never holds the warehouse)."""
    engine = sqlalchemy.create_engine(_driver_url(url))
    try:
        with engine.connect() as connection:
            return pd.read_sql(sqlalchemy.text(query), connection)
    finally:
        engine.dispose()


def ledger(url: str) -> pd.DataFrame:
    return read_frame(url, "select * from batch_ledger")


def wait_until(condition: Callable[[], object], timeout: float, what: str, every: float = 0.01) -> object:
    """Poll ``condition`` until it returns something true (which is returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


def writing_batch(url: str, load_pid: int, dataset: str, blocked: bool = False) -> str | None:
    """The batch of ``dataset`` that a load is writing at this moment: claimed by ``load_pid`` and inside an open
    write transaction (on PostgreSQL, with ``blocked``, one that waits on a lock the test holds).

    The claim is committed before the batch's work starts, and the batch's writes (facts, quarantine, results,
    ledger) are one transaction after it: a claimed batch while the load holds an open write transaction means
    the load is in the middle of writing that batch.
    """
    claimed = read_frame(
        url,
        "select batch_id from batch_ledger where status = 'processing' "
        f"and dataset = '{dataset}' and claimed_by like '%:{load_pid}:%'",
    )
    # Probe for a writer only once the batch is claimed: on SQLite the probe itself takes the write lock briefly.
    if claimed.empty or not _write_in_progress(url, blocked):
        return None
    return str(claimed.batch_id.iloc[0])


@contextmanager
def writes_held(url: str, table: str) -> Iterator[bool]:
    """On PostgreSQL, hold a lock on ``table`` so that a load writing to it waits there, inside its write
    transaction, until the block ends: a fault injected then lands at the same point every time, not in a race
    with the load's commit. Yields whether it holds one (SQLite has no table locks: there it holds nothing).
    """
    if make_url(url).get_backend_name() != "postgresql":
        yield False
        return
    with psycopg.connect(_libpq_url(url)) as blocker:
        blocker.execute(f"lock table {table} in access exclusive mode")
        yield True


def _write_in_progress(url: str, blocked: bool) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Another client session of the database whose transaction has written something (it has a transaction id).
        waiting = "and wait_event_type = 'Lock'" if blocked else ""
        with psycopg.connect(_libpq_url(url), autocommit=True) as connection:
            row = connection.execute(
                "select count(*) from pg_stat_activity where datname = current_database() "
                f"and pid <> pg_backend_pid() and backend_type = 'client backend' and backend_xid is not null {waiting}"
            ).fetchone()
            return bool(row and row[0])
    # SQLite takes one writer at a time: if this probe can't take the write lock at once, a load holds it.
    import sqlite3

    probe = sqlite3.connect(str(parsed.database), timeout=0, isolation_level=None)
    try:
        probe.execute("begin immediate")
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            return True
        raise
    else:
        probe.execute("rollback")
        return False
    finally:
        probe.close()


def _driver_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- a throwaway PostgreSQL cluster -------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), newest major version first; None if absent."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    return versions[0].parent if versions else None


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own, in a temporary folder on a free port, with trust authentication."""

    bin_dir: Path
    folder: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = [
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(timeout)),
            *args,
        ]
        _as_cluster_owner(command, timeout + 10)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is terminated, open transactions roll back, the server comes
        back on the same port."""
        self.pg_ctl("restart", "-m", "fast", "-o", self._options())

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'create database "{name}"')
        return self.url(name)

    def _options(self) -> str:
        # Its own socket folder and no listening beyond 127.0.0.1; small and quick, it is a test's.
        return f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"


def _as_cluster_owner(command: list[str], timeout: float) -> None:
    """Run a server program as the cluster's owner: ``postgres`` when the tests run as root (PostgreSQL refuses
    root), the current user otherwise."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr or done.stdout}")


@contextmanager
def throwaway_postgres(bin_dir: Path) -> Iterator[ThrowawayPostgres]:
    """initdb into a temporary folder, start on a free port; stopped and removed afterwards, whatever happened."""
    folder = Path(tempfile.mkdtemp(prefix="qp-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = ThrowawayPostgres(bin_dir, folder, free_port())
    try:
        _as_cluster_owner(
            [str(bin_dir / "initdb"), "-D", str(cluster.data_dir), "-A", "trust", "-U", "postgres", "--no-sync"], 120
        )
        cluster.pg_ctl("start", "-o", cluster._options())
        yield cluster
    finally:
        try:
            if (cluster.data_dir / "postmaster.pid").exists():
                cluster.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
