"""``qp``: the QualityPulse command line."""
