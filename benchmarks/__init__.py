"""Reproducible benchmarks of the warehouse loads and KPI builds, measured against the database's own limit."""
