"""QualityPulse: source systems -> validation -> warehouse -> KPIs -> SPC alerts."""
