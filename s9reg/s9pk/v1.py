"""Read-only support for legacy v1 `.s9pk` files (StartOS 0.3.x; s9pk-format.md §12).

:func:`read_v1` parses the header and table of contents, checks that every section lies in the
file, verifies the Ed25519ph signature over everything after the header (streamed, constant
memory) and decodes the CBOR manifest into a :class:`V1Manifest`. It does not read the Docker
images, assets or scripts, and it cannot convert a v1 package to v2.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Final, Self

import cbor2
from Crypto.Hash import SHA512

from s9reg.s9pk.errors import MalformedArchiveError, ManifestError, S9pkError, SignatureError
from s9reg.s9pk.keys import CONTEXT_S9PK, PublicKey, is_valid_point
from s9reg.s9pk.reader import MAGIC_V1

__all__ = [
    "FIXED_HEADER_SIZE",
    "MAX_MANIFEST_SIZE",
    "MAX_TOC_LEN",
    "OPTIONAL_LABELS",
    "REQUIRED_LABELS",
    "UNSUPPORTED_REASON",
    "Section",
    "V1Header",
    "V1Manifest",
    "V1Package",
    "V1Toc",
    "emver_to_exver",
    "is_v1",
    "parse_emver",
    "read_v1",
]

_FIXED = struct.Struct(">3s32s64sI")  # magic+version, public key, signature, toc_len
FIXED_HEADER_SIZE: Final = _FIXED.size  # 103; the TOC follows
_SECTION = struct.Struct(">QQ")  # position, length

REQUIRED_LABELS: Final = ("manifest", "license", "instructions", "icon", "docker_images", "assets")
OPTIONAL_LABELS: Final = ("scripts",)
# Only known labels, each at most once, are accepted, so a real TOC is at most 176 bytes.
MAX_TOC_LEN: Final = sum(1 + len(x) + _SECTION.size for x in REQUIRED_LABELS + OPTIONAL_LABELS)
# Real manifests are a few KiB; CBOR decodes to Python objects many times its size, so the cap
# is low enough that a hostile manifest cannot exhaust memory.
MAX_MANIFEST_SIZE: Final = 1 << 20
_CHUNK = 1 << 20
_U64_MAX = (1 << 64) - 1

UNSUPPORTED_REASON: Final = (
    "legacy v1 package (StartOS 0.3.x): cannot be published to current StartOS devices; "
    "convert it with start-cli s9pk convert"
)

_PACKAGE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_EMVER = re.compile(r"[0-9]+(?:\.[0-9]+){0,3}")


def is_v1(first_bytes: bytes) -> bool:
    """Whether ``first_bytes`` (the start of a file, at least 3 bytes) is a v1 `.s9pk`."""
    return first_bytes[:3] == MAGIC_V1


def parse_emver(text: str) -> tuple[int, int, int, int]:
    """Parse an emver version ``M[.m[.p[.r]]]``; missing components are 0.

    Stricter than the ``emver`` crate in one respect: trailing text (``1.2.3-beta``) is an error
    rather than silently dropped.

    Raises:
        ManifestError: not 1 to 4 dot-separated decimal numbers of at most 64 bits.
    """
    if _EMVER.fullmatch(text) is None:
        msg = f"version {text!r} is not an emver version (M.m.p or M.m.p.r)"
        raise ManifestError(msg, path="manifest")
    # int() refuses texts of more than 4300 digits: drop leading zeros, check the length first.
    digits = [p.lstrip("0") or "0" for p in text.split(".")]
    if any(len(d) > len(str(_U64_MAX)) or int(d) > _U64_MAX for d in digits):
        msg = f"version {text[:60]!r} has a component larger than 64 bits"
        raise ManifestError(msg, path="manifest")
    parts = [int(d) for d in digits]
    parts += [0] * (4 - len(parts))
    return parts[0], parts[1], parts[2], parts[3]


def emver_to_exver(text: str) -> str:
    """The exver text upstream's v1 → v2 conversion derives from an emver version.

    ``M.m.p.r`` becomes ``M.m.p:r`` (``r`` defaults to 0). Upstream's per-package flavor and
    prerelease special cases (§12.5) are not applied.

    Raises:
        ManifestError: ``text`` is not an emver version.
    """
    major, minor, patch, revision = parse_emver(text)
    return f"{major}.{minor}.{patch}:{revision}"


def _rust_extension(path: str) -> str | None:
    """Rust ``Path::extension`` of ``path``'s file name (``None`` for ``.png`` or ``icon``)."""
    parts = [p for p in path.split("/") if p not in {"", "."}]
    if not parts or parts[-1] == "..":
        return None
    name = parts[-1]
    i = name.rfind(".")
    return None if i <= 0 else name[i + 1 :]


