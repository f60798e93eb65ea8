"""Test-only writer of legacy v1 `.s9pk` files (s9pk-format.md §12), for fixtures.

It lays files out as upstream's packer does (sections contiguous after the header, in label
order, absolute positions) and can also produce the deviations the reader must handle or reject.
It shares no code with ``s9reg.s9pk.v1``, so the two check each other.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import cbor2

from s9reg.s9pk.keys import CONTEXT_S9PK, PrivateKey

LABELS_6 = ("manifest", "license", "instructions", "icon", "docker_images", "assets")
LABELS_7 = (*LABELS_6, "scripts")
MAGIC_V1 = b"\x3b\x3b\x01"
FIXED_SIZE = 103  # magic+version (3), public key (32), signature (64), toc_len (4)
SIG_OFFSET = 35
TOC_LEN_OFFSET = 99

KEY = PrivateKey(bytes(range(32)))
OTHER_KEY = PrivateKey(bytes(range(1, 33)))

# A 1x1 PNG is not needed: the reader treats the icon as opaque bytes.
ICON = b"\x89PNG\r\n\x1a\nnot really a png"
DELETE = object()
"""Pass as a value to :func:`sample_manifest` to remove that key."""


def sample_manifest(**overrides: object) -> dict[str, object]:
    """A realistic v1 manifest (kebab-case keys, as 0.3.x wrote them).

    Keyword names use ``_`` for ``-``; a value of :data:`DELETE` removes the key.
    """
    docker = {
        "type": "docker",
        "image": "main",
        "system": False,
        "entrypoint": "docker_entrypoint.sh",
        "args": [],
        "mounts": {"main": "/data"},
        "io-format": "yaml",
    }
    manifest: dict[str, object] = {
        "eos-version": "0.3.5.1",
        "id": "hello-world",
        "git-hash": "0123456789abcdef0123456789abcdef01234567",
        "title": "Hello World",
        "version": "0.3.6.1",
        "description": {"short": "Says hello", "long": "A longer story about saying hello."},
        "assets": {
            "license": "LICENSE",
            "instructions": "instructions.md",
            "icon": "icon.png",
            "docker-images": "docker-images",
            "assets": "assets",
            "scripts": "scripts",
        },
        "build": ["make"],
        "release-notes": "* First release",
        "license": "MIT",
        "wrapper-repo": "https://github.com/Start9Labs/hello-world-wrapper",
        "upstream-repo": "https://github.com/Start9Labs/hello-world",
        "support-site": "https://docs.start9.com/",
        "marketing-site": "https://start9.com/",
        "donation-url": None,
        "alerts": {"install": None, "uninstall": None},
        "main": docker,
        "health-checks": {"web-ui": {"name": "Web UI", **docker, "timeout": "5s"}},
        "config": None,
        "properties": None,
        "volumes": {"main": {"type": "data"}},
        "backup": {"create": docker, "restore": docker},
        "migrations": {"from": {"*": docker}, "to": {}},
        "actions": {},
        "dependencies": {},
        "replaces": [],
        "hardware-requirements": {"device": {}, "arch": ["x86_64", "aarch64"]},
    }
    for name, value in overrides.items():
        key = name.replace("_", "-")
        if value is DELETE:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    return manifest


def encode_manifest(manifest: object, *, trailer: bool = True) -> bytes:
    """CBOR of ``manifest``, followed by ``0x0A`` as writers since May 2022 add it."""
    return cbor2.dumps(manifest) + (b"\n" if trailer else b"")


def toc_entry(label: str | bytes, position: int, length: int) -> bytes:
    """One TOC entry: ``label_len:u8 ‖ label ‖ position:u64be ‖ length:u64be``."""
    raw = label.encode() if isinstance(label, str) else label
    return bytes([len(raw)]) + raw + struct.pack(">QQ", position, length)


def signature_for(body: bytes, key: PrivateKey = KEY) -> bytes:
    """Ed25519ph (context ``s9pk``) over ``body``, the bytes after the header."""
    return key.sign(body, CONTEXT_S9PK)


def assemble(
    toc: bytes,
    body: bytes,
    key: PrivateKey = KEY,
    *,
    toc_len: int | None = None,
    signature: bytes | None = None,
) -> bytes:
    """Header (with ``toc`` and a declared ``toc_len``, default its length) followed by ``body``."""
    declared = len(toc) if toc_len is None else toc_len
    sig = signature_for(body, key) if signature is None else signature
    return MAGIC_V1 + key.public_key.raw + sig + struct.pack(">I", declared) + toc + body


def build_v1(
    manifest: object = None,
    *,
    key: PrivateKey = KEY,
    trailer: bool = True,
    license_text: bytes = b"MIT License\n",
    instructions: bytes = b"# Instructions\n",
    icon: bytes = ICON,
    docker_images: bytes = b"docker-images.tar",
    assets: bytes = b"assets.tar",
    scripts: bytes | None = b"export const x = 1;\n",
    labels: int = 7,
    toc_order: Sequence[str] | None = None,
    data_order: Sequence[str] | None = None,
) -> bytes:
    """A signed v1 file.

    Args:
        manifest: a manifest value to CBOR-encode, raw manifest bytes, or None for
            :func:`sample_manifest`.
        key: the signing key.
        trailer: append ``0x0A`` after the CBOR manifest.
        license_text: the license section.
        instructions: the instructions section.
        icon: the icon section.
        docker_images: the docker_images section.
        assets: the assets section.
        scripts: the scripts section; None writes no scripts data (0/0 entry with 7 labels).
        labels: 7 (since May 2022) or 6 (0.3.0.x, no scripts entry).
        toc_order: order of the TOC entries (default: label order).
        data_order: order of the sections in the data area (default: label order).
    """
    if manifest is None:
        manifest = sample_manifest()
    manifest_bytes = (
        manifest if isinstance(manifest, bytes) else encode_manifest(manifest, trailer=trailer)
    )
    contents = {
        "manifest": manifest_bytes,
        "license": license_text,
        "instructions": instructions,
        "icon": icon,
        "docker_images": docker_images,
        "assets": assets,
    }
    names = LABELS_7 if labels == 7 else LABELS_6
    if labels == 7 and scripts is not None:
        contents["scripts"] = scripts
    size = FIXED_SIZE + sum(1 + len(n) + 16 for n in names)
    positions: dict[str, tuple[int, int]] = dict.fromkeys(names, (0, 0))
    body = b""
    for name in data_order or names:
        if name in contents:
            positions[name] = (size + len(body), len(contents[name]))
            body += contents[name]
    toc = b"".join(toc_entry(n, *positions[n]) for n in toc_order or names)
    return assemble(toc, body, key)


def header_size(data: bytes) -> int:
    """The header length of ``data`` according to its declared ``toc_len``."""
    return FIXED_SIZE + int.from_bytes(data[TOC_LEN_OFFSET:FIXED_SIZE], "big")


def resign(data: bytes, key: PrivateKey = KEY) -> bytes:
    """``data`` with a fresh signature (and public key) over everything after its header."""
    size = header_size(data)
    sig = signature_for(data[size:], key)
    return MAGIC_V1 + key.public_key.raw + sig + data[TOC_LEN_OFFSET:]


def sections(data: bytes) -> dict[str, tuple[int, int]]:
    """``{label: (position, length)}`` of a well-formed file's TOC."""
    out: dict[str, tuple[int, int]] = {}
    p, end = FIXED_SIZE, header_size(data)
    while p < end:
        n = data[p]
        label = data[p + 1 : p + 1 + n].decode()
        out[label] = struct.unpack_from(">QQ", data, p + 1 + n)
        p += 1 + n + 16
    return out


