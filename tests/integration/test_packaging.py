"""The production path as a deployment meets it: the wheel, installed with the runtime lock outside the repository.

The image (Dockerfile) installs exactly this: the wheel built from the source tree and ``requirements.lock``, with
only ``dags/`` copied beside it. Here the same wheel goes into a fresh virtual environment outside the repository,
and the demo chain runs from a scratch folder that holds nothing but a copy of ``dags/``: demo sources, migration,
every DAG in-process, the summary and the report.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_END, fresh_warehouse
from tests.helpers import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("packaging")]

UV = Path(sys.executable).parent / "uv"
RUNTIME_LOCK = PROJECT_ROOT / "requirements.lock"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))


def _git_files(*paths: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", *paths], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return listed.stdout.split()


def _packages() -> list[str]:
    """The top-level packages the project declares (pyproject's setuptools ``include``)."""
    import tomllib

    declared = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    return [name.rstrip("*") for name in declared["tool"]["setuptools"]["packages"]["find"]["include"]]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The wheel built from the sdist (as a release is), installed with the runtime lock in a venv of its own."""
    outside = tmp_path_factory.mktemp("install")
    assert not outside.resolve().is_relative_to(PROJECT_ROOT)
    built = subprocess.run(
        [str(UV), "build", "--quiet", "--out-dir", str(outside / "dist"), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    shutil.rmtree(PROJECT_ROOT / "build", ignore_errors=True)  # setuptools' scratch space, if it left any
    (wheel,) = (outside / "dist").glob("qualitypulse-*.whl")
    venv = outside / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    # The wheel's own dependencies must be satisfied by the runtime lock alone: uv resolves them together.
    install = subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",  # as pip does: the chain's processes don't each compile Airflow and GX again
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(RUNTIME_LOCK),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    yield Installed(wheel, venv)


def test_the_wheel_carries_every_package_and_data_file(installed):
    in_wheel = set(zipfile.ZipFile(installed.wheel).namelist())
    tracked = [f for f in _git_files(*_packages()) if not f.endswith((".pyc", ".gitignore"))]
    assert len(tracked) > 100
    assert sorted(set(tracked) - in_wheel) == []
    # The files a deployment reads at run time, by name: a regression here is what the image would miss.
    for needed in (
        "warehouse/migrations/env.py",
        "alerts/rules.yaml",
        "report/template.html",
        "report/report.js",
        "report/report.css",
        "demo/improvements.yaml",
        "demo/capability.yaml",
    ):
        assert needed in in_wheel
    versions = [f for f in tracked if f.startswith("warehouse/migrations/versions/") and f.endswith(".py")]
    assert len(versions) >= 28 and set(versions) <= in_wheel
    assert not [f for f in in_wheel if f.startswith(("tests/", "dags/", "benchmarks/"))]


def _imported_top_levels(path: Path) -> set[str]:
    """Every absolute import's top-level name in a file, including imports inside functions (tasks import late)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - {"__future__"}


def test_every_package_the_dags_import_is_in_the_wheel_or_the_runtime_lock(installed):
    dag_imports = set().union(*(_imported_top_levels(f) for f in (PROJECT_ROOT / "dags").glob("*.py")))
    ours = set(_packages())
    assert {"orchestration", "core", "pipeline"} <= dag_imports & ours
    wheel_top_levels = {name.split("/")[0] for name in zipfile.ZipFile(installed.wheel).namelist()}
    assert sorted((dag_imports & ours) - wheel_top_levels) == []
    # Every module of the wheel and every DAG import resolves in the venv that holds only the wheel and the runtime
    # lock: a package used at run time but pinned only in the dev lock fails here.
    probe = (
        "import importlib, json, pkgutil, sys\n"
        "names = json.loads(sys.argv[1])\n"
        "missing = sorted(n for n in names if importlib.util.find_spec(n) is None)\n"
        "broken = []\n"
        "for package in json.loads(sys.argv[2]):\n"
        "    module = importlib.import_module(package)\n"
        "    for info in pkgutil.walk_packages(module.__path__, package + '.'):\n"
        "        if '.migrations' in info.name:\n"
        "            continue\n"  # Alembic revisions are loaded by Alembic, not imported as modules
        "        try:\n"
        "            importlib.import_module(info.name)\n"
        "        except Exception as error:\n"
        "            broken.append(f'{info.name}: {error!r}')\n"
        "print(json.dumps({'missing': missing, 'broken': broken}))\n"
    )
    done = subprocess.run(
        [str(installed.bin / "python"), "-c", probe, json.dumps(sorted(dag_imports)), json.dumps(sorted(ours))],
        capture_output=True,
        text=True,
        cwd=installed.venv,
        env=_clean_env(installed.venv / "airflow"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"missing": [], "broken": []}


def _clean_env(airflow_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a deployment: nothing points into the repository (no PYTHONPATH, no dags folder of it)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("QP_", "AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    return {**keep, "AIRFLOW_HOME": str(airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **extra}


# On PostgreSQL, the production warehouse and the path that needs the most of the runtime lock (psycopg, ADBC, pgpq).
# The data directory's default is checked all the same (no QP_DATA_DIR: everything lands in ./data). SQLite's chain
# runs from the repository in tests/dags; here it would add two minutes to a CI run at its time limit.
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_demo_chain_runs_from_a_scratch_folder_holding_only_the_dags(installed, tmp_path, backend):
    scratch = tmp_path / "deployment"
    shutil.copytree(PROJECT_ROOT / "dags", scratch / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    assert sorted(p.name for p in scratch.iterdir()) == ["dags"]
    with fresh_warehouse(backend, tmp_path) as url:
        # No QP_DATA_DIR: the data directory defaults to ./data in the working directory. The DAG folder is Airflow's
        # own setting, as the image sets it.
        extra = {"AIRFLOW__CORE__DAGS_FOLDER": str(scratch / "dags")}
        if backend == "postgresql":
            extra["QP_WAREHOUSE_URL"] = url
        env = _clean_env(scratch / "airflow", **extra)

        def qp(*args: str) -> str:
            done = subprocess.run(
                [str(installed.bin / "qp"), *args], cwd=scratch, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"qp {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            return done.stdout

        qp("demo-sources", "--end-date", str(DEMO_END), "--days", "35", "--sites", "1", "--customers", "120")
        qp("migrate")
        migrated = subprocess.run(
            [str(installed.bin / "airflow"), "db", "migrate"], cwd=scratch, env=env, capture_output=True, text=True
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        ran = qp("run-dags", "--day", str(DEMO_END))
        assert "qp_kpis success" in ran and "failed" not in ran
        summary = qp("summary")
        report = qp("report")

    data = scratch / "data"
    assert (data / "report" / "index.html").is_file() and "index.html" in report
    assert any((data / "data_docs").glob("*.html"))
    assert any((data / "landing").rglob("*.parquet"))
    assert (data / "warehouse" / "qualitypulse.db").is_file() == (backend == "sqlite")
    assert "First pass yield" in summary
    # Nothing was written into the installed package or the repository.
    assert not (installed.site_packages / "data").exists()
    assert not [p for p in installed.site_packages.rglob("*.db")]
