"""``build_site``: verify, authorize and assemble packages into a static registry site (§9).

Orchestration only: the format work is :mod:`s9reg.s9pk`, the model and the publish rule are
:mod:`s9reg.registry`, the layout and the swap are :mod:`s9reg.builder.site`. Nothing here prints.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import posixpath
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from s9reg._fs import replace_dir, staging_dir
from s9reg._json import JSONValue
from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import Download, download, file_name_of, url_key
from s9reg.builder.osindex import build_os_index, hash_url_images
from s9reg.builder.settings import BuildSettings, IncompleteArches, IndexSource
from s9reg.builder.site import site_files
from s9reg.builder.verify_cache import (
    BuildStamp,
    CacheEntry,
    FileIdentity,
    VerifyCache,
    bodies_intact,
    code_digest,
    file_digest,
    header_digest,
)
from s9reg.catalogue import CatalogueError, CatalogueOptions, PackageExtras, render
from s9reg.errors import S9regError
from s9reg.exver import VersionError, VersionString
from s9reg.registry.authz import PublishRules, check_publish
from s9reg.registry.errors import RegistryError
from s9reg.registry.model import (
    Category,
    FullIndex,
    PackageIndex,
    PackageInfo,
    PackageVersionInfo,
    dump_json,
    specificity_desc,
)
from s9reg.s9pk.commitment import MerkleArchiveCommitment, b64_encode
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PrivateKey, PublicKey
from s9reg.s9pk.package import S9pk
from s9reg.site_layout import INDEX_FILE, SITE_FILE, SITE_FORMAT, asset_path, asset_urls

__all__ = ["BuildProgress", "BuildReport", "PackageRef", "SkippedFile", "build_site"]

_log = logging.getLogger(__name__)

_AssetKey = tuple[str, VersionString, MerkleArchiveCommitment]


class BuildProgress(Protocol):
    """Receives progress; the CLI draws it. ``begin`` per source file, ``advance`` per chunk."""

    def begin(self, path: Path, size: int) -> None:
        """A source file of ``size`` bytes is about to be verified."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes were verified."""


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


@dataclass(slots=True)
class _Variant:
    info: PackageVersionInfo
    rel_path: str


@dataclass(slots=True)
class _Dates:
    """When each asset was first published, as known before this build.

    Per asset: the previous output (and ``base``) first, then the registry's published index,
    which is read once and only when needed.
    """

    known: Mapping[_AssetKey, datetime]
    source: IndexSource | None
    index: FullIndex | None = None
    loaded: bool = False
    from_index: dict[_AssetKey, datetime] = field(default_factory=dict)

    def published(self) -> FullIndex | None:
        if not self.loaded and self.source is not None:
            self.loaded = True
            self.index = self.source()
            if self.index is not None:
                self.from_index = _first_seen(self.index)
        return self.index

    def first_seen(self, key: _AssetKey) -> datetime | None:
        got = self.known.get(key)
        if got is None and self.published() is not None:
            got = self.from_index.get(key)
        return got


@dataclass(slots=True)
class _State:
    settings: BuildSettings
    staged: Path
    rules: PublishRules
    previous: FullIndex | None
    dates: _Dates
    now: datetime
    variants: dict[tuple[str, VersionString], list[_Variant]] = field(default_factory=dict)
    spelling: dict[tuple[str, VersionString], VersionString] = field(default_factory=dict)
    made_dirs: set[Path] = field(default_factory=set)
    placed: set[str] = field(default_factory=set)
    by_commitment: dict[_AssetKey, str] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cache: VerifyCache = field(default_factory=lambda: VerifyCache(None))
    registry_pem: str = ""
    mirror_of: Mapping[Path, str] = field(default_factory=dict)
    verified: int = 0
    from_cache: int = 0
    verified_bytes: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    file_sizes: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    index: FullIndex = field(default_factory=FullIndex)
    extras: dict[tuple[str, str], Mapping[str, str | None]] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        _log.warning(message)
        self.warnings.append(message)

    def lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[phase] = round(now - since, 6)
        return now

    def add_variant(self, pid: str, version: VersionString, variant: _Variant) -> None:
        self.spelling.setdefault((pid, version), version)
        self.variants.setdefault((pid, version), []).append(variant)


