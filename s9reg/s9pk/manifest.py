"""The v2 manifest model, the package-tree check and icon choice (s9pk-format.md §10, §11).

Parses ``manifest.json`` into frozen dataclasses (versions and URLs kept as written) and checks a
package tree against it as upstream's ``Manifest::validate_for`` and ``Filter::keep_checked`` do.
Version fields are parsed as upstream's types to be refused as upstream refuses them, and kept as
written; WHATWG URL normalization is deliberately not done here. No I/O.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeAlias

from s9reg.exver import ExtendedVersion, Version, VersionError, VersionRange
from s9reg.s9pk.errors import ManifestError
from s9reg.s9pk.tree import Directory, File, Missing, Node
from s9reg.s9pk.writer import file_stem

__all__ = [
    "DEFAULT_OS_VERSION",
    "DEFAULT_PACKAGE_REPO",
    "MANIFEST_FIELDS",
    "MANIFEST_PATH",
    "MIME_TYPES",
    "DepInfo",
    "Description",
    "DeviceFilter",
    "HardwareRequirements",
    "ImageConfig",
    "JSONObject",
    "JSONValue",
    "LocaleString",
    "Manifest",
    "TreeCheck",
    "check_tree",
    "check_unique_fields",
    "data_url",
    "dependency_icon",
    "file_extension",
    "icon",
    "icon_mime",
    "is_id",
    "load_json",
    "mime",
    "stem_run",
    "validate_for",
]

_log = logging.getLogger(__name__)

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None

MANIFEST_PATH = "manifest.json"
# The fallback of ``osVersion``: upstream uses the running OS's version; s9reg pins the version of
# the source commit the spec was written from (``sc/version/mod.rs`` ``Current``).
DEFAULT_OS_VERSION = "0.4.0-beta.10"
# ``placeholder_url()`` in ``sc/registry/package/index.rs``, as ``Url`` serializes it.
DEFAULT_PACKAGE_REPO = "https://example.com/"
KNOWN_PLUGINS = frozenset({"url-v0"})
VOLUME_BACKUP = "BACKUP"

# ``sc/util/mime.rs::mime``: case-sensitive, keyed by the extension without its dot.
MIME_TYPES: Mapping[str, str] = {
    "apng": "image/apng",
    "avif": "image/avif",
    "flif": "image/flif",
    "gif": "image/gif",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jfif": "image/jpeg",
    "pjpeg": "image/jpeg",
    "pjp": "image/jpeg",
    "jxl": "image/jxl",
    "png": "image/png",
    "svg": "image/svg+xml",
    "webp": "image/webp",
    "mng": "image/x-mng",
    "x-mng": "image/x-mng",
    "css": "text/css",
    "csv": "text/csv",
    "html": "text/html",
    "php": "text/php",
    "plain": "text/plain",
    "md": "text/plain",
    "txt": "text/plain",
    "xml": "text/xml",
    "js": "text/javascript",
    "wasm": "application/wasm",
}

# ``sc/id/mod.rs`` ID_REGEX ``^[a-z0-9]+(-[a-z0-9]+)*$``; fullmatch, since Python's ``$`` would
# also accept a trailing newline.
_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# WHATWG parsing fails on relative references; only the scheme is checked, the text is kept.
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_U64_MAX = (1 << 64) - 1
# serde_json's default recursion limit.
_MAX_DEPTH = 128

# The fields of each struct that upstream reads with serde's derived visitor, which refuses a
# repeated field (§17.1). The manifest's own fields and those of the flattened PackageMetadata.
MANIFEST_FIELDS = frozenset(
    {
        *("id", "version", "canMigrateTo", "canMigrateFrom", "images", "volumes"),
        *("dependencies", "hardwareRequirements", "title", "description", "releaseNotes"),
        *("gitHash", "license", "packageRepo", "upstreamRepo", "marketingUrl", "donationUrl"),
        *("osVersion", "sdkVersion", "hardwareAcceleration", "userspaceFilesystems"),
        *("virtualNetworking", "plugins", "satisfies"),
    }
)
_DESCRIPTION_FIELDS = frozenset({"short", "long"})
_IMAGE_FIELDS = frozenset({"source", "arch", "emulateMissingAs", "nvidiaContainer"})
_DOCKER_BUILD_FIELDS = frozenset({"workdir", "dockerfile", "buildArgs"})
# ``DepInfo``'s flattened ``MetadataSrc`` is an enum, found by key without a repeat check.
_DEP_INFO_FIELDS = frozenset({"description", "optional"})
_HARDWARE_FIELDS = frozenset({"device", "ram", "arch"})
_DEVICE_FIELDS = frozenset({"description", "class", "product", "vendor", "capabilities", "driver"})


def is_id(value: str) -> bool:
    """Whether ``value`` is a valid PackageId/ImageId/VolumeId (``sc/id/mod.rs``)."""
    return _ID_RE.fullmatch(value) is not None


def mime(extension: str) -> str | None:
    """Upstream's MIME type for a file extension (without the dot), or None (§10.2)."""
    return MIME_TYPES.get(extension)


