#!/usr/bin/env bash
# First start of the PostgreSQL container: Airflow's metadata and the warehouse in separate databases,
# each with its own owner, a read-only role for the BI tool, the demo QMS and finance databases, and Marquez's
# (the lineage store). A volume made before Marquez was added lacks its database: run the two marquez lines by hand.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
create role airflow login password '${AIRFLOW_DB_PASSWORD}';
create database airflow owner airflow;
create role qualitypulse login password '${WAREHOUSE_DB_PASSWORD}';
create database qualitypulse owner qualitypulse;
create role qp_bi_reader login password '${WAREHOUSE_BI_PASSWORD}';
grant connect on database qualitypulse to qp_bi_reader;
create role qms login password '${QMS_DB_PASSWORD}';
create database qms owner qms;
create database finance owner qms;
create role marquez login password '${MARQUEZ_DB_PASSWORD}';
create database marquez owner marquez;
SQL
