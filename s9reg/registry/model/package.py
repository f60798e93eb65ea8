"""Packages in the index: categories, versions with their metadata and variants (§2.3-§2.5).

:class:`PackageVersionInfo` extends the shared :class:`~s9reg.s9pk.metadata.PackageMetadata`
(flattened into its JSON, as upstream's ``#[serde(flatten)]``) with the icon, dependency metadata
and the ``s9pks`` variants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

from s9reg._json import JSONValue, Reader
from s9reg.exver import VersionRange, VersionString
from s9reg.registry.errors import RegistryError
from s9reg.registry.model._codec import (
    any_key,
    btree_map,
    data_url,
    ident,
    opt_data_url,
    package_id,
    parse,
    sorted_strs,
    url,
    version_range,
    version_string,
    vs_order,
)
from s9reg.registry.model.assets import RegistryAsset, read_signatures
from s9reg.registry.model.signers import Guid, read_guid
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.keys import Signature
from s9reg.s9pk.metadata import (
    METADATA_FIELDS,
    HardwareRequirements,
    LocaleString,
    PackageMetadata,
    metadata_fields,
    read_hardware,
    read_locale,
    read_metadata,
)
from s9reg.s9pk.package import S9pk

__all__ = [
    "Category",
    "DependencyMetadata",
    "PackageIndex",
    "PackageInfo",
    "PackageVersionInfo",
    "S9pkVariant",
    "categories_json",
    "hardware_from_dict",
    "read_categories",
    "read_versions",
    "specificity_desc",
    "versions_json",
]

_U32_MAX = (1 << 32) - 1
_CATEGORY_FIELDS = frozenset({"name"})
_DEPENDENCY_FIELDS = frozenset({"title", "icon", "description", "optional"})
_VERSION_FIELDS = METADATA_FIELDS | frozenset(
    {"icon", "dependencyMetadata", "sourceVersion", "s9pks"}
)
_PACKAGE_FIELDS = frozenset({"authorized", "versions", "categories"})
_INDEX_FIELDS = frozenset({"categories", "packages"})

S9pkVariant = tuple[HardwareRequirements, RegistryAsset[MerkleArchiveCommitment]]


def hardware_from_dict(value: object, path: str = "") -> HardwareRequirements:
    """Parse ``HardwareRequirements`` (``device`` defaults to ``[]``; ``arch`` is a sorted set).

    Raises:
        RegistryError: naming the path of the first problem.
    """
    return parse(read_hardware, value, path)


def specificity_desc(hw: HardwareRequirements) -> tuple[int, int, int]:
    """Upstream's ``HardwareRequirements::specificity_desc``: the ascending ``s9pks`` order."""
    return (
        _U32_MAX - len(hw.device),
        _U32_MAX if hw.arch is None else len(hw.arch),
        hw.ram or 0,
    )


@dataclass(frozen=True, slots=True)
class Category:
    """A package category: ``{name: LocaleString}``."""

    name: LocaleString

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{"name": …}``.

        Raises:
            RegistryError: naming the path of the problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _CATEGORY_FIELDS)
        return None if s is None else cls(read_locale(r, s.required("name"), s.at("name")))

    def to_dict(self) -> dict[str, JSONValue]:
        """``{"name": …}``."""
        return {"name": self.name.json_value()}


def read_categories(r: Reader, value: object, path: str) -> dict[str, Category]:
    """``{id: Category}`` sorted by id."""
    return btree_map(r, value, path, any_key, Category.read, ident)


def categories_json(categories: Mapping[str, Category]) -> dict[str, JSONValue]:
    """``{id: Category}`` sorted by id."""
    return {k: categories[k].to_dict() for k in sorted(categories)}


