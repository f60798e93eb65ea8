"""``package.get`` responses: the best versions of a package and its other versions (§3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

from s9reg._json import JSONValue, Reader
from s9reg.exver import VersionString
from s9reg.registry.model._codec import btree_map, parse, sorted_strs, version_string, vs_order
from s9reg.registry.model.package import PackageVersionInfo, read_versions, versions_json
from s9reg.s9pk.metadata import LocaleString, read_locale

__all__ = [
    "GetPackageResponse",
    "GetPackageResponseFull",
    "PackageInfoShort",
    "packages_response_to_dict",
]

_SHORT_FIELDS = frozenset({"releaseNotes"})
_RESPONSE_FIELDS = frozenset({"categories", "best", "otherVersions"})


@dataclass(frozen=True, slots=True)
class PackageInfoShort:
    """``otherVersions`` entry at detail level ``short``."""

    release_notes: LocaleString

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{releaseNotes}``.

        Raises:
            RegistryError: naming the path of the problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _SHORT_FIELDS)
        if s is None:
            return None
        return cls(read_locale(r, s.required("releaseNotes"), s.at("releaseNotes")))

    def to_dict(self) -> dict[str, JSONValue]:
        """``{releaseNotes}``."""
        return {"releaseNotes": self.release_notes.json_value()}


def _categories_json(categories: tuple[str, ...]) -> list[JSONValue]:
    return [*sorted(set(categories))]


@dataclass(frozen=True, slots=True)
class GetPackageResponse:
    """``package.get`` result for one package at ``otherVersions`` ``none`` or ``short``.

    Attributes:
        categories: the package's categories.
        best: the best version of each flavor.
        other_versions: None for ``none`` (the key is then omitted), else the short entries.
    """

    categories: tuple[str, ...]
    best: Mapping[VersionString, PackageVersionInfo]
    other_versions: Mapping[VersionString, PackageInfoShort] | None = None

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{categories, best, otherVersions?}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _RESPONSE_FIELDS)
        if s is None:
            return None
        other = s.opt("otherVersions")
        return cls(
            categories=sorted_strs(r, s.required("categories"), s.at("categories")),
            best=read_versions(r, s.required("best"), s.at("best")),
            other_versions=None
            if other is None
            else btree_map(
                r,
                other,
                s.at("otherVersions"),
                version_string,
                PackageInfoShort.read,
                vs_order,
            ),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{categories, best}`` plus ``otherVersions`` unless it is None."""
        out: dict[str, JSONValue] = {
            "categories": _categories_json(self.categories),
            "best": versions_json(self.best),
        }
        if self.other_versions is not None:
            other = self.other_versions
            out["otherVersions"] = {str(v): other[v].to_dict() for v in sorted(other, key=vs_order)}
        return out


@dataclass(frozen=True, slots=True)
class GetPackageResponseFull:
    """``package.get`` result for one package at ``otherVersions`` ``full``."""

    categories: tuple[str, ...]
    best: Mapping[VersionString, PackageVersionInfo]
    other_versions: Mapping[VersionString, PackageVersionInfo]

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{categories, best, otherVersions}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _RESPONSE_FIELDS)
        if s is None:
            return None
        return cls(
            categories=sorted_strs(r, s.required("categories"), s.at("categories")),
            best=read_versions(r, s.required("best"), s.at("best")),
            other_versions=read_versions(r, s.required("otherVersions"), s.at("otherVersions")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{categories, best, otherVersions}``."""
        return {
            "categories": _categories_json(self.categories),
            "best": versions_json(self.best),
            "otherVersions": versions_json(self.other_versions),
        }


def packages_response_to_dict(
    responses: Mapping[str, GetPackageResponse | GetPackageResponseFull],
) -> dict[str, JSONValue]:
    """``package.get`` without ``id``: ``{PackageId: response}`` sorted by id."""
    return {k: responses[k].to_dict() for k in sorted(responses)}
