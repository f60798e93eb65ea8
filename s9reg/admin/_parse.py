"""The command arguments every operation parses: ids, versions, ranges, sighashes, URLs.

Each refusal is an :class:`AdminError` naming the argument and the problem in one line.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from s9reg.admin.errors import AdminError
from s9reg.errors import S9regError
from s9reg.exver import Version, VersionRange, VersionString
from s9reg.s9pk.metadata import is_id

__all__ = ["package_id", "sighash", "url", "version", "version_range", "version_string"]


def package_id(text: str, what: str = "package id") -> str:
    """A package (or category) id: lowercase letters and digits joined by single ``-``."""
    if not is_id(text):
        raise AdminError(f"{what} {text!r}: expected lowercase letters and digits joined by '-'")
    return text


def version_string(text: str) -> VersionString:
    """A package version (``1.0.0:0``, ``#knots:29.0:0``)."""
    try:
        return VersionString.parse(text)
    except S9regError as e:
        raise AdminError(f"version {text!r}: {e.message}") from None


def version(text: str) -> Version:
    """A StartOS version (``0.4.0``)."""
    try:
        return Version.parse(text)
    except S9regError as e:
        raise AdminError(f"version {text!r}: {e.message}") from None


def version_range(text: str, what: str = "version range") -> VersionRange:
    """A version range, parsed as strictly as the config parses it."""
    try:
        return VersionRange.parse(text, strict=True)
    except S9regError as e:
        raise AdminError(f"{what} {text!r}: {e.message}") from None


def sighash(text: str) -> str:
    """A root sighash: base64 of 32 bytes; returned without padding."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise AdminError(f"--sighash {text!r}: expected base64 of 32 bytes")
    return text.rstrip("=")


def url(text: str) -> str:
    """An absolute ``http(s)`` URL without user info, as devices are given."""
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname or "@" in parts.netloc:
        raise AdminError(f"URL {text!r}: expected an http(s) URL without user info")
    if any(ch.isspace() for ch in text):
        raise AdminError(f"URL {text!r}: a URL cannot hold spaces")
    return text
