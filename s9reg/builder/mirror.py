"""``s9reg mirror``: a complete, verified copy of another registry, written as an s9reg site.

:func:`mirror` lists a registry with :class:`~s9reg.builder.upstream.RegistryClient`, downloads
every selected package file (and, with ``os``, every StartOS image) into the destination in
parallel, verifies each against the commitment and signatures the registry lists, and writes the
site's JSON (``docs/site-layout.md``): this copy's URLs first, the registry's kept after them as
fallbacks, so that ``s9reg serve`` over the destination is a registry for a box without internet.

It is resumable: a file cut short is continued with a ``Range`` request, a file verified before
(recorded under ``_s9reg/mirror/``, which ``s9reg serve`` never serves) is not fetched again, and
the index files are written last, each atomically. A file that fails verification is reported,
removed and left out of the index. No HTML catalogue is written. Nothing here prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import DownloadLimits, download_resumable, file_name_of
from s9reg.builder.ingest import distinct_name
from s9reg.builder.site import site_files
from s9reg.builder.upstream import RegistryClient
from s9reg.errors import S9regError
from s9reg.exver import VersionRange, VersionString
from s9reg.registry.model import (
    FullIndex,
    Guid,
    OsIndex,
    PackageIndex,
    PackageInfo,
    PackageVersionInfo,
    RegistryAsset,
    SignerInfo,
)
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.reader import read_archive
from s9reg.site_layout import (
    INDEX_FILE,
    RPC_DIR,
    SITE_FILE,
    SITE_FORMAT,
    STATE_DIR,
    asset_path,
    asset_urls,
)

__all__ = ["MirrorProgress", "MirrorReport", "MirrorSettings", "mirror"]

#: Where the mirror keeps what it verified, inside the destination (never served).
MIRROR_STATE = f"{STATE_DIR}/mirror"
_Key = tuple[str, str, int]  # package id, version, variant index
#: Largest package file: the commitment does not give a file size.
MAX_S9PK_BYTES = 4 << 30


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorSettings:
    """What to mirror, and where.

    Attributes:
        source: the registry's URL.
        dest: the site directory (new, empty, or an earlier mirror).
        file_urls: base URLs the copy will be served from (``s9reg serve``'s address), first in
            every asset's ``urls``.
        packages: package id → version range; None: every package.
        os: also StartOS images.
        jobs: downloads at once.
        limits: bounds of every request.
    """

    source: str
    dest: Path
    file_urls: tuple[str, ...]
    packages: Mapping[str, VersionRange] | None = None
    os: bool = False
    jobs: int = 4
    limits: DownloadLimits = field(default_factory=DownloadLimits)


class MirrorProgress(Protocol):
    """Receives the mirror's progress (from several threads)."""

    def planned(self, files: int) -> None:
        """The number of files to bring."""

    def advance(self, nbytes: int) -> None:
        """Bytes downloaded (or found in a part file being continued)."""

    def finished(self, rel: str, outcome: str) -> None:
        """A file is done: ``downloaded``, ``resumed``, ``present`` or ``failed``."""


@dataclass(frozen=True, slots=True)
class MirrorReport:
    """What a mirror run did.

    Attributes:
        packages: packages in the written index.
        versions: package versions in it.
        os_versions: StartOS releases in it.
        files: files the index lists from this copy.
        downloaded: fetched whole this run.
        resumed: continued from a part file.
        present: verified before, not fetched again.
        failed: (file, why) of every file left out.
        warnings: other problems (a signer list that could not be read).
        bytes: size of the files the index lists.
    """

    packages: int
    versions: int
    os_versions: int
    files: int
    downloaded: int
    resumed: int
    present: int
    failed: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    bytes: int


@dataclass(frozen=True, slots=True)
class _Item:
    rel: str
    urls: tuple[str, ...]
    commitment: MerkleArchiveCommitment | Blake3Commitment
    signatures: Mapping[str, str]

    @property
    def max_bytes(self) -> int:
        c = self.commitment
        return c.size if isinstance(c, Blake3Commitment) else MAX_S9PK_BYTES


@dataclass(slots=True)
class _Run:
    settings: MirrorSettings
    progress: MirrorProgress | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def mirror(settings: MirrorSettings, progress: MirrorProgress | None = None) -> MirrorReport:
    """Copy, verify and index the registry at ``settings.source`` into ``settings.dest``.

    When files were due and every one failed, nothing is indexed: ``dest`` keeps its earlier
    site, if any.

    Raises:
        BuildError: the registry cannot be read, or ``dest`` is not a directory this may write
            (a non-empty directory that is neither an s9reg site nor an earlier mirror).
    """
    dest = settings.dest
    _check_dest(dest)
    client = RegistryClient(settings.source, settings.limits, dest / MIRROR_STATE / "answers")
    info = client.info()
    listing = client.package_index()
    os_index = client.os_index() if settings.os else OsIndex()
    packages = _select(listing, settings.packages)
    items, rels = _package_items(packages)
    items += _os_items(os_index)
    run = _Run(settings, progress)
    if progress is not None:
        progress.planned(len(items))
    with ThreadPoolExecutor(max_workers=max(1, settings.jobs)) as pool:
        for _ in pool.map(lambda item: _bring(run, item), items):
            pass
    warnings: list[str] = []
    signers = _signers(client, packages, warnings, settings.jobs)
    index = FullIndex(
        name=info.name,
        icon=info.icon,
        package=PackageIndex(
            categories=dict(listing.categories),
            packages=_kept_packages(run, packages, rels),
        ),
        os=_kept_os(run, os_index),
        signers=signers,
    )
    kept = [rel for rel in run.sizes if rel not in run.failed]
    if kept or not run.failed:
        _write_site(dest, index, settings)
    # else every file failed: DEST keeps what it held (an earlier copy, or nothing), rather
    # than an index of nothing; the report says what failed.
    counts = {
        k: sum(1 for v in run.outcomes.values() if v == k)
        for k in ("downloaded", "resumed", "present")
    }
    return MirrorReport(
        packages=len(index.package.packages),
        versions=sum(len(p.versions) for p in index.package.packages.values()),
        os_versions=len(index.os.versions),
        files=len(kept),
        downloaded=counts["downloaded"],
        resumed=counts["resumed"],
        present=counts["present"],
        failed=tuple(sorted(run.failed.items())),
        warnings=tuple(warnings),
        bytes=sum(run.sizes[r] for r in kept),
    )


def _check_dest(dest: Path) -> None:
    try:
        if dest.exists() and not dest.is_dir():
            raise BuildError(f"{dest}: not a directory")
        if (
            dest.is_dir()
            and any(dest.iterdir())
            and not (dest / SITE_FILE).is_file()
            and not (dest / MIRROR_STATE).is_dir()
        ):
            raise BuildError(
                f"{dest}: not empty, and neither an s9reg site nor an earlier mirror",
                hint="give a new or empty directory",
            )
        (dest / MIRROR_STATE / "done").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"{dest}: cannot write: {e.strerror or e}") from None


