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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from s9reg.publish._publisher import Publisher, taking
from s9reg.publish.errors import PublishError
from s9reg.publish.plan import (
    Action,
    LocalObject,
    NoProgress,
    PlanItem,
    PublishProgress,
    PublishReport,
    now_utc,
    scan_site,
)
from s9reg.publish.settings import DEFAULT_LEASE_SECONDS, DirSettings, PublishSettings
from s9reg.publish.state import POINTER_KEY, Lease, Pointer
from s9reg.publish.target import DirTarget, Target
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
    clock: Callable[[], datetime] = now_utc,
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
        return Publisher(settings, tgt, progress or NoProgress(), clock).run()
    finally:
        if own:
            tgt.close()


@contextmanager
def hold_lease(
    target: Target,
    *,
    lease_seconds: int = DEFAULT_LEASE_SECONDS,
    break_lock: bool = False,
    clock: Callable[[], datetime] = now_utc,
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
    pub = Publisher(settings, target, NoProgress(), clock)
    pub._read_pointer()  # noqa: SLF001 - the publisher's own protocol, reused
    before = pub.pointer
    pub._check_lease(clock())  # noqa: SLF001
    now = clock()
    owner = f"{socket.gethostname()}:{os.getpid()}"
    lease = Lease(id=uuid.uuid4().hex, owner=owner, started=now, heartbeat=now)
    pub._cas(taking(before, lease))  # noqa: SLF001
    pub._holding = True  # noqa: SLF001
    dirty = before.dirty or before.lease is not None
    try:
        yield before
    except BaseException:
        pub._release(dirty=dirty)  # noqa: SLF001
        raise
    pub._cas(pub.pointer.with_lease(None, dirty=dirty))  # noqa: SLF001
