"""Hand a running task's inputs and outputs (``pipeline/lineage.py``) to Airflow's OpenLineage provider.

The provider's listener emits a START and a COMPLETE (or FAIL) event for every task; with no extractor for a
Python task it takes the datasets from the task's inlets and outlets, translating Assets with ``file://`` URIs
itself and taking OpenLineage datasets as they are. A task knows its datasets only when it runs (Airflow
connections override the source locations; a mapped task loads one dataset), so :func:`report_lineage` adds them to
the running task's inlets and outlets, and the task's COMPLETE or FAIL event carries them. Airflow itself ignores
lineage objects that are not Assets (no Asset events, no scheduling).

Configuration is Airflow's, by environment: ``AIRFLOW__OPENLINEAGE__TRANSPORT`` (or ``OPENLINEAGE_URL``, or a config
file) and ``AIRFLOW__OPENLINEAGE__NAMESPACE``. With none of them the provider disables itself (no listener) and
:func:`report_lineage` returns at once.
"""

from __future__ import annotations

from typing import Any

from pipeline.lineage import Lineage, LineageDataset


def openlineage_enabled() -> bool:
    """True when the OpenLineage provider is installed and configured to send events somewhere."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:
        return False
    return not is_disabled()


def report_lineage(lineage: Lineage, task: Any = None) -> None:
    """Add ``lineage`` to the inlets and outlets of ``task`` (default: the running task), once each."""
    if not openlineage_enabled():
        return
    from airflow.providers.common.compat.openlineage.facet import Dataset

    if task is None:
        from airflow.sdk import get_current_context

        task = get_current_context()["task"]

    def merged(current: list[Any], datasets: tuple[LineageDataset, ...]) -> list[Any]:
        # A file:// Asset (the raw batches' folder) the provider translates itself: not twice.
        known = {(d.namespace, d.name) if isinstance(d, Dataset) else getattr(d, "uri", None) for d in current}
        known = {k for k in known if not isinstance(k, str) or k.startswith("file://")}
        new = [
            Dataset(namespace=d.namespace, name=d.name)
            for d in datasets
            if (d.namespace, d.name) not in known and d.uri not in known
        ]
        return [*current, *new]

    task.inlets = merged(list(task.inlets), lineage.inputs)
    task.outlets = merged(list(task.outlets), lineage.outputs)