def _select(
    listing: PackageIndex, wanted: Mapping[str, VersionRange] | None
) -> dict[str, PackageInfo]:
    out: dict[str, PackageInfo] = {}
    for pid, info in sorted(listing.packages.items()):
        if wanted is not None and pid not in wanted:
            continue
        scope = wanted[pid] if wanted is not None else None
        versions = {
            v: pv for v, pv in info.versions.items() if scope is None or scope.satisfied_by(v)
        }
        if versions:
            out[pid] = replace(info, versions=versions)
    return out


def _package_items(packages: Mapping[str, PackageInfo]) -> tuple[list[_Item], dict[_Key, str]]:
    """One item per variant, and each variant's path in the site.

    Two variants of one version may share a file name upstream (in different folders): the
    second is given a name with a digest of its commitment.
    """
    items: list[_Item] = []
    rels: dict[_Key, str] = {}
    for pid, info in packages.items():
        for version, pv in info.versions.items():
            taken: set[str] = set()
            for n, (_, asset) in enumerate(pv.s9pks):
                if not asset.urls:
                    continue
                name = file_name_of(asset.urls[0])
                rel = asset_path(pid, version, name)
                if rel in taken:
                    rel = asset_path(pid, version, distinct_name(name, asset.commitment))
                taken.add(rel)
                rels[(pid, str(version), n)] = rel
                items.append(_Item(rel, asset.urls, asset.commitment, asset.signatures))
    return items, rels


