"""Write a v2 archive from a tree, byte for byte as upstream lays it out (s9pk-format.md §7).

Breadth-first layout; directories first inside each TOC; at the root either *plain* order
(``start-cli s9pk pack``) or *priority* order (``s9pk edit``/``convert``). The writer signs with a
fresh signer: ``root_maxsize`` is the root's signed bound, the TOC's current length unless the root
was filtered (turned entries MISSING) after it was signed.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import IO

from s9reg.s9pk import _varint
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.errors import IntegrityError, S9pkError
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.reader import HEADER_SIZE, MAGIC_V2
from s9reg.s9pk.tree import (
    ArchiveSource,
    BytesSource,
    Directory,
    File,
    Missing,
    Node,
    PathSource,
    new_hasher,
    read_chunks,
)

__all__ = ["RootOrder", "file_stem", "root_priority", "write_archive", "write_archive_file"]

_U64 = struct.Struct(">Q")
_ROOT_PRIORITY = {
    "manifest.json": 0,
    "LICENSE.md": 2,
    "instructions.md": 3,
    "dependencies": 4,
    "javascript.squashfs": 5,
    "assets.squashfs": 6,
    "images": 7,
}


class RootOrder(StrEnum):
    """Entry order of the root TOC."""

    PLAIN = "plain"
    PRIORITY = "priority"


def file_stem(name: str) -> str:
    """Rust ``Path::file_stem``: split at the last dot unless it is the first character."""
    i = name.rfind(".")
    return name if i <= 0 else name[:i]


def root_priority(name: str) -> int | None:
    """Upstream's root priority (``S9pk::deserialize`` ``sort_by``), or None."""
    if name in _ROOT_PRIORITY:
        return _ROOT_PRIORITY[name]
    return 1 if file_stem(name) == "icon" else None


def _rank(node: Node) -> int:
    return 0 if isinstance(node, Directory) else 1 if isinstance(node, File) else 2


def _ordered(entries: Mapping[str, Node], *, priority: bool) -> list[tuple[str, Node]]:
    def key(kv: tuple[str, Node]) -> tuple[int, tuple[int, int], bytes]:
        name, node = kv
        p = root_priority(name) if priority and not isinstance(node, Missing) else None
        return _rank(node), (0, p) if p is not None else (1, 0), name.encode()

    return sorted(entries.items(), key=key)


def _entry_header(name: str, node: Node) -> bytes:
    kind = 0 if isinstance(node, Missing) else 1 if isinstance(node, File) else 2
    return _varint.encode_str(name) + node.hash + _U64.pack(node.size) + bytes([kind])


Progress = Callable[[int], None]


class _Emitter:
    def __init__(self, out: IO[bytes], progress: Progress | None) -> None:
        self.out = out
        self.progress = progress

    def toc(self, d: Directory, next_pos: int, queue: deque[tuple[str, Node]], path: str,
            *, priority: bool) -> int:  # fmt: skip
        buf = bytearray(_varint.encode(len(d.entries)))
        for name, node in _ordered(d.entries, priority=priority):
            buf += _entry_header(name, node)
            if isinstance(node, File):
                buf += _U64.pack(next_pos)
                next_pos += node.size
                queue.append((path + name, node))
            elif isinstance(node, Directory):
                size = node.toc_size
                buf += _U64.pack(next_pos) + _U64.pack(size)
                next_pos += size
                queue.append((path + name + "/", node))
        self.out.write(buf)
        return next_pos

    def body(self, path: str, node: File) -> None:
        src = node.source
        if isinstance(src, BytesSource):
            data = src.data
            if len(data) != node.size:
                msg = "in-memory contents do not match the recorded size"
                raise IntegrityError(msg, path=path)
            self.out.write(data)
            if self.progress:
                self.progress(len(data))
            return
        if isinstance(src, PathSource):
            with src.path.open("rb") as f:
                self._copy(path, node, f)
            return
        if isinstance(src, ArchiveSource):
            src.stream.seek(src.position)
            self._copy(path, node, src.stream)

    def _copy(self, path: str, node: File, stream: IO[bytes]) -> None:
        # Re-hash while copying: a source that changed since it was hashed must not be signed.
        hasher = new_hasher(node.size)
        n = 0
        for chunk in read_chunks(stream, node.size):
            hasher.update(chunk)
            self.out.write(chunk)
            n += len(chunk)
            if self.progress:
                self.progress(len(chunk))
        if n != node.size or hasher.digest() != node.hash:
            msg = "contents changed while writing the archive"
            raise IntegrityError(msg, path=path)


def write_archive(
    out: IO[bytes],
    root: Directory,
    key: PrivateKey,
    *,
    order: RootOrder = RootOrder.PLAIN,
    progress: Progress | None = None,
) -> MerkleArchiveCommitment:
    """Write ``root`` as a signed v2 archive to ``out`` (which must be at offset 0).

    Returns:
        The commitment that the header signs.

    Raises:
        IntegrityError: a file's source no longer matches its recorded hash or size.
    """
    # A filtered root (``with_entries``) keeps its signed bound; its TOC is shorter (§4.5).
    toc = root.toc_size
    maxsize = max(root.size, toc)
    commitment = MerkleArchiveCommitment(root.hash, maxsize)
    signature = commitment.sign(key).raw
    out.write(MAGIC_V2 + key.public_key.raw + signature + root.hash + _U64.pack(maxsize))
    out.write(_U64.pack(HEADER_SIZE) + _U64.pack(toc))
    emitter = _Emitter(out, progress)
    queue: deque[tuple[str, Node]] = deque()
    next_pos = emitter.toc(root, HEADER_SIZE + toc, queue, "/",
                           priority=order is RootOrder.PRIORITY)  # fmt: skip
    while queue:
        path, node = queue.popleft()
        if isinstance(node, File):
            emitter.body(path, node)
        elif isinstance(node, Directory):
            next_pos = emitter.toc(node, next_pos, queue, path, priority=False)
    return commitment


def write_archive_file(
    path: Path,
    root: Directory,
    key: PrivateKey,
    *,
    order: RootOrder = RootOrder.PLAIN,
    progress: Progress | None = None,
) -> MerkleArchiveCommitment:
    """Write an archive atomically: to a temporary file beside ``path``, then rename.

    Raises:
        IntegrityError: a source changed while being written.
        S9pkError: the output cannot be written.
    """
    path = path.resolve()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        msg = f"cannot write {path}: {e.strerror}"
        raise S9pkError(msg) from e
    try:
        with os.fdopen(fd, "wb") as f:
            commitment = write_archive(f, root, key, order=order, progress=progress)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return commitment