@dataclass(frozen=True, slots=True)
class Section:
    """One TOC entry: an absolute byte range of the file."""

    position: int
    length: int

    @property
    def end(self) -> int:
        """The offset just past the section."""
        return self.position + self.length


@dataclass(frozen=True, slots=True)
class V1Toc:
    """The table of contents (§12.1); ``scripts`` is None in 6-label (0.3.0.x) files."""

    manifest: Section
    license: Section
    instructions: Section
    icon: Section
    docker_images: Section
    assets: Section
    scripts: Section | None

    def sections(self) -> Iterator[tuple[str, Section]]:
        """``(label, section)`` for every section present, in upstream's writing order."""
        for label in REQUIRED_LABELS + OPTIONAL_LABELS:
            section: Section | None = getattr(self, label)
            if section is not None:
                yield label, section


@dataclass(frozen=True, slots=True)
class V1Header:
    """The v1 header: fixed part plus the TOC (§12.1)."""

    pubkey: bytes
    signature: bytes
    toc_len: int
    toc: V1Toc

    @property
    def size(self) -> int:
        """Header length in bytes; the signed data starts here."""
        return FIXED_HEADER_SIZE + self.toc_len


@dataclass(frozen=True, slots=True)
class V1Manifest:
    """The fields of a v1 manifest needed to describe a package (§12.4).

    Attributes:
        id: package id.
        title: display name.
        version: exver text derived from ``emver`` (``M.m.p:r``).
        emver: the version exactly as the manifest gives it.
        description_short: one-line description.
        description_long: long description.
        release_notes: release notes (Markdown).
        license: license name (SPDX-like), not the license text.
        icon_extension: extension of the icon section's file type, from ``assets.icon``.
        os_version: ``eos-version``, the StartOS version the package was built for, if given.
        wrapper_repo: URL of the packaging repository, if given.
        upstream_repo: URL of the upstream project, if given.
        support_site: support URL, if given.
        marketing_site: marketing URL, if given.
        donation_url: donation URL, if given.
    """

    id: str
    title: str
    version: str
    emver: str
    description_short: str
    description_long: str
    release_notes: str
    license: str
    icon_extension: str = "png"
    os_version: str | None = None
    wrapper_repo: str | None = None
    upstream_repo: str | None = None
    support_site: str | None = None
    marketing_site: str | None = None
    donation_url: str | None = None

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """Build from the decoded CBOR value (kebab-case keys), checking every field used.

        Unknown keys and the fields s9reg does not use (procedures, volumes, …) are ignored.

        Raises:
            ManifestError: not a map, or a required field missing or of the wrong type; the
                message names the first problem and ``details`` lists them all.
        """
        if not isinstance(data, Mapping):
            msg = f"manifest is a CBOR {type(data).__name__}, not a map"
            raise ManifestError(msg, path="manifest")
        fields = _FieldReader()
        id_ = fields.text("id", data)
        if isinstance(data.get("id"), str) and _PACKAGE_ID.fullmatch(id_) is None:
            fields.issues.append(f"id {id_!r} is not a valid package id")
        emver = fields.text("version", data)
        version = ""
        if isinstance(data.get("version"), str):
            try:
                version = emver_to_exver(emver)
            except ManifestError as e:
                fields.issues.append(e.problem)
        description = fields.mapping("description", data)
        assets = fields.mapping("assets", data, required=False)
        icon = fields.optional_text("icon", assets, "assets.")
        ext = _rust_extension(icon) if icon is not None else None
        manifest = cls(
            id=id_,
            title=fields.text("title", data),
            version=version,
            emver=emver,
            description_short=fields.text("short", description, "description."),
            description_long=fields.text("long", description, "description."),
            release_notes=fields.text("release-notes", data),
            license=fields.text("license", data),
            icon_extension="png" if ext is None else ext,
            os_version=fields.optional_text("eos-version", data),
            wrapper_repo=fields.optional_text("wrapper-repo", data),
            upstream_repo=fields.optional_text("upstream-repo", data),
            support_site=fields.optional_text("support-site", data),
            marketing_site=fields.optional_text("marketing-site", data),
            donation_url=fields.optional_text("donation-url", data),
        )
        fields.raise_if_any()
        return manifest

    def to_dict(self) -> dict[str, object]:
        """The fields as JSON-ready camelCase keys (for ``s9reg s9pk inspect … manifest``)."""
        return {
            "id": self.id,
            "title": self.title,
            "version": self.version,
            "emver": self.emver,
            "description": {"short": self.description_short, "long": self.description_long},
            "releaseNotes": self.release_notes,
            "license": self.license,
            "iconExtension": self.icon_extension,
            "osVersion": self.os_version,
            "wrapperRepo": self.wrapper_repo,
            "upstreamRepo": self.upstream_repo,
            "supportSite": self.support_site,
            "marketingSite": self.marketing_site,
            "donationUrl": self.donation_url,
        }


