"""What a publish does: the site's objects, the plan against the live manifest, and the report.

Pure data and planning; reading and writing the target is :mod:`s9reg.publish._publisher`'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from s9reg.publish.errors import PublishError
from s9reg.publish.policy import ObjectHeaders, Phase, classify
from s9reg.publish.state import STATE_DIR, Generation, ObjectEntry
from s9reg.publish.target import RemoteObject, file_sha256
from s9reg.site_layout import SITE_FILE

__all__ = [
    "Action",
    "LocalObject",
    "NoProgress",
    "PlanItem",
    "PublishProgress",
    "PublishReport",
    "now_utc",
    "phase_order",
    "plan_sync",
    "retention",
    "same_object",
    "scan_site",
]


class Action(StrEnum):
    """What a publish does to one object."""

    UPLOAD = "upload"
    HEADERS = "headers"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class LocalObject:
    """A file of the built site, hashed and classified."""

    key: str
    path: Path
    sha256: str
    size: int
    phase: Phase
    headers: ObjectHeaders


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One step of the plan.

    Attributes:
        action: upload, header change or deletion.
        key: the site-relative key.
        size: bytes to send (uploads) or stored (others).
        reason: ``new``, ``changed``, ``headers`` or ``unreferenced``.
        phase: the upload phase, None for deletions.
    """

    action: Action
    key: str
    size: int
    reason: str
    phase: Phase | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape (``--json``)."""
        return {
            "action": str(self.action),
            "key": self.key,
            "size": self.size,
            "reason": self.reason,
            "phase": None if self.phase is None else self.phase.label,
        }


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What a publish did (or, with ``dry_run``, would do).

    Attributes:
        target: where it published.
        generation: the live generation afterwards.
        previous_generation: the live generation before.
        dry_run: nothing was written.
        uploads: objects sent, in order.
        header_updates: objects whose headers were replaced in place.
        deletions: objects deleted (or due for deletion in a dry run).
        deferred_deletions: deletions held back by ``max_delete``.
        unchanged: objects already published as they are.
        kept: objects of the live generation that an overlay site lacks, carried as they are.
        resumed: objects an interrupted publish had already sent (not sent again).
        orphans: of the deletions, objects no generation listed (left by an abandoned publish).
        warnings: one line each.
    """

    target: str
    generation: int
    previous_generation: int
    dry_run: bool
    uploads: tuple[PlanItem, ...] = ()
    header_updates: tuple[PlanItem, ...] = ()
    deletions: tuple[PlanItem, ...] = ()
    deferred_deletions: int = 0
    unchanged: int = 0
    kept: int = 0
    resumed: int = 0
    orphans: int = 0
    warnings: tuple[str, ...] = field(default=())

    @property
    def upload_bytes(self) -> int:
        """Bytes sent (or to send)."""
        return sum(i.size for i in self.uploads)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape (``--json``)."""
        return {
            "target": self.target,
            "generation": self.generation,
            "previousGeneration": self.previous_generation,
            "dryRun": self.dry_run,
            "uploaded": len(self.uploads),
            "uploadBytes": self.upload_bytes,
            "headerUpdates": len(self.header_updates),
            "deleted": len(self.deletions),
            "deferredDeletions": self.deferred_deletions,
            "unchanged": self.unchanged,
            "kept": self.kept,
            "resumed": self.resumed,
            "orphans": self.orphans,
            "plan": [i.to_dict() for i in (*self.uploads, *self.header_updates, *self.deletions)],
            "warnings": list(self.warnings),
        }


class PublishProgress(Protocol):
    """Receives progress; the CLI draws it. Methods may be called from worker threads."""

    def phase(self, label: str, objects: int, nbytes: int) -> None:
        """A phase with ``objects`` objects and ``nbytes`` bytes to send begins."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes were sent."""


