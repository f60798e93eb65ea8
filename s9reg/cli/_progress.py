"""A byte-count progress bar on stderr, shown only on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

MIN_SIZE_FOR_BAR = 32 << 20


@contextmanager
def byte_progress(label: str, total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield a callback taking byte counts; draws a bar if ``enabled`` and ``total`` is large."""
    if not enabled or total < MIN_SIZE_FOR_BAR:
        yield lambda _n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
