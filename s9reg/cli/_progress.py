"""A byte-count progress bar on stderr, shown only on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

MIN_SIZE_FOR_BAR = 32 << 20


def transfer_bar(*, time_remaining: bool = True) -> Progress:
    """A transient bar on stderr: description, bar, bytes and rate (and time remaining)."""
    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    ]
    if time_remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=Console(stderr=True), transient=True)


@contextmanager
def byte_progress(label: str, total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield a callback taking byte counts; draws a bar if ``enabled`` and ``total`` is large."""
    if not enabled or total < MIN_SIZE_FOR_BAR:
        yield lambda _n: None
        return
    with transfer_bar() as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class BuildBar:
    """Draws ``s9reg build``'s verification progress: files done, bytes, rate, current file."""

    def __init__(
        self, total_bytes: int, total_files: int, *, enabled: bool, downloads: bool = False
    ) -> None:
        self._bar: Progress | None = None
        if not enabled or (total_files == 0 and not downloads):
            return
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[name]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._total_files = total_files
        self._done = 0
        self._task = self._bar.add_task(f"verifying 0/{total_files}", total=total_bytes, name="")

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def begin(self, path: Path, size: int) -> None:  # noqa: ARG002 - part of BuildProgress
        """A source file is about to be verified (or taken from the cache)."""
        if self._bar is not None:
            self._done += 1
            files = f"{self._done}/{self._total_files}"
            self._bar.update(self._task, description=f"verifying {files}", name=path.name)

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes were verified."""
        if self._bar is not None:
            self._bar.advance(self._task, nbytes)

    def download(self, url: str, size: int | None) -> Callable[[int], None]:
        """A line naming ``url`` with the bytes received and the rate (part of DownloadProgress)."""
        bar = self._bar
        if bar is None:
            return lambda _n: None
        task = bar.add_task("downloading", total=size, name=url)
        return lambda n: bar.advance(task, n)
