"""Registry sources: packages taken from another StartOS registry (issue 21, docs/configuration.md).

A :class:`RegistrySource` names a registry, a selection (ids with version ranges, or every id
but some), an optional flavor and architecture filter and a mode. :func:`resolve_sources` asks
each source's listing through :class:`~s9reg.builder.upstream.RegistryClient` and, per selected
hardware variant, either downloads the file (``copy``: it is then verified in full by the
ingest like any source) or fetches and checks its header against the listed commitment
(``reference``). Every signature the listing carries must verify. What the build then does with
the result (authorization, co-signature, index entries) is :mod:`~s9reg.builder.ingest`'s.

A source that cannot be read or answers garbage is left out with one warning; a file that fails
its checks is left out and reported. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import DownloadLimits, download, fetch_prefix, file_name_of, url_key
from s9reg.builder.report import DownloadProgress, SkippedFile
from s9reg.builder.upstream import RegistryClient
from s9reg.errors import S9regError
from s9reg.exver import VersionRange, VersionString
from s9reg.registry.model import Guid, PackageVersionInfo, SignerInfo, dump_json
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.errors import SignatureError
from s9reg.s9pk.keys import PublicKey
from s9reg.s9pk.reader import HEADER_SIZE, MAGIC_V1, MAGIC_V2, read_header

__all__ = [
    "RegistrySource",
    "Resolved",
    "SourceMode",
    "UpstreamVariant",
    "resolve_sources",
]


class SourceMode(StrEnum):
    """How a registry source's files are published.

    ``copy``: from this site, upstream's URLs after ours; ``reference``: upstream's URLs only.
    """

    COPY = "copy"
    REFERENCE = "reference"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySource:
    """One ``packages.sources`` entry with ``registry:`` (docs/configuration.md).

    Attributes:
        url: the registry's URL, as a device is given it.
        mode: copy or reference.
        packages: package id → version range; None takes every package of the registry.
        exclude: ids left out (with ``packages`` None).
        flavor: only versions of this flavor (``#flavor:…``); None: any, "" no flavor.
        arches: only hardware variants that run on one of these (a variant without an arch
            list runs on all); empty: every variant.
        newest: per package and flavor, only the newest this many selected versions; None all.
        trust_upstream_signers: adopt the registry's signers of the selected ids (their
            entries go into this registry's signer list and ``authorized`` map) instead of
            requiring signers authorized by this configuration.
    """

    url: str
    mode: SourceMode = SourceMode.COPY
    packages: Mapping[str, VersionRange] | None = None
    exclude: frozenset[str] = frozenset()
    flavor: str | None = None
    arches: tuple[str, ...] = ()
    newest: int | None = None
    trust_upstream_signers: bool = False

    def selects(self, package_id: str, version: VersionString) -> bool:
        """Whether ``package_id`` at ``version`` is selected (before ``newest``)."""
        if package_id in self.exclude:
            return False
        if self.flavor is not None and (version.flavor or "") != self.flavor:
            return False
        if self.packages is None:
            return True
        wanted = self.packages.get(package_id)
        return wanted is not None and wanted.satisfied_by(version)

    def to_dict(self) -> dict[str, object]:
        """JSON form, for the build's fingerprint and messages."""
        return {
            "url": self.url,
            "mode": self.mode.value,
            "packages": None
            if self.packages is None
            else {k: str(v) for k, v in sorted(self.packages.items())},
            "exclude": sorted(self.exclude),
            "flavor": self.flavor,
            "arches": list(self.arches),
            "newest": self.newest,
            "trust_upstream_signers": self.trust_upstream_signers,
        }


@dataclass(frozen=True, slots=True)
class UpstreamVariant:
    """One hardware variant as the source lists it (``info.s9pks`` holds that variant alone).

    Attributes:
        source: the registry's URL.
        package_id: the package.
        version: its version.
        info: the listed entry, restricted to this variant.
        signer: in ``reference`` mode, the header's signer (PEM); None in ``copy`` mode.
    """

    source: str
    package_id: str
    version: VersionString
    info: PackageVersionInfo
    signer: str | None = None

    @property
    def where(self) -> str:
        """The first listed URL of the file (for messages)."""
        return self.info.s9pks[0][1].urls[0]


@dataclass(slots=True)
class Resolved:
    """What the registry sources bring to a build.

    Attributes:
        copies: downloaded file → its listing entry (``copy`` mode).
        references: listed variants whose header was checked (``reference`` mode).
        signers: signers adopted from sources with ``trust_upstream_signers``.
        authorized: package id → adopted signer → range.
        trusted: package ids whose signers were adopted, by source URL.
        adopted_from: adopted signer → the URL of the source that listed it first.
        warnings: one line per source left out and per file refused.
        skipped: the files refused.
        digest: JSON of every listing taken (the build's fingerprint).
    """

    copies: dict[Path, UpstreamVariant] = field(default_factory=dict)
    references: list[UpstreamVariant] = field(default_factory=list)
    signers: dict[Guid, SignerInfo] = field(default_factory=dict)
    authorized: dict[str, dict[Guid, VersionRange]] = field(default_factory=dict)
    trusted: dict[str, list[str]] = field(default_factory=dict)
    adopted_from: dict[Guid, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    digest: list[object] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Context:
    downloads: Path
    limits: DownloadLimits
    progress: DownloadProgress | None


def resolve_sources(
    sources: tuple[RegistrySource, ...],
    downloads: Path,
    limits: DownloadLimits,
    progress: DownloadProgress | None = None,
    *,
    only_source: bool = False,
) -> Resolved:
    """List, select, download or check everything the registry sources name.

    Args:
        sources: the registry sources, in configuration order.
        downloads: where copies and cached listings are kept.
        limits: bounds of every request.
        progress: receives downloads.
        only_source: the build asks for nothing else; when every source fails, the build
            fails instead of publishing an empty registry.

    Raises:
        BuildError: ``only_source`` and no source can be read.
    """
    out = Resolved()
    ctx = _Context(downloads, limits, progress)
    failures: list[str] = []
    for source in sources:
        try:
            _resolve(source, ctx, out)
        except S9regError as e:
            message = e.message if source.url in e.message else f"{source.url}: {e.message}"
            failures.append(message)
            out.warnings.append(f"registry source {message}; its packages are left out")
    if only_source and sources and len(failures) == len(sources):
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise BuildError(f"{failures[0]}{more}", hint="no registry source could be read")
    return out


def _listing(
    client: RegistryClient, source: RegistrySource
) -> dict[str, dict[VersionString, PackageVersionInfo]]:
    if source.packages is None:
        index = client.package_index()
        return {pid: dict(info.versions) for pid, info in index.packages.items()}
    out: dict[str, dict[VersionString, PackageVersionInfo]] = {}
    for pid in sorted(source.packages):
        got = client.package_get(pid)
        versions = {**got.other_versions, **got.best}
        if versions:
            out[pid] = versions
    return out


def _select(
    source: RegistrySource, listing: Mapping[str, Mapping[VersionString, PackageVersionInfo]]
) -> list[tuple[str, VersionString, PackageVersionInfo]]:
    """The selected versions, in id then exver order; ``newest`` applied per flavor."""
    out: list[tuple[str, VersionString, PackageVersionInfo]] = []
    for pid in sorted(listing):
        chosen = sorted(
            (v for v in listing[pid] if source.selects(pid, v)), key=lambda v: v.sort_key
        )
        if source.newest is not None:
            by_flavor: dict[str | None, list[VersionString]] = {}
            for v in chosen:
                by_flavor.setdefault(v.flavor, []).append(v)
            keep = {v for vs in by_flavor.values() for v in vs[-source.newest :]}
            chosen = [v for v in chosen if v in keep]
        out.extend((pid, v, listing[pid][v]) for v in chosen)
    return out


def _runs_on(source: RegistrySource, arch: tuple[str, ...] | None) -> bool:
    return not source.arches or arch is None or bool(set(arch) & set(source.arches))


def _resolve(source: RegistrySource, ctx: _Context, out: Resolved) -> None:
    client = RegistryClient(source.url, ctx.limits, ctx.downloads)
    listing = _listing(client, source)
    if source.packages is not None:
        missing = sorted(set(source.packages) - set(listing))
        out.warnings.extend(f"registry source {source.url}: no package {pid}" for pid in missing)
    selected = _select(source, listing)
    if source.trust_upstream_signers:
        _adopt(client, source, sorted({pid for pid, _, _ in selected}), out)
    for pid, version, info in selected:
        for hardware, asset in info.s9pks:
            if not _runs_on(source, hardware.arch):
                continue
            one = UpstreamVariant(
                source.url, pid, version, replace(info, s9pks=((hardware, asset),))
            )
            out.digest.append([source.url, pid, str(version), dump_json(one.info).decode()])
            try:
                _take(source, one, ctx, out)
            except S9regError as e:
                where = asset.urls[0] if asset.urls else f"{pid} {version}"
                out.skipped.append(SkippedFile(Path(where), e.code, e.message))
                out.warnings.append(f"refused {pid} {version} from {source.url}: {e.message}")


def _adopt(client: RegistryClient, source: RegistrySource, ids: list[str], out: Resolved) -> None:
    for pid in ids:
        for guid, (signer, scope) in sorted(client.signer_list(pid).items()):
            out.signers.setdefault(guid, signer)
            out.adopted_from.setdefault(guid, source.url)
            scopes = out.authorized.setdefault(pid, {})
            scopes[guid] = scope if guid not in scopes else VersionRange.or_(scopes[guid], scope)
        out.trusted.setdefault(source.url, []).append(pid)


def _header_signer(url: str, commitment: MerkleArchiveCommitment, limits: DownloadLimits) -> str:
    """The signer (PEM) of the file at ``url``, whose header must sign ``commitment``.

    Raises:
        BuildError: the URL cannot be read.
        S9pkError: the header is not a v2 header, its signature fails, or it commits to
            something else.
    """
    header = read_header(fetch_prefix(url, HEADER_SIZE, limits=limits), commitment)
    if header.commitment != commitment:
        msg = "the file's commitment differs from the listing"
        raise SignatureError(msg, path="/")
    return PublicKey(header.pubkey).to_pem()


def _take(source: RegistrySource, one: UpstreamVariant, ctx: _Context, out: Resolved) -> None:
    """Check the listed signatures, then download (copy) or check the header (reference)."""
    asset = one.info.s9pks[0][1]
    if not asset.urls:
        raise BuildError("the listing gives no URL")
    try:
        asset.verify()
    except S9regError as e:
        raise BuildError(f"a signature in the listing does not hold: {e.message}") from None
    errors: list[str] = []
    for url in asset.urls:
        try:
            if source.mode is SourceMode.REFERENCE:
                signer = _header_signer(url, asset.commitment, ctx.limits)
                out.references.append(replace(one, signer=signer))
                return
            dest = ctx.downloads / url_key(url) / file_name_of(url)
            got = download(
                url,
                dest,
                limits=ctx.limits,
                magic=(MAGIC_V2, MAGIC_V1),
                what="an s9pk",
                progress=ctx.progress.download(url, None) if ctx.progress is not None else None,
            )
        except BuildError as e:
            errors.append(e.message)
            continue
        except S9regError as e:
            # The bytes were read and do not match: a tampered file is not tried elsewhere.
            raise BuildError(f"{url}: {e.message}") from None
        if got.path is not None:
            out.copies[got.path] = one
            return
    raise BuildError(f"cannot fetch any listed URL ({errors[0] if errors else 'none'})")
