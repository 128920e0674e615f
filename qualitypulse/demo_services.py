"""The demo source systems that are services, started for a run and stopped after it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import SecretStr

from qualitypulse.settings import Settings
from sources.demo_api import DemoApi


@contextmanager
def demo_lms_api(settings: Settings) -> Iterator[Settings]:
    """Serve the demo LMS/HR API on 127.0.0.1 unless a real one is configured; yields the settings to use.

    The URL and a fresh token also go into the environment for the duration, because Airflow tasks read their
    settings from it.
    """
    if settings.lms_api_url:
        yield settings
        return
    token = secrets.token_urlsafe(24)
    with DemoApi(settings.lms_store_dir, token) as api, _environment(QP_LMS_API_URL=api.url, QP_LMS_API_TOKEN=token):
        yield settings.model_copy(update={"lms_api_url": api.url, "lms_api_token": SecretStr(token)})


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
