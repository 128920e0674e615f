"""Detect quality regressions with SPC and targets, and notify the people who own them."""
