"""The v2 manifest model (s9pk-format.md §11).

Parses ``manifest.json`` into a frozen :class:`Manifest`: its package metadata
(:mod:`s9reg.s9pk.metadata`, shared with the registry index) plus images, volumes and
dependencies. The version fields are parsed as upstream's types, so they are refused as upstream
refuses them; ``version`` and the migration ranges are kept as written. The package-tree check
and icon choice are in :mod:`s9reg.s9pk.tree_check`. No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from s9reg._json import ABSENT, JSONValue, Reader, Struct, at
from s9reg.exver import ExtendedVersion, VersionError, VersionRange
from s9reg.s9pk.errors import ManifestError
from s9reg.s9pk.metadata import (
    METADATA_FIELDS,
    HardwareRequirements,
    LocaleString,
    PackageMetadata,
    bytewise,
    data_url,
    file_extension,
    is_id,
    metadata_fields,
    mime,
    read_hardware,
    read_locale,
    read_metadata,
)

__all__ = [
    "MANIFEST_FIELDS",
    "MANIFEST_PATH",
    "DepInfo",
    "ImageConfig",
    # Re-exported for s9reg.config until it imports them from s9reg.s9pk.metadata.
    "LocaleString",
    "Manifest",
    "data_url",
    "file_extension",
    "is_id",
    "mime",
]

MANIFEST_PATH = "manifest.json"
VOLUME_BACKUP = "BACKUP"

# The fields that upstream's derived visitor reads, which refuses a repeated one (§17.1): the
# manifest's own and those of the flattened PackageMetadata.
MANIFEST_FIELDS = METADATA_FIELDS | frozenset(
    {
        *("id", "version", "canMigrateTo", "canMigrateFrom", "images", "volumes"),
        *("dependencies", "hardwareRequirements"),
    }
)
_IMAGE_FIELDS = frozenset({"source", "arch", "emulateMissingAs", "nvidiaContainer"})
_DOCKER_BUILD_FIELDS = frozenset({"workdir", "dockerfile", "buildArgs"})
# ``DepInfo``'s flattened ``MetadataSrc`` is an enum, found by key without a repeat check.
_DEP_INFO_FIELDS = frozenset({"description", "optional"})


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """One entry of ``images``.

    Attributes:
        source: ``"packed"`` or an unpacked build recipe, kept as its JSON value.
        arch: architectures the image is built for, sorted bytewise.
        emulate_missing_as: the architecture to run under emulation where one is missing.
        nvidia_container: whether the container needs the NVIDIA runtime.
    """

    source: JSONValue
    arch: tuple[str, ...]
    emulate_missing_as: str | None = None
    nvidia_container: bool = False

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON form in start-cli's key order."""
        return {
            "source": self.source,
            "arch": list(self.arch),
            "emulateMissingAs": self.emulate_missing_as,
            "nvidiaContainer": self.nvidia_container,
        }


@dataclass(frozen=True, slots=True)
class DepInfo:
    """One entry of ``dependencies`` as packed (pack strips the metadata source)."""

    description: LocaleString | None
    optional: bool

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON form (``description``, ``optional``)."""
        desc = self.description.json_value() if self.description is not None else None
        return {"description": desc, "optional": self.optional}


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest(PackageMetadata):
    """A parsed ``manifest.json`` (current schema, §11.1), with upstream's defaults applied.

    ``version`` and the migration ranges are kept as written; the metadata's versions are parsed
    (:class:`~s9reg.s9pk.metadata.PackageMetadata`). Sets and maps that upstream holds in
    ``BTreeSet``/``BTreeMap`` are sorted. Build one with :meth:`from_dict`/:meth:`from_bytes`;
    the constructor does not validate.
    """

    id: str
    version: str
    can_migrate_to: str
    can_migrate_from: str
    images: Mapping[str, ImageConfig]
    volumes: tuple[str, ...]
    dependencies: Mapping[str, DepInfo] = field(default_factory=dict)
    hardware_requirements: HardwareRequirements = field(default_factory=HardwareRequirements)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse ``manifest.json`` bytes (strict UTF-8 JSON, as serde_json reads it).

        Raises:
            ManifestError: not JSON, or not a valid manifest (every problem, with key paths).
        """
        reader = Reader()
        value = reader.decode(data)
        return cls._parse(reader, value)

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        """Parse a decoded ``manifest.json`` value; older v2 shapes are accepted (§11.2).

        Raises:
            ManifestError: naming the first problem's key path and how many more there are;
                ``details`` lists them all.
        """
        reader = Reader()
        reader.scan(data)
        return cls._parse(reader, data)

    @classmethod
    def _parse(cls, reader: Reader, value: object) -> Manifest:
        path = "/" + MANIFEST_PATH
        if reader.problems:
            raise ManifestError.of(reader.problems, path=path)
        manifest = _read_manifest(reader, value)
        if reader.problems:
            raise ManifestError.of(reader.problems, path=path)
        return manifest

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON form with camelCase keys in start-cli's serialization order (§11.1)."""
        return {
            "id": self.id,
            "version": self.version,
            "canMigrateTo": self.can_migrate_to,
            "canMigrateFrom": self.can_migrate_from,
            **self.metadata_json(),
            "images": {k: v.to_dict() for k, v in self.images.items()},
            "volumes": list(self.volumes),
            "dependencies": {k: v.to_dict() for k, v in self.dependencies.items()},
            "hardwareRequirements": self.hardware_requirements.to_dict(),
        }

    def to_bytes(self) -> bytes:
        """Compact JSON as ``serde_json::to_vec`` writes it (no URL normalization)."""
        text = json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)
        return text.encode()


