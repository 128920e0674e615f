"""The ingest DAGs' watchers, as the triggerer runs them: a ready marker in a real folder, a message on real Redis."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from core.settings import Settings
from orchestration import events

pytestmark = pytest.mark.dags

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def event_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # A channel of this test's own, on the machine's Redis, through the Airflow connection the watchers use.
    monkeypatch.setenv("AIRFLOW_CONN_QP_EVENTS", REDIS_URL)
    return Settings(
        data_dir=tmp_path,
        signal_poke_seconds=0.1,
        event_poll_seconds=0.05,
        event_channel_prefix=f"qp-test-{uuid.uuid4().hex[:8]}",
    )


def _trigger(settings: Settings, source: str, kind: str) -> Any:
    (watcher,) = [w for w in events.watchers(settings, source) if w.name == f"qp_{source}_{kind}"]
    return watcher.trigger


async def _first_event(trigger: Any, act, timeout: float = 20.0) -> Any:  # type: ignore[no-untyped-def]
    """Run the trigger as the triggerer would, doing ``act`` (until it fires) while it listens."""

    async def listen() -> Any:
        async for event in trigger.run():
            return event
        return None

    listening = asyncio.ensure_future(listen())
    try:
        async with asyncio.timeout(timeout):
            while not listening.done():
                await act()
                await asyncio.wait({listening}, timeout=0.2)
        return listening.result()
    finally:
        listening.cancel()


def test_a_ready_marker_fires_the_sources_watcher_once_and_is_taken(event_settings):
    marker = events.ready_marker(event_settings, "qms")
    marker.parent.mkdir(parents=True)

    async def drop() -> None:
        marker.touch()

    event = asyncio.run(_first_event(_trigger(event_settings, "qms", "ready_marker"), drop))

    assert event is not None and not marker.exists()  # taken: the next marker is the next event
    assert not events.ready_marker(event_settings, "lms").exists()


def test_a_message_on_redis_fires_the_sources_watcher(event_settings):
    publisher = redis.Redis.from_url(REDIS_URL)
    sent = '{"source": "survey", "note": "export of 2026-11-24 ready"}'

    async def publish() -> None:
        # Pub/sub keeps nothing for late subscribers: publish until the watcher has subscribed and heard it.
        publisher.publish(events.channel(event_settings, "survey"), sent)

    event = asyncio.run(_first_event(_trigger(event_settings, "survey", "queue"), publish))
    publisher.close()

    assert event.payload["channel"] == events.channel(event_settings, "survey")
    assert event.payload["data"] == sent


def test_the_other_sources_channels_stay_quiet(event_settings):
    """A message for one source doesn't start another's ingestion."""
    publisher = redis.Redis.from_url(REDIS_URL)

    async def publish_elsewhere() -> None:
        publisher.publish(events.channel(event_settings, "qms"), "qms has data")

    with pytest.raises(TimeoutError):
        asyncio.run(_first_event(_trigger(event_settings, "lms", "queue"), publish_elsewhere, timeout=2.0))
    publisher.close()


def test_without_a_queue_only_the_marker_is_watched(tmp_path):
    settings = Settings(data_dir=tmp_path, event_queue="")
    assert [w.name for w in events.watchers(settings, "finance")] == ["qp_finance_ready_marker"]
