"""What a device asks: the read methods' parameters, its ``X-StartOS-Device-Info``, and the errors.

Parsing only (registry-protocol.md §1.4.1, §2); answering is :mod:`s9reg.registry.queries`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, Self, cast

from s9reg.exver import Version, VersionError, VersionRange, VersionString
from s9reg.registry.errors import RegistryError
from s9reg.s9pk.metadata import is_id

__all__ = [
    "LEGACY_DEVICE_MAX",
    "OS_IMAGE_KINDS",
    "OTHER_VERSIONS",
    "U32_MAX",
    "DeviceInfo",
    "ErrorKind",
    "HardwareInfo",
    "InvalidParamsError",
    "OsAssetGetParams",
    "OsVersionGetParams",
    "OtherVersions",
    "PackageGetParams",
    "QueryError",
    "form_decode",
    "params_object",
    "parse_version_param",
    "required_str",
]

OTHER_VERSIONS = ("none", "short", "full")
OS_IMAGE_KINDS = ("iso", "img", "squashfs")
OtherVersions = Literal["none", "short", "full"]
# Devices at or below this version expect the single-asset shape (device_info.rs:137-159).
LEGACY_DEVICE_MAX = Version.parse("0.4.0-alpha.17")
# Below this version a device may omit ``os.language``; the server then uses its own locale.
_LANGUAGE_REQUIRED_FROM = Version.parse("0.4.0-alpha.18")
U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
# Rust's ``u64::from_str``: an optional ``+`` and ASCII digits, nothing else.
_U64_RE = re.compile(r"\+?[0-9]+")
_PCT_RE = re.compile(rb"%([0-9A-Fa-f]{2})")


class ErrorKind(IntEnum):
    """Upstream ``ErrorKind`` codes used by the read methods (start-core ``error.rs``)."""

    NOT_FOUND = 6
    PARSE_VERSION = 14
    PARSE_NUMBER = 28
    INVALID_SIGNATURE = 31
    AUTHORIZATION = 34
    INVALID_REQUEST = 38

    @property
    def title(self) -> str:
        """The en_US message upstream sends for this kind."""
        return _KIND_TITLES[self]


_KIND_TITLES = {
    ErrorKind.NOT_FOUND: "Not Found",
    ErrorKind.PARSE_VERSION: "Version Parsing Error",
    ErrorKind.PARSE_NUMBER: "Number Parsing Error",
    ErrorKind.INVALID_SIGNATURE: "Invalid Signature",
    ErrorKind.AUTHORIZATION: "Unauthorized",
    ErrorKind.INVALID_REQUEST: "Invalid Request",
}


class QueryError(RegistryError):
    """An application error of a read method, with upstream's ``ErrorKind``.

    Attributes:
        kind: the upstream error kind (its value is the JSON-RPC error code).
    """

    code = "QUERY"

    def __init__(self, kind: ErrorKind, problem: str) -> None:
        super().__init__(problem)
        self.kind = kind


class InvalidParamsError(RegistryError):
    """The method's params do not deserialize (JSON-RPC ``-32602``)."""

    code = "INVALID_PARAMS"


# --------------------------------------------------------------------------------------------
# X-StartOS-Device-Info
# --------------------------------------------------------------------------------------------


def _percent_decode(text: str) -> str:
    raw = _PCT_RE.sub(lambda m: bytes([int(m.group(1), 16)]), text.replace("+", " ").encode())
    return raw.decode("utf-8", errors="replace")


def form_decode(text: str) -> dict[str, str]:
    """Parse ``application/x-www-form-urlencoded`` as Rust's ``form_urlencoded::parse``.

    Later duplicates win (collected into a map, as upstream does); malformed ``%`` escapes
    are kept literally and invalid UTF-8 is replaced, never refused.
    """
    out: dict[str, str] = {}
    for piece in text.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        out[_percent_decode(key)] = _percent_decode(value)
    return out


