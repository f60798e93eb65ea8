"""Deleting images and reclaiming space safely on distribution 2.8 (``image-cache.md`` §1.4, §1.5).

Deletes go by digest through the writer (2.8 refuses deletes by tag, and proxies refuse all).
Garbage collection runs with the instances of that store stopped, and never with
``--delete-untagged``, which breaks multi-platform images on 2.8; the per-platform manifests of a
deleted index are deleted explicitly instead, when no remaining tag needs them.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from s9reg.imagecache.engine import InstanceSpec, Layout, Role, instances
from s9reg.imagecache.errors import (
    CacheError,
    CuratedImageError,
    EngineError,
    ImageNotFoundError,
)
from s9reg.imagecache.events import log_event
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings, Upstream
from s9reg.imagecache.store import (
    disk_usage,
    image_contents,
    last_used,
    repositories,
    resolve_upstream,
)

__all__ = [
    "CleanupResult",
    "DeleteResult",
    "GcResult",
    "cleanup",
    "delete_image",
    "evict_to_quota",
    "garbage_collect",
    "plan_cleanup",
]

GC_TIMEOUT = 3600.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What a delete removed.

    Attributes:
        ref: the image asked for.
        digest: the deleted manifest or index digest.
        tags: every tag that pointed at it (all are gone).
        children: per-platform manifests deleted with an index.
        curated: the curated tags among ``tags`` (deleted only when forced).
    """

    ref: ImageRef
    digest: str
    tags: tuple[str, ...]
    children: tuple[str, ...] = ()
    curated: tuple[str, ...] = ()


@dataclass(slots=True)
class CleanupResult:
    """What a cleanup removed.

    Attributes:
        deleted: the tags deleted (as references).
        deleted_count: number of manifests and indexes deleted.
        deleted_bytes: disk space freed by the garbage collection.
        dry_run: whether nothing was changed.
        skipped: upstreams left alone because they are offline (unreachable or switched off):
            what is deleted could not be fetched again.
    """

    deleted: list[ImageRef] = field(default_factory=list)
    deleted_count: int = 0
    deleted_bytes: int = 0
    dry_run: bool = False
    skipped: list[str] = field(default_factory=list)


def _tag_digests(writer: RegistryClient, repo: str) -> dict[str, str]:
    out = {}
    for tag in writer.tags(repo):
        d = writer.head_manifest(repo, tag)
        if d is not None:
            out[tag] = d.digest
    return out


def _delete_digest(
    writer: RegistryClient, repo: str, digest: str, remaining: Iterable[str]
) -> list[str]:
    """Delete a manifest and the children no other remaining manifest references."""
    top = writer.get_manifest(repo, digest)
    children = [c.digest for c in top.children()] if top is not None else []
    writer.delete_manifest(repo, digest)
    needed: set[str] = set()
    for other in set(remaining) - {digest}:
        m = writer.get_manifest(repo, other)
        if m is not None:
            needed.update(c.digest for c in m.children())
    removed = []
    for child in children:
        if child in needed or child in remaining:
            continue
        try:
            writer.delete_manifest(repo, child)
        except ImageNotFoundError:
            continue
        removed.append(child)
    return removed


def delete_image(settings: CacheSettings, ref: ImageRef, *, force: bool = False) -> DeleteResult:
    """Delete an image: resolve its digest with HEAD, then DELETE by digest.

    Every tag pointing at that digest disappears with it (2.8 has no untag). Space is freed by
    the next garbage collection. When any of those tags is curated (the tag asked for, or a
    sibling on the same digest), nothing is deleted unless ``force`` is given.

    Raises:
        ImageReferenceError: the registry is not configured.
        ImageNotFoundError: the cache does not have the image.
        CuratedImageError: curated tags would go, and ``force`` is not given (they are named).
        CacheError: the writer instance is unreachable or refused.
    """
    up = resolve_upstream(settings, ref)
    repo = ref.repository
    with RegistryClient(up.writer_url) as writer:
        desc = writer.head_manifest(repo, ref.reference)
        if desc is None:
            raise ImageNotFoundError(f"{ref}: not in the cache")
        tags = _tag_digests(writer, repo)
        gone = tuple(sorted(t for t, d in tags.items() if d == desc.digest))
        curated = _curated_among(settings, up, repo, gone)
        if curated and not force:
            _refuse_curated(ref, desc.digest, curated)
        remaining = [d for t, d in tags.items() if d != desc.digest]
        children = _delete_digest(writer, repo, desc.digest, remaining)
    return DeleteResult(
        ref=ref, digest=desc.digest, tags=gone, children=tuple(children), curated=curated
    )