def file_extension(name: str) -> str | None:
    """Rust ``Path::extension``: after the last dot, unless the only dot leads the name."""
    if name == "..":
        return None
    i = name.rfind(".")
    return None if i <= 0 else name[i + 1 :]


def _is_image_name(name: str) -> bool:
    ext = file_extension(name)
    kind = mime(ext) if ext is not None else None
    return kind is not None and kind.startswith("image/")


def data_url(mime_type: str, data: bytes) -> str:
    """``data:<mime>;base64,<standard padded base64>`` as upstream's ``DataUrl`` prints it."""
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocaleString:
    """Text that is either one plain string or an ordered ``{locale: text}`` map (§11.4).

    Attributes:
        value: the plain string, or the map as ``(locale, text)`` pairs in their JSON order.
    """

    value: str | tuple[tuple[str, str], ...]

    @classmethod
    def from_json(cls, value: object, *, key: str = "", path: str | None = None) -> LocaleString:
        """Parse a JSON string or an object of strings.

        Args:
            value: the decoded JSON value.
            key: its key path, for error messages.
            path: the file it came from, for error messages.

        Raises:
            ManifestError: anything else.
        """
        problems = _Problems()
        _scan(problems, value, key)
        problems.raise_if_any(path)
        result = _locale_string(problems, value, key)
        problems.raise_if_any(path)
        return result

    @property
    def translations(self) -> Mapping[str, str] | None:
        """The locale map, or None for a plain string."""
        return None if isinstance(self.value, str) else dict(self.value)

    def to_json(self) -> str | dict[str, str]:
        """The same JSON shape it was parsed from."""
        return self.value if isinstance(self.value, str) else dict(self.value)

    def json_value(self) -> JSONValue:
        """:meth:`to_json`, typed as a JSON value for building documents."""
        if isinstance(self.value, str):
            return self.value
        translations: dict[str, JSONValue] = dict(self.value)
        return translations

    def localize_for(self, locale: str) -> str:
        """The text for ``locale``, by upstream's rule.

        An exact key wins; else the first key starting with the locale's prefix up to and
        including its first ``_`` (``en_US`` → ``en_``, so a plain ``en`` key does not match);
        else the first text; else ``""``. A plain string is returned as is.
        """
        if isinstance(self.value, str):
            return self.value
        for key, text in self.value:
            if key == locale:
                return text
        cut = locale.find("_")
        prefix = locale if cut < 0 else locale[: cut + 1]
        for key, text in self.value:
            if key.startswith(prefix):
                return text
        return self.value[0][1] if self.value else ""


@dataclass(frozen=True, slots=True)
class Description:
    """``description``: a short and a long text."""

    short: LocaleString
    long: LocaleString

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON form (``short``, ``long``)."""
        return {"short": self.short.json_value(), "long": self.long.json_value()}


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


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """A device requirement (``hardwareRequirements.device[]``); regexes are kept as text."""

    description: str
    device_class: str
    product: str | None = None
    vendor: str | None = None
    capabilities: tuple[str, ...] | None = None
    driver: str | None = None

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON form in start-cli's key order."""
        caps: JSONValue = list(self.capabilities) if self.capabilities is not None else None
        return {
            "description": self.description,
            "class": self.device_class,
            "product": self.product,
            "vendor": self.vendor,
            "capabilities": caps,
            "driver": self.driver,
        }


