"""StartOS releases in the index: texts, authorized signers and images per platform (§2.9)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from s9reg._json import JSONValue, Reader
from s9reg.exver import Version, VersionRange
from s9reg.registry.model._codec import (
    any_key,
    btree_map,
    ident,
    parse,
    version,
    version_range,
    vs_order,
)
from s9reg.registry.model.assets import RegistryAsset
from s9reg.registry.model.signers import Guid, read_guid
from s9reg.s9pk.commitment import Blake3Commitment

__all__ = ["OsIndex", "OsVersionInfo"]

_OS_VERSION_FIELDS = frozenset(
    {"headline", "releaseNotes", "sourceVersion", "authorized", "iso", "squashfs", "img"}
)
_OS_INDEX_FIELDS = frozenset({"versions"})

OsAssets = Mapping[str, RegistryAsset[Blake3Commitment]]


def _os_asset(r: Reader, value: object, path: str) -> RegistryAsset[Blake3Commitment] | None:
    return RegistryAsset.read(r, value, path, Blake3Commitment)


def _os_assets(r: Reader, value: object, path: str) -> dict[str, RegistryAsset[Blake3Commitment]]:
    return btree_map(r, value, path, any_key, _os_asset, ident)


def _assets_json(assets: OsAssets) -> dict[str, JSONValue]:
    return {k: assets[k].to_dict() for k in sorted(assets)}


@dataclass(frozen=True, slots=True)
class OsVersionInfo:
    """One StartOS release: texts, who may add assets, and images per platform (§2.9)."""

    headline: str
    release_notes: str
    source_version: VersionRange
    authorized: tuple[Guid, ...] = ()
    iso: OsAssets = field(default_factory=dict)
    squashfs: OsAssets = field(default_factory=dict)
    img: OsAssets = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse an ``OsVersionInfo``; every key is required, as upstream.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _OS_VERSION_FIELDS)
        if s is None:
            return None
        authorized = [
            read_guid(r, g, sub)
            for g, sub in r.items(s.required("authorized"), s.at("authorized")) or ()
        ]
        headline = s.string("headline")
        release_notes = s.string("releaseNotes")
        source = version_range(r, s.required("sourceVersion"), s.at("sourceVersion"))
        iso = _os_assets(r, s.required("iso"), s.at("iso"))
        squashfs = _os_assets(r, s.required("squashfs"), s.at("squashfs"))
        img = _os_assets(r, s.required("img"), s.at("img"))
        if headline is None or release_notes is None or source is None:
            return None
        return cls(
            headline=headline,
            release_notes=release_notes,
            source_version=source,
            authorized=tuple(sorted({g for g in authorized if g is not None})),
            iso=iso,
            squashfs=squashfs,
            img=img,
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """Upstream's field order; platform maps sorted."""
        return {
            "headline": self.headline,
            "releaseNotes": self.release_notes,
            "sourceVersion": str(self.source_version),
            "authorized": [str(g) for g in sorted(set(self.authorized))],
            "iso": _assets_json(self.iso),
            "squashfs": _assets_json(self.squashfs),
            "img": _assets_json(self.img),
        }


def _os_version_key(r: Reader, text: str, path: str) -> Version | None:
    return version(r, text, path)


@dataclass(frozen=True, slots=True)
class OsIndex:
    """``os.index``: ``{versions: {Version: OsVersionInfo}}``, ascending by version."""

    versions: Mapping[Version, OsVersionInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{versions}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _OS_INDEX_FIELDS)
        if s is None:
            return None
        return cls(
            btree_map(
                r,
                s.required("versions"),
                s.at("versions"),
                _os_version_key,
                OsVersionInfo.read,
                vs_order,
            )
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{versions}`` in ascending version order (the UI takes the last as the latest)."""
        versions: dict[str, JSONValue] = {
            str(v): self.versions[v].to_dict() for v in sorted(self.versions, key=vs_order)
        }
        return {"versions": versions}
