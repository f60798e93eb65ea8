"""What the cache holds: images, tags, sizes, last use, disk usage (``image-cache.md`` §1.5, §4a).

Everything is read through the writer instances, which see only local content (a proxy would ask
its upstream). Last use is the modification time of the tag link file, which the proxy rewrites
on every pull while online and the supervisor's relay touches on every pull by tag, online or
offline (filesystem storage only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from s9reg.imagecache.engine import Layout
from s9reg.imagecache.errors import (
    CacheError,
    OfflineImageUnavailableError,
    RegistryHttpError,
)
from s9reg.imagecache.oci import Manifest, RegistryClient
from s9reg.imagecache.pins import pin_of
from s9reg.imagecache.preload import copy_image
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings, Upstream, resolve_upstream

STORE_SETTLE_SECONDS = 10.0

__all__ = [
    "CheckResult",
    "EnsureResult",
    "ImageInfo",
    "TagInfo",
    "check_image",
    "complete_image",
    "disk_usage",
    "ensure_image",
    "image_contents",
    "list_images",
    "repositories",
    "resolve_upstream",
    "tag_link",
]


@dataclass(frozen=True, slots=True)
class TagInfo:
    """One tag of a cached repository.

    Attributes:
        tag: the tag.
        digest: manifest or index digest.
        size: bytes of all its blobs (every platform).
        curated: whether the tag is on the curated list.
        last_used: time of the last push or pull (epoch seconds), None if unknown (S3).
        platforms: platforms of an index; empty for a single-platform image.
    """

    tag: str
    digest: str
    size: int
    curated: bool
    last_used: float | None
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A cached repository and its tags.

    Attributes:
        upstream: the upstream name (``docker.io``).
        repository: the repository path (``library/nginx``).
        tags: its tags, newest use first.
        size: bytes of the blobs of all its tags, each blob counted once.
    """

    upstream: str
    repository: str
    tags: tuple[TagInfo, ...]
    size: int

    @property
    def name(self) -> str:
        """``upstream/repository``, as in an image reference."""
        return f"{self.upstream}/{self.repository}"

    @property
    def curated(self) -> bool:
        """Whether any tag is curated."""
        return any(t.curated for t in self.tags)

    @property
    def last_used(self) -> float | None:
        """The latest use of any tag."""
        times = [t.last_used for t in self.tags if t.last_used is not None]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The local state of one image reference.

    Attributes:
        ref: the image asked for.
        present: the tag (or digest) resolves locally.
        complete: every manifest and blob of every platform is stored.
        digest: the manifest digest, if present.
        size: bytes of its blobs.
        curated: whether it is on the curated list.
        platforms: platforms of an index.
        missing: digests that are referenced but not stored.
        last_used: last push or pull time, if known.
        pinned: (curated tags) the digest the tag is pinned to, if known; :attr:`moved` when
            the tag points elsewhere.
    """

    ref: ImageRef
    present: bool
    complete: bool
    digest: str | None = None
    size: int = 0
    curated: bool = False
    platforms: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    last_used: float | None = None
    pinned: str | None = None

    @property
    def moved(self) -> bool:
        """Whether a curated tag points at another digest than its pin."""
        return self.present and self.pinned is not None and self.digest != self.pinned


@dataclass(frozen=True, slots=True)
class EnsureResult:
    """How :func:`ensure_image` made an image available: ``cache`` or ``upstream``."""

    ref: ImageRef
    source: str
    digest: str


def image_contents(
    client: RegistryClient, repo: str, manifest: Manifest
) -> tuple[dict[str, int], list[Manifest], tuple[str, ...]]:
    """Blobs (digest → size), child manifests and platforms of a manifest or index.

    Child manifests the registry does not have are left out (see :func:`check_image`).

    Raises:
        CacheError: the registry is unreachable or a manifest is malformed.
    """
    blobs: dict[str, int] = {}
    children: list[Manifest] = []
    platforms: list[str] = []
    if manifest.is_index:
        for entry in manifest.children():
            if entry.platform:
                platforms.append(entry.platform)
            child = client.get_manifest(repo, entry.digest)
            if child is not None:
                children.append(child)
                blobs.update((b.digest, b.size) for b in child.blobs())
    else:
        blobs.update((b.digest, b.size) for b in manifest.blobs())
    return blobs, children, tuple(platforms)


def tag_link(settings: CacheSettings, up: Upstream, repo: str, tag: str) -> Path:
    """The tag's link file in a filesystem store (its time is the tag's last use)."""
    root = Layout(settings.data_dir).storage_root(up)
    return (
        root / "docker/registry/v2/repositories" / repo / "_manifests/tags" / tag / "current/link"
    )


def last_used(settings: CacheSettings, up: Upstream, repo: str, tag: str) -> float | None:
    """Modification time of the tag link file, or None (S3 storage, or no such file)."""
    if settings.s3 is not None:
        return None
    try:
        return tag_link(settings, up, repo, tag).stat().st_mtime
    except OSError:
        return None


def repositories(settings: CacheSettings, up: Upstream, writer: RegistryClient) -> list[str]:
    """Every repository of an upstream's store, sorted.

    2.8's ``_catalog`` lists only repositories with a ``_layers`` directory, so one that holds
    only a manifest (a client fetched it, say ``skopeo inspect --raw``, but no blob) is missing
    from it. On the filesystem, repositories are also found by their ``_manifests`` directory,
    as distribution v3 does; with S3 the catalog is all there is.

    Raises:
        CacheError: the writer is unreachable.
    """
    found = set(writer.catalog())
    if settings.s3 is None:
        top = Layout(settings.data_dir).storage_root(up) / "docker/registry/v2/repositories"
        for dirpath, dirnames, _ in os.walk(top):
            if "_manifests" in dirnames:
                found.add(Path(dirpath).relative_to(top).as_posix())
            # _manifests, _layers and _uploads hold a repository's data, not repositories.
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
    return sorted(found)


def list_images(
    settings: CacheSettings, upstreams: Iterable[Upstream] | None = None
) -> list[ImageInfo]:
    """Every cached repository of the given upstreams (all by default), sorted by name.

    Raises:
        CacheError: a writer instance is unreachable (is the cache running?).
    """
    out = []
    for up in settings.upstreams if upstreams is None else upstreams:
        with RegistryClient(up.writer_url) as writer:
            for repo in repositories(settings, up, writer):
                tags = []
                repo_blobs: dict[str, int] = {}
                for tag in writer.tags(repo):
                    manifest = writer.get_manifest(repo, tag)
                    if manifest is None:
                        continue
                    blobs, _, platforms = image_contents(writer, repo, manifest)
                    repo_blobs.update(blobs)
                    ref = ImageRef(up.name, repo, tag)
                    tags.append(
                        TagInfo(
                            tag=tag,
                            digest=manifest.digest,
                            size=sum(blobs.values()),
                            curated=settings.is_curated(ref),
                            last_used=last_used(settings, up, repo, tag),
                            platforms=platforms,
                        )
                    )
                if not tags:
                    continue
                tags.sort(key=lambda t: (-(t.last_used or 0.0), t.tag))
                out.append(
                    ImageInfo(
                        upstream=up.name,
                        repository=repo,
                        tags=tuple(tags),
                        size=sum(repo_blobs.values()),
                    )
                )
    return out


def disk_usage(settings: CacheSettings) -> int:
    """Bytes of stored blobs: the ``data`` files of the filesystem stores (spec §1.5).

    With S3 storage, the sum of the distinct blobs of every tag (needs the writers running).

    Raises:
        CacheError: (S3 only) a writer instance is unreachable.
    """
    if settings.s3 is not None:
        seen: dict[str, int] = {}
        for up in settings.upstreams:
            with RegistryClient(up.writer_url) as writer:
                for repo in repositories(settings, up, writer):
                    for tag in writer.tags(repo):
                        m = writer.get_manifest(repo, tag)
                        if m is not None:
                            seen.update(image_contents(writer, repo, m)[0])
        return sum(seen.values())
    layout = Layout(settings.data_dir)
    total = 0
    for up in settings.upstreams:
        blobs = layout.storage_root(up) / "docker/registry/v2/blobs"
        for dirpath, _, files in os.walk(blobs):
            if "data" in files:
                try:
                    total += (Path(dirpath) / "data").stat().st_size
                except OSError:
                    continue
    return total


def check_image(settings: CacheSettings, ref: ImageRef) -> CheckResult:
    """Whether ``ref`` is stored locally, and completely (every platform, every blob).

    Raises:
        ImageReferenceError: the registry is not configured.
        CacheError: the writer instance is unreachable.
    """
    up = resolve_upstream(settings, ref)
    curated = settings.is_curated(ref)
    with RegistryClient(up.writer_url) as writer:
        manifest = writer.get_manifest(ref.repository, ref.reference)
        if manifest is None:
            return CheckResult(
                ref=ref,
                present=False,
                complete=False,
                curated=curated,
                pinned=pin_of(settings, ref),
            )
        blobs, children, platforms = image_contents(writer, ref.repository, manifest)
        missing = [
            c.digest for c in manifest.children() if c.digest not in {m.digest for m in children}
        ]
        missing += [d for d in blobs if not _stored(writer, ref.repository, d)]
    return CheckResult(
        ref=ref,
        present=True,
        complete=not missing,
        digest=manifest.digest,
        size=sum(blobs.values()),
        curated=curated,
        platforms=platforms,
        missing=tuple(missing),
        last_used=last_used(settings, up, ref.repository, ref.tag_or_latest),
        pinned=pin_of(settings, ref),
    )


def _stored(writer: RegistryClient, repo: str, digest: str) -> bool:
    """Whether the writer serves the blob; a 5xx counts as not (yet) stored.

    2.8 answers 500 for a blob that the proxy is committing beside it at that moment (seen
    right after a pull-through), and a store that cannot serve a blob does not hold it for a
    client either: the blob is reported missing, not the check failed.
    """
    try:
        return writer.has_blob(repo, digest)
    except RegistryHttpError as e:
        if e.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return False
        raise


def complete_image(settings: CacheSettings, ref: ImageRef) -> int:
    """Pull the parts of a partly stored image through its proxy; returns how many were missing.

    2.8's proxy fetches a blob from the upstream twice, once for the client and once for its
    store: a client's pull can succeed while the store's copy fails (the upstream went away in
    between). The supervisor calls this for recently pulled tags while the upstream answers.

    Raises:
        CacheError: the proxy or a writer is unreachable, or the upstream failed.
    """
    up = resolve_upstream(settings, ref)
    fetched = 0
    # A missing platform manifest hides its blobs until it is fetched: a second round.
    for _ in range(2):
        local = check_image(settings, ref)
        if not local.present or local.complete:
            break
        with RegistryClient(up.local_url) as proxy:
            for digest in local.missing:
                fetched += 1
                if proxy.get_manifest(ref.repository, digest) is not None:
                    continue
                with proxy.open_blob(ref.repository, digest) as chunks:
                    for _ in chunks:
                        pass
    return fetched


def ensure_image(settings: CacheSettings, ref: ImageRef, *, online: bool) -> EnsureResult:
    """Make sure ``ref`` can be pulled from the cache: stored already, or pulled through now.

    Args:
        settings: the cache settings.
        ref: the image.
        online: whether the upstream is reachable now (the caller probes it).

    Raises:
        OfflineImageUnavailableError: the upstream is unreachable and the image is not
            completely stored.
        ImageNotFoundError: the upstream is reachable but does not have the image.
        CacheError: the cache is not running, or the transfer failed.
    """
    local = check_image(settings, ref)
    if local.complete and local.digest is not None:
        return EnsureResult(ref=ref, source="cache", digest=local.digest)
    up = resolve_upstream(settings, ref)
    if not online:
        what = "only partly cached" if local.present else "not cached"
        raise OfflineImageUnavailableError(
            f"{ref}: {what}, and {up.name} ({up.url}) is unreachable",
            hint="connect the box to the internet, or preload the image while online",
        )
    with RegistryClient(up.local_url) as proxy:
        manifest = proxy.get_manifest(ref.repository, ref.reference)
        if manifest is None:
            # The proxy may still run in offline mode (the switch comes at the next recheck):
            # copy straight from the upstream into the writer instead.
            with (
                RegistryClient(up.url, username=up.username, password=up.password) as src,
                RegistryClient(up.writer_url) as writer,
            ):
                copied = copy_image(src, writer, ref)
            return EnsureResult(ref=ref, source="upstream", digest=copied.digest or "")
        _, children, _ = image_contents(proxy, ref.repository, manifest)
        for m in children if manifest.is_index else [manifest]:
            for blob in m.blobs():
                with proxy.open_blob(ref.repository, blob.digest) as chunks:
                    for _ in chunks:
                        pass
    # The proxy commits a blob to its store after the response ends: give it a moment.
    deadline = time.monotonic() + STORE_SETTLE_SECONDS
    again = check_image(settings, ref)
    while not again.complete and time.monotonic() < deadline:
        time.sleep(0.05)
        again = check_image(settings, ref)
    if not again.complete:
        raise CacheError(
            f"{ref}: pulled through {up.name}, but {len(again.missing)} parts are still missing",
            hint="is the proxy instance running in offline mode? see s9reg cache status",
        )
    return EnsureResult(ref=ref, source="upstream", digest=manifest.digest)
