"""``s9reg publish --verify``: check the published registry in storage against its manifest.

A publish trusts the live manifest (that is what makes a no-op publish two requests), so an
object deleted, truncated or overwritten in the bucket by something else goes unnoticed until a
device fails to download it. The audit asks storage about every object of the live generation:
present, of the recorded size, with the recorded SHA-256 metadata and headers (one ``HEAD``
each) and, with ``content``, with bytes that hash to the recorded SHA-256 (a full download).
With ``repair``, each damaged object is uploaded again from the built site when the site's file
is the one the manifest records (same SHA-256), so the live generation is whole again without a
new generation; an object the site no longer has (or has changed) is left to a publish. The
audit also lists the objects no retained generation lists (orphans, which a publish deletes once
they are older than the grace time) and says when a publish was interrupted (a lease held, or the
pointer marked dirty). It deletes nothing.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from s9reg.publish.engine import hold_lease
from s9reg.publish.errors import PublishError, StorageError
from s9reg.publish.pull import live_manifest, stream_object
from s9reg.publish.settings import DEFAULT_LEASE_SECONDS
from s9reg.publish.state import (
    POINTER_KEY,
    STATE_DIR,
    Manifest,
    ObjectEntry,
    Pointer,
    format_time,
    manifest_key,
)
from s9reg.publish.target import Target, file_sha256

__all__ = ["AuditProblem", "AuditReport", "Orphan", "audit_published"]


@dataclass(frozen=True, slots=True)
class Orphan:
    """An object stored under the target that no retained generation lists."""

    key: str
    size: int
    modified: str

    def to_dict(self) -> dict[str, object]:
        """JSON shape."""
        return {"key": self.key, "size": self.size, "modified": self.modified}


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One object of the live generation that storage does not hold as recorded.

    Attributes:
        key: the object key.
        kind: ``missing``, ``size``, ``sha256`` (metadata), ``headers``, ``content`` (the
            bytes) or ``unreadable``.
        detail: what was found.
        repaired: uploaded again from the site (``repair``).
    """

    key: str
    kind: str
    detail: str
    repaired: bool = False

    def to_dict(self) -> dict[str, object]:
        """JSON shape."""
        return {
            "key": self.key,
            "kind": self.kind,
            "detail": self.detail,
            "repaired": self.repaired,
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What an audit found.

    Attributes:
        generation: the live generation checked.
        objects: objects it lists.
        bytes: their total size.
        content: whether the bytes were downloaded and hashed too.
        problems: objects not held as recorded, in key order.
        orphans: objects no retained generation lists, in key order (not a failure).
        interrupted: what the pointer says of a publish that did not finish, or None.
    """

    generation: int
    objects: int
    bytes: int
    content: bool
    problems: tuple[AuditProblem, ...]
    orphans: tuple[Orphan, ...] = ()
    interrupted: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing is wrong, or everything wrong was repaired."""
        return all(p.repaired for p in self.problems)

    def to_dict(self) -> dict[str, object]:
        """JSON shape for ``--json``."""
        return {
            "generation": self.generation,
            "objects": self.objects,
            "bytes": self.bytes,
            "content": self.content,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "orphans": [o.to_dict() for o in self.orphans],
            "interrupted": self.interrupted,
        }


def _check(target: Target, key: str, entry: ObjectEntry, content: bool) -> AuditProblem | None:
    problem = _check_head(target, key, entry)
    if problem is None and content:
        problem = _check_content(target, key, entry)
    return problem


def _check_head(target: Target, key: str, entry: ObjectEntry) -> AuditProblem | None:
    try:
        remote = target.head(key)
    except StorageError as e:
        return AuditProblem(key, "unreadable", e.message)
    problem = None
    if remote is None:
        problem = AuditProblem(key, "missing", "not in storage")
    elif remote.size != entry.size:
        problem = AuditProblem(key, "size", f"{remote.size} bytes, recorded {entry.size}")
    elif remote.sha256 is not None and remote.sha256 != entry.sha256:
        problem = AuditProblem(key, "sha256", f"metadata says {remote.sha256[:16]}…")
    elif remote.headers != entry.headers:
        got = remote.headers.describe()
        problem = AuditProblem(key, "headers", f"stored with {got}")
    return problem


def _check_content(target: Target, key: str, entry: ObjectEntry) -> AuditProblem | None:
    digest = hashlib.sha256()
    try:
        with stream_object(target, key) as read:
            while chunk := read():
                digest.update(chunk)
    except StorageError as e:
        return AuditProblem(key, "unreadable", e.message)
    if digest.hexdigest() != entry.sha256:
        return AuditProblem(key, "content", f"bytes hash to {digest.hexdigest()[:16]}…")
    return None


def _repair(target: Target, site: Path, problem: AuditProblem, entry: ObjectEntry) -> AuditProblem:
    parts = problem.key.split("/")
    if any(p in ("", ".", "..") for p in parts):  # a manifest naming a file outside the site
        return problem
    path = site.joinpath(*parts)
    try:
        if not path.is_file() or file_sha256(path) != entry.sha256:
            return problem
    except OSError:
        return problem
    # Always the bytes too: the first problem found may hide others (a "headers" object that
    # something else overwrote has other bytes as well).
    target.upload(problem.key, path, entry.headers, entry.sha256, lambda _n: None)
    return AuditProblem(problem.key, problem.kind, problem.detail, repaired=True)


def audit_published(  # noqa: PLR0913 - the audit's options, passed explicitly
    target: Target,
    *,
    content: bool = False,
    repair_from: Path | None = None,
    jobs: int = 8,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    break_lock: bool = False,
) -> AuditReport:
    """Check every object of the live generation in ``target`` (see the module docstring).

    A repair holds the publish lease (:func:`s9reg.publish.engine.hold_lease`) from before the
    live manifest is read until the last upload: it never runs while a publish is uploading.

    Args:
        target: the storage a site is published to.
        content: download every object and check its SHA-256 too.
        repair_from: a built site to upload damaged objects from again, where its file is the
            recorded one.
        jobs: requests at once.
        lease_seconds: a lease whose heartbeat is older than this may be taken over (repair).
        break_lock: take over a lease even if it looks alive (repair).

    Raises:
        PublishConflictError: a publish is in progress (repair).
        PublishError: nothing is published there, or the pointer or manifest is unreadable.
        StorageError: a repair upload failed.
    """
    if repair_from is None:
        return _audit(target, content, None, jobs, _pointer(target))
    if not repair_from.is_dir():
        raise PublishError(f"{repair_from}: no built site to repair from")
    with hold_lease(target, lease_seconds=lease_seconds, break_lock=break_lock) as before:
        return _audit(target, content, repair_from, jobs, before)


def _audit(
    target: Target, content: bool, repair_from: Path | None, jobs: int, pointer: Pointer
) -> AuditReport:
    manifest = live_manifest(target)
    objects = sorted(manifest.objects.items())

    def one(item: tuple[str, ObjectEntry]) -> AuditProblem | None:
        return _check(target, item[0], item[1], content)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        found = [p for p in pool.map(one, objects) if p is not None]
    if repair_from is not None and found:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            found = list(
                pool.map(lambda p: _repair(target, repair_from, p, manifest.objects[p.key]), found)
            )
    return AuditReport(
        generation=manifest.generation,
        objects=len(objects),
        bytes=sum(e.size for _, e in objects),
        content=content,
        problems=tuple(found),
        orphans=_orphans(target, pointer, set(manifest.objects)),
        interrupted=_interrupted(pointer),
    )


def _pointer(target: Target) -> Pointer:
    found = target.read(POINTER_KEY)
    if found is None:  # removed since the manifest was read
        raise PublishError(f"{target}: nothing is published there (no {POINTER_KEY})")
    return Pointer.from_json(found[0], f"{target}/{POINTER_KEY}")


def _orphans(target: Target, pointer: Pointer, live: set[str]) -> tuple[Orphan, ...]:
    listed = set(live)
    for gen in pointer.history:
        if gen.number == pointer.generation:
            continue
        found = target.read(manifest_key(gen.number))
        if found is None:
            return ()  # a retained manifest is missing: nothing can be called an orphan
        listed |= set(Manifest.from_json(found[0], f"{target}/{manifest_key(gen.number)}").objects)
    return tuple(
        Orphan(key, obj.size, format_time(obj.modified))
        for key, obj in sorted(target.list().items())
        if key not in listed and not key.startswith(f"{STATE_DIR}/")
    )


def _interrupted(pointer: Pointer) -> str | None:
    notes = [n for n in (_unfinished(pointer), _broken(pointer)) if n]
    return "; ".join(notes) or None


def _broken(pointer: Pointer) -> str | None:
    t = pointer.takeover
    if t is None:
        return None
    return (
        f"the lease of a publish by {t.owner} (started {format_time(t.started)}) was broken at "
        f"{format_time(t.at)} by {t.by}, which checked every object it published"
    )


def _unfinished(pointer: Pointer) -> str | None:
    lease = pointer.lease
    if lease is not None:
        return (
            f"a publish by {lease.owner} (started {format_time(lease.started)}, last heartbeat "
            f"{format_time(lease.heartbeat)}) holds the lease: it is running, or it was "
            "interrupted and objects may differ from the manifest until a publish takes it over"
        )
    if pointer.dirty:
        return (
            "the last publish failed or was interrupted (pointer marked dirty): the next "
            "publish checks every object"
        )
    return None