@dataclass(frozen=True, slots=True)
class HardwareRequirements:
    """``hardwareRequirements``; ``arch`` None means any architecture."""

    device: tuple[DeviceFilter, ...] = ()
    ram: int | None = None
    arch: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON form (``device``, ``ram``, ``arch``)."""
        return {
            "device": [d.to_dict() for d in self.device],
            "ram": self.ram,
            "arch": list(self.arch) if self.arch is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed ``manifest.json`` (current schema, §11.1), with upstream's defaults applied.

    Versions, version ranges and URLs are kept as written. Sets and maps that upstream holds in
    ``BTreeSet``/``BTreeMap`` are sorted bytewise, except ``satisfies`` (sorted by version order
    upstream), which keeps its written order. Build one with :meth:`from_dict`/:meth:`from_bytes`;
    the constructor does not validate.
    """

    id: str
    version: str
    can_migrate_to: str
    can_migrate_from: str
    title: str
    description: Description
    release_notes: LocaleString
    license: str
    upstream_repo: str
    images: Mapping[str, ImageConfig]
    volumes: tuple[str, ...]
    git_hash: str | None = None
    package_repo: str = DEFAULT_PACKAGE_REPO
    marketing_url: str | None = None
    donation_url: str | None = None
    os_version: str = DEFAULT_OS_VERSION
    sdk_version: str | None = None
    hardware_acceleration: bool = False
    userspace_filesystems: bool = False
    virtual_networking: bool = False
    plugins: tuple[str, ...] = ()
    satisfies: tuple[str, ...] = ()
    dependencies: Mapping[str, DepInfo] = field(default_factory=dict)
    hardware_requirements: HardwareRequirements = field(default_factory=HardwareRequirements)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse ``manifest.json`` bytes (strict UTF-8 JSON, as serde_json reads it).

        Raises:
            ManifestError: not JSON, or not a valid manifest (every problem, with key paths).
        """
        return cls._from_scanned(load_json(data, path="/" + MANIFEST_PATH))

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        """Parse a decoded ``manifest.json`` value; older v2 shapes are accepted (§11.2).

        Raises:
            ManifestError: naming the first problem's key path and how many more there are;
                ``details`` lists them all.
        """
        problems = _Problems()
        _scan(problems, data)
        problems.raise_if_any("/" + MANIFEST_PATH)
        return cls._from_scanned(data)

    @classmethod
    def _from_scanned(cls, data: object) -> Manifest:
        problems = _Problems()
        manifest = _parse_manifest(problems, data)
        problems.raise_if_any("/" + MANIFEST_PATH)
        return manifest

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON form with camelCase keys in start-cli's serialization order (§11.1)."""
        return {
            "id": self.id,
            "version": self.version,
            "canMigrateTo": self.can_migrate_to,
            "canMigrateFrom": self.can_migrate_from,
            "title": self.title,
            "description": self.description.to_dict(),
            "releaseNotes": self.release_notes.json_value(),
            "gitHash": self.git_hash,
            "license": self.license,
            "packageRepo": self.package_repo,
            "upstreamRepo": self.upstream_repo,
            "marketingUrl": self.marketing_url,
            "donationUrl": self.donation_url,
            "osVersion": self.os_version,
            "sdkVersion": self.sdk_version,
            "hardwareAcceleration": self.hardware_acceleration,
            "userspaceFilesystems": self.userspace_filesystems,
            "virtualNetworking": self.virtual_networking,
            "plugins": list(self.plugins),
            "satisfies": list(self.satisfies),
            "images": {k: v.to_dict() for k, v in self.images.items()},
            "volumes": list(self.volumes),
            "dependencies": {k: v.to_dict() for k, v in self.dependencies.items()},
            "hardwareRequirements": self.hardware_requirements.to_dict(),
        }

    def to_bytes(self) -> bytes:
        """Compact JSON as ``serde_json::to_vec`` writes it (no URL/version normalization)."""
        text = json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)
        return text.encode()


# --------------------------------------------------------------------------------------------
# Parsing: every problem is collected with its key path, and raised once
# --------------------------------------------------------------------------------------------


class _Absent(Enum):
    ABSENT = 0


_ABSENT = _Absent.ABSENT


