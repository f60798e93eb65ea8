"""What a build reports: the counts, the difference with the site before it, skips and warnings.

Plain data for the CLI and for ``publish``; computing it is :mod:`s9reg.builder.pipeline`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["BuildProgress", "BuildReport", "DownloadProgress", "PackageRef", "SkippedFile"]


class BuildProgress(Protocol):
    """Receives progress; the CLI draws it. ``begin`` per source file, ``advance`` per chunk."""

    def begin(self, path: Path, size: int) -> None:
        """A source file of ``size`` bytes is about to be verified."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes were verified."""


@runtime_checkable
class DownloadProgress(BuildProgress, Protocol):
    """A :class:`BuildProgress` that also receives downloads: one line per URL."""

    def download(self, url: str, size: int | None) -> Callable[[int], None]:
        """A download of ``url`` (``size`` bytes when known) starts; returns the byte counter."""


@dataclass(frozen=True, slots=True, order=True)
class PackageRef:
    """One package version: ``id`` and the version as written in its manifest."""

    package_id: str
    version: str

    def __str__(self) -> str:
        return f"{self.package_id}@{self.version}"


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A source left out under ``skip_invalid``: its path and why (error code and message)."""

    path: Path
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build produced, compared with the previous output (else the published index).

    Attributes:
        output: the site directory.
        packages: number of packages in the site.
        versions: number of package versions.
        variants: number of ``.s9pk`` files (hardware variants).
        added: versions not in the previous site.
        removed: versions of the previous site that are gone.
        changed: versions whose index entry differs from the previous one.
        unchanged: versions whose index entry is identical.
        skipped: sources left out (``skip_invalid``).
        warnings: one line each.
        up_to_date: nothing had changed; the output was left as it was.
        verified: source files verified in full by this build.
        from_cache: source files whose earlier verification was reused.
        verified_bytes: total size of the files verified in full.
        timings: wall seconds per phase: ``sources`` (stage, verify and index every source),
            ``os`` (OS releases), ``render`` (JSON and catalogue), ``write`` (files and swap).
    """

    output: Path
    packages: int
    versions: int
    variants: int
    added: tuple[PackageRef, ...] = ()
    removed: tuple[PackageRef, ...] = ()
    changed: tuple[PackageRef, ...] = ()
    unchanged: tuple[PackageRef, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    up_to_date: bool = False
    verified: int = 0
    from_cache: int = 0
    verified_bytes: int = 0
    timings: Mapping[str, float] = field(default_factory=dict)
