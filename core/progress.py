"""Progress of long work, as data: a library function reports each finished step to an optional callback, and the
edge (the CLI, a benchmark) decides how to show it. Nothing below the CLI draws on a terminal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One finished step of a piece of work."""

    done: int  # steps finished so far, this one included
    total: int  # steps in all, as known when this one finished
    name: str  # what finished: a dataset, a batch, a DAG, a part of the demo
    state: str = "done"  # how it ended, in the work's own terms (a batch's status, a DAG run's state)
    seconds: float | None = None  # how long it took, where the work measured it


OnStep = Callable[[Step], None]