class _Problems:
    """Problems (each prefixed with its key path), raised together as one :class:`ManifestError`."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, problem: str) -> None:
        text = f"{key}: {problem}" if key else problem
        if text not in self.items:
            self.items.append(text)

    def raise_if_any(self, path: str | None) -> None:
        """Raise every problem so far as found in ``path`` (a file inside the archive)."""
        if self.items:
            raise _error([(path, text) for text in self.items])


def _error(items: Sequence[tuple[str | None, str]]) -> ManifestError:
    path, problem = items[0]
    if len(items) > 1:
        problem += f" (and {len(items) - 1} more)"
    err = ManifestError(problem, path=path)
    err.details = "\n".join(": ".join(x for x in (p, t) if x) for p, t in items)
    return err


def _bkey(name: str) -> bytes:
    """Sort key: the UTF-8 bytes, as Rust orders strings."""
    return name.encode("utf-8", "surrogatepass")


def load_json(data: bytes, *, path: str) -> object:
    """Decode JSON bytes as strictly as serde_json (UTF-8, no NaN/Infinity, depth ≤ 128).

    Args:
        data: the file's bytes.
        path: the file's path inside the archive, for error messages.

    Raises:
        ManifestError: not UTF-8, not JSON, nested too deeply or holding a lone surrogate.
    """

    def no_constants(name: str) -> object:
        msg = f"{name} is not valid JSON"
        raise ValueError(msg)

    try:
        value = json.loads(
            data.decode("utf-8"), parse_constant=no_constants, object_pairs_hook=_object
        )
    except UnicodeDecodeError as e:
        msg = f"not valid UTF-8 (at byte {e.start})"
        raise ManifestError(msg, path=path) from None
    except (ValueError, RecursionError) as e:
        msg = f"invalid JSON: {e}"
        raise ManifestError(msg, path=path) from None
    # Decoded UTF-8 holds a lone surrogate only through a \u escape, and nesting deeper than
    # the limit needs more brackets than that: without either, the scan has nothing to find.
    if b"\\u" in data or data.count(b"[") + data.count(b"{") > _MAX_DEPTH:
        problems = _Problems()
        _scan(problems, value)
        problems.raise_if_any(path)
    return value


class JSONObject(dict[str, object]):
    """A decoded JSON object that had repeated keys; the last value of each is kept.

    Attributes:
        repeated: the keys that occurred more than once.
    """

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, object]], repeated: frozenset[str]) -> None:
        super().__init__(pairs)
        self.repeated = repeated


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    seen: set[str] = set()
    repeated: set[str] = set()
    for k, _ in pairs:
        (repeated if k in seen else seen).add(k)
    return JSONObject(pairs, frozenset(repeated))


def check_unique_fields(
    value: Mapping[str, object], fields: frozenset[str], report: Callable[[str], None]
) -> None:
    """Report each known field of a struct that ``value`` repeats (§17.1).

    serde's derived visitor refuses a second occurrence of a field the struct declares
    (``duplicate field `id```); repeated unknown keys, and repeated keys of map-typed values,
    are accepted (the last value wins). ``value`` must come from :func:`load_json`.
    """
    repeated = value.repeated if isinstance(value, JSONObject) else frozenset()
    for name in sorted(repeated & fields):
        report(f"duplicate field `{name}`")


def _scan(p: _Problems, value: object, key: str = "") -> None:
    """Report what serde_json would not have produced: non-JSON types, bad strings, deep nesting."""
    stack: list[tuple[object, str, int]] = [(value, key, 1)]
    while stack:
        v, key, depth = stack.pop()
        if depth > _MAX_DEPTH:
            p.add(key, f"nested deeper than {_MAX_DEPTH} levels")
            return
        if isinstance(v, dict):
            for k, child in v.items():
                if not isinstance(k, str) or not _is_text(k):
                    p.add(key, f"key {k!r} is not a valid JSON string")
                else:
                    stack.append((child, _join(key, k), depth + 1))
        elif isinstance(v, list):
            stack.extend((child, f"{key}[{i}]", depth + 1) for i, child in enumerate(v))
        elif isinstance(v, str):
            if not _is_text(v):
                p.add(key, "string holds a lone surrogate (not valid Unicode)")
        elif not (v is None or isinstance(v, bool | int | float)):
            p.add(key, f"{type(v).__name__} is not a JSON value")


def _is_text(s: str) -> bool:
    if s.isascii():  # a flag on the string object: no copy for icons and other long texts
        return True
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True


def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub


def _obj(
    p: _Problems, value: object, key: str, fields: frozenset[str] = frozenset()
) -> dict[str, object] | None:
    """``value`` as an object; ``fields``: the struct's fields, which must not repeat."""
    if isinstance(value, dict):
        check_unique_fields(value, fields, lambda problem: p.add(key, problem))
        return value
    p.add(key, "expected an object")
    return None


def _get(p: _Problems, d: Mapping[str, object], name: str, key: str, *, required: bool) -> object:
    if name in d:
        return d[name]
    if required:
        p.add(_join(key, name), "required key missing")
    return _ABSENT


def _str(p: _Problems, value: object, key: str) -> str:
    if isinstance(value, str):
        return value
    if value is not _ABSENT:
        p.add(key, "expected a string")
    return ""


def _opt_str(p: _Problems, value: object, key: str) -> str | None:
    return None if value is None or value is _ABSENT else _str(p, value, key)


def _bool(p: _Problems, value: object, key: str) -> bool:
    if value is _ABSENT:
        return False
    if isinstance(value, bool):
        return value
    p.add(key, "expected true or false")
    return False


def _str_list(p: _Problems, value: object, key: str, *, sort: bool) -> tuple[str, ...]:
    if value is _ABSENT:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        p.add(key, "expected a list of strings")
        return ()
    items = [v for v in value if isinstance(v, str)]
    return tuple(sorted(set(items), key=_bkey)) if sort else tuple(items)


def _id(p: _Problems, value: str, key: str, what: str) -> None:
    if not is_id(value):
        p.add(key, f"invalid {what} {value!r} (lowercase letters and digits, single dashes)")


def _url(p: _Problems, value: object, key: str, *, required: bool) -> str | None:
    text = _str(p, value, key) if required else _opt_str(p, value, key)
    if text and _URL_RE.match(text) is None:
        p.add(key, f"{text!r} is not an absolute URL")
    return text


