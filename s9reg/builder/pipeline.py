"""``build_site``: verify, authorize and assemble packages into a static registry site (§9).

Orchestration only: the sources are :mod:`~s9reg.builder.ingest`'s, the index is
:mod:`~s9reg.builder.assemble`'s, the format work is :mod:`s9reg.s9pk`, the model and the publish
rule are :mod:`s9reg.registry`, the files' names :mod:`s9reg.site_layout` and their contents
:mod:`s9reg.builder.site`. Nothing here prints.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from s9reg._fs import check_output, replace_dir, staging_dir
from s9reg._json import JSONValue
from s9reg.builder._state import Dates, State, asset_dates, default_time
from s9reg.builder.assemble import assemble
from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import Download, download, file_name_of, url_key
from s9reg.builder.ingest import (
    add_references,
    add_sources,
    carry_over,
    make_dir,
    regular_file,
    unique_sources,
)
from s9reg.builder.limits import DOMINANT_INDEX_BYTES, dominant_package
from s9reg.builder.osindex import build_os_index, hash_url_images
from s9reg.builder.regsource import Resolved, resolve_sources
from s9reg.builder.report import (
    BuildProgress,
    BuildReport,
    DownloadProgress,
    PackageRef,
    SkippedFile,
)
from s9reg.builder.settings import BuildSettings
from s9reg.builder.site import site_files
from s9reg.builder.verify_cache import (
    BuildStamp,
    FileIdentity,
    VerifyCache,
    code_digest,
    file_digest,
    header_digest,
)
from s9reg.catalogue import CatalogueError, CatalogueOptions, PackageExtras, render
from s9reg.errors import S9regError
from s9reg.registry.authz import PublishRules
from s9reg.registry.model import (
    FullIndex,
    PackageVersionInfo,
    dump_json,
)
from s9reg.s9pk.reader import MAGIC_V1, MAGIC_V2
from s9reg.site_layout import INDEX_FILE, SITE_FILE, SITE_FORMAT

__all__ = ["BuildProgress", "BuildReport", "PackageRef", "SkippedFile", "build_site"]

_log = logging.getLogger(__name__)


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
    # Before downloading sources or hashing OS images.
    check_output(settings.output, marker=SITE_FILE, error=BuildError)
    unique_sources(settings.sources)  # each a regular file, checked without opening it
    if settings.template_dir is not None:
        _check_templates(settings.template_dir)
    cache = VerifyCache(settings.cache_dir)
    with _download_dir(settings) as downloads:
        fetching = progress if isinstance(progress, DownloadProgress) else None
        remote = _fetch_remote_sources(settings, downloads, fetching)
        resolved = resolve_sources(
            settings.registry_sources,
            downloads,
            settings.downloads,
            fetching,
            only_source=not (
                settings.sources
                or settings.remote_sources
                or settings.os_releases
                or settings.base is not None
            ),
        )
        url_images = hash_url_images(settings, cache, fetching)
        fingerprint = _fingerprint(
            settings,
            {**remote, **{p: v.where for p, v in resolved.copies.items()}},
            url_images,
            resolved.digest,
        )
        if fingerprint is not None and settings.cache_dir is not None and not force:
            done = _up_to_date(settings, settings.cache_dir, fingerprint)
            if done is not None:
                return done
        state = _build(settings, progress, cache, remote, url_images, resolved)
    if fingerprint is not None and settings.cache_dir is not None:
        BuildStamp(
            fingerprint=fingerprint,
            output=str(settings.output),
            index=file_digest(settings.output / INDEX_FILE) or "",
            warnings=tuple(state.warnings),
            skipped=tuple((str(s.path), s.code, s.message) for s in state.skipped),
        ).save(settings.cache_dir)
    return _report(state, state.index)


def _build(  # noqa: PLR0913, PLR0917 - one argument per kind of input
    settings: BuildSettings,
    progress: BuildProgress | None,
    cache: VerifyCache,
    remote: Mapping[Path, str],
    url_images: Mapping[str, Download],
    resolved: Resolved,
) -> State:
    previous = _read_previous(settings.output)
    first_seen = asset_dates(previous[0]) if previous[0] is not None else {}
    if settings.base is not None:
        first_seen = {**asset_dates(settings.base), **first_seen}
    dates = Dates(first_seen, settings.published, settings.published_first)
    if previous[0] is None or settings.published_first:
        # Read before anything is staged: every asset needs it, and so does the report.
        dates.published()
    with staging_dir(settings.output, marker=SITE_FILE, error=BuildError) as staged:
        state = State(
            settings=settings,
            staged=staged,
            rules=PublishRules(
                settings.admins,
                {**resolved.signers, **settings.signers},
                {
                    pid: {**resolved.authorized.get(pid, {}), **settings.authorized.get(pid, {})}
                    for pid in {*settings.authorized, *resolved.authorized}
                },
            ),
            previous=previous[0],
            dates=dates,
            now=default_time(settings.source_date_epoch),
            cache=cache,
            registry_pem=(
                settings.registry_key.public_key.to_pem() if settings.registry_key else ""
            ),
            mirror_of=remote,
            upstream=resolved.copies,
            adopted_signers=resolved.signers,
            adopted_authorized=resolved.authorized,
            adopted_from={
                g: u for g, u in resolved.adopted_from.items() if g not in settings.signers
            },
        )
        if previous[1] is not None:
            state.warn(previous[1])
        for warning in resolved.warnings:
            state.warn(warning)
        state.skipped.extend(resolved.skipped)
        if settings.base is not None:
            carry_over(state, settings.base)
        incoming = staged / ".incoming"
        make_dir(incoming)
        clock = time.perf_counter()
        add_sources(
            state,
            unique_sources((*settings.sources, *remote, *resolved.copies)),
            incoming,
            progress,
        )
        add_references(state, resolved.references)
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
        index = replace(assemble(state), os=os_index)
        admins: list[JSONValue] = [str(g) for g in sorted(settings.admins)]
        meta: dict[str, JSONValue] = {
            "format": SITE_FORMAT,
            "apiUrl": settings.api_url,
            "fileUrls": list(settings.file_urls),
            # Upstream keeps admins outside the index; `s9reg registry db dump` reads them here.
            "admins": admins,
        }
        files = site_files(index, meta)
        _warn_dominant(state, index, files)
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


def _warn_dominant(state: State, index: FullIndex, files: Mapping[str, bytes]) -> None:
    """Warn when one package makes most of a large ``index.json`` (every device reads it)."""
    size = len(files.get(INDEX_FILE, b""))
    if size < DOMINANT_INDEX_BYTES:
        return
    sizes = {pid: len(dump_json(info)) for pid, info in index.package.packages.items()}
    warning = dominant_package(size, sizes)
    if warning is not None:
        state.warn(warning)


def _catalogue(state: State, index: FullIndex) -> dict[str, bytes]:
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
        adopted={str(g): url for g, url in state.adopted_from.items()},
    )
    try:
        return render(index, options, extras)
    except CatalogueError as e:
        raise BuildError(f"catalogue: {e.message}", hint=e.hint) from e


def _check_templates(template_dir: Path) -> None:
    """Every file under ``template_dir`` is a regular file (a FIFO there would block the render).

    Symlinked directories are not followed (a loop must not make the walk endless).

    Raises:
        BuildError: a file there is not a regular file, or a symlink loop.
    """
    for top, _dirs, names in os.walk(template_dir):
        for name in sorted(names):
            regular_file(Path(top) / name, "catalogue template file")


@contextmanager
def _download_dir(settings: BuildSettings) -> Iterator[Path]:
    """Where remote sources are kept: the cache directory, or a temporary one without it."""
    if settings.cache_dir is not None:
        yield settings.cache_dir / "downloads"
        return
    with tempfile.TemporaryDirectory(prefix="s9reg-downloads-") as tmp:
        yield Path(tmp)


def _fetch_remote_sources(
    settings: BuildSettings, downloads: Path, progress: DownloadProgress | None
) -> dict[Path, str]:
    """Download every remote ``.s9pk`` (conditionally); local path → URL.

    The magic is checked as the first bytes arrive: a URL that is not a package costs a few
    bytes, not a disk.
    """
    out: dict[Path, str] = {}
    for url in settings.remote_sources:
        dest = downloads / url_key(url) / file_name_of(url)
        got = download(
            url,
            dest,
            limits=settings.downloads,
            magic=(MAGIC_V2, MAGIC_V1),
            what="an s9pk",
            progress=progress.download(url, None) if progress is not None else None,
        )
        if got.path is not None:
            out[got.path] = url
    return out


def _fingerprint(
    settings: BuildSettings,
    remote: Mapping[Path, str],
    url_images: Mapping[str, Download],
    listings: list[object],
) -> str | None:
    """Digest of everything the output depends on, or None if a source cannot be read."""
    if settings.cache_dir is None:
        return None
    sources: list[list[object]] = []
    images: list[list[object]] = []
    try:
        for src in unique_sources((*settings.sources, *remote)):
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
        "registries": listings,
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


def _write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (site-relative path → bytes) under ``root``, a new staging directory.

    Each directory is made once; files are written with plain ``os`` calls (thousands of
    small files: the ``pathlib`` and buffered-file layers cost more than the writes).
    """
    for rel_dir in sorted({posixpath.dirname(rel) for rel in files}):
        make_dir(root / rel_dir)
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


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _report(state: State, index: FullIndex) -> BuildReport:
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
