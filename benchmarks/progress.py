"""A benchmark's steps as they go, on stderr: stdout keeps only the results a reader compares and copies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

_console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


@contextmanager
def step(what: str) -> Iterator[None]:
    """Show ``what`` while it runs (a spinner in a terminal) and its time once done."""
    started = time.perf_counter()
    with _console.status(what):
        yield
    _console.print(f"{what}: {time.perf_counter() - started:.1f} s")
