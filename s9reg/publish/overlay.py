"""``s9reg publish FILE.s9pk…``: add packages to a published registry without its sources.

Upstream publishes one package with ``start-cli s9pk publish`` against a live registry
(registry-protocol.md §4.1); here the live registry is a bucket, so the published
``index.json`` is read through the pointer and manifest (publishing-lessons.md §2), the new
files are verified, authorized and indexed over it by the build (``BuildSettings.base``), and
the partial site that results is published as an overlay of the live generation.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from s9reg.builder import BuildReport, BuildSettings, build_site
from s9reg.errors import S9regError
from s9reg.exver import VersionString
from s9reg.publish.engine import PublishProgress, PublishReport, open_target, publish_site
from s9reg.publish.errors import PublishError
from s9reg.publish.settings import PublishSettings
from s9reg.publish.state import POINTER_KEY, Manifest, Pointer, manifest_key
from s9reg.publish.target import Target
from s9reg.registry.model import FullIndex, PackageInfo, PackageVersionInfo
from s9reg.site_layout import INDEX_FILE

__all__ = [
    "OverlayReport",
    "PublishedIndex",
    "live_index",
    "publish_files",
    "read_live_index",
    "read_published_index",
]

INDEX_KEY = INDEX_FILE


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _package_page(package_id: str) -> str:
    # The catalogue's page of one package (docs/catalogue.md); the only object rendered from
    # texts inside package files (instructions, licence) and their sizes.
    return f"{package_id}/index.html"


@dataclass(frozen=True, slots=True)
class PublishedIndex:
    """The live generation of a target and the full index it serves.

    Attributes:
        generation: the live generation.
        manifest: its manifest.
        index: the stored ``index.json``.
        interrupted: the stored index is not the live generation's but the one a failed or
            killed publish uploaded before it could move the pointer.
    """

    generation: int
    manifest: Manifest
    index: FullIndex
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class OverlayReport:
    """What ``publish_files`` built and published.

    Attributes:
        build: the build of the partial site (its ``warnings`` include dropped duplicates).
        publish: the publish of that site over the live generation.
        touched: package ids that gained a version or a hardware variant.
        interrupted: the published index was left by an interrupted publish; package files
            it lists that no generation published were left out of it (and are added again
            when they are among the files).
    """

    build: BuildReport
    publish: PublishReport
    touched: tuple[str, ...]
    interrupted: bool = False


def read_published_index(target: Target) -> PublishedIndex:
    """Read the live ``index.json`` of ``target`` through its pointer and manifest.

    The index's SHA-256 should be the one the live manifest records. A different one is
    accepted (``interrupted``) only when the pointer shows a publish that failed (``dirty``)
    or holds a lease: that publish uploaded its index before it could move the pointer, and
    the live one is no longer stored.

    Raises:
        PublishError: nothing is published yet, the state is unreadable, or the index does
            not match the live manifest and no publish was interrupted.
    """
    live = live_index(target)
    if live is None:
        msg = f"{target}: nothing is published yet"
        raise PublishError(msg, hint="publish the whole site first: s9reg publish")
    return live


def read_live_index(settings: PublishSettings) -> FullIndex | None:
    """The index published at ``settings.target``, or None when nothing is published yet.

    The build's source of ``publishedAt`` for a fresh checkout (``BuildSettings.published``):
    the target is opened with the configured credentials, read as :func:`live_index` does,
    and closed. An index left by an interrupted publish is taken as it is: the dates of the
    assets it added are those that publish gave them.

    Raises:
        PublishError: the target cannot be read or its state or index is unusable.
    """
    try:
        target = open_target(settings)
        try:
            live = live_index(target)
        finally:
            target.close()
    except PublishError as e:
        msg = f"cannot read the published registry for its publication dates: {e.message}"
        hint = (
            "check the storage credentials, or build with --previous URL|DIR, or with "
            "--no-previous to date versions missing from the output by SOURCE_DATE_EPOCH"
        )
        raise type(e)(msg, hint=e.hint or hint, details=e.details) from e
    return None if live is None else live.index


def live_index(target: Target) -> PublishedIndex | None:
    """:func:`read_published_index`, but None when nothing is published yet.

    Raises:
        PublishError: as :func:`read_published_index`.
    """
    where = str(target)
    got = target.read(POINTER_KEY)
    pointer = Pointer() if got is None else Pointer.from_json(got[0], f"{where}: {POINTER_KEY}")
    if not pointer.generation:
        return None
    key = manifest_key(pointer.generation)
    got = target.read(key)
    if got is None:
        raise PublishError(f"{where}: {POINTER_KEY} names a missing manifest {key}")
    manifest = Manifest.from_json(got[0], f"{where}: {key}")
    entry = manifest.objects.get(INDEX_KEY)
    got = target.read(INDEX_KEY)
    if entry is None or got is None:
        raise PublishError(f"{where}: generation {pointer.generation} has no {INDEX_KEY}")
    raw = got[0]
    interrupted = hashlib.sha256(raw).hexdigest() != entry.sha256
    if interrupted and not (pointer.dirty or pointer.lease is not None):
        msg = f"{where}: {INDEX_KEY} is not the one generation {pointer.generation} published"
        hint = "it was replaced outside s9reg: publish the whole site from the sources"
        raise PublishError(msg, hint=hint)
    try:
        index = FullIndex.from_dict(json.loads(raw), path=INDEX_KEY)
    except (ValueError, S9regError) as e:
        msg = f"{where}: the published {INDEX_KEY} cannot be read: {e}"
        raise PublishError(msg) from None
    return PublishedIndex(pointer.generation, manifest, index, interrupted)


def publish_files(  # noqa: PLR0913 - the publish's inputs, passed explicitly
    build: BuildSettings,
    settings: PublishSettings,
    files: Sequence[Path],
    target: Target | None = None,
    *,
    progress: PublishProgress | None = None,
    clock: Callable[[], datetime] = _now,
) -> OverlayReport:
    """Add package files to the registry published at ``settings.target``.

    Steps: read the live index (:func:`read_published_index`); build a site in a temporary
    directory from ``build`` with ``files`` as the only sources and that index as ``base``
    (every file is verified and its signer authorized against ``build``'s signers and
    ``authorized`` map, so a bad file stops everything before the first upload); keep the
    published page ``<id>/index.html`` of every package that gained nothing (its
    instructions, licence and file sizes came from package files that are not here); publish
    the result as an ``overlay`` of the generation the index was read from. Package files
    already published are dropped with a warning, so running it twice uploads nothing.

    Args:
        build: build settings from the configuration (``sources``, ``remote_sources``,
            ``output`` and ``cache_dir`` are replaced).
        settings: publish settings (``site``, ``overlay`` and ``expect_generation`` are
            replaced).
        files: the ``.s9pk`` files to add.
        target: an open target; by default one is opened and closed after.
        progress: receives upload progress.
        clock: the current time (tests move it).

    Returns:
        The build and publish reports and the package ids that changed.

    Raises:
        PublishError: nothing is published yet or the published state is unusable.
        PublishConflictError: another publish holds the registry or moved it meanwhile.
        S9pkError, UnauthorizedSignerError, BuildError, RegistryError: a file is invalid,
            unauthorized or does not fit its published versions; nothing was uploaded.
    """
    if not files:
        raise PublishError("no package files to publish")
    with tempfile.TemporaryDirectory(prefix="s9reg-overlay-") as tmp:
        site = Path(tmp) / "site"
        pub = replace(settings, site=site, overlay=True, expect_generation=None)
        own = target is None
        tgt = open_target(pub) if target is None else target
        try:
            live = read_published_index(tgt)
            base = live.index
            if live.interrupted:
                base = _published_only(base, live.manifest, build.file_urls)
            built = build_site(
                replace(
                    build,
                    sources=tuple(files),
                    remote_sources=(),
                    base=base,
                    base_file_sizes=_published_sizes(base, live.manifest, build.file_urls),
                    output=site,
                    cache_dir=None,
                )
            )
            touched = _touched(base, _built_index(site))
            for pid in sorted(base.package.packages):
                page = _package_page(pid)
                # After an interrupted publish the stored page may be that publish's.
                if pid not in touched and page in live.manifest.objects and not live.interrupted:
                    (site / page).unlink(missing_ok=True)
            report = publish_site(
                replace(pub, expect_generation=live.generation),
                tgt,
                progress=progress,
                clock=clock,
            )
        finally:
            if own:
                tgt.close()
    return OverlayReport(built, report, touched, live.interrupted)


def _built_index(site: Path) -> FullIndex:
    """The ``index.json`` of a site just built.

    Raises:
        PublishError: it cannot be read.
    """
    try:
        return FullIndex.from_dict(json.loads((site / INDEX_KEY).read_bytes()), path=INDEX_KEY)
    except (OSError, ValueError, S9regError) as e:  # pragma: no cover - the build wrote it
        raise PublishError(f"{site}: cannot read the built {INDEX_KEY}: {e}") from None


def _object_keys(url: str, file_urls: Sequence[str]) -> list[str]:
    """The object keys a package file URL names under the site's file URLs (none if foreign)."""
    prefixes = (base.rstrip("/") + "/" for base in file_urls)
    return [unquote(url.removeprefix(p)) for p in prefixes if url.startswith(p)]


