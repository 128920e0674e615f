"""All Airflow glue: Assets, event watchers, notifiers, task defaults, connections, the in-process DAG runner."""