class _FieldReader:
    """Reads typed fields from a decoded manifest, collecting every problem.

    A field that is missing or of the wrong type yields ``""`` (or None) and an issue, so one
    pass finds every problem; :meth:`raise_if_any` then reports them.
    """

    def __init__(self) -> None:
        self.issues: list[str] = []

    def _get(
        self, key: str, within: Mapping[object, object] | None, prefix: str, *, required: bool
    ) -> object:
        if within is None:  # the parent map is absent or invalid, which is already reported
            return None
        value = within.get(key)
        if value is None and required:
            what = "missing" if key not in within else "null"
            self.issues.append(f"required key '{prefix}{key}' is {what}")
        return value

    def _wrong_type(self, prefix: str, key: str, want: str, value: object) -> None:
        self.issues.append(f"'{prefix}{key}' must be a {want}, not {type(value).__name__}")

    def text(self, key: str, within: Mapping[object, object] | None, prefix: str = "") -> str:
        value = self._get(key, within, prefix, required=True)
        if isinstance(value, str):
            return value
        if value is not None:
            self._wrong_type(prefix, key, "text string", value)
        return ""

    def optional_text(
        self, key: str, within: Mapping[object, object] | None, prefix: str = ""
    ) -> str | None:
        value = self._get(key, within, prefix, required=False)
        if value is None or isinstance(value, str):
            return value
        self._wrong_type(prefix, key, "text string", value)
        return None

    def mapping(
        self, key: str, within: Mapping[object, object], *, required: bool = True
    ) -> Mapping[object, object] | None:
        value = self._get(key, within, "", required=required)
        if value is None or isinstance(value, Mapping):
            return value
        self._wrong_type("", key, "map", value)
        return None

    def raise_if_any(self) -> None:
        if not self.issues:
            return
        more = len(self.issues) - 1
        problem = self.issues[0] + (f" (and {more} more)" if more else "")
        error = ManifestError(problem, path="manifest")
        error.details = "\n".join(self.issues)
        raise error


