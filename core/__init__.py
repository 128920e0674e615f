"""The shared base every layer stands on: settings, the dataset catalog, the KPI registry, the landing zone, the
engine factory and the records passed between layers."""
