"""The whole registry: ``index`` (packages, OS releases, signers) and its public ``info`` view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from s9reg._json import JSONValue, Reader
from s9reg.registry.errors import RegistryError
from s9reg.registry.model._codec import opt_data_url, parse
from s9reg.registry.model.os_index import OsIndex
from s9reg.registry.model.package import (
    Category,
    PackageIndex,
    categories_json,
    read_categories,
)
from s9reg.registry.model.signers import Guid, SignerInfo, read_signers, signers_json

__all__ = ["FullIndex", "RegistryInfo"]

_INFO_FIELDS = frozenset({"name", "icon", "categories"})
_INDEX_FIELDS = frozenset({"name", "icon", "package", "os", "signers"})


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """``info``: registry name, icon (data URL) and categories."""

    name: str | None = None
    icon: str | None = None
    categories: Mapping[str, Category] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{name, icon, categories}`` (``name``/``icon`` may be null or absent).

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _INFO_FIELDS)
        if s is None:
            return None
        return cls(
            name=s.opt_string("name"),
            icon=opt_data_url(r, s.get("icon"), s.at("icon")),
            categories=read_categories(r, s.required("categories"), s.at("categories")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{name, icon, categories}``."""
        return {
            "name": self.name,
            "icon": self.icon,
            "categories": categories_json(self.categories),
        }


@dataclass(frozen=True, slots=True)
class FullIndex:
    """``index``: everything the registry holds except admins and migrations (§2.2)."""

    name: str | None = None
    icon: str | None = None
    package: PackageIndex = field(default_factory=PackageIndex)
    os: OsIndex = field(default_factory=OsIndex)
    signers: Mapping[Guid, SignerInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{name, icon, package, os, signers}``.

        Raises:
            RegistryError: naming the path of the first problem; ``details`` lists them all.
        """
        return parse(cls.read, data, path)

    @classmethod
    def from_bytes(cls, data: bytes, *, path: str = "") -> Self:
        """Decode and parse an ``index.json`` as strictly as serde_json reads it.

        A field repeated inside an object is refused, as upstream's structs refuse it.

        Raises:
            RegistryError: not JSON, or not a valid index (every problem, with key paths).
        """
        reader = Reader()
        value = reader.decode(data)
        if reader.problems:
            raise RegistryError.of(reader.problems)
        return parse(cls.read, value, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _INDEX_FIELDS)
        if s is None:
            return None
        name = s.opt_string("name")
        icon = opt_data_url(r, s.get("icon"), s.at("icon"))
        package = PackageIndex.read(r, s.required("package"), s.at("package"))
        os = OsIndex.read(r, s.required("os"), s.at("os"))
        signers = read_signers(r, s.required("signers"), s.at("signers"))
        return cls(
            name=name,
            icon=icon,
            package=package or PackageIndex(),
            os=os or OsIndex(),
            signers=signers,
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{name, icon, package, os, signers}``."""
        return {
            "name": self.name,
            "icon": self.icon,
            "package": self.package.to_dict(),
            "os": self.os.to_dict(),
            "signers": signers_json(self.signers),
        }

    def info(self) -> RegistryInfo:
        """The public ``info`` view of this index."""
        return RegistryInfo(self.name, self.icon, self.package.categories)
