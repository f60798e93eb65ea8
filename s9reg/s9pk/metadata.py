"""Package metadata shared by the manifest and the registry index (s9pk-format.md §11.1, §11.4).

:class:`PackageMetadata` is upstream's ``PackageMetadata`` (``sc/s9pk/manifest.rs``): the fields
that ``Manifest`` and ``PackageVersionInfo`` both flatten into their JSON. Here too they are
written once, read once (:func:`read_metadata`) and serialized once (:meth:`metadata_json`).
Also the small value types they hold (locale strings, hardware requirements) and the id, MIME and
data-URL rules. Version fields are parsed as upstream's types; URLs are kept as written (no WHATWG
normalization). No I/O.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from s9reg._json import ABSENT, JSONValue, Reader, Struct
from s9reg.exver import Version, VersionError, VersionString
from s9reg.s9pk.errors import ManifestError

__all__ = [
    "DEFAULT_OS_VERSION",
    "DEFAULT_PACKAGE_REPO",
    "KNOWN_PLUGINS",
    "METADATA_FIELDS",
    "MIME_TYPES",
    "Description",
    "DeviceFilter",
    "HardwareRequirements",
    "LocaleString",
    "PackageMetadata",
    "bytewise",
    "data_url",
    "file_extension",
    "is_id",
    "is_image_name",
    "metadata_fields",
    "mime",
    "read_description",
    "read_hardware",
    "read_locale",
    "read_metadata",
]

# The fallback of ``osVersion``: upstream uses the running OS's version; s9reg pins the version of
# the source commit the spec was written from (``sc/version/mod.rs`` ``Current``).
DEFAULT_OS_VERSION = "0.4.0-beta.10"
# ``placeholder_url()`` in ``sc/registry/package/index.rs``, as ``Url`` serializes it.
DEFAULT_PACKAGE_REPO = "https://example.com/"
KNOWN_PLUGINS = frozenset({"url-v0"})

# The JSON names of PackageMetadata's fields, in upstream's serialization order.
METADATA_FIELDS = frozenset(
    {
        *("title", "description", "releaseNotes", "gitHash", "license", "packageRepo"),
        *("upstreamRepo", "marketingUrl", "donationUrl", "osVersion", "sdkVersion"),
        *("hardwareAcceleration", "userspaceFilesystems", "virtualNetworking", "plugins"),
        "satisfies",
    }
)
_DESCRIPTION_FIELDS = frozenset({"short", "long"})
_HARDWARE_FIELDS = frozenset({"device", "ram", "arch"})
_DEVICE_FIELDS = frozenset({"description", "class", "product", "vendor", "capabilities", "driver"})

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


def is_image_name(name: str) -> bool:
    """Whether ``name``'s extension has an ``image/*`` MIME type."""
    ext = file_extension(name)
    kind = mime(ext) if ext is not None else None
    return kind is not None and kind.startswith("image/")


def data_url(mime_type: str, data: bytes) -> str:
    """``data:<mime>;base64,<standard padded base64>`` as upstream's ``DataUrl`` prints it."""
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def bytewise(name: str) -> bytes:
    """Sort key: the UTF-8 bytes, as Rust orders strings."""
    return name.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------------------------
# Value types
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
        reader = Reader()
        reader.scan(value, key)
        if not reader.problems:
            result = read_locale(reader, value, key)
        if reader.problems:
            raise ManifestError.of(reader.problems, path=path)
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