@dataclass(frozen=True, slots=True)
class DependencyMetadata:
    """What the index says about one dependency of a package version."""

    title: LocaleString | None
    icon: str | None
    description: LocaleString | None
    optional: bool

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{title, icon, description, optional}``.

        Raises:
            RegistryError: naming the path of the problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _DEPENDENCY_FIELDS)
        if s is None:
            return None
        title, description = s.opt("title"), s.opt("description")
        optional = s.boolean("optional")
        return cls(
            title=None if title is None else read_locale(r, title, s.at("title")),
            icon=opt_data_url(r, s.get("icon"), s.at("icon")),
            description=None
            if description is None
            else read_locale(r, description, s.at("description")),
            optional=bool(optional),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{title, icon, description, optional}`` with nulls."""
        return {
            "title": None if self.title is None else self.title.json_value(),
            "icon": self.icon,
            "description": None if self.description is None else self.description.json_value(),
            "optional": self.optional,
        }


def _variant(r: Reader, value: object, path: str) -> S9pkVariant | None:
    pair = r.items(value, path)
    if pair is None:
        return None
    if len(pair) != 2:
        r.add(path, "expected [hardwareRequirements, asset]")
        return None
    (hw_value, hw_path), (asset_value, asset_path) = pair
    hw = read_hardware(r, hw_value, hw_path)
    asset = RegistryAsset.read(r, asset_value, asset_path, MerkleArchiveCommitment)
    return None if asset is None else (hw, asset)


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageVersionInfo(PackageMetadata):
    """One version of a package in the index: metadata, icon, dependencies and variants (§2.5).

    The metadata attributes are upstream's ``PackageMetadata`` (flattened), then ``icon``,
    ``dependency_metadata``, ``source_version`` and ``s9pks``.
    """

    icon: str
    s9pks: tuple[S9pkVariant, ...]
    dependency_metadata: Mapping[str, DependencyMetadata] = field(default_factory=dict)
    source_version: VersionRange | None = None

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse upstream's JSON, applying its serde defaults.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _VERSION_FIELDS)
        if s is None:
            return None
        metadata = read_metadata(r, s)
        icon = data_url(r, s.required("icon"), s.at("icon"))
        deps = btree_map(
            r,
            s.required("dependencyMetadata"),
            s.at("dependencyMetadata"),
            package_id,
            DependencyMetadata.read,
            ident,
        )
        source = s.opt("sourceVersion")
        source_version = None if source is None else version_range(r, source, s.at("sourceVersion"))
        variants = [
            _variant(r, v, sub) for v, sub in r.items(s.required("s9pks"), s.at("s9pks")) or ()
        ]
        return cls(
            **metadata_fields(metadata),
            icon=icon or "",
            dependency_metadata=deps,
            source_version=source_version,
            s9pks=tuple(v for v in variants if v is not None),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """Upstream's key order: flattened metadata, then icon, dependencies, source, s9pks."""
        deps: dict[str, JSONValue] = {k: v.to_dict() for k, v in self.dependency_metadata.items()}
        return {
            **self.metadata_json(),
            "icon": self.icon,
            "dependencyMetadata": deps,
            "sourceVersion": None if self.source_version is None else str(self.source_version),
            "s9pks": [[hw.to_dict(), asset.to_dict()] for hw, asset in self.s9pks],
        }

    @classmethod
    def from_s9pk(
        cls,
        pkg: S9pk,
        urls: Iterable[str],
        published_at: datetime,
        extra_signatures: Mapping[str, str] | None = None,
    ) -> Self:
        """Build the entry for a package as upstream's ``PackageVersionInfo::from_s9pk`` does.

        Metadata comes from the manifest, the icon is the package's largest ``icon.*``,
        dependency titles and icons come from ``dependencies/<id>/``, and the single ``s9pks``
        variant pairs the manifest's hardware requirements with the header's commitment and
        signature. ``extra_signatures`` (e.g. an uploader's) are added for keys not already
        present, as ``package.add`` does. ``source_version`` stays None, as upstream.

        Args:
            pkg: a verified package.
            urls: absolute download URLs, in order.
            published_at: aware publication time.
            extra_signatures: more ``{PUBLIC KEY PEM: SIGNATURE PEM}`` over the commitment.

        Raises:
            RegistryError: the package has no icon, or a URL or PEM is invalid.
            IntegrityError: a file read from the package does not match its hash.
            ManifestError: a dependency's ``metadata.json`` is invalid.
        """
        m = pkg.manifest
        icon = pkg.icon_data_url()
        if icon is None:
            raise RegistryError(f"package {m.id} {m.version} has no icon (icon.png, icon.svg, …)")
        deps: dict[str, DependencyMetadata] = {}
        for dep_id, info in sorted(m.dependencies.items()):
            meta = pkg.dependency_metadata(dep_id)
            deps[dep_id] = DependencyMetadata(
                title=None if meta is None else meta.title,
                icon=pkg.dependency_icon_data_url(dep_id),
                description=info.description,
                optional=info.optional,
            )
        header = pkg.archive.header
        signatures = {pkg.signer.to_pem(): Signature(header.signature).to_pem()}
        if extra_signatures:
            extra = parse(read_signatures, dict(extra_signatures), "extraSignatures")
            for key, sig in extra.items():
                signatures.setdefault(key, sig)
        checked = parse(_download_urls, list(urls), "urls")
        asset = RegistryAsset(
            published_at=published_at,
            urls=checked,
            commitment=pkg.commitment,
            signatures=signatures,
        )
        return cls(
            **metadata_fields(m),
            icon=icon,
            dependency_metadata=deps,
            source_version=None,
            s9pks=((m.hardware_requirements, asset),),
        )


def _download_urls(r: Reader, value: object, path: str) -> tuple[str, ...]:
    found = [url(r, u, sub, absolute=True) for u, sub in r.items(value, path) or ()]
    return tuple(u for u in found if u is not None)


def read_versions(r: Reader, value: object, path: str) -> dict[VersionString, PackageVersionInfo]:
    """``{VersionString: PackageVersionInfo}`` in upstream's version order."""
    return btree_map(r, value, path, version_string, PackageVersionInfo.read, vs_order)


def versions_json(versions: Mapping[VersionString, PackageVersionInfo]) -> dict[str, JSONValue]:
    """``{VersionString: PackageVersionInfo}`` in upstream's version order."""
    return {str(v): versions[v].to_dict() for v in sorted(versions, key=vs_order)}


@dataclass(frozen=True, slots=True)
class PackageInfo:
    """One package: who may publish which versions, its versions, and its categories."""

    authorized: Mapping[Guid, VersionRange]
    versions: Mapping[VersionString, PackageVersionInfo]
    categories: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{authorized, versions, categories}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _PACKAGE_FIELDS)
        if s is None:
            return None
        return cls(
            authorized=btree_map(
                r, s.required("authorized"), s.at("authorized"), read_guid, version_range, ident
            ),
            versions=read_versions(r, s.required("versions"), s.at("versions")),
            categories=sorted_strs(r, s.required("categories"), s.at("categories")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{authorized, versions, categories}`` with BTreeMap/BTreeSet order."""
        auth: dict[str, JSONValue] = {
            str(g): str(self.authorized[g]) for g in sorted(self.authorized)
        }
        return {
            "authorized": auth,
            "versions": versions_json(self.versions),
            "categories": [*sorted(set(self.categories))],
        }


@dataclass(frozen=True, slots=True)
class PackageIndex:
    """``package.index``: categories and packages."""

    categories: Mapping[str, Category] = field(default_factory=dict)
    packages: Mapping[str, PackageInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{categories, packages}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _INDEX_FIELDS)
        if s is None:
            return None
        return cls(
            categories=read_categories(r, s.required("categories"), s.at("categories")),
            packages=btree_map(
                r, s.required("packages"), s.at("packages"), package_id, PackageInfo.read, ident
            ),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{categories, packages}`` sorted by key."""
        packages: dict[str, JSONValue] = {
            k: self.packages[k].to_dict() for k in sorted(self.packages)
        }
        return {"categories": categories_json(self.categories), "packages": packages}