class NoProgress:
    """A :class:`PublishProgress` that shows nothing."""

    def phase(self, label: str, objects: int, nbytes: int) -> None:
        """Nothing."""

    def advance(self, nbytes: int) -> None:
        """Nothing."""


def now_utc() -> datetime:
    """The current time in whole seconds, UTC."""
    return datetime.now(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------------------------
# The local site
# --------------------------------------------------------------------------------------------


def scan_site(site: Path, jobs: int = 8) -> dict[str, LocalObject]:
    """Every file of a built site, hashed (in parallel) and classified, sorted by key.

    Raises:
        PublishError: ``site`` is not a built site, or a file cannot be read.
    """
    if not (site / SITE_FILE).is_file():
        msg = f"{site}: not a built site (no {SITE_FILE})"
        raise PublishError(msg, hint="run s9reg build first")
    if (site / STATE_DIR).exists():
        msg = f"{site}: a site must not contain {STATE_DIR}/ (it holds s9reg's publish state)"
        raise PublishError(msg, hint="publish to another directory than the site itself")
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(site):
        dirnames.sort()
        base = Path(dirpath)
        rel = base.relative_to(site).as_posix()
        for name in sorted(filenames):
            path = base / name
            if path.is_file():
                found.append((name if rel == "." else f"{rel}/{name}", path))

    def one(item: tuple[str, Path]) -> LocalObject:
        key, path = item
        try:
            sha, size = file_sha256(path), path.stat().st_size
        except OSError as e:
            raise PublishError(f"{path}: cannot read: {e.strerror or e}") from e
        phase, headers = classify(key)
        return LocalObject(key, path, sha, size, phase, headers)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return {o.key: o for o in pool.map(one, sorted(found))}


def plan_sync(
    local: dict[str, LocalObject], live: dict[str, ObjectEntry], now: datetime
) -> tuple[list[PlanItem], list[PlanItem], dict[str, ObjectEntry]]:
    """Uploads and header updates (in phase order) and the new manifest's objects."""
    uploads: list[PlanItem] = []
    header_updates: list[PlanItem] = []
    objects: dict[str, ObjectEntry] = {}
    for key, obj in local.items():
        old = live.get(key)
        same = old is not None and old.sha256 == obj.sha256 and old.size == obj.size
        first = old.first_published if old is not None and same else now
        objects[key] = ObjectEntry(
            sha256=obj.sha256, size=obj.size, headers=obj.headers, first_published=first
        )
        if old is None:
            uploads.append(PlanItem(Action.UPLOAD, key, obj.size, "new", obj.phase))
        elif not same:
            uploads.append(PlanItem(Action.UPLOAD, key, obj.size, "changed", obj.phase))
        elif old.headers != obj.headers:
            header_updates.append(PlanItem(Action.HEADERS, key, obj.size, "headers", obj.phase))
    order = {k: n for n, k in enumerate(phase_order(local.values()))}
    uploads.sort(key=lambda i: order[i.key])
    header_updates.sort(key=lambda i: order[i.key])
    return uploads, header_updates, objects


def same_object(got: RemoteObject, obj: LocalObject) -> bool:
    """Whether a stored object holds the local object's bytes (by SHA-256 and size)."""
    return got.sha256 == obj.sha256 and got.size == obj.size


def phase_order(objs: Iterable[LocalObject]) -> list[str]:
    """Keys in upload order: by phase, then by key."""
    return [o.key for o in sorted(objs, key=lambda o: (o.phase, o.key))]


def retention(
    history: Sequence[Generation], keep: int, grace: timedelta, now: datetime
) -> tuple[list[Generation], list[Generation]]:
    """Split generations (oldest first) into retained and expired ones."""
    retained: list[Generation] = []
    expired: list[Generation] = []
    for n, gen in enumerate(history):
        recent = n >= len(history) - keep
        in_grace = gen.retired is None or now - gen.retired < grace
        (retained if recent or in_grace else expired).append(gen)
    return retained, expired
