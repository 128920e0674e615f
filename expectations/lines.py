"""Production lines (QMS master data): each on one site, with the email of the person who owns it."""

import great_expectations as gx

from core.catalog import LINES
from expectations.rules import known, matches, not_null, unique


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=LINES.name,
        expectations=[
            *[not_null(c) for c in LINES.required],
            unique("line_id"),
            matches("owner_email", r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "owner_email is an email address"),
            known("site_id", "sites"),
        ],
    )