def _published_only(index: FullIndex, manifest: Manifest, file_urls: Sequence[str]) -> FullIndex:
    """``index`` without the package files of the site that ``manifest`` does not list."""

    def published(urls: Sequence[str]) -> bool:
        keys = [k for url in urls for k in _object_keys(url, file_urls)]
        return not keys or any(k in manifest.objects for k in keys)

    packages: dict[str, PackageInfo] = {}
    for pid, info in index.package.packages.items():
        kept: dict[VersionString, PackageVersionInfo] = {}
        for version, pv in info.versions.items():
            s9pks = tuple((hw, a) for hw, a in pv.s9pks if published(a.urls))
            if s9pks:
                kept[version] = replace(pv, s9pks=s9pks)
        if kept:
            packages[pid] = replace(info, versions=kept)
    return replace(index, package=replace(index.package, packages=packages))


def _published_sizes(
    index: FullIndex, manifest: Manifest, file_urls: Sequence[str]
) -> dict[str, int]:
    """Size of each package file URL of ``index`` that ``manifest`` lists."""
    sizes: dict[str, int] = {}
    for info in index.package.packages.values():
        for pv in info.versions.values():
            for _, asset in pv.s9pks:
                for url in asset.urls:
                    for key in _object_keys(url, file_urls):
                        if key in manifest.objects:
                            sizes[url] = manifest.objects[key].size
    return sizes


def _touched(before: FullIndex, after: FullIndex) -> tuple[str, ...]:
    """Package ids whose versions or package files differ between two indexes."""

    def assets(index: FullIndex, pid: str) -> set[tuple[str, bytes]]:
        info = index.package.packages.get(pid)
        if info is None:
            return set()
        return {
            (str(v), json.dumps(a.commitment.to_dict(), sort_keys=True).encode())
            for v, pv in info.versions.items()
            for _, a in pv.s9pks
        }

    return tuple(
        sorted(pid for pid in after.package.packages if assets(before, pid) != assets(after, pid))
    )
