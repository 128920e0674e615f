"""The stages that compose sources, validation, the warehouse and alerting: ingest, load, KPIs, alerting, replay."""