def build_site(
    settings: BuildSettings, progress: BuildProgress | None = None, *, force: bool = False
) -> BuildReport:
    """Build the static site for ``settings`` into ``settings.output``, replacing it atomically.

    Steps, in order: every source is hard-linked (or copied) into a staging directory beside
    the output and verified there in full (header signature, every TOC and every file body),
    so the bytes published are the bytes verified; the manifest gives ``id``/``version``; the
    signer is authorized; the index entry is made with :meth:`PackageVersionInfo.from_s9pk`,
    co-signed with ``registry_key`` when set (the developer's header signature stays); files of
    one version are merged as hardware variants; the JSON files are written; the staging
    directory replaces the output.

    **Authorization.** Upstream's ``package.add`` lets only admins create a package. A static
    build has no earlier ``package.add``: the configuration is the whole database. So the rule
    is :func:`check_publish` over the configured signers, admins and ``authorized`` map: the
    header key must belong to a signer (the first by Guid that lists it), and that signer must
    be an admin or have a range for the package id that the version satisfies, including the
    package's first version. The previous output's ``authorized`` map is not consulted.

    **Variants.** Several files with one ``(id, version)`` become one version whose ``s9pks``
    is sorted by ``specificity_desc`` (ties by hardware JSON, then file path), as upstream's
    ``merge_with``. Their metadata, icon and dependency metadata must be identical. A file
    whose commitment is already in the version is dropped with a warning.

    **publishedAt** of an asset (by package, version and commitment) is read back from the
    previous output's ``index.json``, else from the published index (``settings.published``:
    read when the previous output is missing or lacks an asset, so a build from a fresh
    checkout keeps every published date); a new asset gets ``source_date_epoch``, else the
    current time (whole seconds). StartOS images are dated the same way. Output bytes depend
    only on the inputs and these times. Without a previous output, the report's ``added``,
    ``removed`` and ``changed`` compare with the published index.

    **Incremental.** With a ``cache_dir``, a source whose stat identity and header are those of
    a file verified before is not read again (:mod:`s9reg.builder.verify_cache`), and a build whose
    settings, code and sources are all unchanged since the last successful one, with that
    build's ``index.json`` still in place, returns at once without touching the output.

    Args:
        settings: what to build.
        progress: receives per-file and byte progress of verification.
        force: rebuild even when everything is unchanged.

    Returns:
        Counts, the difference with the previous site, skipped sources and warnings.

    Raises:
        BuildError: variants of one version disagree or collide, or the output cannot be
            (re)built; the previous output is then untouched.
        S9pkError: a source is not a valid, intact package (unless ``skip_invalid``).
        UnauthorizedSignerError: a source's signer may not publish it (unless ``skip_invalid``).
        RegistryError: a package cannot be indexed, e.g. it has no icon (unless
            ``skip_invalid``).
    """
    cache = VerifyCache(settings.cache_dir)
    with _download_dir(settings) as downloads:
        remote = _fetch_remote_sources(settings, downloads)
        url_images = hash_url_images(settings, cache)
        fingerprint = _fingerprint(settings, remote, url_images)
        if fingerprint is not None and settings.cache_dir is not None and not force:
            done = _up_to_date(settings, settings.cache_dir, fingerprint)
            if done is not None:
                return done
        state = _build(settings, progress, cache, remote, url_images)
    if fingerprint is not None and settings.cache_dir is not None:
        BuildStamp(
            fingerprint=fingerprint,
            output=str(settings.output),
            index=file_digest(settings.output / INDEX_FILE) or "",
            warnings=tuple(state.warnings),
            skipped=tuple((str(s.path), s.code, s.message) for s in state.skipped),
        ).save(settings.cache_dir)
    return _report(state, state.index)