def _curated_among(
    settings: CacheSettings, up: Upstream, repo: str, tags: Iterable[str]
) -> tuple[str, ...]:
    return tuple(t for t in tags if settings.is_curated(ImageRef(up.name, repo, t)))


def _refuse_curated(ref: ImageRef, digest: str, curated: tuple[str, ...]) -> None:
    names = ", ".join(f"{ref.name}:{t}" for t in curated)
    what = "is curated" if curated == (ref.tag,) else f"shares {digest[:19]}… with curated {names}"
    raise CuratedImageError(
        f"{ref}: {what}; deleting it would delete {names} too (distribution 2.8 deletes "
        "every tag on a digest)",
        hint="keep it, or pass --force (then `s9reg cache preload` restores the curated tags)",
    )


def plan_cleanup(
    settings: CacheSettings,
    *,
    keep_tags: int | None,
    older_than_days: float | None,
    now: float | None = None,
    upstreams: Iterable[Upstream] | None = None,
) -> list[ImageRef]:
    """The tags a cleanup deletes, with their digests.

    Per repository, the tags that are not curated are ordered by last use (newest first). A
    tag is deleted when it is not among the ``keep_tags`` newest and was last used more than
    ``older_than_days`` ago (each condition applies only when given). Curated tags are never
    deleted, a tag whose age is unknown (S3 storage) is never deleted for age, and a tag
    whose digest a kept tag shares is kept (deleting the digest would delete both).

    Raises:
        CacheError: neither condition is given, or a writer is unreachable.
    """
    if keep_tags is None and older_than_days is None:
        raise CacheError("a cleanup needs keep_tags or older_than_days (or both)")
    if keep_tags is not None and keep_tags < 0:
        raise CacheError(f"keep_tags must not be negative ({keep_tags})")
    # NaN would compare false with every date and delete every tag, a negative age every
    # recent one.
    if older_than_days is not None and not (0 <= older_than_days < math.inf):
        raise CacheError(f"older_than_days must be a finite number of days ({older_than_days})")
    cutoff = None
    if older_than_days is not None:
        cutoff = (time.time() if now is None else now) - older_than_days * DAY
    out = []
    for up in settings.upstreams if upstreams is None else upstreams:
        with RegistryClient(up.writer_url) as writer:
            for repo in repositories(settings, up, writer):
                out.extend(_repo_victims(settings, up, writer, repo, (keep_tags, cutoff)))
    return out


def _repo_victims(
    settings: CacheSettings,
    up: Upstream,
    writer: RegistryClient,
    repo: str,
    policy: tuple[int | None, float | None],
) -> list[ImageRef]:
    keep_tags, cutoff = policy
    tags = _tag_digests(writer, repo)
    # Curated tags are always kept and do not count towards keep_tags.
    candidates = [t for t in tags if not settings.is_curated(ImageRef(up.name, repo, t))]
    ordered = sorted(candidates, key=lambda t: (-(last_used(settings, up, repo, t) or 0.0), t))
    victims = []
    for i, tag in enumerate(ordered):
        if keep_tags is not None and i < keep_tags:
            continue
        if cutoff is not None:
            used = last_used(settings, up, repo, tag)
            if used is None or used >= cutoff:
                continue
        victims.append(ImageRef(up.name, repo, tag, tags[tag]))
    kept = {d for t, d in tags.items() if t not in {v.tag for v in victims}}
    # A digest shared with a kept tag stays: deleting it would delete that tag too.
    return [v for v in victims if v.digest not in kept]


