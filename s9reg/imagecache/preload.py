"""Copies images from their upstreams into the cache's writers (``image-cache.md`` §2.1, §4a).

Every platform of a multi-platform index is copied, and manifests are stored byte for byte, so
digests stay those of the upstream. What the cache already holds is skipped.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from s9reg.imagecache.errors import CacheError, ImageNotFoundError
from s9reg.imagecache.events import log_event
from s9reg.imagecache.oci import Descriptor, Manifest, RegistryClient
from s9reg.imagecache.pins import load_pins, record_tag_pin, save_pins
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings, resolve_upstream

__all__ = ["CopyResult", "CopyStatus", "Progress", "copy_image", "preload_images"]


class CopyStatus(StrEnum):
    """Outcome of one image copy."""

    COPIED = "copied"
    PRESENT = "present"
    FAILED = "failed"


@dataclass(slots=True)
class CopyResult:
    """What a copy did.

    Attributes:
        ref: the image.
        status: copied, already present, or failed.
        digest: the manifest (or index) digest, once known.
        platforms: the platforms of an index (empty for a single-platform image).
        blobs_copied: blobs transferred.
        bytes_copied: bytes transferred.
        digests: every manifest and blob digest of the image (for pinning).
        error: the error message of a failed copy.
    """

    ref: ImageRef
    status: CopyStatus = CopyStatus.COPIED
    digest: str | None = None
    platforms: list[str] = field(default_factory=list)
    blobs_copied: int = 0
    bytes_copied: int = 0
    digests: set[str] = field(default_factory=set)
    error: str | None = None


class Progress:
    """Receives progress events; the CLI draws bars, the default ignores them."""

    def start(self, ref: ImageRef, total_bytes: int) -> None:
        """A copy of ``total_bytes`` of missing blobs begins."""

    def advance(self, ref: ImageRef, n: int) -> None:
        """``n`` more bytes were copied."""

    def finish(self, result: CopyResult) -> None:
        """The copy ended (whatever its status)."""


@dataclass(slots=True)
class _Plan:
    manifests: list[tuple[str, Manifest]] = field(default_factory=list)  # (repo-level ref, m)
    blobs: dict[str, Descriptor] = field(default_factory=dict)


def copy_image(
    src: RegistryClient,
    dst: RegistryClient,
    ref: ImageRef,
    *,
    progress: Progress | None = None,
    free_bytes: Callable[[], int] | None = None,
) -> CopyResult:
    """Copy ``ref`` (all platforms) from ``src`` to ``dst`` under the same repository and tag.

    Args:
        src: the upstream.
        dst: the cache's writer for that upstream.
        ref: the image; a digest pins the content, a tag names it in the cache.
        progress: progress receiver.
        free_bytes: free space of the store, checked before anything is copied.

    Returns:
        the result; ``PRESENT`` if ``dst`` already has the tag at the same digest with every
        platform manifest.

    Raises:
        ImageNotFoundError: the upstream does not have the image.
        CacheError: a transfer failed, or the upstream sent bytes that do not match their
            digest.
    """
    progress = progress or Progress()
    result = CopyResult(ref=ref)
    repo = ref.repository
    top = src.get_manifest(repo, ref.reference)
    if top is None:
        raise ImageNotFoundError(f"{ref}: not found upstream ({src.base_url})")
    result.digest = top.digest
    plan = _plan(src, repo, top, result)
    result.digests = {top.digest, *(m.digest for _, m in plan.manifests), *plan.blobs}
    tag = ref.tag_or_latest
    # Blobs are checked too: a proxy stopped mid-download leaves a manifest without them.
    missing = [d for d in plan.blobs.values() if not dst.has_blob(repo, d.digest)]
    present = dst.head_manifest(repo, tag)
    if (
        not missing
        and present is not None
        and present.digest == top.digest
        and _children_present(dst, repo, top)
    ):
        result.status = CopyStatus.PRESENT
        progress.finish(result)
        return result
    needed = sum(d.size for d in missing)
    if free_bytes is not None and needed > free_bytes():
        raise CacheError(
            f"{ref}: not enough disk space ({needed} bytes needed, {free_bytes()} free)",
            hint="free space with s9reg cache cleanup, or move image_cache.data_dir",
        )
    progress.start(ref, needed)
    for d in missing:
        _copy_blob(src, dst, repo, d, lambda n: progress.advance(ref, n))
        result.blobs_copied += 1
        result.bytes_copied += d.size
    for child_ref, manifest in plan.manifests:
        dst.put_manifest(repo, child_ref, manifest)
    got = dst.put_manifest(repo, tag, top)
    if got != top.digest:
        raise CacheError(f"{ref}: the cache stored digest {got}, expected {top.digest}")
    progress.finish(result)
    return result


def _plan(src: RegistryClient, repo: str, top: Manifest, result: CopyResult) -> _Plan:
    plan = _Plan()
    if top.is_index:
        for child in top.children():
            m = src.get_manifest(repo, child.digest)
            if m is None:
                raise ImageNotFoundError(f"{repo}@{child.digest}: index entry missing upstream")
            if m.is_index:
                raise CacheError(f"{repo}@{child.digest}: nested indexes are not supported")
            plan.manifests.append((child.digest, m))
            if child.platform:
                result.platforms.append(child.platform)
            for blob in m.blobs():
                plan.blobs.setdefault(blob.digest, blob)
    else:
        for blob in top.blobs():
            plan.blobs.setdefault(blob.digest, blob)
    return plan


def _children_present(dst: RegistryClient, repo: str, top: Manifest) -> bool:
    return all(dst.head_manifest(repo, c.digest) is not None for c in top.children())


def _copy_blob(
    src: RegistryClient,
    dst: RegistryClient,
    repo: str,
    blob: Descriptor,
    advance: Callable[[int], None],
) -> None:
    with src.open_blob(repo, blob.digest) as chunks:
        dst.push_blob(repo, blob.digest, blob.size, _verified(chunks, blob), advance)


def _verified(chunks: Iterator[bytes], blob: Descriptor) -> Iterator[bytes]:
    # The engine checks the digest as well; checking here names the upstream as the culprit.
    h = hashlib.sha256()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
        if size > blob.size:
            raise CacheError(f"{blob.digest}: the upstream sent more than {blob.size} bytes")
        yield chunk
    if size != blob.size or f"sha256:{h.hexdigest()}" != blob.digest:
        raise CacheError(f"{blob.digest}: the upstream sent other content ({size} bytes)")


def preload_images(
    settings: CacheSettings,
    refs: Sequence[ImageRef] | None = None,
    *,
    progress: Progress | None = None,
) -> list[CopyResult]:
    """Copy images (the curated list by default) from their upstreams into the writers.

    The writers must be reachable (the cache runs, or see
    :func:`~s9reg.imagecache.daemon.engine_for_storage`). A failed image does not stop the others;
    its result has status ``FAILED``. The digests of every copied or present image are pinned
    (``pins.json``) so the proxies never expire them.

    Raises:
        ImageReferenceError: an image's registry is not a configured upstream (nothing copied).
    """
    chosen = list(settings.images if refs is None else refs)
    ups = {ref: resolve_upstream(settings, ref) for ref in chosen}
    progress = progress or Progress()
    results = []
    pins = load_pins(settings)

    def free() -> int:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(settings.data_dir).free

    for ref in chosen:
        up = ups[ref]
        try:
            with (
                RegistryClient(up.url, username=up.username, password=up.password) as src,
                RegistryClient(up.writer_url) as dst,
            ):
                result = copy_image(
                    src,
                    dst,
                    ref,
                    progress=progress,
                    free_bytes=free if settings.s3 is None else None,
                )
        except CacheError as e:
            result = CopyResult(ref=ref, status=CopyStatus.FAILED, error=e.message)
            progress.finish(result)
        results.append(result)
        if result.digests:
            pins.setdefault(up.name, set()).update(result.digests)
            save_pins(settings, pins)
        if result.digest and result.status is not CopyStatus.FAILED:
            record_tag_pin(settings, ref, result.digest)
    counts = {s: sum(r.status is s for r in results) for s in CopyStatus}
    log_event(
        settings.data_dir,
        f"preload: {len(results)} images, {counts[CopyStatus.COPIED]} copied, "
        f"{counts[CopyStatus.PRESENT]} already present, {counts[CopyStatus.FAILED]} failed"
        + "".join(f"; failed {r.ref}" for r in results if r.status is CopyStatus.FAILED),
    )
    return results