def _build(
    settings: BuildSettings,
    progress: BuildProgress | None,
    cache: VerifyCache,
    remote: Mapping[Path, str],
    url_images: Mapping[str, Download],
) -> _State:
    previous = _read_previous(settings.output)
    first_seen = _first_seen(previous[0]) if previous[0] is not None else {}
    if settings.base is not None:
        first_seen = {**_first_seen(settings.base), **first_seen}
    dates = _Dates(first_seen, settings.published)
    if previous[0] is None:
        # Read before anything is staged: every asset needs it, and so does the report.
        dates.published()
    with staging_dir(settings.output, marker=SITE_FILE, error=BuildError) as staged:
        state = _State(
            settings=settings,
            staged=staged,
            rules=PublishRules(settings.admins, settings.signers, settings.authorized),
            previous=previous[0],
            dates=dates,
            now=_default_time(settings.source_date_epoch),
            cache=cache,
            registry_pem=(
                settings.registry_key.public_key.to_pem() if settings.registry_key else ""
            ),
            mirror_of=remote,
        )
        if previous[1] is not None:
            state.warn(previous[1])
        if settings.base is not None:
            _carry_over(state, settings.base)
        incoming = staged / ".incoming"
        _mkdir(incoming)
        clock = time.perf_counter()
        _add_sources(state, _unique_sources((*settings.sources, *remote)), incoming, progress)
        incoming.rmdir()
        clock = state.lap("sources", clock)
        # Over a published index, its OS releases stay as published unless the configuration
        # lists releases: those are then the whole OS index, checked against both indexes.
        if settings.base is not None and not settings.os_releases:
            os_index = settings.base.os
        else:
            os_index = build_os_index(
                settings,
                staged,
                cache=cache,
                urls=url_images,
                previous=state.previous if state.previous is not None else settings.base,
                published=state.dates.published,
                now=state.now,
            )
        clock = state.lap("os", clock)
        index = replace(_assemble(state), os=os_index)
        meta: dict[str, JSONValue] = {
            "format": SITE_FORMAT,
            "apiUrl": settings.api_url,
            "fileUrls": list(settings.file_urls),
        }
        files = site_files(index, meta)
        pages = _catalogue(state, index)
        clash = sorted(set(files) & set(pages))
        if clash:  # pragma: no cover - the two layouts are designed apart
            raise BuildError(f"catalogue file {clash[0]} collides with a registry file")
        clock = state.lap("render", clock)
        _write_files(staged, {**files, **pages})
        replace_dir(staged, settings.output, error=BuildError)
        state.lap("write", clock)
    state.index = index
    cache.save()
    return state


def _catalogue(state: _State, index: FullIndex) -> dict[str, bytes]:
    """The HTML catalogue's files (docs/catalogue.md), from the index and package texts."""
    settings = state.settings
    extras = {
        key: PackageExtras(
            instructions=texts.get("instructions"),
            license_text=texts.get("license"),
            file_sizes=state.file_sizes.get(key, {}),
        )
        for key, texts in state.extras.items()
    }
    options = CatalogueOptions(
        registry_url=settings.api_url,
        language=settings.language,
        registry_signer=(
            settings.registry_key.public_key.fingerprint if settings.registry_key else None
        ),
        # The feed's <updated> and the pages' "last release" are the newest publishedAt, not
        # the build time: a rebuild of the same registry must not change every page.
        admins=frozenset(str(g) for g in settings.admins),
        template_dir=settings.template_dir,
    )
    try:
        return render(index, options, extras)
    except CatalogueError as e:
        raise BuildError(f"catalogue: {e.message}", hint=e.hint) from e


@contextmanager
def _download_dir(settings: BuildSettings) -> Iterator[Path]:
    """Where remote sources are kept: the cache directory, or a temporary one without it."""
    if settings.cache_dir is not None:
        yield settings.cache_dir / "downloads"
        return
    with tempfile.TemporaryDirectory(prefix="s9reg-downloads-") as tmp:
        yield Path(tmp)


def _fetch_remote_sources(settings: BuildSettings, downloads: Path) -> dict[Path, str]:
    """Download every remote ``.s9pk`` (conditionally); local path → URL."""
    out: dict[Path, str] = {}
    for url in settings.remote_sources:
        dest = downloads / url_key(url) / file_name_of(url)
        got = download(url, dest)
        if got.path is not None:
            out[got.path] = url
    return out