def _locale_string(p: _Problems, value: object, key: str) -> LocaleString:
    if isinstance(value, str):
        return LocaleString(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return LocaleString(tuple((k, v) for k, v in value.items() if isinstance(v, str)))
    if value is not _ABSENT:
        p.add(key, "expected a string or an object of locale → string")
    return LocaleString("")


def _description(p: _Problems, value: object, key: str) -> Description:
    d = _obj(p, value, key, _DESCRIPTION_FIELDS) if value is not _ABSENT else None
    if d is None:
        return Description(LocaleString(""), LocaleString(""))
    short = _locale_string(p, _get(p, d, "short", key, required=True), _join(key, "short"))
    long = _locale_string(p, _get(p, d, "long", key, required=True), _join(key, "long"))
    return Description(short, long)


def _image_source(p: _Problems, value: object, key: str) -> JSONValue:
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
            _obj(p, inner, _join(key, tag), _DOCKER_BUILD_FIELDS)
        if ok:
            return _as_json(value)
    p.add(key, 'expected "packed", {"dockerTag": …} or {"dockerBuild": {…}}')
    return None


def _as_json(value: object) -> JSONValue:
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # pragma: no cover - json.loads produces nothing else


def _image(p: _Problems, value: object, key: str) -> ImageConfig:
    d = _obj(p, value, key, _IMAGE_FIELDS)
    if d is None:
        return ImageConfig("packed", ())
    source = _image_source(p, _get(p, d, "source", key, required=True), _join(key, "source"))
    arch_key = _join(key, "arch")
    raw_arch = _get(p, d, "arch", key, required=True)
    arch = _str_list(p, raw_arch, arch_key, sort=True)
    emulate_key = _join(key, "emulateMissingAs")
    emulate = _opt_str(p, d.get("emulateMissingAs"), emulate_key)
    nvidia = _bool(p, d.get("nvidiaContainer", _ABSENT), _join(key, "nvidiaContainer"))
    return ImageConfig(source, arch, emulate, nvidia)


def _images(p: _Problems, value: object) -> dict[str, ImageConfig]:
    d = _obj(p, value, "images") if value is not _ABSENT else None
    out: dict[str, ImageConfig] = {}
    for image_id in sorted(d or {}, key=_bkey):
        key = _join("images", image_id)
        _id(p, image_id, key, "image id")
        out[image_id] = _image(p, (d or {})[image_id], key)
    return out


def _volumes(p: _Problems, value: object) -> tuple[str, ...]:
    written = _str_list(p, value, "volumes", sort=False)
    for i, v in enumerate(written):
        if v != VOLUME_BACKUP:
            _id(p, v, f"volumes[{i}]", "volume id")
    # ``VolumeId::Backup`` orders before every custom id.
    return tuple(sorted(set(written), key=lambda v: (v != VOLUME_BACKUP, _bkey(v))))


def _dependencies(p: _Problems, value: object) -> dict[str, DepInfo]:
    if value is _ABSENT:
        return {}
    d = _obj(p, value, "dependencies")
    out: dict[str, DepInfo] = {}
    for dep_id in sorted(d or {}, key=_bkey):
        key = _join("dependencies", dep_id)
        _id(p, dep_id, key, "package id")
        info = _obj(p, (d or {})[dep_id], key, _DEP_INFO_FIELDS)
        if info is None:
            continue
        raw_desc = info.get("description")
        desc_key = _join(key, "description")
        desc = None if raw_desc is None else _locale_string(p, raw_desc, desc_key)
        raw_optional = _get(p, info, "optional", key, required=True)
        optional = _bool(p, raw_optional, _join(key, "optional"))
        out[dep_id] = DepInfo(desc, optional)
    return out


def _device(p: _Problems, value: object, key: str) -> DeviceFilter:
    d = _obj(p, value, key, _DEVICE_FIELDS)
    if d is None:
        return DeviceFilter("", "")
    raw_caps = d.get("capabilities")
    caps_key = _join(key, "capabilities")
    caps = None if raw_caps is None else _str_list(p, raw_caps, caps_key, sort=True)
    return DeviceFilter(
        description=_str(
            p, _get(p, d, "description", key, required=True), _join(key, "description")
        ),
        device_class=_str(p, _get(p, d, "class", key, required=True), _join(key, "class")),
        product=_opt_str(p, d.get("product"), _join(key, "product")),
        vendor=_opt_str(p, d.get("vendor"), _join(key, "vendor")),
        capabilities=caps,
        driver=_opt_str(p, d.get("driver"), _join(key, "driver")),
    )


def _hardware(p: _Problems, value: object) -> HardwareRequirements:
    key = "hardwareRequirements"
    if value is _ABSENT:
        return HardwareRequirements()
    d = _obj(p, value, key, _HARDWARE_FIELDS)
    if d is None:
        return HardwareRequirements()
    devices: list[DeviceFilter] = []
    raw_devices = d.get("device", _ABSENT)
    if isinstance(raw_devices, list):
        devices = [_device(p, v, f"{key}.device[{i}]") for i, v in enumerate(raw_devices)]
    elif raw_devices is not _ABSENT:
        p.add(_join(key, "device"), "expected a list")
    ram = d.get("ram")
    if ram is not None and (
        isinstance(ram, bool) or not isinstance(ram, int) or not 0 <= ram <= _U64_MAX
    ):
        p.add(_join(key, "ram"), "expected an unsigned 64-bit integer or null")
        ram = None
    raw_arch = d.get("arch")
    arch = None if raw_arch is None else _str_list(p, raw_arch, _join(key, "arch"), sort=True)
    return HardwareRequirements(tuple(devices), ram if isinstance(ram, int) else None, arch)


def _fallback(d: Mapping[str, object], name: str, old: str) -> object:
    """``name``, else the older key ``old`` (§11.2), else absent."""
    if name in d:
        return d[name]
    return d.get(old, _ABSENT)


def _parse_manifest(p: _Problems, data: object) -> Manifest:
    if not isinstance(data, dict):
        p.add("", "expected a JSON object")
        data = {}
    d: dict[str, object] = data
    check_unique_fields(d, MANIFEST_FIELDS, lambda problem: p.add("", problem))

    def req(name: str) -> str:
        return _str(p, _get(p, d, name, "", required=True), name)

    def opt(name: str) -> str | None:
        return _opt_str(p, d.get(name), name)

    package_id = req("id")
    if "id" in d and isinstance(d["id"], str):
        _id(p, package_id, "id", "package id")
    package_repo = _url(
        p, _fallback(d, "packageRepo", "wrapperRepo"), "packageRepo", required=False
    )
    os_version = d.get("osVersion", _ABSENT)
    plugins = _str_list(p, d.get("plugins", _ABSENT), "plugins", sort=True)
    for name in plugins:
        if name not in KNOWN_PLUGINS:
            p.add("plugins", f"unknown plugin {name!r} (known: {', '.join(sorted(KNOWN_PLUGINS))})")
    manifest = Manifest(
        id=package_id,
        version=req("version"),
        can_migrate_to=req("canMigrateTo"),
        can_migrate_from=req("canMigrateFrom"),
        title=req("title"),
        description=_description(p, _get(p, d, "description", "", required=True), "description"),
        release_notes=_locale_string(
            p, _get(p, d, "releaseNotes", "", required=True), "releaseNotes"
        ),
        git_hash=opt("gitHash"),
        license=req("license"),
        package_repo=package_repo or DEFAULT_PACKAGE_REPO,
        upstream_repo=_url(
            p, _get(p, d, "upstreamRepo", "", required=True), "upstreamRepo", required=True
        )
        or "",
        marketing_url=_url(
            p, _fallback(d, "marketingUrl", "marketingSite"), "marketingUrl", required=False
        ),
        donation_url=_url(p, d.get("donationUrl"), "donationUrl", required=False),
        os_version=DEFAULT_OS_VERSION
        if os_version is _ABSENT
        else _str(p, os_version, "osVersion"),
        sdk_version=opt("sdkVersion"),
        hardware_acceleration=_bool(
            p, d.get("hardwareAcceleration", _ABSENT), "hardwareAcceleration"
        ),
        userspace_filesystems=_bool(
            p, d.get("userspaceFilesystems", _ABSENT), "userspaceFilesystems"
        ),
        virtual_networking=_bool(p, d.get("virtualNetworking", _ABSENT), "virtualNetworking"),
        plugins=plugins,
        satisfies=_str_list(p, d.get("satisfies", _ABSENT), "satisfies", sort=False),
        images=_images(p, _get(p, d, "images", "", required=True)),
        volumes=_volumes(p, _get(p, d, "volumes", "", required=True)),
        dependencies=_dependencies(p, d.get("dependencies", _ABSENT)),
        hardware_requirements=_hardware(p, d.get("hardwareRequirements", _ABSENT)),
    )
    _check_versions(p, manifest, os_version_given=os_version is not _ABSENT)
    return manifest


def _check_versions(p: _Problems, m: Manifest, *, os_version_given: bool) -> None:
    """Parse the version fields as upstream's types do, keeping the texts as written (§17.2).

    ``version`` and ``satisfies`` are ``VersionString`` (an ExtendedVersion: the downstream part
    is required), ``canMigrateTo``/``canMigrateFrom`` are ranges (read as the Rust crate reads
    them: the downstream may be omitted), ``osVersion``/``sdkVersion`` are plain versions.
    """

    def check(key: str, text: str, parse: Callable[[str], object], kind: str) -> None:
        try:
            parse(text)
        except VersionError as e:
            p.add(key, f"{json.dumps(text, ensure_ascii=False)} is not a valid {kind}: {e.problem}")

    if m.version:
        check("version", m.version, ExtendedVersion.parse, "Version")
    for key, text in (("canMigrateTo", m.can_migrate_to), ("canMigrateFrom", m.can_migrate_from)):
        if text:
            check(key, text, VersionRange.parse, "VersionRange")
    if os_version_given and m.os_version:
        check("osVersion", m.os_version, Version.parse, "Version")
    if m.sdk_version is not None:
        check("sdkVersion", m.sdk_version, Version.parse, "Version")
    for i, text in enumerate(m.satisfies):
        check(f"satisfies[{i}]", text, ExtendedVersion.parse, "Version")


# --------------------------------------------------------------------------------------------
# Tree check (``Expected``/``Filter`` in ``sc/s9pk/merkle_archive/expected.rs``)
# --------------------------------------------------------------------------------------------

Warn = Callable[[str], None]


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p)


