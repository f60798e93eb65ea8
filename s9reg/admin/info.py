"""The registry's name and icon: ``info set-name`` and ``info set-icon`` on ``registry:``.

An icon is checked to be an image of a known type whose bytes are that type (PNG, JPEG, GIF,
WebP or SVG) and at most 256 KiB (it is inlined in every device's index). A ``data:`` URL is
written into the config as is; a file outside the config's directory, or a URL (fetched once),
is stored as ``registry-icon.<ext>`` beside the config and referenced by path. Nothing here
prints.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from s9reg._fs import read_small_file
from s9reg.admin._draft import editing
from s9reg.admin.errors import AdminConflictError, AdminError
from s9reg.builder.fetch import fetch_bytes
from s9reg.config.assemble import MAX_REGISTRY_ICON
from s9reg.config.schema import MAX_NAME_LENGTH
from s9reg.errors import S9regError
from s9reg.s9pk.metadata import data_url

__all__ = ["ICON_FILE_STEM", "IconChange", "set_icon", "set_name", "sniff_image"]

ICON_FILE_STEM = "registry-icon"
_DATA_URL_RE = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,([A-Za-z0-9+/=\s]*)")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
        "image/svg+xml": "svg"}  # fmt: skip


def set_name(path: str | os.PathLike[str], name: str) -> bool:
    """Set ``registry.name`` (at most 32 characters, as upstream).

    Returns:
        Whether the file changed.

    Raises:
        AdminError: the name is empty or too long.
        ConfigError: the config cannot be edited.
    """
    if not name.strip():
        raise AdminError("the registry name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise AdminError(
            f"the registry name has {len(name)} characters; at most {MAX_NAME_LENGTH} are allowed"
        )
    with editing(path) as d:
        old = d.cfg.registry.name
        d.doc.set(("registry", "name"), name)
    return old != name


def sniff_image(data: bytes) -> str | None:
    """The MIME type ``data`` is, by its first bytes: PNG, JPEG, GIF, WebP or SVG; else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<svg", b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in data[:4096]:
        return "image/svg+xml"
    return None


@dataclass(frozen=True, slots=True)
class IconChange:
    """What ``info set-icon`` wrote: the config value, and the file stored beside it if any."""

    value: str
    mime_type: str
    size: int
    stored: Path | None = None


def _checked(data: bytes, source: str, declared: str | None = None) -> str:
    if len(data) > MAX_REGISTRY_ICON:
        raise AdminError(
            f"{source}: the icon has {len(data)} bytes; at most {MAX_REGISTRY_ICON} are allowed "
            "(it is sent to every device)"
        )
    found = sniff_image(data)
    if found is None:
        raise AdminError(f"{source}: not a PNG, JPEG, GIF, WebP or SVG image")
    if declared is not None and declared != found:
        raise AdminError(f"{source}: declared {declared} but the bytes are {found}")
    return found


def _from_data_url(text: str) -> IconChange:
    m = _DATA_URL_RE.fullmatch(text)
    if m is None:
        raise AdminError("the data: URL is not data:image/<type>;base64,<data>")
    try:
        data = base64.b64decode("".join(m[2].split()), validate=True)
    except (binascii.Error, ValueError):
        raise AdminError("the data: URL's base64 payload is invalid") from None
    mime_type = _checked(data, "data: URL", m[1])
    return IconChange(data_url(mime_type, data), mime_type, len(data))


def set_icon(path: str | os.PathLike[str], source: str) -> IconChange:
    """Set ``registry.icon`` from a file, an ``http(s)`` URL or a ``data:`` URL.

    Raises:
        AdminError: the icon cannot be read or fetched, is not one of the image types, or is
            too large.
        AdminConflictError: ``registry-icon.<ext>`` beside the config holds another image
            that is not the current icon.
        ConfigError: the config cannot be edited.
    """
    if source.startswith("data:"):
        change = _from_data_url(source)
        with editing(path) as d:
            d.doc.set(("registry", "icon"), change.value)
        return change
    if re.match(r"https?://", source):
        try:
            data = fetch_bytes(source, max_bytes=MAX_REGISTRY_ICON)
        except S9regError as e:
            raise AdminError(f"cannot fetch the icon: {e.message}") from None
        return _store(path, data, _checked(data, source), None)
    file = Path(source).expanduser()
    data = read_small_file(file, "registry icon", MAX_REGISTRY_ICON, error=AdminError)
    return _store(path, data, _checked(data, source), file)


def _store(
    path: str | os.PathLike[str], data: bytes, mime_type: str, file: Path | None
) -> IconChange:
    base = Path(path).resolve().parent
    if file is not None and file.resolve().is_relative_to(base):
        value = file.resolve().relative_to(base).as_posix()
        with editing(path) as d:
            d.doc.set(("registry", "icon"), value)
        return IconChange(value, mime_type, len(data))
    name = f"{ICON_FILE_STEM}.{_EXT[mime_type]}"
    target = base / name
    with editing(path) as d:
        current = d.cfg.registry.icon
        if target.exists() and target.read_bytes() != data and current != target:
            raise AdminConflictError(
                f"{target}: exists and is not the registry's icon; move it away first"
            )
        d.doc.set(("registry", "icon"), name)
        # The image goes in place once the config is valid (the block ends with the commit).
        try:
            fd, tmp = tempfile.mkstemp(dir=base, prefix=f".{name}.", suffix=".tmp")
        except OSError as e:
            raise AdminError(f"{base}: cannot write the icon: {e.strerror or e}") from None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            d.doc.commit()
            Path(tmp).replace(target)
        except OSError as e:
            raise AdminError(f"{target}: cannot write the icon: {e.strerror or e}") from None
        finally:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
    return IconChange(name, mime_type, len(data), stored=target)