def cleanup(  # noqa: PLR0913 - the cleanup's options, passed explicitly
    settings: CacheSettings,
    *,
    keep_tags: int | None,
    older_than_days: float | None,
    pause: Callable[[list[Upstream]], AbstractContextManager[None]],
    dry_run: bool = False,
    reachable: Callable[[Upstream], bool] | None = None,
    force: bool = False,
) -> CleanupResult:
    """Delete what :func:`plan_cleanup` selects, then garbage-collect the stores touched.

    Args:
        settings: the cache settings.
        keep_tags: tags to keep per repository (by last use).
        older_than_days: delete only tags unused for this long.
        pause: stops the instances of the given upstreams for the collection and restarts
            them afterwards (:meth:`~s9reg.imagecache.supervisor.Supervisor.paused`).
        dry_run: only report what would be deleted.
        reachable: whether an upstream is online; the content of the others is left alone
            (it could not be fetched again), unless ``force``. None: every upstream counts
            as online.
        force: delete even while the upstream is offline.

    Raises:
        CacheError: as :func:`plan_cleanup`; EngineError if the collection fails (the
            deletes stay done, and the blobs are collected by the next run).
    """
    chosen = list(settings.upstreams)
    skipped: list[str] = []
    if reachable is not None and not force:
        skipped = [u.name for u in chosen if not reachable(u)]
        chosen = [u for u in chosen if u.name not in skipped]
    victims = plan_cleanup(
        settings, keep_tags=keep_tags, older_than_days=older_than_days, upstreams=chosen
    )
    result = CleanupResult(deleted=victims, dry_run=dry_run, skipped=skipped)
    if not dry_run:
        _delete_and_collect(settings, result, pause)
        log_event(
            settings.data_dir,
            f"cleanup (keep_tags={keep_tags}, older_than_days={older_than_days}"
            f"{', forced' if force else ''}): deleted {result.deleted_count} manifests "
            f"({', '.join(str(r) for r in victims) or 'nothing'}), freed {result.deleted_bytes} "
            "bytes" + (f"; skipped offline {', '.join(skipped)}" if skipped else ""),
        )
    return result


def _delete_and_collect(
    settings: CacheSettings,
    result: CleanupResult,
    pause: Callable[[list[Upstream]], AbstractContextManager[None]],
) -> None:
    victims = result.deleted
    if not victims:
        return
    touched: dict[str, Upstream] = {}
    done: set[tuple[str, str, str]] = set()
    for ref in victims:
        up = resolve_upstream(settings, ref)
        touched[up.name] = up
        key = (up.name, ref.repository, ref.digest or "")
        if key in done:
            continue
        done.add(key)
        with RegistryClient(up.writer_url) as writer:
            remaining = _tag_digests(writer, ref.repository).values()
            try:
                children = _delete_digest(writer, ref.repository, ref.digest or "", remaining)
            except ImageNotFoundError:
                continue
        result.deleted_count += 1 + len(children)
    before = disk_usage(settings)
    with pause(list(touched.values())):
        for up in touched.values():
            garbage_collect(settings, up)
    result.deleted_bytes = max(0, before - disk_usage(settings))