def _os_rel(version: str, asset: RegistryAsset[Blake3Commitment]) -> str:
    return f"_startos/{version}/{file_name_of(asset.urls[0])}"


def _os_items(index: OsIndex) -> list[_Item]:
    items: list[_Item] = []
    for version, info in index.versions.items():
        for kind in ("iso", "img", "squashfs"):
            for _, asset in sorted(getattr(info, kind).items()):
                if asset.urls:
                    rel = _os_rel(str(version), asset)
                    items.append(_Item(rel, asset.urls, asset.commitment, asset.signatures))
    return items


# --------------------------------------------------------------------------------------------
# One file: present, continued or fetched; verified; recorded
# --------------------------------------------------------------------------------------------


def _marker(dest: Path, rel: str) -> Path:
    return dest / MIRROR_STATE / "done" / (hashlib.sha256(rel.encode()).hexdigest()[:32] + ".json")


def _identity(item: _Item, st: os.stat_result) -> dict[str, object]:
    return {
        "rel": item.rel,
        "commitment": item.commitment.to_dict(),
        "size": st.st_size,
        "mtime": st.st_mtime_ns,
    }


def _recorded(dest: Path, item: _Item) -> int | None:
    """The size of ``item``'s file if it was verified before and is unchanged since."""
    try:
        st = (dest / item.rel).stat()
        known = json.loads(_marker(dest, item.rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return st.st_size if known == _identity(item, st) else None


def _verify(path: Path, item: _Item) -> None:
    """The file at ``path`` is the one ``item`` lists, and every listed signature holds.

    Raises:
        S9regError: it is not.
    """
    with path.open("rb") as f:
        c = item.commitment
        if isinstance(c, Blake3Commitment):
            got = Blake3Commitment.from_stream(f)
            if got != c:
                raise BuildError(f"BLAKE3 or size differs from the listing ({got.size} bytes)")
        else:
            read_archive(f, commitment=c).verify_all()


def _check_signatures(item: _Item) -> None:
    """At least one listed signature, and every one valid over the commitment (as a device)."""
    if not item.signatures:
        raise BuildError("the listing gives no signature")
    try:
        item.commitment.verify_pems(item.signatures)
    except S9regError as e:
        raise BuildError(f"a listed signature does not hold: {e.message}") from None


def _bring(run: _Run, item: _Item) -> None:
    dest = run.settings.dest
    path = dest / item.rel
    size = _recorded(dest, item)
    outcome = "present"
    if size is None:
        try:
            _check_signatures(item)
            size, outcome = _fetch_and_verify(run, item, path)
            atomic_write(_marker(dest, item.rel), json.dumps(_identity(item, path.stat())).encode())
        except (S9regError, OSError) as e:
            text = e.message if isinstance(e, S9regError) else str(e)
            with run.lock:
                run.failed[item.rel] = text
                run.outcomes[item.rel] = "failed"
            if run.progress is not None:
                run.progress.finished(item.rel, "failed")
            return
    elif run.progress is not None:
        run.progress.advance(size)
    with run.lock:
        run.sizes[item.rel] = size
        run.outcomes[item.rel] = outcome
    if run.progress is not None:
        run.progress.finished(item.rel, outcome)


def _fetch_and_verify(run: _Run, item: _Item, path: Path) -> tuple[int, str]:
    """Download ``item`` from its first URL that answers, and verify it.

    A continued file that fails verification is fetched once more from the start.

    Raises:
        S9regError: no URL gives a file that verifies.
    """
    errors: list[str] = []
    advance = run.progress.advance if run.progress is not None else None
    for url in item.urls:
        for attempt in range(2):
            try:
                size, resumed = download_resumable(
                    url,
                    path,
                    max_bytes=item.max_bytes,
                    progress=advance,
                    limits=run.settings.limits,
                )
            except BuildError as e:
                errors.append(e.message)
                break
            try:
                _verify(path, item)
            except S9regError as e:
                path.unlink(missing_ok=True)
                if resumed and attempt == 0:
                    continue
                raise BuildError(f"{url}: {e.message}") from None
            return size, "resumed" if resumed else "downloaded"
    raise BuildError(errors[0] if errors else "no URL")


# --------------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------------


def _ours(run: _Run, rel: str, urls: tuple[str, ...]) -> tuple[str, ...]:
    mine = asset_urls(run.settings.file_urls, rel)
    return (*mine, *(u for u in urls if u not in mine))


def _kept_packages(
    run: _Run, packages: Mapping[str, PackageInfo], rels: Mapping[_Key, str]
) -> dict[str, PackageInfo]:
    out: dict[str, PackageInfo] = {}
    for pid, info in packages.items():
        versions: dict[VersionString, PackageVersionInfo] = {}
        for version, pv in info.versions.items():
            variants = []
            for n, (hw, asset) in enumerate(pv.s9pks):
                rel = rels.get((pid, str(version), n))
                if rel is not None and rel in run.sizes:
                    variants.append((hw, replace(asset, urls=_ours(run, rel, asset.urls))))
            if variants:
                versions[version] = replace(pv, s9pks=tuple(variants))
        if versions:
            out[pid] = replace(info, versions=versions)
    return out


def _kept_os(run: _Run, index: OsIndex) -> OsIndex:
    versions = {}
    for version, info in index.versions.items():
        kinds: dict[str, dict[str, RegistryAsset[Blake3Commitment]]] = {}
        for kind in ("iso", "img", "squashfs"):
            kept = {}
            for platform, asset in getattr(info, kind).items():
                rel = _os_rel(str(version), asset) if asset.urls else ""
                if rel in run.sizes:
                    kept[platform] = replace(asset, urls=_ours(run, rel, asset.urls))
            kinds[kind] = kept
        if any(kinds.values()):
            versions[version] = replace(info, **kinds)  # type: ignore[arg-type]
    return OsIndex(versions=versions)


def _signers(
    client: RegistryClient, packages: Mapping[str, PackageInfo], warnings: list[str], jobs: int
) -> dict[Guid, SignerInfo]:
    """The signers the registry authorizes for the mirrored packages (``package.signer.list``)."""

    def one(pid: str) -> tuple[str, dict[Guid, tuple[SignerInfo, VersionRange]] | str]:
        try:
            return pid, client.signer_list(pid)
        except S9regError as e:
            return pid, e.message

    out: dict[Guid, SignerInfo] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for pid, got in pool.map(one, sorted(packages)):
            if isinstance(got, str):
                warnings.append(f"{pid}: signers not listed: {got}")
                continue
            for guid, (signer, _) in sorted(got.items()):
                out.setdefault(guid, signer)
    return out


def _write_site(dest: Path, index: FullIndex, settings: MirrorSettings) -> None:
    """Every JSON file of the site; the index and the site marker last, each atomically.

    Precomputed results of an earlier run that this index no longer has are removed.
    """
    meta: dict[str, object] = {
        "format": SITE_FORMAT,
        "apiUrl": settings.file_urls[0],
        "fileUrls": list(settings.file_urls),
    }
    files = site_files(index, meta)  # type: ignore[arg-type]
    last = {INDEX_FILE, SITE_FILE}
    try:
        for rel, data in files.items():
            if rel not in last:
                atomic_write(dest / rel, data)
        rpc = dest / RPC_DIR
        if rpc.is_dir():
            for path in sorted(rpc.rglob("*.json")):
                if path.relative_to(dest).as_posix() not in files:
                    path.unlink()
        for rel in (INDEX_FILE, SITE_FILE):
            atomic_write(dest / rel, files[rel])
    except OSError as e:
        raise BuildError(f"{dest}: cannot write: {e.strerror or e}") from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename.

    A file that already holds ``data`` is left alone (a second run rewrites nothing).
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