def _default_os_version() -> Version:
    return Version.parse(DEFAULT_OS_VERSION)


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageMetadata:
    """What a package says about itself; ``Manifest`` and ``PackageVersionInfo`` extend it.

    Upstream's serde defaults apply (``packageRepo``, ``osVersion``, the flags, the sets).
    ``plugins`` is sorted bytewise and ``satisfies`` by version, equal versions kept once (both
    are sets upstream).
    """

    title: str
    description: Description
    release_notes: LocaleString
    git_hash: str | None = None
    license: str
    package_repo: str = DEFAULT_PACKAGE_REPO
    upstream_repo: str
    marketing_url: str | None = None
    donation_url: str | None = None
    os_version: Version = field(default_factory=_default_os_version)
    sdk_version: Version | None = None
    hardware_acceleration: bool = False
    userspace_filesystems: bool = False
    virtual_networking: bool = False
    plugins: tuple[str, ...] = ()
    satisfies: tuple[VersionString, ...] = ()

    def metadata_json(self) -> dict[str, JSONValue]:
        """The metadata's JSON keys, in upstream's order, to flatten into a larger object."""
        return {
            "title": self.title,
            "description": self.description.to_dict(),
            "releaseNotes": self.release_notes.json_value(),
            "gitHash": self.git_hash,
            "license": self.license,
            "packageRepo": self.package_repo,
            "upstreamRepo": self.upstream_repo,
            "marketingUrl": self.marketing_url,
            "donationUrl": self.donation_url,
            "osVersion": str(self.os_version),
            "sdkVersion": None if self.sdk_version is None else str(self.sdk_version),
            "hardwareAcceleration": self.hardware_acceleration,
            "userspaceFilesystems": self.userspace_filesystems,
            "virtualNetworking": self.virtual_networking,
            "plugins": [*sorted(set(self.plugins), key=bytewise)],
            "satisfies": [str(v) for v in _version_set(self.satisfies)],
        }


def metadata_fields(metadata: PackageMetadata) -> dict[str, Any]:
    """The metadata's attributes by name, to build a subclass from (``Manifest(**…, id=…)``)."""
    return {f.name: getattr(metadata, f.name) for f in dataclasses.fields(PackageMetadata)}


def _version_set(versions: tuple[VersionString, ...]) -> list[VersionString]:
    """A Rust ``BTreeSet<VersionString>``: sorted, the first of equal versions kept."""
    return sorted(dict.fromkeys(versions), key=lambda v: v.sort_key)


# --------------------------------------------------------------------------------------------
# Reading (every problem goes to the reader, with its key path)
# --------------------------------------------------------------------------------------------


def read_locale(r: Reader, value: object, path: str) -> LocaleString:
    """A string, or an object of locale → string; ``""`` (and a problem) otherwise."""
    if isinstance(value, str):
        return LocaleString(value)
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, text, sub in r.entries(value, path):
            checked = r.string(text, sub)
            if checked is not None:
                pairs.append((key, checked))
        return LocaleString(tuple(pairs))
    if value is not ABSENT:
        r.add(path, "expected a string or an object of locale → string")
    return LocaleString("")


def read_description(r: Reader, value: object, path: str) -> Description:
    """``{short, long}``."""
    s = r.struct(value, path, _DESCRIPTION_FIELDS)
    if s is None:
        return Description(LocaleString(""), LocaleString(""))
    short = read_locale(r, s.required("short"), s.at("short"))
    return Description(short, read_locale(r, s.required("long"), s.at("long")))


def _sorted_set(r: Reader, value: object, path: str) -> tuple[str, ...]:
    return tuple(sorted(set(r.strings(value, path)), key=bytewise))


def _device(r: Reader, value: object, path: str) -> DeviceFilter:
    s = r.struct(value, path, _DEVICE_FIELDS)
    if s is None:
        return DeviceFilter("", "")
    caps = s.opt("capabilities")
    return DeviceFilter(
        description=s.string("description") or "",
        device_class=s.string("class") or "",
        product=s.opt_string("product"),
        vendor=s.opt_string("vendor"),
        capabilities=None if caps is None else _sorted_set(r, caps, s.at("capabilities")),
        driver=s.opt_string("driver"),
    )


