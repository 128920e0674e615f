"""Outside events that say a source has new data, as Airflow Assets with watchers.

Each source has a signal Asset, ``qualitypulse.signal.<source>``, that its ingest DAG is scheduled on besides
its nightly cron. Its watchers (run by the triggerer) turn outside events into Asset events:
- a ready marker, ``<QP_SIGNAL_DIR>/<source>.ready``, dropped by the source system (taken and deleted);
- a message on the queue ``QP_EVENT_QUEUE``: Redis pub/sub by default (channel ``<prefix>.<source>``, Airflow
  connection ``qp_events``); any other queue the common-messaging provider supports (SQS, Kafka) by URI, with its
  provider installed;
- a source may also post an Asset event to Airflow's REST API (see the README).

Events are hints: Redis pub/sub drops what nobody is listening for, and a marker may never come. Every ingest run
takes everything new since the dataset's watermark, so a lost event only delays data to the next event or the
nightly run.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset, AssetWatcher

from core.settings import Settings

REDIS_PUBSUB = "redis+pubsub"


def signal_asset_name(source: str) -> str:
    return f"qualitypulse.signal.{source}"


def ready_marker(settings: Settings, source: str) -> Path:
    """Where a source drops its ready marker."""
    return settings.signal_dir / f"{source}.ready"


def channel(settings: Settings, source: str) -> str:
    """The Redis pub/sub channel a source publishes to."""
    return f"{settings.event_channel_prefix}.{source}"


def watchers(settings: Settings, source: str) -> list[AssetWatcher]:
    """The watchers of ``source``'s signal Asset, as configured."""
    from airflow.providers.standard.triggers.file import DirectoryFileDeleteTrigger

    marker = ready_marker(settings, source)
    found: list[AssetWatcher] = [
        AssetWatcher(
            name=f"qp_{source}_ready_marker",
            trigger=DirectoryFileDeleteTrigger(
                directory=str(marker.parent), filename=marker.name, poke_interval=settings.signal_poke_seconds
            ),
        )
    ]
    if settings.event_queue:
        from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

        if settings.event_queue == REDIS_PUBSUB:
            trigger = MessageQueueTrigger(
                scheme=REDIS_PUBSUB,
                channels=[channel(settings, source)],
                redis_conn_id=settings.event_conn_id,
                poll_interval=settings.event_poll_seconds,
            )
        else:  # an SQS queue URL or a Kafka URI: the common-messaging provider picks the provider by its form
            trigger = MessageQueueTrigger(queue=settings.event_queue)
        found.append(AssetWatcher(name=f"qp_{source}_queue", trigger=trigger))
    return found


def signal_asset(settings: Settings, source: str) -> Asset:
    """``qualitypulse.signal.<source>``: the source said it has new data."""
    return Asset(name=signal_asset_name(source), group="qualitypulse-signals", watchers=watchers(settings, source))
