"""Reading and writing the registry's JSON: the value rules every aggregate shares.

Readers take the :class:`~s9reg._json.Reader` that collects the problems of one document and
return None (the problem recorded) for a bad value; :func:`parse` turns the problems into one
:class:`RegistryError`. Also the deterministic serializer and RFC 3339 timestamps. No I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol, TypeVar, cast

from s9reg._json import JSONValue, Reader
from s9reg.exver import Version, VersionError, VersionRange, VersionString
from s9reg.registry.errors import RegistryError
from s9reg.s9pk.metadata import bytewise, is_id

__all__ = [
    "any_key",
    "btree_map",
    "data_url",
    "dump_json",
    "format_timestamp",
    "ident",
    "opt_data_url",
    "package_id",
    "parse",
    "parse_timestamp",
    "read_timestamp",
    "sorted_strs",
    "url",
    "version",
    "version_range",
    "version_string",
    "vs_order",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

# ``DataUrl``'s parser accepts exactly this form (sc/util/data_url.rs).
_DATA_URL_RE = re.compile(r"data:(.*?);base64,([A-Za-z0-9+/]*={0,2})", re.DOTALL)
# WHATWG parsing fails on relative references; only the scheme is checked, the text is kept.
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S*")
# Download URLs must be absolute with an authority (§9.4).
_ABS_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#]+\S*")
# ASCII digits: \d (and int()) also read other scripts' digits, which chrono refuses.
_RFC3339_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class _ToDict(Protocol):
    def to_dict(self) -> dict[str, JSONValue]: ...


def parse(read: Callable[[Reader, object, str], T | None], data: object, path: str) -> T:
    """Read a whole document with ``read``, raising every problem found as one error.

    Raises:
        RegistryError: naming the first problem's key path; ``details`` lists them all.
    """
    reader = Reader()
    value = read(reader, data, path)
    if reader.problems or value is None:
        raise RegistryError.of(reader.problems)
    return value


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
# Values
# --------------------------------------------------------------------------------------------


def url(r: Reader, value: object, path: str, *, absolute: bool = False) -> str | None:
    """A URL with a scheme; ``absolute``: with an authority too (download URLs)."""
    text = r.string(value, path)
    if text is None:
        return None
    pattern = _ABS_URL_RE if absolute else _URL_RE
    if pattern.fullmatch(text) is None:
        what = "an absolute URL (scheme://host/…)" if absolute else "a URL with a scheme"
        r.add(path, f"expected {what}, got {text[:60]!r}")
        return None
    return text


def data_url(r: Reader, value: object, path: str) -> str | None:
    """A ``data:<mime>;base64,<canonical padded base64>`` URL."""
    text = r.string(value, path)
    if text is None:
        return None
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
        r.add(path, f"expected a data URL 'data:<mime>;base64,<padded base64>', got {text[:40]!r}")
        return None
    return text


def opt_data_url(r: Reader, value: object, path: str) -> str | None:
    """A data URL, or None for ``null`` or an absent key."""
    return None if r.opt_string(value, path) is None else data_url(r, value, path)


def version(r: Reader, value: object, path: str) -> Version | None:
    """A ``Version``."""
    text = r.string(value, path)
    return None if text is None else _parsed(r, Version.parse, text, path)


def version_string(r: Reader, text: str, path: str) -> VersionString | None:
    """A ``VersionString`` (an extended version, kept as written)."""
    return _parsed(r, VersionString.parse, text, path)


def version_range(r: Reader, value: object, path: str) -> VersionRange | None:
    """A ``VersionRange``."""
    text = r.string(value, path)
    return None if text is None else _parsed(r, VersionRange.parse, text, path)


def _parsed(r: Reader, parse_text: Callable[[str], T], text: str, path: str) -> T | None:
    try:
        return parse_text(text)
    except VersionError as e:
        r.add(path, e.message)
        return None


def package_id(r: Reader, text: str, path: str) -> str | None:
    """A PackageId."""
    if not is_id(text):
        r.add(path, f"invalid package id {text!r} (expected [a-z0-9]+(-[a-z0-9]+)*)")
        return None
    return text


def sorted_strs(r: Reader, value: object, path: str) -> tuple[str, ...]:
    """A JSON array read as a Rust ``BTreeSet<String>``: sorted, duplicates dropped."""
    return tuple(sorted(set(r.strings(value, path)), key=bytewise))


def btree_map(  # noqa: PLR0913, PLR0917 - read by key type, value type and key order
    r: Reader,
    value: object,
    path: str,
    key: Callable[[Reader, str, str], K | None],
    item: Callable[[Reader, object, str], V | None],
    order: Callable[[K], tuple[object, ...]],
) -> dict[K, V]:
    """A JSON object read as a Rust ``BTreeMap``: keys parsed, sorted, equal keys refused."""
    out: dict[K, V] = {}
    for k, v, sub in r.entries(value, path):
        parsed = key(r, k, sub)
        if parsed is None:
            continue
        if parsed in out:
            r.add(sub, "duplicate key (equal to an earlier one)")
            continue
        got = item(r, v, sub)
        if got is not None:
            out[parsed] = got
    return {k: out[k] for k in sorted(out, key=order)}


def any_key(_r: Reader, text: str, _path: str) -> str:
    """A map key taken as it is."""
    return text


def ident(k: str) -> tuple[object, ...]:
    """Order of plain string keys (Python's, which is Rust's for these keys)."""
    return (k,)


def vs_order(v: VersionString | Version) -> tuple[object, ...]:
    """Upstream's order of versions."""
    return v.sort_key


# --------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------


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


def parse_timestamp(value: object, path: str = "") -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime.

    Digits beyond microseconds are dropped (Python's resolution).

    Raises:
        RegistryError: not an RFC 3339 date-time.
    """
    return parse(read_timestamp, value, path)


def read_timestamp(r: Reader, value: object, path: str) -> datetime | None:
    """:func:`parse_timestamp` for a value inside a document."""
    text = r.string(value, path)
    if text is None:
        return None
    m = _RFC3339_RE.fullmatch(text)
    if m is None:
        r.add(path, f"expected an RFC 3339 timestamp, got {text[:40]!r}")
        return None
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
        r.add(path, f"invalid timestamp {text!r}: {e}")
        return None
    return when.astimezone(UTC)