def evict_to_quota(
    settings: CacheSettings,
    *,
    max_size: int,
    pause: Callable[[list[Upstream]], AbstractContextManager[None]],
    reachable: Callable[[Upstream], bool],
) -> CleanupResult:
    """Delete the least recently used cached tags until the stores fit in ``max_size`` bytes.

    Curated tags, and tags sharing a digest with a curated one, are never evicted; neither is
    the content of an offline upstream (listed in ``skipped``). Rounds of deletes and a
    collection repeat while the disk usage stays above the quota and something is left to
    evict (a blob shared by several tags is freed only with the last of them).

    Raises:
        CacheError: a writer is unreachable; EngineError if a collection fails.
    """
    total = CleanupResult()
    chosen = [u for u in settings.upstreams if reachable(u)]
    total.skipped = [u.name for u in settings.upstreams if u not in chosen]
    for _ in range(8):
        used = disk_usage(settings)
        if used <= max_size:
            break
        candidates = sorted(
            (
                (last_used(settings, up, ref.repository, ref.tag_or_latest) or 0.0, str(ref), ref)
                for up in chosen
                for ref in _evictable(settings, up)
            ),
            key=lambda t: (t[0], t[1]),
        )
        if not candidates:
            break
        sizes = _sizes(settings, [c[2] for c in candidates])
        victims: list[ImageRef] = []
        freed = 0
        for _, _, ref in candidates:
            victims.append(ref)
            freed += sizes.get(ref, 0)
            if used - freed <= max_size:
                break
        round_result = CleanupResult(deleted=victims)
        _delete_and_collect(settings, round_result, pause)
        total.deleted.extend(victims)
        total.deleted_count += round_result.deleted_count
        total.deleted_bytes += round_result.deleted_bytes
    return total


def _evictable(settings: CacheSettings, up: Upstream) -> list[ImageRef]:
    out = []
    with RegistryClient(up.writer_url) as writer:
        for repo in sorted(writer.catalog()):
            out.extend(_repo_victims(settings, up, writer, repo, (0, None)))
    return out


def _sizes(settings: CacheSettings, refs: list[ImageRef]) -> dict[ImageRef, int]:
    out = {}
    for ref in refs:
        up = resolve_upstream(settings, ref)
        with RegistryClient(up.writer_url) as writer:
            m = writer.get_manifest(ref.repository, ref.digest or ref.tag_or_latest)
            if m is not None:
                out[ref] = sum(image_contents(writer, ref.repository, m)[0].values())
    return out


def _writer_spec(settings: CacheSettings, up: Upstream) -> InstanceSpec:
    return next(s for s in instances(settings) if s.upstream == up and s.role is Role.WRITER)


@dataclass(frozen=True, slots=True)
class GcResult:
    """The engine's summary of one collection: blobs marked, and blobs eligible for deletion."""

    marked: int
    eligible: int
    output: str


_GC_SUMMARY_RE = re.compile(r"(\d+) blobs marked, (\d+) blobs and \d+ manifests eligible")


def garbage_collect(settings: CacheSettings, up: Upstream, *, dry_run: bool = False) -> GcResult:
    """Run ``docker-registry garbage-collect`` (never ``-m``) on one upstream's store.

    The instances of that store must be stopped (or read-only). An empty filesystem store
    (which 2.8 reports as an error) is skipped.

    Raises:
        EngineError: the collection failed (its output tail is in ``details``).
    """
    root = Layout(settings.data_dir).storage_root(up)
    if settings.s3 is None and not (root / "docker/registry/v2/repositories").is_dir():
        return GcResult(marked=0, eligible=0, output="")
    spec = _writer_spec(settings, up)
    if not spec.config_path.exists():
        raise EngineError(
            f"{spec.config_path}: no engine config yet", hint="start the cache once: s9reg cache up"
        )
    argv = [settings.binary, "garbage-collect", str(spec.config_path)]
    if dry_run:
        argv.append("--dry-run")
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv,
            capture_output=True,
            text=True,
            timeout=GC_TIMEOUT,
            check=False,
            env={"PATH": "/usr/bin:/bin", "HOME": str(settings.data_dir)},
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EngineError(f"{up.name}: garbage collection failed: {e}") from e
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        raise EngineError(
            f"{up.name}: garbage collection exited with status {done.returncode}",
            details="\n".join(output.splitlines()[-20:]),
        )
    m = _GC_SUMMARY_RE.search(output)
    return GcResult(
        marked=int(m.group(1)) if m else 0, eligible=int(m.group(2)) if m else 0, output=output
    )