def toc_entry_offset(data: bytes, label: str) -> int:
    """Offset of ``label``'s TOC entry (its length byte) in ``data``."""
    p = FIXED_SIZE
    while data[p + 1 : p + 1 + data[p]] != label.encode():
        p += 1 + data[p] + 16
    return p


def with_section(data: bytes, label: str, position: int, length: int) -> bytes:
    """``data`` with ``label``'s TOC entry pointing elsewhere (the TOC is not signed)."""
    p = toc_entry_offset(data, label)
    n = data[p]
    return data[: p + 1 + n] + struct.pack(">QQ", position, length) + data[p + 1 + n + 16 :]


def replace_manifest(data: bytes, manifest: bytes, key: PrivateKey = KEY) -> bytes:
    """A file like ``data`` whose manifest section holds ``manifest`` (re-laid out, re-signed)."""
    layout = sections(data)
    contents = {name: data[pos : pos + length] for name, (pos, length) in layout.items() if length}
    return build_v1(
        manifest,
        key=key,
        license_text=contents.get("license", b""),
        instructions=contents.get("instructions", b""),
        icon=contents.get("icon", b""),
        docker_images=contents.get("docker_images", b""),
        assets=contents.get("assets", b""),
        scripts=contents.get("scripts"),
        labels=7 if "scripts" in layout else 6,
    )


def sample_file(**overrides: object) -> bytes:
    """A 7-label file whose manifest is :func:`sample_manifest` with ``overrides``."""
    return build_v1(sample_manifest(**overrides))


__all__ = [
    "DELETE",
    "FIXED_SIZE",
    "ICON",
    "KEY",
    "LABELS_6",
    "LABELS_7",
    "MAGIC_V1",
    "OTHER_KEY",
    "SIG_OFFSET",
    "TOC_LEN_OFFSET",
    "assemble",
    "build_v1",
    "encode_manifest",
    "header_size",
    "replace_manifest",
    "resign",
    "sample_file",
    "sample_manifest",
    "sections",
    "signature_for",
    "toc_entry",
    "toc_entry_offset",
    "with_section",
]