@dataclass(frozen=True, slots=True)
class V1Package:
    """A verified v1 package: header, manifest and the stream its sections are read from.

    Sections are re-read from ``stream`` on demand; the signature was checked over the stream's
    contents when :func:`read_v1` ran.
    """

    header: V1Header
    manifest: V1Manifest
    manifest_cbor: bytes
    stream: IO[bytes]
    file_size: int

    @property
    def toc(self) -> V1Toc:
        """The table of contents."""
        return self.header.toc

    @property
    def signer(self) -> PublicKey:
        """The developer key that signed the package."""
        return PublicKey(self.header.pubkey)

    @property
    def unsupported_reason(self) -> str:
        """Why the package cannot be used as is, in one line."""
        return UNSUPPORTED_REASON

    def read_section(self, label: str, *, max_size: int = 16 << 20) -> bytes:
        """The raw bytes of the section ``label`` (empty if an optional one is absent).

        Raises:
            S9pkError: unknown label, or the section is larger than ``max_size``.
            MalformedArchiveError: the stream ended early (the file changed after reading).
        """
        if label not in REQUIRED_LABELS + OPTIONAL_LABELS:
            msg = f"no section labelled {label!r}"
            raise S9pkError(msg)
        section: Section | None = getattr(self.toc, label)
        if section is None:
            return b""
        if section.length > max_size:
            msg = f"section of {section.length} bytes exceeds the {max_size}-byte limit"
            raise S9pkError(msg, path=label, offset=section.position)
        self.stream.seek(section.position)
        data = self.stream.read(section.length)
        if len(data) != section.length:
            msg = "truncated section"
            raise MalformedArchiveError(msg, path=label, offset=section.position + len(data))
        return data

    def read_icon(self, *, max_size: int = 16 << 20) -> bytes:
        """The icon's bytes; its type is ``manifest.icon_extension``.

        Raises:
            S9pkError: see :meth:`read_section`.
        """
        return self.read_section("icon", max_size=max_size)

    def read_license(self, *, max_size: int = 16 << 20) -> str:
        """The license text (Markdown); invalid UTF-8 is replaced with U+FFFD.

        Raises:
            S9pkError: see :meth:`read_section`.
        """
        return self.read_section("license", max_size=max_size).decode(errors="replace")

    def read_instructions(self, *, max_size: int = 16 << 20) -> str:
        """The instructions text (Markdown); invalid UTF-8 is replaced with U+FFFD.

        Raises:
            S9pkError: see :meth:`read_section`.
        """
        return self.read_section("instructions", max_size=max_size).decode(errors="replace")


def read_v1(stream: IO[bytes]) -> V1Package:
    """Read a v1 package: header, TOC, bounds, signature, then the manifest.

    Args:
        stream: a seekable binary stream; the package starts at offset 0.

    Returns:
        The package, with its signature verified and manifest decoded.

    Raises:
        MalformedArchiveError: not v1, truncated header or TOC, bad labels, a section outside
            the file, or an invalid public key.
        SignatureError: the signature does not verify.
        ManifestError: the manifest is too large, not CBOR, or lacks a field or has a wrong type.
    """
    file_size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    header = _read_header(stream, file_size)
    _verify_signature(stream, header)
    manifest_cbor, manifest = _read_manifest(stream, header.toc.manifest)
    return V1Package(header, manifest, manifest_cbor, stream, file_size)


def _read_header(stream: IO[bytes], file_size: int) -> V1Header:
    fixed = stream.read(FIXED_HEADER_SIZE)
    if not is_v1(fixed):
        msg = f"not a v1 .s9pk (magic and version {fixed[:3].hex() or 'missing'}, want 3b3b01)"
        raise MalformedArchiveError(msg, offset=0)
    if len(fixed) < FIXED_HEADER_SIZE:
        msg = f"truncated header ({len(fixed)} of {FIXED_HEADER_SIZE} bytes)"
        raise MalformedArchiveError(msg, offset=len(fixed))
    _, pubkey, signature, toc_len = _FIXED.unpack(fixed)
    if toc_len > MAX_TOC_LEN:
        msg = f"TOC length {toc_len} exceeds the {MAX_TOC_LEN} bytes of all known labels"
        raise MalformedArchiveError(msg, offset=FIXED_HEADER_SIZE - 4)
    buf = stream.read(toc_len)
    if len(buf) < toc_len:
        msg = f"truncated TOC ({len(buf)} of {toc_len} bytes)"
        raise MalformedArchiveError(msg, offset=FIXED_HEADER_SIZE + len(buf))
    toc = _parse_toc(buf, FIXED_HEADER_SIZE + toc_len, file_size)
    return V1Header(pubkey, signature, toc_len, toc)


