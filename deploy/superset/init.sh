#!/bin/sh
# Superset's start-up, first and every later one: its metadata database, the admin user, the roles and permissions,
# then QualityPulse's assets (database, datasets, metrics, charts, dashboard), replacing those of an earlier start.
# Needs SUPERSET_ADMIN_PASSWORD and QP_SUPERSET_WAREHOUSE_URI (the warehouse through the read-only BI role).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
superset db upgrade
# An admin that exists already is left as it is (the command says so and succeeds).
superset fab create-admin --username "${SUPERSET_ADMIN_USER:-admin}" --firstname Quality --lastname Pulse \
    --email admin@example.invalid --password "$SUPERSET_ADMIN_PASSWORD"
superset init
python "$here/import_assets.py" "$here/assets"
