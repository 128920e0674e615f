"""Connection arguments for a local Airflow whose metadata database is SQLite (``make airflow``).

SQLite lets one writer in at a time and, by default, gives up after 5 seconds of waiting with "database is
locked". With the scheduler, triggerer, dag-processor and API server all writing, a CLI command such as
``airflow backfill create`` on a loaded machine can wait longer than that. Point Airflow at this dict with
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=orchestration.airflow_sqlite.CONNECT_ARGS``. (Production uses
PostgreSQL for Airflow's metadata: see docker-compose.yml.)
"""

CONNECT_ARGS: dict[str, object] = {"timeout": 60}
