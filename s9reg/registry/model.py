"""The registry's index model and its exact JSON shapes (registry-protocol.md §2, §3, §9.4).

Frozen dataclasses with snake_case attributes; ``to_dict`` emits upstream's serde JSON (camelCase
keys, BTreeMap key order, ``null`` for unset options) and ``from_dict`` parses it strictly, drops
unknown keys, applies upstream's serde defaults and names the JSON path of the first problem.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Generic, Literal, Protocol, Self, TypeVar, cast

from s9reg.exver import Version, VersionError, VersionRange, VersionString
from s9reg.registry.errors import RegistryError
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PublicKey, Signature
from s9reg.s9pk.manifest import (
    DEFAULT_OS_VERSION,
    DEFAULT_PACKAGE_REPO,
    KNOWN_PLUGINS,
    Description,
    DeviceFilter,
    HardwareRequirements,
    JSONValue,
    LocaleString,
    is_id,
)
from s9reg.s9pk.package import S9pk

__all__ = [
    "Category",
    "ContactInfo",
    "DependencyMetadata",
    "FullIndex",
    "GetPackageResponse",
    "GetPackageResponseFull",
    "Guid",
    "OsIndex",
    "OsVersionInfo",
    "PackageIndex",
    "PackageInfo",
    "PackageInfoShort",
    "PackageVersionInfo",
    "RegistryAsset",
    "RegistryInfo",
    "SignerInfo",
    "dump_json",
    "format_timestamp",
    "hardware_from_dict",
    "packages_response_to_dict",
    "parse_timestamp",
    "specificity_desc",
]

C = TypeVar("C", MerkleArchiveCommitment, Blake3Commitment)
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GUID_RE = re.compile(r"[A-Z2-7]{32}")
# ``DataUrl``'s parser accepts exactly this form (sc/util/data_url.rs).
_DATA_URL_RE = re.compile(r"data:(.*?);base64,([A-Za-z0-9+/]*={0,2})", re.DOTALL)
# WHATWG parsing fails on relative references; only the scheme is checked, the text is kept.
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S*")
# Download URLs must be absolute with an authority (§9.4).
_ABS_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]+\S*")
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
_CONTACT_KINDS = ("email", "matrix", "website")
_GUID_SEED_CONTEXT = b"s9reg guid v1\0"


class _ToDict(Protocol):
    def to_dict(self) -> dict[str, JSONValue]: ...


# --------------------------------------------------------------------------------------------
# JSON helpers
# --------------------------------------------------------------------------------------------


def _at(path: str, key: str | int) -> str:
    """Extend a JSON path: ``$.a``, ``$["1.0:0"]``, ``$[3]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _KEY_RE.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _obj(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise RegistryError("expected a JSON object", path=path)
    return cast("Mapping[str, object]", value)


def _req(d: Mapping[str, object], key: str, path: str) -> object:
    if key not in d:
        raise RegistryError("required key missing", path=_at(path, key))
    return d[key]


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise RegistryError("expected a JSON array", path=path)
    return cast("list[object]", value)


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise RegistryError("expected a string", path=path)
    return value


def _opt_str(value: object, path: str) -> str | None:
    return None if value is None else _str(value, path)


def _bool(d: Mapping[str, object], key: str, path: str, default: bool | None = None) -> bool:
    if key not in d and default is not None:
        return default
    value = _req(d, key, path)
    if not isinstance(value, bool):
        raise RegistryError("expected true or false", path=_at(path, key))
    return value


def _u64(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
        raise RegistryError("expected an unsigned 64-bit integer", path=path)
    return value


def _url(value: object, path: str, *, absolute: bool = False) -> str:
    text = _str(value, path)
    pattern = _ABS_URL_RE if absolute else _URL_RE
    if pattern.fullmatch(text) is None:
        what = "an absolute URL (scheme://host/…)" if absolute else "a URL with a scheme"
        raise RegistryError(f"expected {what}, got {text[:60]!r}", path=path)
    return text


def _opt_url(value: object, path: str) -> str | None:
    return None if value is None else _url(value, path)


def _data_url(value: object, path: str) -> str:
    text = _str(value, path)
    m = _DATA_URL_RE.fullmatch(text)
    ok = m is not None and len(m.group(2)) % 4 == 0
    if m is not None and ok:
        # Rust's STANDARD engine also refuses non-zero trailing bits: only canonical text passes.
        try:
            ok = base64.b64encode(base64.b64decode(m.group(2), validate=True)).decode() == m.group(
                2
            )
        except binascii.Error:
            ok = False
    if not ok:
        raise RegistryError(
            f"expected a data URL 'data:<mime>;base64,<padded base64>', got {text[:40]!r}",
            path=path,
        )
    return text


def _opt_data_url(value: object, path: str) -> str | None:
    return None if value is None else _data_url(value, path)


def _locale(value: object, path: str) -> LocaleString:
    if isinstance(value, str):
        return LocaleString(value)
    d = _obj(value, path)
    return LocaleString(tuple((k, _str(v, _at(path, k))) for k, v in d.items()))


def _opt_locale(value: object, path: str) -> LocaleString | None:
    return None if value is None else _locale(value, path)


def _description(value: object, path: str) -> Description:
    d = _obj(value, path)
    short = _locale(_req(d, "short", path), _at(path, "short"))
    return Description(short, _locale(_req(d, "long", path), _at(path, "long")))


def _version(value: object, path: str) -> Version:
    try:
        return Version.parse(_str(value, path))
    except VersionError as e:
        raise RegistryError(e.message, path=path) from None


def _version_string(text: str, path: str) -> VersionString:
    try:
        return VersionString.parse(text)
    except VersionError as e:
        raise RegistryError(e.message, path=path) from None


def _range(value: object, path: str) -> VersionRange:
    try:
        return VersionRange.parse(_str(value, path))
    except VersionError as e:
        raise RegistryError(e.message, path=path) from None


def _package_id(text: str, path: str) -> str:
    if not is_id(text):
        raise RegistryError(
            f"invalid package id {text!r} (expected [a-z0-9]+(-[a-z0-9]+)*)", path=path
        )
    return text


def _sorted_strs(value: object, path: str) -> tuple[str, ...]:
    """A JSON array read as a Rust ``BTreeSet<String>``: sorted, duplicates dropped."""
    items = _list(value, path)
    return tuple(sorted({_str(v, _at(path, i)) for i, v in enumerate(items)}))


K = TypeVar("K")
V = TypeVar("V")


def _map(
    value: object,
    path: str,
    key: Callable[[str, str], K],
    item: Callable[[object, str], V],
    order: Callable[[K], tuple[object, ...]],
) -> dict[K, V]:
    """A JSON object read as a Rust ``BTreeMap``: keys parsed, sorted, equal keys refused."""
    out: dict[K, V] = {}
    for k, v in _obj(value, path).items():
        sub = _at(path, k)
        parsed = key(k, sub)
        if parsed in out:
            raise RegistryError("duplicate key (equal to an earlier one)", path=sub)
        out[parsed] = item(v, sub)
    return {k: out[k] for k in sorted(out, key=order)}


def _str_key(text: str, _path: str) -> str:
    return text


def _ident(k: str) -> tuple[object, ...]:
    return (k,)


def _vs_order(v: VersionString) -> tuple[object, ...]:
    return v.sort_key


def _version_order(v: Version) -> tuple[object, ...]:
    return v.sort_key


def _jlist(items: Iterable[str]) -> list[JSONValue]:
    return list(items)


def _commitment_json(c: MerkleArchiveCommitment | Blake3Commitment) -> JSONValue:
    return cast("JSONValue", c.to_dict())


def dump_json(obj: _ToDict | JSONValue) -> bytes:
    """Serialize a model object or JSON value deterministically, as serde_json would.

    Compact separators, keys in the order ``to_dict`` built them (upstream's serialization
    order), non-ASCII kept as UTF-8, and a trailing newline.

    Raises:
        RegistryError: the value is not JSON-serializable.
    """
    value = obj if not hasattr(obj, "to_dict") else cast("_ToDict", obj).to_dict()
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise RegistryError(f"not serializable as JSON: {e}") from None
    return (text + "\n").encode()


# --------------------------------------------------------------------------------------------
# Scalars: Guid, timestamps, hardware requirements
# --------------------------------------------------------------------------------------------


class Guid(str):
    """A signer id: 32 characters of ``[A-Z2-7]`` (RFC 4648 base32 of 20 bytes, no padding).

    Raises:
        RegistryError: the text is not a valid Guid.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Self:  # noqa: D102 - documented on the class
        if _GUID_RE.fullmatch(value) is None:
            raise RegistryError(f"invalid signer id {value!r}: expected 32 characters of [A-Z2-7]")
        return super().__new__(cls, value)

    @classmethod
    def generate(cls, seed: bytes | None = None) -> Self:
        """A new Guid: random, or derived from ``seed`` (reproducible builds).

        Args:
            seed: any bytes; None for 20 random bytes as upstream's ``new_guid``.
        """
        if seed is None:
            raw = os.urandom(20)
        else:
            raw = hashlib.sha256(_GUID_SEED_CONTEXT + seed).digest()[:20]
        return cls(base64.b32encode(raw).decode("ascii"))

    @classmethod
    def parse(cls, value: object, path: str | None = None) -> Self:
        """Validate a JSON value as a Guid.

        Raises:
            RegistryError: not a string of 32 ``[A-Z2-7]`` characters (naming ``path``).
        """
        if not isinstance(value, str) or _GUID_RE.fullmatch(value) is None:
            raise RegistryError(
                f"invalid signer id {value!r}: expected 32 characters of [A-Z2-7]", path=path
            )
        return cls(value)


def format_timestamp(when: datetime) -> str:
    """RFC 3339 in UTC as chrono serializes ``DateTime<Utc>`` (``SecondsFormat::AutoSi``, ``Z``).

    Fractional seconds are left out when zero, else written with 3 or 6 digits.

    Raises:
        RegistryError: ``when`` is naive.
    """
    if when.tzinfo is None:
        raise RegistryError("timestamp has no time zone")
    utc = when.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    micro = utc.microsecond
    if micro:
        text += f".{micro // 1000:03d}" if micro % 1000 == 0 else f".{micro:06d}"
    return text + "Z"


def parse_timestamp(value: object, path: str = "$") -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    Digits beyond microseconds are dropped (Python's resolution).

    Raises:
        RegistryError: not an RFC 3339 date-time.
    """
    text = _str(value, path)
    m = _RFC3339_RE.fullmatch(text)
    if m is None:
        raise RegistryError(f"expected an RFC 3339 timestamp, got {text[:40]!r}", path=path)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    tz = UTC
    if zone not in {"Z", "z"}:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        when = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as e:
        raise RegistryError(f"invalid timestamp {text!r}: {e}", path=path) from None
    return when.astimezone(UTC)


def _device_filter(value: object, path: str) -> DeviceFilter:
    d = _obj(value, path)
    caps = d.get("capabilities")
    return DeviceFilter(
        description=_str(_req(d, "description", path), _at(path, "description")),
        device_class=_str(_req(d, "class", path), _at(path, "class")),
        product=_opt_str(d.get("product"), _at(path, "product")),
        vendor=_opt_str(d.get("vendor"), _at(path, "vendor")),
        capabilities=None if caps is None else _sorted_strs(caps, _at(path, "capabilities")),
        driver=_opt_str(d.get("driver"), _at(path, "driver")),
    )


def hardware_from_dict(value: object, path: str = "$") -> HardwareRequirements:
    """Parse ``HardwareRequirements`` (``device`` defaults to ``[]``; ``arch`` is a sorted set).

    Raises:
        RegistryError: naming the path of the first problem.
    """
    d = _obj(value, path)
    devices = _list(d.get("device", []), _at(path, "device"))
    ram = d.get("ram")
    arch = d.get("arch")
    return HardwareRequirements(
        device=tuple(_device_filter(v, _at(_at(path, "device"), i)) for i, v in enumerate(devices)),
        ram=None if ram is None else _u64(ram, _at(path, "ram")),
        arch=None if arch is None else _sorted_strs(arch, _at(path, "arch")),
    )


def specificity_desc(hw: HardwareRequirements) -> tuple[int, int, int]:
    """Upstream's ``HardwareRequirements::specificity_desc``: the ascending ``s9pks`` order."""
    return (
        _U32_MAX - len(hw.device),
        _U32_MAX if hw.arch is None else len(hw.arch),
        hw.ram or 0,
    )


# --------------------------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryAsset(Generic[C]):
    """A downloadable asset: where to get it and what it must match (§2.6).

    Attributes:
        published_at: aware datetime (serialized in UTC).
        urls: absolute download URLs, tried in order.
        commitment: what the signatures cover.
        signatures: ``{PUBLIC KEY PEM: SIGNATURE PEM}`` in canonical PEM form.
    """

    published_at: datetime
    urls: tuple[str, ...]
    commitment: C
    signatures: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise RegistryError("publishedAt has no time zone")

    @classmethod
    def from_dict(cls, data: object, kind: type[C], *, path: str = "$") -> RegistryAsset[C]:
        """Parse an asset whose commitment is of type ``kind``.

        Raises:
            RegistryError: naming the path of the first problem; also when ``signatures`` is
                empty (a device refuses such an asset).
        """
        d = _obj(data, path)
        urls_path = _at(path, "urls")
        urls = _list(_req(d, "urls", path), urls_path)
        cpath = _at(path, "commitment")
        try:
            commitment = kind.from_dict(_obj(_req(d, "commitment", path), cpath))
        except S9pkError as e:
            raise RegistryError(e.problem, path=cpath) from None
        return cls(
            published_at=parse_timestamp(_req(d, "publishedAt", path), _at(path, "publishedAt")),
            urls=tuple(_url(u, _at(urls_path, i), absolute=True) for i, u in enumerate(urls)),
            commitment=commitment,
            signatures=_signatures(_req(d, "signatures", path), _at(path, "signatures")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{publishedAt, urls, commitment, signatures}``."""
        sigs: dict[str, JSONValue] = dict(self.signatures)
        return {
            "publishedAt": format_timestamp(self.published_at),
            "urls": list(self.urls),
            "commitment": _commitment_json(self.commitment),
            "signatures": sigs,
        }

    def verify(self) -> None:
        """Check as a device does: at least one signature, and every one valid.

        Raises:
            RegistryError: no signature, or one does not verify.
        """
        if not self.signatures:
            raise RegistryError("asset has no signature")
        try:
            self.commitment.verify_pems(self.signatures)
        except S9pkError as e:
            raise RegistryError(e.problem) from None


def _signatures(value: object, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key_pem, sig_pem in _obj(value, path).items():
        sub = _at(path, key_pem)
        try:
            key = PublicKey.from_pem(key_pem).to_pem()
            sig = Signature.from_pem(_str(sig_pem, sub)).to_pem()
        except S9pkError as e:
            raise RegistryError(e.problem, path=sub) from None
        out[key] = sig
    if not out:
        raise RegistryError("needs at least one signature", path=path)
    return out


# --------------------------------------------------------------------------------------------
# Packages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Category:
    """A package category: ``{name: LocaleString}``."""

    name: LocaleString

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{"name": …}``.

        Raises:
            RegistryError: naming the path of the problem.
        """
        d = _obj(data, path)
        return cls(_locale(_req(d, "name", path), _at(path, "name")))

    def to_dict(self) -> dict[str, JSONValue]:
        """``{"name": …}``."""
        return {"name": self.name.json_value()}


def _categories(value: object, path: str) -> dict[str, Category]:
    return _map(value, path, _str_key, lambda v, p: Category.from_dict(v, path=p), _ident)


@dataclass(frozen=True, slots=True)
class DependencyMetadata:
    """What the index says about one dependency of a package version."""

    title: LocaleString | None
    icon: str | None
    description: LocaleString | None
    optional: bool

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{title, icon, description, optional}``.

        Raises:
            RegistryError: naming the path of the problem.
        """
        d = _obj(data, path)
        return cls(
            title=_opt_locale(d.get("title"), _at(path, "title")),
            icon=_opt_data_url(d.get("icon"), _at(path, "icon")),
            description=_opt_locale(d.get("description"), _at(path, "description")),
            optional=_bool(d, "optional", path),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{title, icon, description, optional}`` with nulls."""
        return {
            "title": None if self.title is None else self.title.json_value(),
            "icon": self.icon,
            "description": None if self.description is None else self.description.json_value(),
            "optional": self.optional,
        }


S9pkVariant = tuple[HardwareRequirements, RegistryAsset[MerkleArchiveCommitment]]


@dataclass(frozen=True, slots=True)
class PackageVersionInfo:
    """One version of a package in the index: metadata, icon, dependencies and variants (§2.5).

    Attributes mirror upstream's ``PackageMetadata`` (flattened) followed by ``icon``,
    ``dependency_metadata``, ``source_version`` and ``s9pks``.
    """

    title: str
    description: Description
    release_notes: LocaleString
    license: str
    upstream_repo: str
    icon: str
    s9pks: tuple[S9pkVariant, ...]
    git_hash: str | None = None
    package_repo: str = DEFAULT_PACKAGE_REPO
    marketing_url: str | None = None
    donation_url: str | None = None
    os_version: Version = field(default_factory=lambda: Version.parse(DEFAULT_OS_VERSION))
    sdk_version: Version | None = None
    hardware_acceleration: bool = False
    userspace_filesystems: bool = False
    virtual_networking: bool = False
    plugins: tuple[str, ...] = ()
    satisfies: tuple[VersionString, ...] = ()
    dependency_metadata: Mapping[str, DependencyMetadata] = field(default_factory=dict)
    source_version: VersionRange | None = None

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse upstream's JSON, applying its serde defaults.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)

        def at(key: str) -> str:
            return _at(path, key)

        sdk = d.get("sdkVersion")
        source = d.get("sourceVersion")
        satisfies = _list(d.get("satisfies", []), at("satisfies"))
        # A BTreeSet keeps the first of equal versions (``1.0:0`` and ``1:0``).
        parsed_satisfies = dict.fromkeys(
            _version_string(_str(v, _at(at("satisfies"), i)), _at(at("satisfies"), i))
            for i, v in enumerate(satisfies)
        )
        variants = _list(_req(d, "s9pks", path), at("s9pks"))
        return cls(
            title=_str(_req(d, "title", path), at("title")),
            description=_description(_req(d, "description", path), at("description")),
            release_notes=_locale(_req(d, "releaseNotes", path), at("releaseNotes")),
            git_hash=_opt_str(d.get("gitHash"), at("gitHash")),
            license=_str(_req(d, "license", path), at("license")),
            package_repo=_url(d.get("packageRepo", DEFAULT_PACKAGE_REPO), at("packageRepo")),
            upstream_repo=_url(_req(d, "upstreamRepo", path), at("upstreamRepo")),
            marketing_url=_opt_url(d.get("marketingUrl"), at("marketingUrl")),
            donation_url=_opt_url(d.get("donationUrl"), at("donationUrl")),
            os_version=_version(d.get("osVersion", DEFAULT_OS_VERSION), at("osVersion")),
            sdk_version=None if sdk is None else _version(sdk, at("sdkVersion")),
            hardware_acceleration=_bool(d, "hardwareAcceleration", path, default=False),
            userspace_filesystems=_bool(d, "userspaceFilesystems", path, default=False),
            virtual_networking=_bool(d, "virtualNetworking", path, default=False),
            plugins=_plugins(d.get("plugins", []), at("plugins")),
            satisfies=tuple(sorted(parsed_satisfies, key=_vs_order)),
            icon=_data_url(_req(d, "icon", path), at("icon")),
            dependency_metadata=_map(
                _req(d, "dependencyMetadata", path),
                at("dependencyMetadata"),
                _package_id,
                lambda v, p: DependencyMetadata.from_dict(v, path=p),
                _ident,
            ),
            source_version=None if source is None else _range(source, at("sourceVersion")),
            s9pks=tuple(_variant(v, _at(at("s9pks"), i)) for i, v in enumerate(variants)),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """Upstream's key order: flattened metadata, then icon, dependencies, source, s9pks."""
        deps: dict[str, JSONValue] = {k: v.to_dict() for k, v in self.dependency_metadata.items()}
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
            "plugins": _jlist(sorted(set(self.plugins))),
            "satisfies": _jlist(
                str(v) for v in sorted(dict.fromkeys(self.satisfies), key=_vs_order)
            ),
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

        Metadata comes from the manifest (as written), the icon is the package's largest
        ``icon.*``, dependency titles and icons come from ``dependencies/<id>/``, and the single
        ``s9pks`` variant pairs the manifest's hardware requirements with the header's
        commitment and signature. ``extra_signatures`` (e.g. an uploader's) are added for keys
        not already present, as ``package.add`` does. ``source_version`` stays None, as upstream.

        Args:
            pkg: a verified package.
            urls: absolute download URLs, in order.
            published_at: aware publication time.
            extra_signatures: more ``{PUBLIC KEY PEM: SIGNATURE PEM}`` over the commitment.

        Raises:
            RegistryError: the package has no icon, or a URL, version or PEM is invalid.
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
            for key, sig in _signatures(extra_signatures, "extraSignatures").items():
                signatures.setdefault(key, sig)
        asset = RegistryAsset(
            published_at=published_at,
            urls=tuple(_url(u, f"urls[{i}]", absolute=True) for i, u in enumerate(urls)),
            commitment=pkg.commitment,
            signatures=signatures,
        )
        satisfies = dict.fromkeys(
            _version_string(s, f"manifest.satisfies[{s!r}]") for s in m.satisfies
        )
        return cls(
            title=m.title,
            description=m.description,
            release_notes=m.release_notes,
            git_hash=m.git_hash,
            license=m.license,
            package_repo=m.package_repo,
            upstream_repo=m.upstream_repo,
            marketing_url=m.marketing_url,
            donation_url=m.donation_url,
            os_version=_version(m.os_version, "manifest.osVersion"),
            sdk_version=None if m.sdk_version is None else _version(m.sdk_version, "sdkVersion"),
            hardware_acceleration=m.hardware_acceleration,
            userspace_filesystems=m.userspace_filesystems,
            virtual_networking=m.virtual_networking,
            plugins=tuple(sorted(set(m.plugins))),
            satisfies=tuple(sorted(satisfies, key=_vs_order)),
            icon=icon,
            dependency_metadata=deps,
            source_version=None,
            s9pks=((m.hardware_requirements, asset),),
        )


def _plugins(value: object, path: str) -> tuple[str, ...]:
    plugins = _sorted_strs(value, path)
    for i, name in enumerate(_list(value, path)):
        if name not in KNOWN_PLUGINS:
            known = ", ".join(sorted(KNOWN_PLUGINS))
            raise RegistryError(f"unknown plugin {name!r} (known: {known})", path=_at(path, i))
    return plugins


def _variant(value: object, path: str) -> S9pkVariant:
    pair = _list(value, path)
    if len(pair) != 2:
        raise RegistryError("expected [hardwareRequirements, asset]", path=path)
    hw = hardware_from_dict(pair[0], _at(path, 0))
    return hw, RegistryAsset.from_dict(pair[1], MerkleArchiveCommitment, path=_at(path, 1))


def _versions(value: object, path: str) -> dict[VersionString, PackageVersionInfo]:
    return _map(
        value,
        path,
        _version_string,
        lambda v, p: PackageVersionInfo.from_dict(v, path=p),
        _vs_order,
    )


@dataclass(frozen=True, slots=True)
class PackageInfo:
    """One package: who may publish which versions, its versions, and its categories."""

    authorized: Mapping[Guid, VersionRange]
    versions: Mapping[VersionString, PackageVersionInfo]
    categories: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{authorized, versions, categories}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        return cls(
            authorized=_map(
                _req(d, "authorized", path), _at(path, "authorized"), Guid.parse, _range, _ident
            ),
            versions=_versions(_req(d, "versions", path), _at(path, "versions")),
            categories=_sorted_strs(_req(d, "categories", path), _at(path, "categories")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{authorized, versions, categories}`` with BTreeMap/BTreeSet order."""
        auth: dict[str, JSONValue] = {
            str(g): str(self.authorized[g]) for g in sorted(self.authorized)
        }
        return {
            "authorized": auth,
            "versions": _versions_json(self.versions),
            "categories": _jlist(sorted(set(self.categories))),
        }


def _versions_json(versions: Mapping[VersionString, PackageVersionInfo]) -> dict[str, JSONValue]:
    return {str(v): versions[v].to_dict() for v in sorted(versions, key=_vs_order)}


def _categories_json(categories: Mapping[str, Category]) -> dict[str, JSONValue]:
    return {k: categories[k].to_dict() for k in sorted(categories)}


@dataclass(frozen=True, slots=True)
class PackageIndex:
    """``package.index``: categories and packages."""

    categories: Mapping[str, Category] = field(default_factory=dict)
    packages: Mapping[str, PackageInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{categories, packages}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        return cls(
            categories=_categories(_req(d, "categories", path), _at(path, "categories")),
            packages=_map(
                _req(d, "packages", path),
                _at(path, "packages"),
                _package_id,
                lambda v, p: PackageInfo.from_dict(v, path=p),
                _ident,
            ),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{categories, packages}`` sorted by key."""
        packages: dict[str, JSONValue] = {
            k: self.packages[k].to_dict() for k in sorted(self.packages)
        }
        return {"categories": _categories_json(self.categories), "packages": packages}


# --------------------------------------------------------------------------------------------
# package.get responses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageInfoShort:
    """``otherVersions`` entry at detail level ``short``."""

    release_notes: LocaleString

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{releaseNotes}``.

        Raises:
            RegistryError: naming the path of the problem.
        """
        d = _obj(data, path)
        return cls(_locale(_req(d, "releaseNotes", path), _at(path, "releaseNotes")))

    def to_dict(self) -> dict[str, JSONValue]:
        """``{releaseNotes}``."""
        return {"releaseNotes": self.release_notes.json_value()}


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
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{categories, best, otherVersions?}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        other = d.get("otherVersions")
        return cls(
            categories=_sorted_strs(_req(d, "categories", path), _at(path, "categories")),
            best=_versions(_req(d, "best", path), _at(path, "best")),
            other_versions=None
            if other is None
            else _map(
                other,
                _at(path, "otherVersions"),
                _version_string,
                lambda v, p: PackageInfoShort.from_dict(v, path=p),
                _vs_order,
            ),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{categories, best}`` plus ``otherVersions`` unless it is None."""
        out: dict[str, JSONValue] = {
            "categories": _jlist(sorted(set(self.categories))),
            "best": _versions_json(self.best),
        }
        if self.other_versions is not None:
            other = self.other_versions
            out["otherVersions"] = {
                str(v): other[v].to_dict() for v in sorted(other, key=_vs_order)
            }
        return out


@dataclass(frozen=True, slots=True)
class GetPackageResponseFull:
    """``package.get`` result for one package at ``otherVersions`` ``full``."""

    categories: tuple[str, ...]
    best: Mapping[VersionString, PackageVersionInfo]
    other_versions: Mapping[VersionString, PackageVersionInfo]

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{categories, best, otherVersions}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        return cls(
            categories=_sorted_strs(_req(d, "categories", path), _at(path, "categories")),
            best=_versions(_req(d, "best", path), _at(path, "best")),
            other_versions=_versions(_req(d, "otherVersions", path), _at(path, "otherVersions")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{categories, best, otherVersions}``."""
        return {
            "categories": _jlist(sorted(set(self.categories))),
            "best": _versions_json(self.best),
            "otherVersions": _versions_json(self.other_versions),
        }


def packages_response_to_dict(
    responses: Mapping[str, GetPackageResponse | GetPackageResponseFull],
) -> dict[str, JSONValue]:
    """``package.get`` without ``id``: ``{PackageId: response}`` sorted by id."""
    return {k: responses[k].to_dict() for k in sorted(responses)}


# --------------------------------------------------------------------------------------------
# Signers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """One contact of a signer: ``{"email": …}``, ``{"matrix": …}`` or ``{"website": URL}``."""

    kind: Literal["email", "matrix", "website"]
    value: str

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse an externally tagged contact.

        Raises:
            RegistryError: not an object with exactly one known key.
        """
        d = _obj(data, path)
        if len(d) != 1 or next(iter(d)) not in _CONTACT_KINDS:
            raise RegistryError("expected exactly one of 'email', 'matrix', 'website'", path=path)
        kind, value = next(iter(d.items()))
        sub = _at(path, kind)
        text = _url(value, sub) if kind == "website" else _str(value, sub)
        return cls(cast("Literal['email', 'matrix', 'website']", kind), text)

    def to_dict(self) -> dict[str, JSONValue]:
        """``{kind: value}``."""
        return {self.kind: self.value}


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """A registered signer: name, contacts, and public keys (canonical PEM)."""

    name: str
    contact: tuple[ContactInfo, ...] = ()
    keys: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{name, contact, keys}``; keys are checked and put in canonical PEM form.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        contacts = _list(_req(d, "contact", path), _at(path, "contact"))
        keys_path = _at(path, "keys")
        keys: list[str] = []
        for i, k in enumerate(_list(_req(d, "keys", path), keys_path)):
            try:
                pem = PublicKey.from_pem(_str(k, _at(keys_path, i))).to_pem()
            except S9pkError as e:
                raise RegistryError(e.problem, path=_at(keys_path, i)) from None
            if pem not in keys:
                keys.append(pem)
        return cls(
            name=_str(_req(d, "name", path), _at(path, "name")),
            contact=tuple(
                ContactInfo.from_dict(c, path=_at(_at(path, "contact"), i))
                for i, c in enumerate(contacts)
            ),
            keys=tuple(keys),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{name, contact, keys}``."""
        return {
            "name": self.name,
            "contact": [c.to_dict() for c in self.contact],
            "keys": list(dict.fromkeys(self.keys)),
        }


def _signers(value: object, path: str) -> dict[Guid, SignerInfo]:
    return _map(value, path, Guid.parse, lambda v, p: SignerInfo.from_dict(v, path=p), _ident)


# --------------------------------------------------------------------------------------------
# OS index
# --------------------------------------------------------------------------------------------


def _os_assets(value: object, path: str) -> dict[str, RegistryAsset[Blake3Commitment]]:
    return _map(
        value,
        path,
        _str_key,
        lambda v, p: RegistryAsset.from_dict(v, Blake3Commitment, path=p),
        _ident,
    )


def _assets_json(assets: Mapping[str, RegistryAsset[Blake3Commitment]]) -> dict[str, JSONValue]:
    return {k: assets[k].to_dict() for k in sorted(assets)}


@dataclass(frozen=True, slots=True)
class OsVersionInfo:
    """One StartOS release: texts, who may add assets, and images per platform (§2.9)."""

    headline: str
    release_notes: str
    source_version: VersionRange
    authorized: tuple[Guid, ...] = ()
    iso: Mapping[str, RegistryAsset[Blake3Commitment]] = field(default_factory=dict)
    squashfs: Mapping[str, RegistryAsset[Blake3Commitment]] = field(default_factory=dict)
    img: Mapping[str, RegistryAsset[Blake3Commitment]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse an ``OsVersionInfo``; every key is required, as upstream.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        auth_path = _at(path, "authorized")
        authorized = _list(_req(d, "authorized", path), auth_path)
        return cls(
            headline=_str(_req(d, "headline", path), _at(path, "headline")),
            release_notes=_str(_req(d, "releaseNotes", path), _at(path, "releaseNotes")),
            source_version=_range(_req(d, "sourceVersion", path), _at(path, "sourceVersion")),
            authorized=tuple(
                sorted({Guid.parse(g, _at(auth_path, i)) for i, g in enumerate(authorized)})
            ),
            iso=_os_assets(_req(d, "iso", path), _at(path, "iso")),
            squashfs=_os_assets(_req(d, "squashfs", path), _at(path, "squashfs")),
            img=_os_assets(_req(d, "img", path), _at(path, "img")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """Upstream's field order; platform maps sorted."""
        return {
            "headline": self.headline,
            "releaseNotes": self.release_notes,
            "sourceVersion": str(self.source_version),
            "authorized": _jlist(str(g) for g in sorted(set(self.authorized))),
            "iso": _assets_json(self.iso),
            "squashfs": _assets_json(self.squashfs),
            "img": _assets_json(self.img),
        }


def _os_version_key(text: str, path: str) -> Version:
    return _version(text, path)


@dataclass(frozen=True, slots=True)
class OsIndex:
    """``os.index``: ``{versions: {Version: OsVersionInfo}}``, ascending by version."""

    versions: Mapping[Version, OsVersionInfo] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{versions}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        return cls(
            _map(
                _req(d, "versions", path),
                _at(path, "versions"),
                _os_version_key,
                lambda v, p: OsVersionInfo.from_dict(v, path=p),
                _version_order,
            )
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{versions}`` in ascending version order (the UI takes the last as the latest)."""
        versions: dict[str, JSONValue] = {
            str(v): self.versions[v].to_dict() for v in sorted(self.versions, key=_version_order)
        }
        return {"versions": versions}


# --------------------------------------------------------------------------------------------
# Whole registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """``info``: registry name, icon (data URL) and categories."""

    name: str | None = None
    icon: str | None = None
    categories: Mapping[str, Category] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{name, icon, categories}`` (``name``/``icon`` may be null or absent).

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        return cls(
            name=_opt_str(d.get("name"), _at(path, "name")),
            icon=_opt_data_url(d.get("icon"), _at(path, "icon")),
            categories=_categories(_req(d, "categories", path), _at(path, "categories")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{name, icon, categories}``."""
        return {
            "name": self.name,
            "icon": self.icon,
            "categories": _categories_json(self.categories),
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
    def from_dict(cls, data: object, *, path: str = "$") -> Self:
        """Parse ``{name, icon, package, os, signers}``.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        d = _obj(data, path)
        return cls(
            name=_opt_str(d.get("name"), _at(path, "name")),
            icon=_opt_data_url(d.get("icon"), _at(path, "icon")),
            package=PackageIndex.from_dict(_req(d, "package", path), path=_at(path, "package")),
            os=OsIndex.from_dict(_req(d, "os", path), path=_at(path, "os")),
            signers=_signers(_req(d, "signers", path), _at(path, "signers")),
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{name, icon, package, os, signers}``."""
        signers: dict[str, JSONValue] = {
            str(g): self.signers[g].to_dict() for g in sorted(self.signers)
        }
        return {
            "name": self.name,
            "icon": self.icon,
            "package": self.package.to_dict(),
            "os": self.os.to_dict(),
            "signers": signers,
        }

    def info(self) -> RegistryInfo:
        """The public ``info`` view of this index."""
        return RegistryInfo(self.name, self.icon, self.package.categories)
