"""The merkle-archive tree: files, directories and MISSING entries, with hashes and sizes (§3-§4).

Nodes are immutable. A :class:`Directory` knows its sighash and its signed TOC bound; a
:class:`File` knows its BLAKE3 hash, its size and where its bytes come from. Nothing here reads an
archive or writes one: see :mod:`s9reg.s9pk.reader` and :mod:`s9reg.s9pk.writer`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import IO, Self

import blake3

from s9reg.s9pk import _varint
from s9reg.s9pk.errors import MalformedArchiveError

__all__ = [
    "ArchiveSource",
    "BytesSource",
    "Directory",
    "EntryKind",
    "File",
    "Missing",
    "Node",
    "PathSource",
    "Source",
    "check_name",
    "hash_stream",
]

HASH_SIZE = 32
CHUNK_SIZE = 8 << 20
_U64 = struct.Struct(">Q")
# Bytes of an entry after its name: hash, size, type, then 0/8/16 bytes of type-specific data.
ENTRY_FIXED = HASH_SIZE + 8 + 1
_PARALLEL_THRESHOLD = 1 << 20


class EntryKind(IntEnum):
    """Type byte of a TOC entry."""

    MISSING = 0
    FILE = 1
    DIRECTORY = 2


def check_name(name: str, path: str) -> None:
    """Reject entry names that are not a single safe path component.

    Raises:
        MalformedArchiveError: empty, ``.``/``..``, or containing ``/`` or NUL.
    """
    problem = None
    if not name:
        problem = "empty entry name"
    elif name in {".", ".."}:
        problem = f"entry name {name!r} is not allowed"
    elif "/" in name or "\0" in name:
        problem = f"entry name {name!r} contains '/' or NUL"
    if problem:
        raise MalformedArchiveError(problem, path=path)


def new_hasher(size: int) -> blake3.blake3:
    """A BLAKE3 hasher, multi-threaded for inputs large enough to gain from it."""
    if size >= _PARALLEL_THRESHOLD:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    return blake3.blake3()


def hash_stream(stream: IO[bytes], size: int | None = None) -> tuple[bytes, int]:
    """BLAKE3 and length of ``stream`` from its position, reading ``size`` bytes or to EOF."""
    hasher = new_hasher(size if size is not None else _PARALLEL_THRESHOLD)
    total = 0
    for chunk in read_chunks(stream, size):
        hasher.update(chunk)
        total += len(chunk)
    return hasher.digest(), total


def read_chunks(
    stream: IO[bytes], size: int | None, chunk_size: int = CHUNK_SIZE
) -> Iterator[memoryview]:
    """Yield views of one reused buffer holding ``size`` bytes (or to EOF) of ``stream``.

    Each view is valid only until the next one is requested. Stops early at EOF.
    """
    buf = bytearray(min(chunk_size, size) if size is not None else chunk_size)
    view = memoryview(buf)
    remaining = size
    while remaining is None or remaining > 0:
        want = len(buf) if remaining is None else min(len(buf), remaining)
        n = stream.readinto(view[:want])  # type: ignore[attr-defined]
        if not n:
            return
        yield view[:n]
        if remaining is not None:
            remaining -= n


@dataclass(frozen=True, slots=True)
class BytesSource:
    """File contents held in memory."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PathSource:
    """File contents in a file on disk."""

    path: Path


@dataclass(frozen=True, slots=True)
class ArchiveSource:
    """File contents at an absolute position inside an open archive stream."""

    stream: IO[bytes] = field(repr=False, compare=False)
    position: int


Source = BytesSource | PathSource | ArchiveSource


@dataclass(frozen=True, slots=True)
class Missing:
    """An entry whose contents are absent but whose hash and size stay signed (§4.5)."""

    hash: bytes
    size: int
    kind = EntryKind.MISSING

    def to_missing(self) -> Missing:
        """Return self."""
        return self


@dataclass(frozen=True, slots=True)
class File:
    """A file entry: BLAKE3 hash, exact size and the source of its bytes."""

    hash: bytes
    size: int
    source: Source
    kind = EntryKind.FILE

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """A file holding ``data``."""
        return cls(blake3.blake3(data).digest(), len(data), BytesSource(bytes(data)))

    @classmethod
    def from_path(cls, path: Path) -> Self:
        """A file whose bytes are read from ``path`` (hashed now, copied when written)."""
        with path.open("rb") as f:
            digest, size = hash_stream(f, None)
        return cls(digest, size, PathSource(path))

    @property
    def position(self) -> int | None:
        """Absolute position in the archive it was read from, if any."""
        return self.source.position if isinstance(self.source, ArchiveSource) else None

    def to_missing(self) -> Missing:
        """The MISSING entry that keeps this file's hash and size."""
        return Missing(self.hash, self.size)

    def entry_size(self) -> int:
        """Bytes after the name in a TOC entry for this node."""
        return ENTRY_FIXED + 8


