"""What the registry holds: every package file its sources name, as the build would find them.

Local sources are expanded as the build expands them; remote ones are downloaded into the
build's own download directory (``.s9reg-cache/downloads``, conditional requests), so a later
build reuses them. Each file's header and manifest are read (signature and TOC checked, not
every body: the build verifies those). Files that cannot be read are left out; the build
reports them. Nothing here changes the config.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import download, file_name_of, url_key
from s9reg.config import RemoteSource, SiteConfig
from s9reg.config.assemble import source_files
from s9reg.config.schema import CACHE_DIR
from s9reg.errors import S9regError
from s9reg.exver import VersionString
from s9reg.s9pk.commitment import MerkleArchiveCommitment, b64_encode
from s9reg.s9pk.package import S9pk
from s9reg.s9pk.reader import MAGIC_V1, MAGIC_V2

__all__ = ["Inventory", "Variant", "download_package", "scan"]


@dataclass(frozen=True, slots=True)
class Variant:
    """One package file of the registry's sources.

    Attributes:
        id: the package id.
        version: its version.
        commitment: what its header signs.
        path: the file (for a remote source, the downloaded copy).
        url: the remote source's URL, or None for a local file.
        excluded: ``packages.exclude`` leaves it out of the build.
    """

    id: str
    version: VersionString
    commitment: MerkleArchiveCommitment
    path: Path
    url: str | None
    excluded: bool

    @property
    def sighash(self) -> str:
        """The root sighash, base64 without padding."""
        return b64_encode(self.commitment.root_sighash)


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every variant the sources hold, excluded ones included."""

    variants: tuple[Variant, ...]

    def active(self) -> Iterator[Variant]:
        """The variants the build lists."""
        return (v for v in self.variants if not v.excluded)

    def of(self, package_id: str, version: VersionString | None = None) -> list[Variant]:
        """The listed variants of a package, or of one of its versions."""
        return [
            v
            for v in self.active()
            if v.id == package_id and (version is None or v.version == version)
        ]

    def package_ids(self) -> set[str]:
        """The ids of the packages the build lists."""
        return {v.id for v in self.active()}


def download_package(cfg: SiteConfig, url: str) -> Path:
    """Download an ``.s9pk`` where the build keeps remote sources (a conditional request).

    Raises:
        BuildError: it cannot be downloaded, or is not an s9pk.
    """
    dest = cfg.path.parent / CACHE_DIR / "downloads" / url_key(url) / file_name_of(url)
    got = download(url, dest, magic=(MAGIC_V2, MAGIC_V1), what="an s9pk")
    if got.path is None:  # pragma: no cover - a dest was given
        raise BuildError(f"{url}: nothing was downloaded")
    return got.path


def _read(path: Path, url: str | None, cfg: SiteConfig) -> Variant | None:
    try:
        with S9pk.open(path) as pkg:
            pid, text, commitment = pkg.manifest.id, pkg.manifest.version, pkg.commitment
        version = VersionString.parse(text)
    except S9regError:
        return None
    sighash = b64_encode(commitment.root_sighash)
    excluded = any(x.matches(pid, version, sighash) for x in cfg.exclude)
    return Variant(pid, version, commitment, path, url, excluded)


def scan(cfg: SiteConfig) -> Inventory:
    """Read every source of ``cfg`` (downloading the remote ones).

    Raises:
        BuildError: a remote source cannot be downloaded.
    """
    found: list[Variant] = []
    for path in source_files(cfg):
        if path.is_file():
            variant = _read(path, None, cfg)
            if variant is not None:
                found.append(variant)
    for source in cfg.sources:
        if isinstance(source, RemoteSource):
            variant = _read(download_package(cfg, source.url), source.url, cfg)
            if variant is not None:
                found.append(variant)
    return Inventory(tuple(found))
