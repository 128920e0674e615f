"""Deliver alerts. Now: the run log; email, Slack and webhooks come with the alerting issue."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alerts.regressions import Alert

log = logging.getLogger("qualitypulse.alerts")


def log_alerts(new: Sequence[Alert], already_open: int = 0) -> None:
    for alert in new:
        log.warning("ALERT %s", alert.message)
    log.info("%d new alert(s), %d already raised before", len(new), already_open)