def stem_run(directory: Directory, stem: str) -> Iterator[tuple[str, Node]]:
    """Upstream's ``with_stem``: the entry named ``stem``, then the contiguous run of names.

    The run is the names sorting after ``stem`` (by bytes) whose Rust ``file_stem`` is ``stem``;
    it ends at the first name that is not, so ``icon-x`` hides ``icon.png`` (spec §15.8).
    """
    if stem in directory.entries:
        yield stem, directory.entries[stem]
    key = _bkey(stem)
    for name in sorted((n for n in directory.entries if _bkey(n) > key), key=_bkey):
        if file_stem(name) != stem:
            return
        yield name, directory.entries[name]


@dataclass
class _Expected:
    root: Directory
    keep: set[tuple[str, ...]] = field(default_factory=set)
    problems: list[tuple[str | None, str]] = field(default_factory=list)

    def check_file(self, path: str) -> tuple[str, str] | None:
        """Keep ``path`` if it is a FILE, else return ``(path, problem)``."""
        node = self.root.get(path)
        if isinstance(node, File):
            self.keep.add(_parts(path))
            return None
        why = (
            " (the entry is MISSING)"
            if isinstance(node, Missing)
            else " (it is a directory)"
            if isinstance(node, Directory)
            else ""
        )
        return "/" + path, f"file missing from archive{why}"

    def check_dir(self, path: str) -> bool:
        node = self.root.get(path)
        if not isinstance(node, Directory):
            return False
        # ``file_paths`` lists every non-directory entry (MISSING ones too).
        for sub, child in node.walk(path + "/"):
            if not isinstance(child, Directory):
                self.keep.add(_parts(sub))
        return True

    def check_stem(self, path: str) -> tuple[str, str] | None:
        """Keep the one FILE ``<path>.<image ext>`` of the stem run, else return the problem."""
        parent, _, stem = path.rpartition("/")
        directory = self.root.get(parent) if parent else self.root
        if not isinstance(directory, Directory):
            return "/" + parent, "directory missing from archive"
        run = [name for name, node in stem_run(directory, stem) if isinstance(node, File)]
        valid = [name for name in run if _is_image_name(name)]
        if len(valid) > 1:
            names = ", ".join(valid)
            return "/" + path, f"more than one file matching {stem} with valid extension: {names}"
        if not valid:
            return "/" + path, f"file {stem}.<ext> with valid extension missing from archive" + (
                _hidden_hint(directory, stem)
            )
        self.keep.add((*_parts(parent), valid[0]))
        return None


