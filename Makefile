# The README's commands. `make run` and `make test` do all the set-up themselves on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

# Airflow lives inside the project (ignored by git) with a SQLite metadata database.
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
# Locally the DAGs run as soon as they are parsed (`make run` registers them first, `make airflow` then runs them).
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION ?= False
# The Redis pub/sub event channel the ingest DAGs' watchers listen on (the machine's Redis).
export AIRFLOW_CONN_QP_EVENTS ?= redis://127.0.0.1:6379/0

.PHONY: install run simulate airflow test lint bench clean distclean lock

install: $(VENV)/.installed

# The development set: the runtime lock (requirements.lock, what the image and a deployment install) plus the test,
# lint and browser tools, compiled together into requirements-dev.lock by `make lock`.
$(VENV)/.installed: pyproject.toml requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3 setuptools==80.9.0 wheel==0.45.1 uv==0.13.10
	@# uv installs the same pinned set as pip would, several times faster (the CI run's install: 2 minutes before).
	@# Compiled to bytecode at install, as pip does: uv doesn't by default, and where PYTHONDONTWRITEBYTECODE is set
	@# (this machine) every process would compile Airflow, GX and pandas again (importing them: 9-12 s, not 4-5).
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements-dev.lock
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --no-deps --no-build-isolation -e .
	touch $@

run: install
	$(BIN)/qp demo-sources
	$(BIN)/qp migrate
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/qp run-dags > $(AIRFLOW_HOME)/last-run.log 2>&1 || (tail -80 $(AIRFLOW_HOME)/last-run.log; exit 1)
	@grep -h "DAG runs:\|demo sink" $(AIRFLOW_HOME)/last-run.log
	@echo "Airflow task logs of this run: $(AIRFLOW_HOME)/last-run.log"
	$(BIN)/qp summary
	@$(BIN)/qp report

# One more day in every demo source, then the DAGs over it: the incremental path, live.
simulate: install
	$(BIN)/qp simulate --run-dags > $(AIRFLOW_HOME)/last-run.log 2>&1 || (tail -80 $(AIRFLOW_HOME)/last-run.log; exit 1)
	@grep -h "^20..-..-..: \|DAG runs:\|demo sink" $(AIRFLOW_HOME)/last-run.log
	$(BIN)/qp summary
	@$(BIN)/qp report

# The full local Airflow (scheduler, triggerer, dag-processor; API server and UI on 127.0.0.1:8080, user admin,
# password in $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated) with the project's DAGs over the demo
# sources, the demo LMS/HR API beside it. Events: `touch data/signals/qms.ready`, or
# `redis-cli PUBLISH qualitypulse.qms go`. Ctrl-C stops everything.
airflow: install
	$(BIN)/qp demo-sources
	$(BIN)/qp migrate
	@mkdir -p $(AIRFLOW_HOME) data/signals
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/airflow pools set qp_warehouse 1 "QualityPulse warehouse writers" > /dev/null
	@# An Airflow home from before may hold the DAGs paused: this target is for watching them run.
	$(BIN)/airflow dags unpause --treat-dag-id-as-regex -y '^qp_' > /dev/null 2>&1
	PATH="$(CURDIR)/$(BIN):$$PATH" AIRFLOW__API__HOST=127.0.0.1 \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=orchestration.airflow_sqlite.CONNECT_ARGS \
	QP_LMS_API_URL=http://127.0.0.1:8765/api/v1 QP_LMS_API_TOKEN="$${QP_LMS_API_TOKEN:-local-demo-token}" \
	sh -c '$(BIN)/qp demo-api --port 8765 & trap "kill $$!" EXIT INT TERM; $(BIN)/airflow standalone'

# One pytest worker per core (most tests wait on databases, Airflow and subprocesses): TEST_WORKERS=0 runs in one.
# The slowest tests are listed at the end: where the CI time goes.
TEST_WORKERS ?= auto
test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=30

# Benchmarks on the local PostgreSQL (QP_BENCH_POSTGRES_URL): loads and extraction against COPY, KPI builds, validation,
# the delete reconciliation, and the validation and load stage on 1 and 2 Celery workers (Redis on 127.0.0.1).
bench: install
	$(BIN)/python -m benchmarks.load
	$(BIN)/python -m benchmarks.kpi_build
	$(BIN)/python -m benchmarks.extract
	$(BIN)/python -m benchmarks.validation
	$(BIN)/python -m benchmarks.deletes
	$(BIN)/python -m benchmarks.scaling

# Style, types, the layers (.importlinter) and the declared dependencies: CI runs this before the tests.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/deptry .

# Re-pin after changing dependencies in pyproject.toml (uv, from PyPI): the runtime lock from the project's
# dependencies, then the dev lock from them plus the `dev` extra, held to the runtime pins so both agree. Pins already
# in the files are kept unless something requires otherwise; `make lock UPGRADE=--upgrade` takes the newest.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --python-version 3.11 --quiet $(UPGRADE)
lock:
	@test -x $(BIN)/uv || (echo "no $(BIN)/uv: run make install first"; exit 1)
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock
	$(MAKE) install

clean:
	rm -rf data $(AIRFLOW_HOME)

distclean: clean
	rm -rf $(VENV) *.egg-info