def _parse_toc(buf: bytes, header_size: int, file_size: int) -> V1Toc:
    sections: dict[str, Section] = {}
    p = 0
    while p < len(buf):
        at = FIXED_HEADER_SIZE + p
        label_len = buf[p]
        if p + 1 + label_len + _SECTION.size > len(buf):
            msg = "truncated TOC entry"
            raise MalformedArchiveError(msg, offset=at)
        raw_label = buf[p + 1 : p + 1 + label_len]
        label = raw_label.decode("ascii", errors="replace")
        if label not in REQUIRED_LABELS + OPTIONAL_LABELS:
            msg = f"unknown TOC label {raw_label!r}"
            raise MalformedArchiveError(msg, offset=at)
        if label in sections:
            msg = f"duplicate TOC label {label!r}"
            raise MalformedArchiveError(msg, offset=at)
        section = Section(*_SECTION.unpack_from(buf, p + 1 + label_len))
        _check_bounds(label, section, header_size, file_size, at)
        sections[label] = section
        p += 1 + label_len + _SECTION.size
    for label in REQUIRED_LABELS:
        if label not in sections:
            msg = f"missing required TOC label {label!r}"
            raise MalformedArchiveError(msg, offset=FIXED_HEADER_SIZE)
    return V1Toc(
        manifest=sections["manifest"],
        license=sections["license"],
        instructions=sections["instructions"],
        icon=sections["icon"],
        docker_images=sections["docker_images"],
        assets=sections["assets"],
        scripts=sections.get("scripts"),
    )


def _check_bounds(label: str, section: Section, header_size: int, file_size: int, at: int) -> None:
    # Empty sections are exempt from the lower bound: upstream writes an absent scripts
    # section as position 0, length 0. Anything with bytes must lie in the signed region.
    low = header_size if section.length else 0
    if section.position < low or section.end > file_size:
        msg = (
            f"section at {section.position}+{section.length} lies outside the signed data "
            f"({header_size}..{file_size})"
        )
        raise MalformedArchiveError(msg, path=label, offset=at)


def _verify_signature(stream: IO[bytes], header: V1Header) -> None:
    """Ed25519ph (context ``s9pk``) over every byte from the end of the header to EOF (§12.2)."""
    digest = SHA512.new()
    stream.seek(header.size)
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    if not is_valid_point(header.pubkey):
        msg = "public key is not a valid Ed25519 point"
        raise MalformedArchiveError(msg, offset=3)
    try:
        PublicKey(header.pubkey).verify_prehashed(digest, header.signature, CONTEXT_S9PK)
    except SignatureError as e:
        raise SignatureError(e.problem, offset=35) from None


def _read_manifest(stream: IO[bytes], section: Section) -> tuple[bytes, V1Manifest]:
    if section.length > MAX_MANIFEST_SIZE:
        msg = f"manifest of {section.length} bytes exceeds the {MAX_MANIFEST_SIZE}-byte limit"
        raise ManifestError(msg, path="manifest", offset=section.position)
    stream.seek(section.position)
    data = stream.read(section.length)
    if len(data) != section.length:
        msg = "truncated manifest section"
        raise MalformedArchiveError(msg, path="manifest", offset=section.position + len(data))
    # Only the first CBOR item counts: since May 2022 a 0x0A follows it, and upstream's
    # decoder ignores whatever comes after the item.
    try:
        value = cbor2.CBORDecoder(io.BytesIO(data)).decode()
    except Exception as e:  # cbor2's semantic decoders raise assorted types across versions
        msg = f"manifest is not valid CBOR: {str(e)[:200]}"
        raise ManifestError(msg, path="manifest", offset=section.position) from e
    return data, V1Manifest.from_dict(value)