def _hidden_hint(directory: Directory, stem: str) -> str:
    """Explain an image file that the contiguous-run rule does not reach."""
    reached = {name for name, _ in stem_run(directory, stem)}
    hidden = sorted(
        (
            n
            for n, node in directory.entries.items()
            if isinstance(node, File)
            and n not in reached
            and file_stem(n) == stem
            and _is_image_name(n)
        ),
        key=_bkey,
    )
    if not hidden:
        return ""
    key = _bkey(stem)
    after = sorted((n for n in directory.entries if _bkey(n) > key), key=_bkey)
    # A hidden candidate implies a name that ended the run before it.
    blocker = next((n for n in after if file_stem(n) != stem), None)
    return f" ({hidden[0]!r} is not considered because {blocker!r} sorts before it; rename that)"


@dataclass(frozen=True, slots=True)
class TreeCheck:
    """The result of checking a tree against its manifest.

    Attributes:
        filtered: the tree with everything outside the keep-set turned MISSING; directories
            keep their sighash and signed size.
        dropped: paths (``/``-rooted) that were present and are now MISSING.
        warnings: problems upstream only logs (``instructions.md``, assets).
    """

    filtered: Directory
    dropped: tuple[str, ...]
    warnings: tuple[str, ...]


def check_tree(root: Directory, manifest: Manifest, arch: str | None) -> TreeCheck:
    """Upstream's ``validate_for`` plus ``keep_checked``, collecting every problem (§10.3).

    Args:
        root: the package tree.
        manifest: its parsed manifest.
        arch: keep only this architecture's images; None checks every declared architecture.

    Returns:
        The filtered tree, what was dropped, and the warnings.

    Raises:
        ManifestError: the tree does not satisfy the manifest (all problems in ``details``).
    """
    ex = _Expected(root)
    warnings: list[str] = []
    for required in (MANIFEST_PATH, "icon", "LICENSE.md", "instructions.md", "javascript.squashfs"):
        problem = ex.check_stem(required) if required == "icon" else ex.check_file(required)
        if problem is None:
            continue
        if required == "instructions.md":
            # Packages built before instructions.md became required are still accepted.
            warnings.append(": ".join(problem))
        else:
            ex.problems.append(problem)
    for dep_id in manifest.dependencies:
        ex.check_file(f"dependencies/{dep_id}/metadata.json")
        ex.check_stem(f"dependencies/{dep_id}/icon")
    missing_assets = ex.check_file("assets.squashfs")
    if missing_assets is not None and not ex.check_dir("assets"):
        warnings.append(": ".join(missing_assets))
    for image_id, config in manifest.images.items():
        _check_image(ex, manifest, image_id, config, arch)
    if ex.problems:
        raise _error(list(dict.fromkeys(ex.problems)))
    filtered, dropped = _keep_checked(root, ex.keep, ())
    return TreeCheck(filtered, tuple(dropped), tuple(warnings))


