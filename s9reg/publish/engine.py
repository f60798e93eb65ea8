"""``publish_site``: sync a built site to a target safely (publishing-lessons.md §1-§5, §15.2-4).

A publish takes a lease by replacing the pointer conditionally, uploads what changed in phase
order (files, pages, API results, index), writes the new generation's manifest, moves the
pointer with another conditional write, and only then deletes objects that no retained
generation references. Change detection compares SHA-256 digests with the live manifest, so
an unchanged site costs two reads, whatever its size or its files' modification times.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from s9reg.errors import S9regError
from s9reg.publish.errors import (
    PublishConflictError,
    PublishError,
    PublishInterruptedError,
    StorageError,
)
from s9reg.publish.policy import CACHE_IMMUTABLE, ObjectHeaders, Phase, classify, state_headers
from s9reg.publish.settings import DEFAULT_LEASE_SECONDS, DirSettings, PublishSettings
from s9reg.publish.state import (
    POINTER_KEY,
    STATE_DIR,
    Generation,
    Lease,
    Manifest,
    ObjectEntry,
    Pointer,
    Takeover,
    format_time,
    manifest_key,
)
from s9reg.publish.target import (
    DirTarget,
    PreconditionFailedError,
    RemoteObject,
    Target,
    file_sha256,
)
from s9reg.site_layout import SITE_FILE

if TYPE_CHECKING:
    import boto3

__all__ = [
    "Action",
    "LocalObject",
    "PlanItem",
    "PublishProgress",
    "PublishReport",
    "hold_lease",
    "open_target",
    "publish_site",
    "scan_site",
]

SITE_MARKER = SITE_FILE


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


class _NoProgress:
    def phase(self, label: str, objects: int, nbytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------------------------
# The local site
# --------------------------------------------------------------------------------------------


def scan_site(site: Path, jobs: int = 8) -> dict[str, LocalObject]:
    """Every file of a built site, hashed (in parallel) and classified, sorted by key.

    Raises:
        PublishError: ``site`` is not a built site, or a file cannot be read.
    """
    if not (site / SITE_MARKER).is_file():
        msg = f"{site}: not a built site (no {SITE_MARKER})"
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


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def open_target(settings: PublishSettings, session: boto3.Session | None = None) -> Target:
    """The target ``settings`` names (boto3 is imported only for S3).

    Raises:
        PublishError: a directory target would overlap the site.
    """
    if isinstance(settings.target, DirSettings):
        root = settings.target.path.resolve()
        site = settings.site.resolve()
        if root == site or site in root.parents or root in site.parents:
            msg = f"{root}: the publish directory must not overlap the site {site}"
            raise PublishError(msg)
        return DirTarget(root)
    from s9reg.publish.s3 import S3Target  # noqa: PLC0415 - boto3 only when needed

    return S3Target(settings.target, settings, session)


def check_target(settings: PublishSettings) -> None:
    """Check that the target can be published to, before anything costly (a build) is done.

    A directory target is created (in a dry run only its nearest existing ancestor is
    checked); an S3 target's pointer is read once, which checks the bucket and credentials.

    Raises:
        PublishError: the directory cannot be created, or overlaps the site.
        StorageError: the storage cannot be read.
    """
    if isinstance(settings.target, DirSettings):
        given = settings.target.path
        if settings.dry_run:
            where = given.absolute()
            while not where.exists() and where != where.parent:
                where = where.parent
            if not where.is_dir():
                raise PublishError(f"{given}: cannot publish there: {where} is not a directory")
        else:
            try:
                given.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                msg = f"{given}: cannot create the publish directory: {e.strerror or e}"
                raise PublishError(msg) from e
    target = open_target(settings)
    try:
        target.read(POINTER_KEY)
    finally:
        target.close()


def publish_site(
    settings: PublishSettings,
    target: Target | None = None,
    *,
    progress: PublishProgress | None = None,
    clock: Callable[[], datetime] = _now,
) -> PublishReport:
    """Publish the built site ``settings.site`` to its target, or plan it (``dry_run``).

    Order: a lease is taken by replacing the pointer conditionally (``If-None-Match: *`` on
    the first publish, ``If-Match`` on the ETag read otherwise); then package files and
    icons, per-package pages, API results and feeds, and the full index and home page are
    sent, each phase in parallel (``jobs``) and after the previous one has finished; the new
    generation's manifest is written; the pointer names it (another conditional write).
    Only then are objects deleted that none of the retained generations lists: the last
    ``keep_generations`` ones and those retired less than ``grace_seconds`` ago. Deletion is
    skipped (deferred) when more than ``max_delete`` objects are due.

    With ``overlay`` the site is partial: every object of the live generation that it lacks
    is carried into the new manifest unchanged (so it is neither uploaded nor deleted), and
    the site's objects are added or replace live ones; after an interrupted publish each
    carried object is checked with a HEAD and recorded as stored. ``expect_generation`` makes
    the publish stop with a conflict unless that generation is still the live one.

    A publish that fails releases its lease and marks the pointer ``dirty``; a publish that
    dies keeps the lease until its heartbeat is older than ``lease_seconds``. Either way the
    next run checks every object of its site in storage (one HEAD each, SHA-256 from the
    object metadata): planned uploads already there are not sent again, and objects the
    interrupted publish overwrote are sent again, so the live objects match the manifest the
    run publishes, even when it publishes the live generation's site again (a rollback).

    Args:
        settings: site, target and limits.
        target: an open target; by default one is opened from ``settings`` and closed after.
        progress: receives phase and byte progress.
        clock: the current time (tests move it).

    Returns:
        What was (or would be) uploaded, changed and deleted.

    Raises:
        PublishConflictError: another publish holds the lease or moved the pointer first;
            this publish has changed nothing visible.
        PublishError: the site or the stored state is unusable, or a storage request failed
            after its retries; the previous generation stays live.
    """
    own = target is None
    tgt = open_target(settings) if target is None else target
    try:
        return _Publisher(settings, tgt, progress or _NoProgress(), clock).run()
    finally:
        if own:
            tgt.close()


@contextmanager
def hold_lease(
    target: Target,
    *,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    break_lock: bool = False,
    clock: Callable[[], datetime] = _now,
) -> Iterator[Pointer]:
    """Hold the publish lease while writing live objects outside a publish (``--repair``).

    The lease is taken as a publish takes it, so a repair never runs while a publish is
    uploading (it would revert what the publish sent, and the publish would then move the
    pointer over the reverted objects). On leaving, the lease is released; if it had been taken
    over from an interrupted publish, the pointer is left ``dirty`` so that the next publish
    checks every object. The lease is not renewed: work longer than ``lease_seconds`` may be
    taken over, and its release then fails with a conflict.

    Yields:
        The pointer as it was before the lease was taken.

    Raises:
        PublishConflictError: a publish holds a live lease, or took this one over.
        StorageError: the pointer cannot be read or written.
    """
    # The lease logic is the publisher's; its site and target settings are not used here.
    settings = PublishSettings(
        site=Path(),
        target=DirSettings(path=Path()),
        lease_seconds=lease_seconds,
        break_lock=break_lock,
    )
    pub = _Publisher(settings, target, _NoProgress(), clock)
    pub._read_pointer()  # noqa: SLF001 - the publisher's own protocol, reused
    before = pub.pointer
    pub._check_lease(clock())  # noqa: SLF001
    now = clock()
    owner = f"{socket.gethostname()}:{os.getpid()}"
    lease = Lease(id=uuid.uuid4().hex, owner=owner, started=now, heartbeat=now)
    pub._cas(_taking(before, lease))  # noqa: SLF001
    pub._holding = True  # noqa: SLF001
    dirty = before.dirty or before.lease is not None
    try:
        yield before
    except BaseException:
        pub._release(dirty=dirty)  # noqa: SLF001
        raise
    pub._cas(pub.pointer.with_lease(None, dirty=dirty))  # noqa: SLF001


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def _plan(
    local: dict[str, LocalObject], live: dict[str, ObjectEntry], now: datetime
) -> tuple[list[PlanItem], list[PlanItem], dict[str, ObjectEntry]]:
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
    order = {k: n for n, k in enumerate(_phase_order(local.values()))}
    uploads.sort(key=lambda i: order[i.key])
    header_updates.sort(key=lambda i: order[i.key])
    return uploads, header_updates, objects


_RESUME_HINT = "run s9reg publish again: it resumes (nothing already stored is sent again)"


def _name_step(e: S9regError, step: str, state: str) -> None:
    """Say in ``e``'s message which step of the publish failed and what is live now."""
    e.message = f"{step} failed: {e.message}; {state}"
    e.args = (e.message,)
    if e.hint is None:
        e.hint = _RESUME_HINT