@dataclass(frozen=True, slots=True)
class HardwareInfo:
    """Hardware a device reported (only devices before #3089 send it); no device list."""

    arch: str
    ram: int


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The parsed ``X-StartOS-Device-Info`` header (``device_info.rs`` ``DeviceInfo``).

    Attributes:
        os_version: the device's StartOS version.
        os_compat: the range of ``osVersion`` values the device can run.
        os_platform: e.g. ``x86_64-nonfree``.
        os_language: locale such as ``en_US``, or None.
        hardware: arch and RAM, when the header carries any ``hardware.*`` key.
    """

    os_version: Version
    os_compat: VersionRange
    os_platform: str
    os_language: str | None = None
    hardware: HardwareInfo | None = None

    @classmethod
    def parse(cls, header: str, *, default_language: str = "en_US") -> Self:
        """Parse the header value as upstream's ``DeviceInfo::from_header_value``.

        Args:
            header: the form-urlencoded value.
            default_language: the locale assumed for devices older than 0.4.0-alpha.18 that
                send no ``os.language`` (upstream uses the server's locale).

        Raises:
            QueryError: a required key is missing (Not Found), a version or range does not
                parse (Version Parsing Error), or ``hardware.ram`` is not a number.
        """
        query = form_decode(header)

        def need(key: str) -> str:
            if key not in query:
                raise QueryError(ErrorKind.NOT_FOUND, f"{key} not found in device info")
            return query[key]

        try:
            version = Version.parse(need("os.version"))
            compat = VersionRange.parse(need("os.compat"))
        except VersionError as e:
            raise QueryError(ErrorKind.PARSE_VERSION, e.message) from None
        platform = need("os.platform")
        language = query.get("os.language")
        if language is None and version < _LANGUAGE_REQUIRED_FROM:
            language = default_language
        hardware = None
        if any(k.startswith("hardware.") for k in query):
            arch = need("hardware.arch")
            ram_text = need("hardware.ram")
            # Rust reads any number of leading zeros; int() refuses more than 4300 digits.
            ram = ram_text.lstrip("+").lstrip("0") or "0"
            if _U64_RE.fullmatch(ram_text) is None or len(ram) > 20 or int(ram) > _U64_MAX:
                problem = f"hardware.ram: invalid {ram_text[:40]!r}"
                raise QueryError(ErrorKind.PARSE_NUMBER, problem)
            hardware = HardwareInfo(arch, int(ram))
        return cls(version, compat, platform, language, hardware)

    @property
    def legacy(self) -> bool:
        """Whether the device expects the single-asset fields (at or below 0.4.0-alpha.17)."""
        return self.os_version <= LEGACY_DEVICE_MAX


# --------------------------------------------------------------------------------------------
# Params
# --------------------------------------------------------------------------------------------


def params_object(value: object) -> Mapping[str, object]:
    """A request's ``params`` as an object (absent is empty).

    Raises:
        InvalidParamsError: ``params`` is neither an object nor absent.
    """
    # A missing ``params`` is tolerated (registry-protocol.md §9.3) and arrives as None.
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParamsError(f"params: expected an object, got {_kind(value)}")
    return cast("Mapping[str, object]", value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _opt_str(d: Mapping[str, object], key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParamsError(f"{key}: invalid type: {_kind(value)}, expected a string")
    return value


def required_str(d: Mapping[str, object], key: str) -> str:
    """The string ``d[key]``.

    Raises:
        InvalidParamsError: missing, or not a string.
    """
    value = _opt_str(d, key)
    if value is None:
        raise InvalidParamsError(f"missing field `{key}`")
    return value


def _parse_range(key: str, text: str | None) -> VersionRange | None:
    if text is None:
        return None
    try:
        return VersionRange.parse(text)
    except VersionError as e:
        raise InvalidParamsError(f"{key}: {e.message}") from None


def parse_version_param(key: str, text: str | None) -> Version | None:
    """``text`` as a version, or None.

    Raises:
        InvalidParamsError: not a version (naming ``key``).
    """
    if text is None:
        return None
    try:
        return Version.parse(text)
    except VersionError as e:
        raise InvalidParamsError(f"{key}: {e.message}") from None


@dataclass(frozen=True, slots=True)
class PackageGetParams:
    """``package.get`` params (``GetPackageParams``); ``other_versions`` None means short."""

    id: str | None = None
    target_version: VersionRange | None = None
    source_version: VersionString | None = None
    other_versions: OtherVersions | None = None

    @classmethod
    def from_json(cls, params: object) -> Self:
        """Deserialize as serde does; unknown keys are ignored.

        Raises:
            InvalidParamsError: a value has the wrong type or does not parse.
        """
        d = params_object(params)
        pid = _opt_str(d, "id")
        if pid is not None and not is_id(pid):
            raise InvalidParamsError(f"id: invalid package id {pid!r}")
        source = _opt_str(d, "sourceVersion")
        try:
            parsed_source = None if source is None else VersionString.parse(source)
        except VersionError as e:
            raise InvalidParamsError(f"sourceVersion: {e.message}") from None
        level = _opt_str(d, "otherVersions")
        if level is not None and level not in OTHER_VERSIONS:
            raise InvalidParamsError(
                f"otherVersions: unknown variant `{level}`, expected one of `none`, `short`, `full`"
            )
        return cls(
            id=pid,
            target_version=_parse_range("targetVersion", _opt_str(d, "targetVersion")),
            source_version=parsed_source,
            other_versions=cast("OtherVersions | None", level),
        )

    @property
    def level(self) -> OtherVersions:
        """The detail level, with null meaning ``short`` (``get.rs:39-43``)."""
        return self.other_versions or "short"


@dataclass(frozen=True, slots=True)
class OsVersionGetParams:
    """``os.version.get`` params (``GetOsVersionParams``)."""

    source_version: Version | None = None
    target_version: VersionRange | None = None
    server_id: str | None = None
    platform: str | None = None

    @classmethod
    def from_json(cls, params: object) -> Self:
        """Deserialize as serde does; unknown keys are ignored.

        Raises:
            InvalidParamsError: a value has the wrong type or does not parse.
        """
        d = params_object(params)
        return cls(
            source_version=parse_version_param("sourceVersion", _opt_str(d, "sourceVersion")),
            target_version=_parse_range("targetVersion", _opt_str(d, "targetVersion")),
            server_id=_opt_str(d, "serverId"),
            platform=_opt_str(d, "platform"),
        )


@dataclass(frozen=True, slots=True)
class OsAssetGetParams:
    """``os.asset.get.*`` params: ``{version, platform}``."""

    version: Version
    platform: str

    @classmethod
    def from_json(cls, params: object) -> Self:
        """Deserialize; both keys are required.

        Raises:
            InvalidParamsError: a key is missing, has the wrong type or does not parse.
        """
        d = params_object(params)
        version = parse_version_param("version", required_str(d, "version"))
        if version is None:  # pragma: no cover - required_str never returns None
            raise InvalidParamsError("missing field `version`")
        return cls(version=version, platform=required_str(d, "platform"))