def _check_image(
    ex: _Expected, manifest: Manifest, image_id: str, config: ImageConfig, arch: str | None
) -> None:
    if arch is not None:
        arches: Sequence[str] = (arch,)
    elif manifest.hardware_requirements.arch is not None:
        arches = manifest.hardware_requirements.arch
    elif config.emulate_missing_as is not None:
        if config.emulate_missing_as not in config.arch:
            problem = f"images.{image_id}.emulateMissingAs: must match an included `arch`"
            ex.problems.append(("/" + MANIFEST_PATH, problem))
            return
        arches = config.arch
    else:
        problem = (
            f"images.{image_id}: `emulateMissingAs` required for all images if no `arch` "
            "specified in `hardwareRequirements`"
        )
        ex.problems.append(("/" + MANIFEST_PATH, problem))
        return
    for a in arches:
        chosen = a
        missing = ex.check_file(f"images/{a}/{image_id}.squashfs")
        if missing is not None and config.emulate_missing_as is not None:
            chosen = config.emulate_missing_as
            missing = ex.check_file(f"images/{chosen}/{image_id}.squashfs")
        if missing is not None:
            ex.problems.append(missing)
            continue
        for ext in ("json", "env"):
            missing = ex.check_file(f"images/{chosen}/{image_id}.{ext}")
            if missing is not None:
                ex.problems.append(missing)


def _keep_checked(
    directory: Directory, keep: set[tuple[str, ...]], prefix: tuple[str, ...]
) -> tuple[Directory, list[str]]:
    kept_dirs = {
        k[: len(prefix) + 1] for k in keep if len(k) > len(prefix) and k[: len(prefix)] == prefix
    }
    entries: dict[str, Node] = {}
    dropped: list[str] = []
    for name, node in directory.entries.items():
        path = (*prefix, name)
        if path in keep or path in kept_dirs:
            if isinstance(node, Directory):
                entries[name], sub_dropped = _keep_checked(node, keep, path)
                dropped += sub_dropped
            else:
                entries[name] = node
        else:
            if not isinstance(node, Missing):
                dropped.append("/" + "/".join(path) + ("/" if isinstance(node, Directory) else ""))
            entries[name] = node.to_missing()
    return directory.with_entries(entries), dropped


def validate_for(
    root: Directory, manifest: Manifest, arch: str | None, *, warn: Warn | None = None
) -> Directory:
    """Check ``root`` against ``manifest`` and return it filtered (``validate_and_filter``).

    Everything outside the keep-set becomes MISSING; a directory survives when anything beneath
    it is kept, and keeps its sighash and signed size.

    Args:
        root: the package tree.
        manifest: its parsed manifest.
        arch: keep only this architecture's images; None checks every declared architecture.
        warn: receives problems upstream only logs; default: this module's logger.

    Returns:
        The filtered tree (same root sighash).

    Raises:
        ManifestError: the tree does not satisfy the manifest (all problems in ``details``).
    """
    result = check_tree(root, manifest, arch)
    for message in result.warnings:
        (warn or _log.warning)(message)
    return result.filtered


# --------------------------------------------------------------------------------------------
# Icons (``S9pk::icon``, ``S9pk::dependency_icon``)
# --------------------------------------------------------------------------------------------


def _best_icon(directory: Directory) -> tuple[str, File] | None:
    best: tuple[str, File] | None = None
    for name, node in stem_run(directory, "icon"):
        # Strictly larger replaces: on a tie the earlier name stays.
        if (
            isinstance(node, File)
            and _is_image_name(name)
            and (best is None or node.size > best[1].size)
        ):
            best = (name, node)
    return best


def icon(root: Directory) -> tuple[str, File] | None:
    """The package icon: the largest FILE ``icon.<image ext>`` of the stem run (§10.4).

    Returns:
        ``(name, file)``, or None when there is no icon.
    """
    return _best_icon(root)


def dependency_icon(root: Directory, dep_id: str) -> tuple[str, File] | None:
    """The icon stored for dependency ``dep_id`` (``dependencies/<id>/icon.*``), or None."""
    directory = root.get(f"dependencies/{dep_id}") if is_id(dep_id) else None
    return _best_icon(directory) if isinstance(directory, Directory) else None


def icon_mime(name: str) -> str:
    """The MIME type for an icon name (upstream falls back to ``image/png``)."""
    ext = file_extension(name)
    return (mime(ext) if ext is not None else None) or "image/png"