# --------------------------------------------------------------------------------------------
# Parsing: every problem goes to the reader with its key path, and is raised once
# --------------------------------------------------------------------------------------------


def _check_id(r: Reader, value: str, path: str, what: str) -> None:
    if not is_id(value):
        r.add(path, f"invalid {what} {value!r} (lowercase letters and digits, single dashes)")


def _image_source(r: Reader, value: object, path: str) -> JSONValue:
    # ``ImageSource``: externally tagged enum; the unit variant may also appear as a 1-key map.
    if value == "packed":
        return "packed"
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner) = next(iter(value.items()))
        ok = (
            (tag == "packed" and inner is None)
            or (tag == "dockerTag" and isinstance(inner, str))
            or (tag == "dockerBuild" and isinstance(inner, dict))
        )
        if tag == "dockerBuild" and isinstance(inner, dict):
            r.struct(inner, at(path, tag), _DOCKER_BUILD_FIELDS)
        if ok:
            return _as_json(value)
    r.add(path, 'expected "packed", {"dockerTag": …} or {"dockerBuild": {…}}')
    return None


def _as_json(value: object) -> JSONValue:
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # pragma: no cover - json.loads produces nothing else


def _image(r: Reader, value: object, path: str) -> ImageConfig:
    s = r.struct(value, path, _IMAGE_FIELDS)
    if s is None:
        return ImageConfig("packed", ())
    source = _image_source(r, s.required("source"), s.at("source"))
    raw_arch = s.required("arch")
    arch = [] if raw_arch is ABSENT else r.strings(raw_arch, s.at("arch"))
    return ImageConfig(
        source,
        tuple(sorted(set(arch), key=bytewise)),
        s.opt_string("emulateMissingAs"),
        bool(s.boolean("nvidiaContainer", default=False)),
    )


def _images(r: Reader, value: object) -> dict[str, ImageConfig]:
    if value is ABSENT:
        return {}
    found = {key: (v, sub) for key, v, sub in r.entries(value, "images")}
    out: dict[str, ImageConfig] = {}
    for image_id in sorted(found, key=bytewise):
        v, sub = found[image_id]
        _check_id(r, image_id, sub, "image id")
        out[image_id] = _image(r, v, sub)
    return out


def _volumes(r: Reader, value: object) -> tuple[str, ...]:
    written = [] if value is ABSENT else r.strings(value, "volumes")
    for i, v in enumerate(written):
        if v != VOLUME_BACKUP:
            _check_id(r, v, f"volumes[{i}]", "volume id")
    # ``VolumeId::Backup`` orders before every custom id.
    return tuple(sorted(set(written), key=lambda v: (v != VOLUME_BACKUP, bytewise(v))))


def _dependencies(r: Reader, value: object) -> dict[str, DepInfo]:
    if value is ABSENT:
        return {}
    found = {key: (v, sub) for key, v, sub in r.entries(value, "dependencies")}
    out: dict[str, DepInfo] = {}
    for dep_id in sorted(found, key=bytewise):
        v, sub = found[dep_id]
        _check_id(r, dep_id, sub, "package id")
        s = r.struct(v, sub, _DEP_INFO_FIELDS)
        if s is None:
            continue
        raw = s.opt("description")
        desc = None if raw is None else read_locale(r, raw, s.at("description"))
        out[dep_id] = DepInfo(desc, bool(s.boolean("optional")))
    return out


def _version_text(
    r: Reader, s: Struct, name: str, parse: Callable[[str], object], kind: str
) -> str:
    text = s.string(name) or ""
    if text:
        r.parsed(text, s.at(name), parse, kind, VersionError)
    return text


def _read_manifest(r: Reader, data: object) -> Manifest:
    s = r.struct(data, "", MANIFEST_FIELDS) or Struct(r, {}, "")
    package_id = s.string("id")
    if package_id is not None:
        _check_id(r, package_id, "id", "package id")
    # ``version`` is a VersionString (the downstream part is required); the migration ranges are
    # read as the Rust crate reads them (the downstream may be omitted) (§17.2).
    return Manifest(
        id=package_id or "",
        version=_version_text(r, s, "version", ExtendedVersion.parse, "Version"),
        can_migrate_to=_version_text(r, s, "canMigrateTo", VersionRange.parse, "VersionRange"),
        can_migrate_from=_version_text(r, s, "canMigrateFrom", VersionRange.parse, "VersionRange"),
        **metadata_fields(read_metadata(r, s, legacy=True)),
        images=_images(r, s.required("images")),
        volumes=_volumes(r, s.required("volumes")),
        dependencies=_dependencies(r, s.get("dependencies")),
        hardware_requirements=read_hardware(
            r, s.get("hardwareRequirements"), "hardwareRequirements"
        ),
    )
