"""The state of one build: what it has staged, indexed and warned about so far, and the dates.

Shared by the builder's steps (:mod:`~s9reg.builder.ingest`, :mod:`~s9reg.builder.assemble`,
:mod:`~s9reg.builder.pipeline`); nothing here reads a package or writes a file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from s9reg.builder.regsource import UpstreamVariant
from s9reg.builder.report import SkippedFile
from s9reg.builder.settings import BuildSettings, IndexSource
from s9reg.builder.verify_cache import VerifyCache
from s9reg.exver import VersionRange, VersionString
from s9reg.registry.authz import PublishRules
from s9reg.registry.model import FullIndex, Guid, PackageVersionInfo, SignerInfo
from s9reg.s9pk.commitment import MerkleArchiveCommitment

__all__ = ["AssetKey", "Dates", "State", "Variant", "asset_dates", "default_time"]

_log = logging.getLogger("s9reg.builder.pipeline")

AssetKey = tuple[str, VersionString, MerkleArchiveCommitment]


@dataclass(slots=True)
class Variant:
    info: PackageVersionInfo
    rel_path: str


@dataclass(slots=True)
class Dates:
    """When each asset was first published, as known before this build.

    Per asset: the previous output (and ``base``) first, then the registry's published index,
    which is read once and only when needed; with ``published_first``, the other way round.
    """

    known: Mapping[AssetKey, datetime]
    source: IndexSource | None
    published_first: bool = False
    index: FullIndex | None = None
    loaded: bool = False
    from_index: dict[AssetKey, datetime] = field(default_factory=dict)

    def published(self) -> FullIndex | None:
        if not self.loaded and self.source is not None:
            self.loaded = True
            self.index = self.source()
            if self.index is not None:
                self.from_index = asset_dates(self.index)
        return self.index

    def first_seen(self, key: AssetKey) -> datetime | None:
        if self.published_first and self.published() is not None and key in self.from_index:
            return self.from_index[key]
        got = self.known.get(key)
        if got is None and self.published() is not None:
            got = self.from_index.get(key)
        return got


@dataclass(slots=True)
class State:
    settings: BuildSettings
    staged: Path
    rules: PublishRules
    previous: FullIndex | None
    dates: Dates
    now: datetime
    variants: dict[tuple[str, VersionString], list[Variant]] = field(default_factory=dict)
    spelling: dict[tuple[str, VersionString], VersionString] = field(default_factory=dict)
    made_dirs: set[Path] = field(default_factory=set)
    placed: set[str] = field(default_factory=set)
    by_commitment: dict[AssetKey, str] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cache: VerifyCache = field(default_factory=lambda: VerifyCache(None))
    registry_pem: str = ""
    mirror_of: Mapping[Path, str] = field(default_factory=dict)
    # Registry sources (issue 21): downloaded copies and their listing entries; the signers
    # and ranges adopted from sources with ``trust_upstream_signers``.
    upstream: Mapping[Path, UpstreamVariant] = field(default_factory=dict)
    adopted_signers: Mapping[Guid, SignerInfo] = field(default_factory=dict)
    adopted_authorized: Mapping[str, Mapping[Guid, VersionRange]] = field(default_factory=dict)
    adopted_from: Mapping[Guid, str] = field(default_factory=dict)
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

    def add_variant(self, pid: str, version: VersionString, variant: Variant) -> None:
        self.spelling.setdefault((pid, version), version)
        self.variants.setdefault((pid, version), []).append(variant)


def asset_dates(index: FullIndex) -> dict[AssetKey, datetime]:
    out: dict[AssetKey, datetime] = {}
    for pid, info in index.package.packages.items():
        for version, pv in info.versions.items():
            for _, asset in pv.s9pks:
                out[(pid, version, asset.commitment)] = asset.published_at
    return out


def default_time(source_date_epoch: int | None) -> datetime:
    if source_date_epoch is not None:
        return datetime.fromtimestamp(source_date_epoch, UTC)
    return datetime.now(UTC).replace(microsecond=0)