def _fingerprint(
    settings: BuildSettings, remote: Mapping[Path, str], url_images: Mapping[str, Download]
) -> str | None:
    """Digest of everything the output depends on, or None if a source cannot be read."""
    if settings.cache_dir is None:
        return None
    sources: list[list[object]] = []
    images: list[list[object]] = []
    try:
        for src in _unique_sources((*settings.sources, *remote)):
            ident = FileIdentity.of(src.stat())
            sources.append([str(src.resolve()), ident.to_list(), header_digest(src)])
        images.extend(
            [str(img), FileIdentity.of(img.stat()).to_list()]
            for release in settings.os_releases
            for kind_map in release.images.values()
            for img in kind_map.values()
            if isinstance(img, Path)
        )
    except OSError:
        return None
    data = {
        "code": code_digest(),
        "settings": settings.fingerprint_data(),
        "sources": sources,
        "images": images,
        "urls": {u: d.to_dict() for u, d in sorted(url_images.items())},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _up_to_date(settings: BuildSettings, cache_dir: Path, fingerprint: str) -> BuildReport | None:
    """The report of the last build if nothing changed since and its output is intact."""
    stamp = BuildStamp.load(cache_dir)
    if stamp is None or stamp.fingerprint != fingerprint or stamp.output != str(settings.output):
        return None
    try:
        raw = (settings.output / INDEX_FILE).read_bytes()
        if (
            hashlib.sha256(raw).hexdigest() != stamp.index
            or not (settings.output / SITE_FILE).is_file()
        ):
            return None
        packages = json.loads(raw)["package"]["packages"]
        refs = sorted(
            PackageRef(pid, v) for pid, info in packages.items() for v in info["versions"]
        )
        variants = sum(
            len(pv["s9pks"]) for info in packages.values() for pv in info["versions"].values()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return BuildReport(
        output=settings.output,
        packages=len(packages),
        versions=len(refs),
        variants=variants,
        unchanged=tuple(refs),
        skipped=tuple(SkippedFile(Path(p), c, m) for p, c, m in stamp.skipped),
        warnings=stamp.warnings,
        up_to_date=True,
    )


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"{path}: cannot create: {e.strerror or e}") from e


def _write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (site-relative path → bytes) under ``root``, a new staging directory.

    Each directory is made once; files are written with plain ``os`` calls (thousands of
    small files: the ``pathlib`` and buffered-file layers cost more than the writes).
    """
    for rel_dir in sorted({posixpath.dirname(rel) for rel in files}):
        _mkdir(root / rel_dir)
    base = os.fspath(root)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    for rel, data in files.items():
        target = os.path.join(base, rel)  # noqa: PTH118 - see above
        try:
            fd = os.open(target, flags, 0o666)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except OSError as e:
            raise BuildError(f"{target}: cannot write: {e.strerror or e}") from e


# --------------------------------------------------------------------------------------------
# Previous output
# --------------------------------------------------------------------------------------------


def _read_previous(output: Path) -> tuple[FullIndex | None, str | None]:
    """The previous site's index, or None, plus a warning when it exists but is unreadable."""
    path = output / INDEX_FILE
    if not (output / SITE_FILE).is_file() or not path.is_file():
        return None, None
    try:
        return FullIndex.from_dict(json.loads(path.read_bytes())), None
    except (OSError, ValueError, S9regError) as e:
        return None, f"{path}: previous index unreadable, publication times not kept from it ({e})"


def _first_seen(index: FullIndex) -> dict[_AssetKey, datetime]:
    out: dict[_AssetKey, datetime] = {}
    for pid, info in index.package.packages.items():
        for version, pv in info.versions.items():
            for _, asset in pv.s9pks:
                out[(pid, version, asset.commitment)] = asset.published_at
    return out


def _default_time(source_date_epoch: int | None) -> datetime:
    if source_date_epoch is not None:
        return datetime.fromtimestamp(source_date_epoch, UTC)
    return datetime.now(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _unique_sources(sources: tuple[Path, ...]) -> list[Path]:
    """Sources in path order, each file once (the order makes ties and warnings stable)."""
    seen: dict[Path, Path] = {}
    for src in sources:
        seen.setdefault(src.resolve(), src)
    return sorted(seen.values(), key=lambda p: (p.name, str(p)))


def _stage(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        try:
            shutil.copyfile(source, dest)
        except OSError as e:
            raise BuildError(f"{source}: cannot read: {e.strerror or e}") from e


@dataclass(frozen=True, slots=True)
class _Verified:
    """What the build takes from a verified source; ``info`` has no URLs and the epoch time."""

    entry: CacheEntry
    info: PackageVersionInfo
    commitment: MerkleArchiveCommitment


_EPOCH = datetime.fromtimestamp(0, UTC)


def _verify(
    source: Path,
    incoming: Path,
    ident: FileIdentity,
    progress: BuildProgress | None,
    registry_key: PrivateKey | None = None,
) -> _Verified:
    """Fully verify the staged copy of ``source`` and record what the build needs from it.

    With ``registry_key``, the registry's co-signature of the commitment is made here too, and
    kept in the cache with the rest.
    """
    if progress is not None:
        progress.begin(source, ident.size)
    with incoming.open("rb") as f:
        try:
            pkg = S9pk.read(f)
            pkg.archive.verify_all(progress.advance if progress is not None else None)
            # What an upstream registry refuses is refused; an arch-filtered archive is listed,
            # and what devices of a claimed arch would refuse at install is recorded (§17.3).
            pkg.check_listable()
            not_installable = pkg.arch_problems()
        except S9pkError as e:
            if e.archive is None:
                e.in_archive(str(source))
            raise
        info = PackageVersionInfo.from_s9pk(pkg, (), _EPOCH)
        cosign = {}
        if registry_key is not None:
            pem = registry_key.public_key.to_pem()
            cosign[pem] = pkg.commitment.sign(registry_key).to_pem()
        entry = CacheEntry(
            identity=ident,
            header=hashlib.sha256(pkg.archive.header.to_bytes()).hexdigest(),
            package_id=pkg.manifest.id,
            version=pkg.manifest.version,
            signer=pkg.signer.to_pem(),
            info=info.to_dict(),
            extras={"instructions": pkg.instructions(), "license": pkg.license()},
            cosign=cosign,
            not_installable=not_installable,
        )
        return _Verified(entry, info, pkg.commitment)


def _from_entry(entry: CacheEntry) -> _Verified:
    info = PackageVersionInfo.from_dict(dict(entry.info))
    return _Verified(entry, info, info.s9pks[0][1].commitment)


@dataclass(frozen=True, slots=True)
class _Checked:
    result: _Verified
    verified: bool  # False: reused from the cache


def _check(state: _State, source: Path, incoming: Path, progress: BuildProgress | None) -> _Checked:
    """Stage ``source`` as ``incoming``; reuse its cache entry or verify it in full.

    A file the cache knows by identity and header is not read. One with the header and size of
    a known entry but a new identity (a fresh checkout) is reused once its bodies hash right.
    Verification is CPU-bound Python around native hashing and signatures: threads do not
    speed it up, and worker processes gained little on two cores (``bench/README.md``).
    """
    try:
        ident = FileIdentity.of(source.stat())
    except OSError as e:
        raise BuildError(f"{source}: cannot read: {e.strerror or e}") from e
    entry = state.cache.lookup(source, ident)
    _stage(source, incoming)
    if entry is None:
        candidate = state.cache.candidate(source, ident)
        if candidate is None or not bodies_intact(incoming):
            key = state.settings.registry_key
            return _Checked(_verify(source, incoming, ident, progress, key), verified=True)
        entry = candidate
    if progress is not None:
        progress.begin(source, ident.size)
        progress.advance(ident.size)
    return _Checked(_from_entry(entry), verified=False)


def _add_sources(
    state: _State, sources: list[Path], incoming: Path, progress: BuildProgress | None
) -> None:
    """Stage, check and index every source, in source order."""
    for n, source in enumerate(sources):
        _add_source(state, source, incoming / f"{n}.s9pk", progress)


def _add_source(
    state: _State, source: Path, incoming: Path, progress: BuildProgress | None
) -> None:
    try:
        try:
            checked = _check(state, source, incoming, progress)
        except OSError as e:
            raise BuildError(f"{source}: cannot read: {e.strerror or e}") from e
        if checked.verified:
            state.verified += 1
            state.verified_bytes += checked.result.entry.identity.size
        else:
            state.from_cache += 1
        _index_package(state, source, incoming, checked.result)
    except BuildError:
        incoming.unlink(missing_ok=True)
        raise
    except S9regError as e:
        incoming.unlink(missing_ok=True)
        if not state.settings.skip_invalid:
            raise
        state.skipped.append(SkippedFile(source, e.code, e.message))
        where = "" if str(source) in e.message else f"{source}: "
        state.warn(f"skipped {where}{e.message}")


def _carry_over(state: _State, base: FullIndex) -> None:
    """Keep every package version of an index published before; new sources add to them."""
    key = state.settings.registry_key
    for pid, info in sorted(base.package.packages.items()):
        for version, pv in info.versions.items():
            for hardware, asset in pv.s9pks:
                where = asset.urls[0] if asset.urls else f"{pid} {version} (published)"
                signatures = dict(asset.signatures)
                if key is not None and state.registry_pem not in signatures:
                    signatures[state.registry_pem] = asset.commitment.sign(key).to_pem()
                one = replace(asset, signatures=signatures)
                size = next(
                    (state.settings.base_file_sizes[u] for u in asset.urls
                     if u in state.settings.base_file_sizes),
                    None,
                )  # fmt: skip
                if size is not None:
                    sizes = state.file_sizes.setdefault((pid, str(version)), {})
                    sizes[b64_encode(asset.commitment.root_sighash)] = size
                state.by_commitment[(pid, version, asset.commitment)] = where
                state.add_variant(
                    pid, version, _Variant(replace(pv, s9pks=((hardware, one),)), where)
                )


def _mirror(state: _State, source: Path) -> tuple[str, ...]:
    url = state.mirror_of.get(source)
    return () if url is None else (url,)


def _check_arches(state: _State, source: Path, entry: CacheEntry) -> None:
    """Warn about (or refuse) a variant that claims an arch whose devices would refuse it."""
    for arch, why in sorted(entry.not_installable.items()):
        problem = (
            f"{entry.package_id} {entry.version} claims {arch}, but devices of that arch would "
            f"refuse to install it: {why}"
        )
        if state.settings.incomplete_arches is IncompleteArches.REFUSE:
            raise RegistryError(
                problem, hint="publish the full archive, or set packages.incomplete_arches: warn"
            )
        state.warn(f"{source}: {problem}")


def _index_package(state: _State, source: Path, incoming: Path, verified: _Verified) -> None:
    settings = state.settings
    entry = verified.entry
    try:
        version = VersionString.parse(entry.version)
    except VersionError as e:  # pragma: no cover - the manifest parser checks it already
        raise BuildError(f"{source.name}: version: {e.message}") from None
    check_publish(state.rules, entry.package_id, version, PublicKey.from_pem(entry.signer))
    pid = entry.package_id
    _check_arches(state, source, entry)
    # ``1.0:0`` and ``1.0.0:0`` are one version: keep the first spelling for key and directory.
    known = state.spelling.get((pid, version))
    if known is not None and str(known) != str(version):
        state.warn(f"{source}: version {version} is written {known} by another variant")
        version = known
    key: _AssetKey = (pid, version, verified.commitment)
    if key in state.by_commitment:
        incoming.unlink()
        state.warn(f"{source}: same package as {state.by_commitment[key]}, left out")
        state.cache.store(source, entry)
        return
    try:
        rel = asset_path(pid, version, source.name)
    except ValueError as e:
        raise BuildError(str(e)) from None
    target = state.staged / rel
    if rel in state.placed:
        raise BuildError(
            f"{source}: {rel} is already taken by another file of {pid} {version}",
            hint="give the hardware variants of one version distinct file names",
        )
    signatures = dict(verified.info.s9pks[0][1].signatures)
    if settings.registry_key is not None:
        pem = state.registry_pem
        if pem not in entry.cosign:
            sig = verified.commitment.sign(settings.registry_key).to_pem()
            entry = replace(entry, cosign={**entry.cosign, pem: sig})
        signatures.setdefault(pem, entry.cosign[pem])
    hardware, asset = verified.info.s9pks[0]
    asset = replace(
        asset,
        urls=(*asset_urls(settings.file_urls, rel), *_mirror(state, source)),
        published_at=state.dates.first_seen(key) or state.now,
        signatures=signatures,
    )
    info = replace(verified.info, s9pks=((hardware, asset),))
    if target.parent not in state.made_dirs:
        _mkdir(target.parent)
        state.made_dirs.add(target.parent)
    incoming.replace(target)
    state.placed.add(rel)
    state.cache.store(source, entry)
    state.by_commitment[key] = rel
    state.extras[(pid, str(version))] = entry.extras
    size = entry.identity.size
    sizes = state.file_sizes.setdefault((pid, str(version)), {})
    sizes[b64_encode(verified.commitment.root_sighash)] = size
    state.add_variant(pid, version, _Variant(info, rel))


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


def _metadata(info: PackageVersionInfo) -> bytes:
    return dump_json(replace(info, s9pks=()))


def _merge(package_id: str, version: VersionString, variants: list[_Variant]) -> PackageVersionInfo:
    """One version from its variants: identical metadata, distinct hardware, upstream's order."""
    first = variants[0]
    for other in variants[1:]:
        if _metadata(other.info) != _metadata(first.info):
            a, b = first.info.to_dict(), other.info.to_dict()
            fields = sorted(k for k in a if k != "s9pks" and a[k] != b.get(k))
            raise BuildError(
                f"{package_id} {version}: {other.rel_path} and {first.rel_path} are variants of "
                f"one version but their metadata differ ({', '.join(fields)})",
                hint="rebuild the variants from one manifest, or give them different versions",
            )
    entries = sorted(
        ((v.info.s9pks[0], v.rel_path) for v in variants),
        key=lambda e: (specificity_desc(e[0][0]), dump_json(e[0][0].to_dict()), e[1]),
    )
    for (var_a, path_a), (var_b, path_b) in itertools.pairwise(entries):
        if var_a[0] == var_b[0]:
            raise BuildError(
                f"{package_id} {version}: {path_a} and {path_b} have the same hardware "
                "requirements but different contents",
                hint="publish only one of them, or change the version",
            )
    return replace(first.info, s9pks=tuple(e[0] for e in entries))


def _assemble(state: _State) -> FullIndex:
    settings = state.settings
    versions: dict[str, dict[VersionString, PackageVersionInfo]] = {}
    for (pid, version), variants in sorted(state.variants.items(), key=lambda kv: kv[0][0]):
        versions.setdefault(pid, {})[version] = _merge(pid, version, variants)
    membership: dict[str, list[str]] = {}
    for cat in settings.categories:
        for pid in cat.packages:
            if pid in versions:
                membership.setdefault(pid, []).append(cat.id)
            else:
                state.warn(f"category {cat.id}: package {pid} has no version in the site")
    packages = {
        pid: PackageInfo(
            authorized=dict(settings.authorized.get(pid, {})),
            versions=versions[pid],
            categories=tuple(sorted(set(membership.get(pid, ())))),
        )
        for pid in sorted(versions)
    }
    categories = {c.id: Category(c.name) for c in settings.categories}
    return FullIndex(
        name=settings.name,
        icon=settings.icon,
        package=PackageIndex(categories=categories, packages=packages),
        signers=dict(settings.signers),
    )


def _report(state: _State, index: FullIndex) -> BuildReport:
    new = _entries(index)
    before = state.previous if state.previous is not None else state.dates.index
    old = _entries(before) if before is not None else {}
    kept = {r: dump_json(old[r]) == dump_json(pv) for r, pv in new.items() if r in old}
    return BuildReport(
        output=state.settings.output,
        packages=len(index.package.packages),
        versions=len(new),
        variants=sum(len(pv.s9pks) for pv in new.values()),
        added=tuple(sorted(r for r in new if r not in old)),
        removed=tuple(sorted(r for r in old if r not in new)),
        changed=tuple(sorted(r for r, same in kept.items() if not same)),
        unchanged=tuple(sorted(r for r, same in kept.items() if same)),
        skipped=tuple(state.skipped),
        warnings=tuple(state.warnings),
        verified=state.verified,
        from_cache=state.from_cache,
        verified_bytes=state.verified_bytes,
        timings=dict(state.timings),
    )


def _entries(index: FullIndex) -> dict[PackageRef, PackageVersionInfo]:
    return {
        PackageRef(pid, str(v)): pv
        for pid, info in index.package.packages.items()
        for v, pv in info.versions.items()
    }