def read_hardware(r: Reader, value: object, path: str) -> HardwareRequirements:
    """``HardwareRequirements`` (``device`` defaults to ``[]``; ``arch`` is a sorted set)."""
    s = r.struct(value, path, _HARDWARE_FIELDS)
    if s is None:
        return HardwareRequirements()
    devices = r.items(s.get("device"), s.at("device")) or ()
    ram, arch = s.opt("ram"), s.opt("arch")
    return HardwareRequirements(
        device=tuple(_device(r, v, sub) for v, sub in devices),
        ram=None if ram is None else r.u64(ram, s.at("ram")),
        arch=None if arch is None else _sorted_set(r, arch, s.at("arch")),
    )


def _url(r: Reader, value: object, path: str, *, required: bool) -> str | None:
    text = r.string(value, path) if required else r.opt_string(value, path)
    if text and _URL_RE.match(text) is None:
        r.add(path, f"{text!r} is not an absolute URL")
    return text


def _fallback(s: Struct, name: str, old: str | None) -> object:
    value = s.get(name)
    return s.get(old) if value is ABSENT and old is not None else value


def read_metadata(r: Reader, s: Struct, *, legacy: bool = False) -> PackageMetadata:
    """Read the flattened metadata fields of struct ``s``.

    Args:
        r: the reader collecting problems.
        s: the enclosing object.
        legacy: also accept the older v2 names ``wrapperRepo`` and ``marketingSite`` (§11.2).
    """
    package_repo = _url(
        r,
        _fallback(s, "packageRepo", "wrapperRepo" if legacy else None),
        s.at("packageRepo"),
        required=False,
    )
    plugins: list[str] = []
    for item, sub in r.items(s.get("plugins"), s.at("plugins")) or ():
        name = r.string(item, sub)
        if name is not None and name not in KNOWN_PLUGINS:
            r.add(sub, f"unknown plugin {name!r} (known: {', '.join(sorted(KNOWN_PLUGINS))})")
        elif name is not None:
            plugins.append(name)
    satisfies = [
        _version(r, item, sub, VersionString.parse)
        for item, sub in r.items(s.get("satisfies"), s.at("satisfies")) or ()
    ]
    os_version = s.get("osVersion")
    sdk_version = s.opt("sdkVersion")
    return PackageMetadata(
        title=s.string("title") or "",
        description=read_description(r, s.required("description"), s.at("description")),
        release_notes=read_locale(r, s.required("releaseNotes"), s.at("releaseNotes")),
        git_hash=s.opt_string("gitHash"),
        license=s.string("license") or "",
        package_repo=package_repo or DEFAULT_PACKAGE_REPO,
        upstream_repo=_url(r, s.required("upstreamRepo"), s.at("upstreamRepo"), required=True)
        or "",
        marketing_url=_url(
            r,
            _fallback(s, "marketingUrl", "marketingSite" if legacy else None),
            s.at("marketingUrl"),
            required=False,
        ),
        donation_url=_url(r, s.get("donationUrl"), s.at("donationUrl"), required=False),
        os_version=_default_os_version()
        if os_version is ABSENT
        else _version(r, os_version, s.at("osVersion"), Version.parse) or _default_os_version(),
        sdk_version=None
        if sdk_version is None
        else _version(r, sdk_version, s.at("sdkVersion"), Version.parse),
        hardware_acceleration=bool(s.boolean("hardwareAcceleration", default=False)),
        userspace_filesystems=bool(s.boolean("userspaceFilesystems", default=False)),
        virtual_networking=bool(s.boolean("virtualNetworking", default=False)),
        plugins=tuple(sorted(set(plugins), key=bytewise)),
        satisfies=tuple(_version_set(tuple(v for v in satisfies if v is not None))),
    )


_V = TypeVar("_V", Version, VersionString)


def _version(r: Reader, value: object, path: str, parse: Callable[[str], _V]) -> _V | None:
    """A version field, parsed as upstream's type (refused as upstream refuses it, §17.2)."""
    text = r.string(value, path)
    return None if text is None else r.parsed(text, path, parse, "Version", VersionError)
