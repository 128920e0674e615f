"""BI as code: the BI tool's assets (database, datasets, metrics, charts, dashboards), generated from the BI views and
the KPI registry, so what people read is what QualityPulse provisions."""
