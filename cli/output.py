"""How the CLI shows things: progress of long work on stderr, and tables in aligned columns on stdout.

Progress goes to stderr, so stdout stays what a script or a test reads: in a terminal a bar with a line per finished
step above it, elsewhere (a log, a pipe, a test) the lines alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from core.progress import OnStep, Step


def step_line(step: Step) -> str:
    """``[3/7] qp_ingest_lms: success (12.3 s)``."""
    took = f" ({step.seconds:.1f} s)" if step.seconds is not None else ""
    return f"[{step.done}/{step.total}] {step.name}: {step.state}{took}"


@contextmanager
def progress(title: str) -> Iterator[OnStep]:
    """A callback for a library function's ``on_step`` that shows each finished step on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
    if not console.is_terminal:

        def print_step(step: Step) -> None:
            console.print(f"{title}: {step_line(step)}")

        yield print_step
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(title, total=None)

        def advance(step: Step) -> None:
            bar.update(task, completed=step.done, total=step.total)
            bar.console.print(f"{title}: {step_line(step)}")

        yield advance


def aligned(rows: Sequence[Sequence[str]], gap: str = "  ") -> list[str]:
    """Rows of cells as lines whose columns line up (each padded to its widest cell; the last one isn't padded).

    Plain text, never wrapped: a long subject stays on its line, so ``grep`` and a pipe read one row a line.
    """
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [gap.join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