def _taking(pointer: Pointer, lease: Lease) -> Pointer:
    """``pointer`` with ``lease``, recording the takeover when another lease was held."""
    old = pointer.lease
    if old is None:
        return pointer.with_lease(lease)
    broken = Takeover(owner=old.owner, started=old.started, at=lease.started, by=lease.owner)
    return replace(pointer.with_lease(lease), takeover=broken)


def _local_process(owner: str) -> bool | None:
    """Whether a lease owner (``host:pid``) of this machine is running; None if not of this one."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


def _same(got: RemoteObject, obj: LocalObject) -> bool:
    return got.sha256 == obj.sha256 and got.size == obj.size


def _phase_order(objs: Iterable[LocalObject]) -> list[str]:
    return [o.key for o in sorted(objs, key=lambda o: (o.phase, o.key))]


def _retention(
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


# --------------------------------------------------------------------------------------------
# The publisher
# --------------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _Plan:
    previous: Pointer
    uploads: list[PlanItem]
    header_updates: list[PlanItem]
    objects: dict[str, ObjectEntry]
    resume: bool
    changed: bool
    generation: int
    history: list[Generation]
    kept: int = 0
    resumed: int = 0
    retained: list[Generation] = field(default_factory=list)
    expired: list[Generation] = field(default_factory=list)
    deletions: list[PlanItem] = field(default_factory=list)
    deferred: bool = False

    @property
    def cleanup(self) -> bool:
        return bool(self.expired or self.deletions) and not self.deferred


class _Publisher:
    def __init__(
        self,
        settings: PublishSettings,
        target: Target,
        progress: PublishProgress,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.target = target
        self.progress = progress
        self.clock = clock
        self.etag: str | None = None
        self.pointer = Pointer()
        self.warnings: list[str] = []
        self._last_beat = datetime.min.replace(tzinfo=UTC)
        self._holding = False
        self._released = False
        self._manifests: dict[int, dict[str, ObjectEntry] | None] = {}

    # --- state ------------------------------------------------------------------------------

    def _read_pointer(self) -> None:
        got = self.target.read(POINTER_KEY)
        if got is not None:
            self.pointer = Pointer.from_json(got[0], f"{self.target}: {POINTER_KEY}")
            self.etag = got[1]

    def _manifest(self, generation: int) -> Manifest | None:
        key = manifest_key(generation)
        got = self.target.read(key)
        return None if got is None else Manifest.from_json(got[0], f"{self.target}: {key}")

    def _cas(self, pointer: Pointer) -> None:
        """Replace the pointer only if it is still the one this publish last read or wrote."""
        try:
            self.etag = self.target.write(
                POINTER_KEY,
                pointer.to_json(),
                state_headers(),
                if_match=self.etag,
                if_none_match=self.etag is None,
            )
        except PreconditionFailedError:
            if not self._holding:
                msg = f"{self.target}: another publish changed {POINTER_KEY} at the same time"
                hint = "nothing of this publish is live; run it again when the other is done"
            else:
                msg = f"{self.target}: another publish took over this one's lease (--break-lock)"
                hint = "this publish did not move the pointer; run it again when the other is done"
            raise PublishConflictError(msg, hint=hint) from None
        self.pointer = pointer

    def _check_lease(self, now: datetime) -> None:
        lease = self.pointer.lease
        if lease is None:
            return
        age = int((now - lease.heartbeat).total_seconds())
        here = _local_process(lease.owner)
        if here is False and not self.settings.break_lock:
            # A publish of this machine whose process is gone (killed, or a failure that
            # could not release the lease): no need to wait for its heartbeat to go stale.
            self.warnings.append(
                f"taking over the lease of {lease.owner}, a publish on this machine that is no "
                f"longer running (started {format_time(lease.started)})"
            )
            return
        if age < self.settings.lease_seconds and not self.settings.break_lock:
            msg = (
                f"{self.target}: a publish by {lease.owner} (started {format_time(lease.started)},"
                f" last heartbeat {age} s ago) is in progress"
            )
            if here:
                hint = "it is running on this machine: wait for it, then run again"
            else:
                hint = (
                    f"wait for it and run again; if it died, run again in "
                    f"{self.settings.lease_seconds - age} s or with --break-lock"
                )
            if self.settings.dry_run:
                self.warnings.append(f"{msg}; {hint}")
                return
            raise PublishConflictError(msg, hint=hint)
        self.warnings.append(
            f"taking over the lease of an interrupted publish by {lease.owner} "
            f"(started {format_time(lease.started)})"
        )

    def _heartbeat(self, *, force: bool = False) -> None:
        lease = self.pointer.lease
        if lease is None:
            return
        now = self.clock()
        interval = timedelta(seconds=max(self.settings.lease_seconds / 3, 1))
        if force or now - self._last_beat >= interval:
            self._cas(self.pointer.with_lease(replace(lease, heartbeat=now)))
            self._last_beat = now

    # --- main -------------------------------------------------------------------------------

    def run(self) -> PublishReport:
        s = self.settings
        try:
            local = scan_site(s.site, s.jobs)
            plan = self._plan(local)
        except KeyboardInterrupt:
            live = (
                f"generation {self.pointer.generation} is live" if self.pointer.generation else ""
            )
            msg = f"{self.target}: interrupted while planning: nothing was changed"
            raise PublishInterruptedError(f"{msg}; {live}" if live else msg) from None
        if s.dry_run:
            return self._report(plan, local, [] if plan.deferred else plan.deletions)
        if not (plan.changed or plan.resume or plan.cleanup):
            return self._report(plan, local, [])
        self._publish(plan, local)
        self._clean(plan)
        return self._report(plan, local, plan.deletions if plan.cleanup else [])

    def _plan(self, local: dict[str, LocalObject]) -> _Plan:
        s = self.settings
        now = self.clock()
        self._read_pointer()
        self._check_lease(now)
        previous = self.pointer
        if s.expect_generation is not None and previous.generation != s.expect_generation:
            msg = (
                f"{self.target}: generation {previous.generation} is live, not generation "
                f"{s.expect_generation} this publish was prepared from"
            )
            raise PublishConflictError(msg, hint="run it again to add to the newer generation")
        live: dict[str, ObjectEntry] = {}
        if previous.generation:
            manifest = self._manifest(previous.generation)
            if manifest is None:
                key = manifest_key(previous.generation)
                msg = f"{self.target}: {POINTER_KEY} names a missing manifest {key}"
                raise PublishError(msg, hint="restore it, or delete the pointer to start over")
            live = manifest.objects
        uploads, header_updates, objects = _plan(local, live, now)
        kept = {k: e for k, e in live.items() if k not in local} if s.overlay else {}
        if kept and (previous.lease is not None or previous.dirty):
            kept = self._stored(kept, now)
        objects.update(kept)
        self.warnings.extend(
            f"{i.key} changed, but it is served as immutable: caches may keep the old bytes"
            for i in uploads
            if i.reason == "changed" and local[i.key].headers.cache_control == CACHE_IMMUTABLE
        )
        plan = _Plan(
            previous=previous,
            uploads=uploads,
            header_updates=header_updates,
            objects=objects,
            resume=previous.lease is not None or previous.dirty,
            changed=objects != live or not previous.generation,
            generation=previous.generation,
            history=list(previous.history),
            kept=len(kept),
        )
        if plan.resume:
            # An interrupted publish may have overwritten objects this plan calls unchanged
            # (a rollback to the live site after a killed publish of another one): every
            # object is checked, not only the planned uploads.
            plan.uploads, plan.header_updates, plan.resumed = self._reconcile(
                uploads, header_updates, local
            )
        if plan.changed:
            plan.generation += 1
            if plan.history:
                plan.history[-1] = replace(plan.history[-1], retired=now)
            plan.history.append(Generation(number=plan.generation, published=now))
        grace = timedelta(seconds=s.grace_seconds)
        plan.retained, plan.expired = _retention(plan.history, s.keep_generations, grace, now)
        if plan.expired:
            plan.deletions = self._deletions(plan)
        if plan.changed or plan.resume or plan.expired:
            # Listing costs requests: a no-op publish (two reads) does not look for orphans.
            plan.deletions += self._orphans(plan, now)
        if len(plan.deletions) > s.max_delete:
            plan.deferred = True
            self.warnings.append(
                f"{len(plan.deletions)} objects are due for deletion, more than --max-delete "
                f"{s.max_delete}: none deleted"
            )
        return plan

    def _stored(self, kept: dict[str, ObjectEntry], now: datetime) -> dict[str, ObjectEntry]:
        """Entries of kept objects as stored now: an interrupted publish may have replaced some."""
        with ThreadPoolExecutor(max_workers=self.settings.jobs) as pool:
            remote = dict(zip(kept, pool.map(self.target.head, kept), strict=True))
        out: dict[str, ObjectEntry] = {}
        for key, entry in kept.items():
            got = remote[key]
            if got is None:
                self.warnings.append(f"{key} is listed as published but missing: left out")
            elif got.sha256 == entry.sha256 and got.size == entry.size:
                out[key] = entry
            elif got.sha256 is not None:
                self.warnings.append(f"{key} was replaced by an interrupted publish: kept so")
                out[key] = ObjectEntry(
                    sha256=got.sha256, size=got.size, headers=got.headers, first_published=now
                )
            else:
                self.warnings.append(f"{key} has no recorded SHA-256: left out")
        return out

    def _report(
        self, plan: _Plan, local: dict[str, LocalObject], deleted: Sequence[PlanItem]
    ) -> PublishReport:
        done = self.settings.dry_run or plan.changed
        return PublishReport(
            target=str(self.target),
            generation=plan.generation if done else plan.previous.generation,
            previous_generation=plan.previous.generation,
            dry_run=self.settings.dry_run,
            uploads=tuple(plan.uploads),
            header_updates=tuple(plan.header_updates),
            deletions=tuple(deleted),
            deferred_deletions=len(plan.deletions) if plan.deferred else 0,
            unchanged=len(local) - len(plan.uploads) - len(plan.header_updates) - plan.resumed,
            kept=plan.kept,
            resumed=plan.resumed,
            orphans=sum(1 for d in deleted if d.reason == "orphan"),
            warnings=tuple(self.warnings),
        )

    def _publish(self, plan: _Plan, local: dict[str, LocalObject]) -> None:
        now = self.clock()
        owner = f"{socket.gethostname()}:{os.getpid()}"
        lease = Lease(id=uuid.uuid4().hex, owner=owner, started=now, heartbeat=now)
        self._cas(_taking(self.pointer, lease))
        self._holding = True
        self._last_beat = now
        step = "starting"
        try:
            if plan.resume:
                step = "aborting unfinished multipart uploads"
                self.target.abort_uploads(now)
            for phase in Phase:
                items = [i for i in (*plan.uploads, *plan.header_updates) if i.phase == phase]
                if items:
                    step = f"uploading the {phase.label} phase"
                    self._run_phase(phase, items, local)
            if plan.changed:
                manifest = Manifest(generation=plan.generation, created=now, objects=plan.objects)
                key = manifest_key(plan.generation)
                step = f"writing the manifest {key}"
                self.target.write(key, manifest.to_json(), state_headers())
                step = f"moving {POINTER_KEY} to generation {plan.generation}"
                self._cas(
                    Pointer(
                        generation=plan.generation,
                        history=tuple(plan.history),
                        lease=self.pointer.lease,
                        dirty=False,
                        takeover=self.pointer.takeover,
                    )
                )
        except PublishConflictError:
            raise
        except KeyboardInterrupt:
            state = self._state_after_failure(dirty=True)
            msg = f"{self.target}: interrupted while {step}: {state}"
            raise PublishInterruptedError(msg, hint=_RESUME_HINT) from None
        except S9regError as e:
            _name_step(e, step, self._state_after_failure(dirty=True))
            raise
        except Exception:
            self._release(dirty=True)
            raise

    def _clean(self, plan: _Plan) -> None:
        history = self.pointer.history
        gen = self.pointer.generation
        step = "deleting old objects"
        try:
            if plan.cleanup:
                if plan.deletions:
                    step = f"deleting {len(plan.deletions)} old objects"
                    self._heartbeat(force=True)
                    self._run_deletions([d.key for d in plan.deletions])
                if plan.expired:
                    step = f"deleting {len(plan.expired)} expired manifests"
                    self.target.delete([manifest_key(g.number) for g in plan.expired])
                history = tuple(plan.retained)
            step = f"releasing the lease (writing {POINTER_KEY})"
            self._cas(replace(self.pointer, history=history, lease=None, dirty=False))
        except PublishConflictError:
            raise
        except KeyboardInterrupt:
            state = self._state_after_failure(dirty=False, live=f"generation {gen} is live")
            msg = f"{self.target}: interrupted while {step}: {state}"
            hint = "run s9reg publish again to finish the cleanup"
            raise PublishInterruptedError(msg, hint=hint) from None
        except Exception as e:
            state = self._state_after_failure(dirty=False, live=f"generation {gen} is live")
            why = e.message if isinstance(e, S9regError) else str(e)
            msg = f"{self.target}: {step} failed: {why}; {state}"
            hint = "run s9reg publish again to finish the cleanup"
            if not self._released:
                hint = self._lease_hint()
            raise PublishError(msg, hint=hint) from e

    def _state_after_failure(self, *, dirty: bool, live: str | None = None) -> str:
        """Release the lease and say what is live and whether the lease is still held."""
        self._release(dirty=dirty)
        gen = self.pointer.generation
        unchanged = f"the live registry is unchanged (generation {gen})" if gen else ""
        live = live or unchanged or "nothing is published yet"
        if self._released:
            return f"{live}; the lease was released"
        return f"{live}; the lease could not be released ({self._lease_hint()})"

    def _lease_hint(self) -> str:
        return (
            f"the next publish takes it over after {self.settings.lease_seconds} s, or at "
            "once with --break-lock"
        )

    def _release(self, *, dirty: bool) -> None:
        """Best effort: drop the lease so the next run need not wait for it to go stale."""
        try:
            self._cas(self.pointer.with_lease(None, dirty=dirty))
            self._released = True
        except (PublishError, StorageError):
            # The lease stays and goes stale; the next run takes it over.
            self._released = False

    # --- work -------------------------------------------------------------------------------

    def _reconcile(
        self,
        uploads: list[PlanItem],
        header_updates: list[PlanItem],
        local: dict[str, LocalObject],
    ) -> tuple[list[PlanItem], list[PlanItem], int]:
        """The plan after an interrupted publish, from one HEAD per object of the site.

        Planned uploads already stored as the site has them are dropped (resumed); objects
        the plan leaves alone but storage holds with other bytes are uploaded again
        (``overwritten``), or get their headers back (``headers``).
        """
        keys = sorted(local)
        with ThreadPoolExecutor(max_workers=self.settings.jobs) as pool:
            remote = dict(zip(keys, pool.map(self.target.head, keys), strict=True))
        planned = {i.key for i in uploads}
        out: list[PlanItem] = []
        resumed = 0
        for item in uploads:
            got, obj = remote[item.key], local[item.key]
            if got is not None and _same(got, obj) and got.headers == obj.headers:
                resumed += 1
            else:
                out.append(item)
        fixes: list[PlanItem] = []
        headers = {i.key for i in header_updates}
        for key in keys:
            got, obj = remote[key], local[key]
            if key in planned:
                continue
            if got is None or not _same(got, obj):
                out.append(PlanItem(Action.UPLOAD, key, obj.size, "overwritten", obj.phase))
                headers.discard(key)
            elif got.headers != obj.headers and key not in headers:
                fixes.append(PlanItem(Action.HEADERS, key, obj.size, "headers", obj.phase))
        overwritten = sum(1 for i in out if i.reason == "overwritten")
        if overwritten:
            self.warnings.append(
                f"{overwritten} objects were not stored as this site has them (an interrupted "
                "publish overwrote or removed them): uploaded again"
            )
        order = {k: n for n, k in enumerate(_phase_order(local.values()))}
        out.sort(key=lambda i: order[i.key])
        fixed = [i for i in header_updates if i.key in headers] + fixes
        fixed.sort(key=lambda i: order[i.key])
        return out, fixed, resumed

    def _run_phase(
        self, phase: Phase, items: list[PlanItem], local: dict[str, LocalObject]
    ) -> None:
        nbytes = sum(i.size for i in items if i.action == Action.UPLOAD)
        self.progress.phase(phase.label, len(items), nbytes)

        def one(item: PlanItem) -> None:
            obj = local[item.key]
            if item.action == Action.UPLOAD:
                self.target.upload(
                    item.key, obj.path, obj.headers, obj.sha256, self.progress.advance
                )
            else:
                self.target.set_headers(item.key, obj.headers, obj.sha256)

        self._parallel(one, items)

    def _run_deletions(self, keys: list[str]) -> None:
        batches = [keys[n : n + 1000] for n in range(0, len(keys), 1000)]
        self.progress.phase("delete", len(keys), 0)
        self._parallel(self.target.delete, batches)

    def _parallel(self, fn: Callable[[Any], None], items: Sequence[Any]) -> None:
        """Run ``fn`` over ``items`` on ``jobs`` threads, renewing the lease while waiting."""
        pool = ThreadPoolExecutor(max_workers=self.settings.jobs)
        try:
            pending: set[Future[None]] = {pool.submit(fn, i) for i in items}
            wait_s = max(self.settings.lease_seconds / 3, 1)
            while pending:
                done, pending = wait(pending, timeout=wait_s, return_when=FIRST_EXCEPTION)
                for f in done:
                    f.result()
                self._heartbeat()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _deletions(self, plan: _Plan) -> list[PlanItem]:
        keep = set(plan.objects)
        for gen in plan.retained:
            # The newest generation is ``plan.objects`` (its manifest may not exist yet).
            if gen.number != plan.generation:
                keep |= set(self._objects_of(gen))
        due: dict[str, int] = {}
        for gen in plan.expired:
            for key, entry in self._objects_of(gen).items():
                if key not in keep:
                    due[key] = entry.size
        return [PlanItem(Action.DELETE, k, due[k], "unreferenced") for k in sorted(due)]

    def _objects_of(self, gen: Generation) -> dict[str, ObjectEntry]:
        return self._listed_by(gen) or {}

    def _listed_by(self, gen: Generation) -> dict[str, ObjectEntry] | None:
        if gen.number not in self._manifests:
            manifest = self._manifest(gen.number)
            if manifest is None:
                self.warnings.append(f"manifest of generation {gen.number} is missing")
            self._manifests[gen.number] = None if manifest is None else manifest.objects
        return self._manifests[gen.number]

    def _orphans(self, plan: _Plan, now: datetime) -> list[PlanItem]:
        """Objects stored under the target that no generation lists, older than the grace time.

        An abandoned publish leaves such objects (its uploads that never went live); nothing
        else would ever delete them. Nothing is an orphan while a retained manifest is missing.
        """
        keep = set(plan.objects)
        for gen in plan.retained:
            if gen.number != plan.generation:
                listed = self._listed_by(gen)
                if listed is None:
                    self.warnings.append("orphaned objects are not deleted until it is restored")
                    return []
                keep |= set(listed)
        keep |= {d.key for d in plan.deletions}
        grace = timedelta(seconds=self.settings.grace_seconds)
        return [
            PlanItem(Action.DELETE, key, obj.size, "orphan")
            for key, obj in sorted(self.target.list().items())
            if not key.startswith(f"{STATE_DIR}/")
            and key not in keep
            and now - obj.modified >= grace
        ]