@dataclass(frozen=True, slots=True)
class Directory:
    """A directory: children by name, its sighash, and the signed bound on its TOC length.

    Use :meth:`of` to build one; it computes the sighash and sets ``size`` to the TOC length.
    """

    entries: Mapping[str, Node]
    hash: bytes
    size: int
    position: int | None = None
    kind = EntryKind.DIRECTORY

    @classmethod
    def of(cls, entries: Mapping[str, Node], *, path: str = "/") -> Self:
        """A fresh directory of ``entries`` (names checked, sighash and size computed).

        Raises:
            MalformedArchiveError: an entry name is invalid.
        """
        for name in entries:
            check_name(name, path + name)
        ordered = dict(sorted(entries.items(), key=lambda kv: kv[0].encode()))
        return cls(ordered, sighash(ordered), toc_size(ordered))

    @property
    def toc_size(self) -> int:
        """Length of this directory's TOC as it would be written now."""
        return toc_size(self.entries)

    def to_missing(self) -> Missing:
        """The MISSING entry that keeps this directory's sighash and signed size."""
        return Missing(self.hash, self.size)

    def with_entries(self, entries: Mapping[str, Node]) -> Directory:
        """Same sighash and signed bound, other entries (for filtering to MISSING)."""
        return Directory(dict(entries), self.hash, self.size, self.position)

    def entry_size(self) -> int:
        """Bytes after the name in a TOC entry for this node."""
        return ENTRY_FIXED + 16

    def get(self, path: str) -> Node | None:
        """The node at ``path`` (``a/b/c``, relative to this directory), or None."""
        node: Node = self
        for part in (p for p in path.split("/") if p):
            if not isinstance(node, Directory):
                return None
            child = node.entries.get(part)
            if child is None:
                return None
            node = child
        return node

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Node]]:
        """Depth-first ``(path, node)`` pairs in name order; directory paths end in ``/``."""
        for name, node in self.entries.items():
            if isinstance(node, Directory):
                yield f"{prefix}{name}/", node
                yield from node.walk(f"{prefix}{name}/")
            else:
                yield f"{prefix}{name}", node

    def files(self) -> Iterator[tuple[str, File]]:
        """Every FILE entry below this directory, depth-first in name order."""
        for path, node in self.walk():
            if isinstance(node, File):
                yield path, node


Node = Missing | File | Directory


def _missing_entry_size(node: Node) -> int:
    return ENTRY_FIXED if isinstance(node, Missing) else node.entry_size()


def toc_size(entries: Mapping[str, Node]) -> int:
    """Length of a TOC holding ``entries`` (§3.2)."""
    return _varint.size(len(entries)) + sum(
        _varint.str_size(name) + _missing_entry_size(node) for name, node in entries.items()
    )


def sighash(entries: Mapping[str, Node]) -> bytes:
    """BLAKE3 of the one-level TOC with every entry written as MISSING, in byte order (§4.3)."""
    h = blake3.blake3(_varint.encode(len(entries)))
    for name in sorted(entries, key=str.encode):
        node = entries[name]
        h.update(_varint.encode_str(name) + node.hash + _U64.pack(node.size) + b"\x00")
    return h.digest()


def tree_from_directory(root: Path) -> Directory:
    """Build a tree from a directory on disk (regular files and directories, sorted).

    Raises:
        MalformedArchiveError: a name is invalid or an entry is neither file nor directory.
    """
    return _tree_from(root, "/")


def _tree_from(base: Path, path: str) -> Directory:
    entries: dict[str, Node] = {}
    for child in sorted(base.iterdir(), key=lambda p: p.name.encode()):
        if child.is_dir():
            entries[child.name] = _tree_from(child, f"{path}{child.name}/")
        elif child.is_file():
            entries[child.name] = File.from_path(child)
        else:
            msg = "not a regular file or directory"
            raise MalformedArchiveError(msg, path=f"{path}{child.name}")
    return Directory.of(entries, path=path)
