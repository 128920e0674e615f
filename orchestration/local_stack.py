"""docker-compose.yml's Airflow services as local processes, for a host without a Docker engine.

The end-to-end test and the scaling benchmark run the production topology this way. The compose file decides
which Airflow services run (API server, scheduler, DAG processor, triggerer, Celery workers and how many replicas)
and every Airflow and QualityPulse setting that names no host; the host's PostgreSQL, Redis and folders take the
place of the containers' (``host_settings``). Each worker gets its own Celery node name, pid file and log-server
port, as a container would have its own host, and stamps its task instances with its service name
(``worker_hostname``), so what each worker ran can be read from Airflow's own tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

# The compose services that are Airflow components, by their command (the image's entrypoint is `airflow`).
AIRFLOW_COMMANDS = ("api-server", "scheduler", "dag-processor", "triggerer", "celery worker")
# Settings whose compose value names a container or a variable: the host supplies these (``local_host_settings``
# gives the Airflow ones). Required ones first, then those a host may leave out: alert channels, lineage and deadlines
# (their defaults), the demo's SQLite sources, and the Fernet key (connections come from the environment).
REQUIRED_FROM_HOST = (
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW_CONN_QP_EVENTS",
    "QP_DATA_DIR",
    "QP_SIGNAL_DIR",
    "QP_WAREHOUSE_URL",
    "QP_INGEST_SCHEDULE",
    "QP_LMS_API_URL",
    "QP_LMS_API_TOKEN",
)
OPTIONAL_FROM_HOST = (
    "AIRFLOW__CORE__FERNET_KEY",
    "QP_QMS_URL",
    "QP_FINANCE_URL",
    "AIRFLOW_CONN_QP_ALERT_EMAIL",
    "AIRFLOW_CONN_QP_ALERT_SLACK",
    "AIRFLOW_CONN_QP_ALERT_WEBHOOK",
    "QP_TASK_FAILURE_CHANNELS",
    "QP_INGEST_DEADLINE_MINUTES",
    "QP_KPIS_DEADLINE_MINUTES",
    "AIRFLOW__OPENLINEAGE__TRANSPORT",
    "AIRFLOW__OPENLINEAGE__NAMESPACE",
)
HOST_SPECIFIC = REQUIRED_FROM_HOST + OPTIONAL_FROM_HOST
WORKER_NAME_VARIABLE = "QP_WORKER_NAME"


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` for a local worker: its compose service name, as a container's host."""
    from airflow.utils.net import getfqdn

    return os.environ.get(WORKER_NAME_VARIABLE) or getfqdn()


def local_host_settings(metadata_url: str, api_port: int, queue: str) -> dict[str, str]:
    """The Airflow settings the compose stack gets from its containers' names and .env, for this host.

    Airflow's metadata in the PostgreSQL database ``metadata_url`` (psycopg 3 for its sync and async sessions, and
    Celery's results), Celery's queue ``queue`` on the local Redis (database 2, as compose keeps it apart from the
    events on database 0), and the API server on 127.0.0.1:``api_port`` with a fresh JWT secret.
    """
    metadata = metadata_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata,
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/2",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW_CONN_QP_EVENTS": "redis://127.0.0.1:6379/0",
    }


def free_port() -> int:
    """A TCP port nothing listens on now, for the API server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Service:
    """One process of the topology: a compose service, or one replica of it (``airflow-worker-2``)."""

    name: str
    command: tuple[str, ...]  # after `airflow`

    @property
    def is_worker(self) -> bool:
        return self.command[:2] == ("celery", "worker")


def compose_services(compose_file: Path) -> list[Service]:
    """The compose file's Airflow services, each replica its own service."""
    services: dict[str, Any] = yaml.safe_load(compose_file.read_text())["services"]
    found: list[Service] = []
    for name, spec in services.items():
        command = spec.get("command")
        text = " ".join(command) if isinstance(command, list) else command
        if text not in AIRFLOW_COMMANDS:
            continue
        replicas = int(spec.get("deploy", {}).get("replicas", 1))
        names = [name] if replicas == 1 else [f"{name}-{n}" for n in range(1, replicas + 1)]
        found += [Service(n, tuple(text.split())) for n in names]
    return found


def compose_settings(compose_file: Path) -> dict[str, str]:
    """The Airflow services' shared environment, except what names a container or a variable."""
    common = yaml.safe_load(compose_file.read_text())["x-airflow-common"]["environment"]
    return {key: str(value) for key, value in common.items() if key not in HOST_SPECIFIC}


@dataclass
class LocalStack:
    """The compose topology's Airflow, started in ``home`` against the host's databases (a context manager)."""

    compose_file: Path
    home: Path
    host_settings: Mapping[str, str]
    workers: int | None = None  # None: the compose file's replicas
    worker_concurrency: int = 2
    warehouse_pool_slots: int = 4
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict)
    _killed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.services = compose_services(self.compose_file)
        if self.workers is not None:
            others = [s for s in self.services if not s.is_worker]
            worker = next(s for s in self.services if s.is_worker)
            base = worker.name.rsplit("-", 1)[0] if worker.name[-1].isdigit() else worker.name
            self.services = others + [Service(f"{base}-{n}", worker.command) for n in range(1, self.workers + 1)]
        self.api_port = int(self.host_settings.get("AIRFLOW__API__PORT", "8080"))

    @property
    def bin(self) -> Path:
        return Path(sys.executable).parent

    @property
    def environment(self) -> dict[str, str]:
        missing = set(REQUIRED_FROM_HOST) - set(self.host_settings)
        if missing:
            raise ValueError(f"the host must supply {sorted(missing)}")
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "QP_"))}
        return {
            **inherited,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            **compose_settings(self.compose_file),
            **self.host_settings,
        }

    def log(self, service: str) -> Path:
        return self.home / "logs" / f"{service}.out"

    def __enter__(self) -> LocalStack:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self._init()
        try:
            for service in self.services:
                self.start(service.name)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _init(self) -> None:
        """The compose file's airflow-init: Airflow's schema and the warehouse writers' pool."""
        for command in (
            ["db", "migrate"],
            ["pools", "set", "qp_warehouse", str(self.warehouse_pool_slots), "QualityPulse warehouse writers"],
        ):
            done = subprocess.run(
                [str(self.bin / "airflow"), *command], env=self.environment, capture_output=True, text=True
            )
            if done.returncode:
                raise RuntimeError(f"airflow {' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def start(self, name: str) -> None:
        service = next(s for s in self.services if s.name == name)
        self._killed.discard(name)
        env = self.environment
        command = list(service.command)
        if service.is_worker:
            # What a container of its own would give each replica: a host name, a pid file, a log server port.
            number = self._worker_number(name)
            env |= {
                WORKER_NAME_VARIABLE: name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.api_port + 100 + number),
            }
            command += [
                "--celery-hostname",
                f"{name}@%h",
                "--concurrency",
                str(self.worker_concurrency),
                "--pid",
                str(self.home / f"{name}.pid"),
            ]
            queue = env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE")
            if queue:
                command += ["--queues", queue]
        elif command == ["api-server"]:
            command += ["--port", str(self.api_port)]
        self._logs[name] = self.log(name).open("ab")
        self._processes[name] = subprocess.Popen(
            [str(self.bin / "airflow"), *command],
            env=env,
            stdout=self._logs[name],
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )

    def _worker_number(self, name: str) -> int:
        workers = [s.name for s in self.services if s.is_worker]
        return workers.index(name) + 1

    @property
    def worker_names(self) -> list[str]:
        return [s.name for s in self.services if s.is_worker]

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to a service and every process under it (SIGKILL: as a container's host dies)."""
        self._killed.add(name)
        _signal_tree(self._processes[name].pid, sig)
        self._processes[name].wait(timeout=30)

    def running(self, name: str) -> bool:
        return self._processes[name].poll() is None

    def stop(self) -> None:
        """SIGTERM to every service's processes, SIGKILL to what is left after 20 s."""
        import psutil

        family: list[psutil.Process] = []
        for process in self._processes.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(process.pid)
                family += [root, *root.children(recursive=True)]
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(family, timeout=20)
        for member in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
        psutil.wait_procs(alive, timeout=10)
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        for log in self._logs.values():
            log.close()
        self._processes.clear()

    def health(self) -> dict[str, Any]:
        """The API server's view of the components (``/api/v2/monitor/health``); empty until it answers."""
        url = f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - a local URL of our own
                return dict(json.load(answer))
        except OSError:
            return {}

    def ready(self) -> bool:
        """Every component reports healthy and every worker has joined its queue."""
        health = self.health()
        components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        if not health or any(health.get(c, {}).get("status") != "healthy" for c in components):
            return False
        return all(b" ready." in self.log(name).read_bytes() for name in self.worker_names)

    def wait(self, what: str, check: Callable[[], bool], timeout: float, poll: float = 2.0) -> None:
        """Wait for ``check``; on a timeout, or a service that died, fail with the end of every service's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            dead = [n for n, p in self._processes.items() if p.poll() is not None and n not in self._killed]
            if dead:
                raise RuntimeError(f"{dead} exited while waiting for {what}:\n{self.tails()}")
            time.sleep(poll)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}:\n{self.tails()}")

    def tails(self, lines: int = 25) -> str:
        parts = []
        for name in self._processes:
            text = self.log(name).read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(parts)


def _signal_tree(pid: int, sig: signal.Signals) -> None:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for member in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(sig)
