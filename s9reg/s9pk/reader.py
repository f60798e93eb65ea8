"""Read and verify a v2 merkle archive in upstream's order (s9pk-format.md §6).

:func:`read_archive` checks magic, header, the Ed25519ph signature, the signed size bounds, and
parses and sighash-checks the whole directory tree eagerly. File bodies are verified when read
(:meth:`Archive.read_file`, :meth:`Archive.iter_file`) or all at once (:meth:`Archive.verify_all`).
It is stricter than upstream: see :data:`MAX_DEPTH` and the checks in :class:`_TreeParser`.
Only the stream it is given is read; no file system, no network.
"""

from __future__ import annotations

import io
import itertools
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

import blake3

from s9reg.s9pk import _varint
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.errors import (
    IntegrityError,
    MalformedArchiveError,
    S9pkError,
    SignatureError,
    UnsupportedFormatError,
)
from s9reg.s9pk.keys import CONTEXT_S9PK, PublicKey
from s9reg.s9pk.tree import (
    ENTRY_FIXED,
    HASH_SIZE,
    ArchiveSource,
    Directory,
    File,
    Missing,
    Node,
    check_name,
    new_hasher,
    read_chunks,
    sighash,
)

__all__ = [
    "HEADER_SIZE",
    "MAGIC_V1",
    "MAGIC_V2",
    "Archive",
    "Header",
    "Progress",
    "read_archive",
    "read_header",
]

MAGIC_V2 = b"\x3b\x3b\x02"
MAGIC_V1 = b"\x3b\x3b\x01"
_HEADER = struct.Struct(">32s64s32sQQQ")
HEADER_SIZE = len(MAGIC_V2) + _HEADER.size  # 155
_U64 = struct.Struct(">Q")
_DIR_HEADER = struct.Struct(">QQ")

CAP_1_MIB = 1 << 20
MAX_DEPTH = 64
MAX_TOC_SIZE = 64 << 20
MAX_ENTRIES = 1_000_000
_MIN_ENTRY = 2 + ENTRY_FIXED  # one-byte name length, one-byte name, fixed part

Progress = Callable[[int], None]
"""Called with the number of body bytes just verified."""


@dataclass(frozen=True, slots=True)
class Header:
    """The fixed 155-byte v2 header (§3.1)."""

    pubkey: bytes
    signature: bytes
    root_sighash: bytes
    root_maxsize: int
    root_position: int
    root_toc_size: int

    @property
    def commitment(self) -> MerkleArchiveCommitment:
        """The commitment this header's signature covers."""
        return MerkleArchiveCommitment(self.root_sighash, self.root_maxsize)

    def to_bytes(self) -> bytes:
        """The 155 bytes as they stand at the start of the file."""
        return MAGIC_V2 + _HEADER.pack(
            self.pubkey,
            self.signature,
            self.root_sighash,
            self.root_maxsize,
            self.root_position,
            self.root_toc_size,
        )


@dataclass(frozen=True, slots=True)
class Archive:
    """A verified v2 archive: header, whole directory tree, and the stream to read bodies from."""

    header: Header
    root: Directory
    stream: IO[bytes]
    file_size: int

    @property
    def commitment(self) -> MerkleArchiveCommitment:
        """``{rootSighash, rootMaxsize}`` as the header signs them."""
        return self.header.commitment

    @property
    def signer(self) -> PublicKey:
        """The key that signed the header."""
        return PublicKey(self.header.pubkey)

    def get(self, path: str) -> Node | None:
        """The node at ``path`` inside the archive, or None."""
        return self.root.get(path)

    def file(self, path: str, *, error: type[S9pkError] = S9pkError) -> File:
        """The FILE at ``path``.

        Raises:
            S9pkError: (or ``error``) absent, MISSING, or a directory.
        """
        node = self.root.get(path)
        if isinstance(node, File):
            return node
        problem = (
            "entry is missing"
            if isinstance(node, Missing)
            else "is a directory"
            if isinstance(node, Directory)
            else "not found"
        )
        raise error(problem, path="/" + path.strip("/"))

    def optional_file(self, path: str, *, error: type[S9pkError] = S9pkError) -> File | None:
        """The FILE at ``path``, or None when it is absent or MISSING.

        Raises:
            S9pkError: (or ``error``) ``path`` is a directory.
        """
        node = self.root.get(path)
        return None if node is None or isinstance(node, Missing) else self.file(path, error=error)

    def iter_file(self, path: str, *, chunk_size: int = 1 << 20) -> Iterator[memoryview]:
        """Stream a file's verified bytes; raises at the end if its hash or size is wrong.

        Each view is valid only until the next one is requested.

        Raises:
            S9pkError: not a file.
            IntegrityError: BLAKE3 or size mismatch (after the last chunk).
        """
        return self._iter_verified("/" + path.strip("/"), self.file(path), chunk_size, None)

    def read_file(self, path: str, *, max_size: int = 64 << 20) -> bytes:
        """A file's whole verified contents.

        Raises:
            S9pkError: not a file, or larger than ``max_size``.
            IntegrityError: BLAKE3 or size mismatch.
        """
        node = self.file(path)
        if node.size > max_size:
            msg = f"file too large to read into memory ({node.size} bytes)"
            raise S9pkError(msg, path="/" + path.strip("/"))
        out = bytearray()
        for chunk in self.iter_file(path):
            out += chunk
        return bytes(out)

    def verify_all(self, progress: Progress | None = None) -> None:
        """Hash every FILE body (in file order, streaming) and check it against the TOC.

        Bodies of a real file are hashed straight from read-only memory maps of at most
        :data:`MMAP_WINDOW` bytes (no copy, bounded memory); other streams are read in chunks.

        Raises:
            IntegrityError: a body's BLAKE3 or size does not match.
        """
        files = sorted(self.root.files(), key=lambda pf: pf[1].position or 0)
        fd = _fileno(self.stream)
        if fd is not None:
            small = [(f"/{p}", n) for p, n in files if 0 < n.size < SMALL_FILE]
            _hash_small_files(fd, small, progress)
            files = [(p, n) for p, n in files if n.size >= SMALL_FILE]
        for path, node in files:
            if fd is not None and _hash_mapped(fd, "/" + path, node, progress):
                continue
            for _ in self._iter_verified("/" + path, node, 1 << 20, progress):
                pass

    def _iter_verified(
        self, path: str, node: File, chunk_size: int, progress: Progress | None
    ) -> Iterator[memoryview]:
        source = node.source
        if not isinstance(source, ArchiveSource):  # pragma: no cover - parsed trees only
            msg = "file does not come from this archive"
            raise S9pkError(msg, path=path)
        hasher = new_hasher(node.size)
        self.stream.seek(source.position)
        got = 0
        for chunk in read_chunks(self.stream, node.size, chunk_size):
            hasher.update(chunk)
            got += len(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk
        if got != node.size:
            msg = "file size mismatch"
            raise IntegrityError(msg, path=path, offset=source.position)
        if hasher.digest() != node.hash:
            msg = "hash sum mismatch (BLAKE3)"
            raise IntegrityError(msg, path=path, offset=source.position)


MMAP_WINDOW = 16 << 20
SMALL_FILE = 1 << 20
_SMALL_WORKERS = max(1, min(os.cpu_count() or 1, 4))
_THREADS_FROM = 8 << 20  # total bytes of small bodies from which threads pay off


def _fileno(stream: IO[bytes]) -> int | None:
    try:
        return stream.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def _hash_small_files(fd: int, files: list[tuple[str, File]], progress: Progress | None) -> None:
    """Hash small bodies on several threads (BLAKE3 releases the GIL), one buffer per thread.

    Small files gain nothing from BLAKE3's own parallelism, so spreading them over the cores
    is what keeps a package of many small files near ``b3sum`` speed. The first failure in file
    order is raised.

    Raises:
        IntegrityError: a body's BLAKE3 or size does not match.
    """

    def work(items: list[tuple[str, File]]) -> list[IntegrityError]:
        buf = memoryview(bytearray(SMALL_FILE))
        failures = []
        for path, node in items:
            assert isinstance(node.source, ArchiveSource)  # noqa: S101 - parsed files only
            try:
                got = os.preadv(fd, [buf[: node.size]], node.source.position)
            except OSError as e:
                msg = f"cannot read: {e.strerror}"
                failures.append(IntegrityError(msg, path=path, offset=node.source.position))
                continue
            if got != node.size:
                msg = "file size mismatch (archive truncated)"
                failures.append(IntegrityError(msg, path=path, offset=node.source.position))
            elif blake3.blake3(buf[:got]).digest() != node.hash:
                msg = "hash sum mismatch (BLAKE3)"
                failures.append(IntegrityError(msg, path=path, offset=node.source.position))
        return failures

    if sum(n.size for _, n in files) < _THREADS_FROM:
        failures = work(files)  # threads would cost more than they save
    else:
        shares = [files[i::_SMALL_WORKERS] for i in range(_SMALL_WORKERS)]
        with ThreadPoolExecutor(len(shares)) as pool:
            failures = [e for found in pool.map(work, shares) for e in found]
    if failures:
        raise min(failures, key=lambda e: e.offset or 0)
    if progress is not None:
        progress(sum(n.size for _, n in files))


def _hash_mapped(fd: int, path: str, node: File, progress: Progress | None) -> bool:
    """Hash ``node``'s body from memory maps; False if the file cannot be mapped.

    Mapping avoids copying every byte out of the page cache, which is what lets a full
    verify run at close to ``b3sum`` speed. The caller opened the file read-only; a file
    truncated by another process while mapped would fault, so the size is checked first.

    Raises:
        IntegrityError: the body is short or its BLAKE3 does not match.
    """
    assert isinstance(node.source, ArchiveSource)  # noqa: S101 - callers pass parsed files
    start = node.source.position
    end = start + node.size
    if os.fstat(fd).st_size < end:
        msg = "file size mismatch (archive truncated)"
        raise IntegrityError(msg, path=path, offset=start)
    hasher = new_hasher(node.size)
    pos = start
    try:
        while pos < end:
            base = pos - pos % mmap.ALLOCATIONGRANULARITY
            length = min(MMAP_WINDOW, end - base)
            # The views are released before the map closes, even when an interrupt lands
            # between two of these calls: closing a map with a live view raises BufferError,
            # which would replace the KeyboardInterrupt (#16).
            with (
                mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=base) as m,
                memoryview(m) as view,
                view[pos - base :] as part,
            ):
                hasher.update(part)
            if progress is not None:
                progress(base + length - pos)
            pos = base + length
    except (OSError, ValueError):
        if pos == start:
            return False  # not mappable (pipe, special file): fall back to reading
        raise
    if hasher.digest() != node.hash:
        msg = "hash sum mismatch (BLAKE3)"
        raise IntegrityError(msg, path=path, offset=start)
    return True


def read_archive(
    stream: IO[bytes],
    *,
    commitment: MerkleArchiveCommitment | None = None,
) -> Archive:
    """Read and verify the header, signature, bounds and whole tree of a v2 archive.

    Args:
        stream: a seekable binary stream positioned anywhere; the archive starts at offset 0.
        commitment: if given, the archive must match it (and may exceed the 1 MiB root cap).

    Returns:
        The archive; file bodies are verified only when read.

    Raises:
        UnsupportedFormatError: a v1 archive.
        MalformedArchiveError: bad magic, truncation, bad TOC, bad names, bounds.
        SignatureError: the signature, signed bounds or commitment do not hold.
        IntegrityError: a directory sighash does not match.
    """
    file_size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    head = stream.read(HEADER_SIZE)
    if head[:3] == MAGIC_V1:
        msg = "legacy v1 (StartOS 0.3.x) archive"
        raise UnsupportedFormatError(msg, hint="use s9reg.s9pk.v1 to read it")
    if head[:3] != MAGIC_V2:
        msg = "Invalid Magic or Unexpected Version"
        raise MalformedArchiveError(msg, offset=0)
    if len(head) < HEADER_SIZE:
        msg = f"truncated header ({len(head)} of {HEADER_SIZE} bytes)"
        raise MalformedArchiveError(msg, offset=len(head))
    header = Header(*_HEADER.unpack_from(head, 3))
    _verify_header(header, commitment)
    root = _TreeParser(stream, file_size).parse_root(header)
    return Archive(header, root, stream, file_size)


def read_header(data: bytes, commitment: MerkleArchiveCommitment | None = None) -> Header:
    """The v2 header at the start of ``data``, its signature checked (and ``commitment``).

    What a registry listing a file by reference can check from its first
    :data:`HEADER_SIZE` bytes; the tree and the bodies are not read.

    Raises:
        UnsupportedFormatError: a v1 archive.
        MalformedArchiveError: bad magic, or fewer than :data:`HEADER_SIZE` bytes.
        SignatureError: the signature, signed bounds or ``commitment`` do not hold.
    """
    if data[:3] == MAGIC_V1:
        msg = "legacy v1 (StartOS 0.3.x) archive"
        raise UnsupportedFormatError(msg)
    if data[:3] != MAGIC_V2:
        msg = "Invalid Magic or Unexpected Version"
        raise MalformedArchiveError(msg, offset=0)
    if len(data) < HEADER_SIZE:
        msg = f"truncated header ({len(data)} of {HEADER_SIZE} bytes)"
        raise MalformedArchiveError(msg, offset=len(data))
    header = Header(*_HEADER.unpack_from(data, 3))
    _verify_header(header, commitment)
    return header


def _verify_header(header: Header, commitment: MerkleArchiveCommitment | None) -> None:
    try:
        key = PublicKey(header.pubkey)
        key.verify(header.commitment.message, header.signature, CONTEXT_S9PK)
    except SignatureError as e:
        raise SignatureError(e.problem, path="/", offset=35) from None
    if commitment is not None:
        if header.root_sighash != commitment.root_sighash:
            msg = "merkle root mismatch"
            raise SignatureError(msg, path="/")
        if header.root_maxsize > commitment.root_maxsize:
            msg = "root directory max size too large"
            raise SignatureError(msg, path="/")
    elif header.root_maxsize > CAP_1_MIB:
        msg = "root directory max size over 1MiB, cancelling download in case of DOS attack"
        raise SignatureError(msg, path="/")
    if header.root_toc_size > header.root_maxsize:
        msg = "size is greater than signed"
        raise SignatureError(msg, path="/", offset=147)


class _TreeParser:
    """Parses every TOC once; rejects overlaps (loops), bad names, bounds and duplicates."""

    def __init__(self, stream: IO[bytes], file_size: int) -> None:
        self.stream = stream
        self.file_size = file_size
        self.toc_starts: dict[int, str] = {}
        self.toc_paths: dict[tuple[int, int], str] = {}
        self.toc_bytes = 0
        self.bodies: list[tuple[int, int, str]] = []
        self.entries = 0

    def parse_root(self, header: Header) -> Directory:
        root = self._parse_dir(
            "/",
            header.root_position,
            header.root_toc_size,
            expected=header.root_sighash,
            bound=header.root_maxsize,
            depth=0,
        )
        self._check_overlaps()
        return root

    def _check_range(self, path: str, position: int, size: int, what: str) -> None:
        if position < HEADER_SIZE or position + size > self.file_size:
            msg = (
                f"{what} at {position}+{size} lies outside the data area "
                f"(bytes {HEADER_SIZE}..{self.file_size})"
            )
            raise MalformedArchiveError(msg, path=path, offset=position)

    def _claim_toc(self, path: str, start: int, size: int) -> None:
        """Refuse a TOC read twice (loops, fan-out) and keep total TOC work linear.

        Each start may be claimed once, and the claimed TOC bytes may not exceed the file size,
        so a hostile tree costs at most one pass over the file before the final overlap sweep
        (:meth:`_check_overlaps`) rejects TOCs that overlap from different starts.
        """
        if start in self.toc_starts:
            msg = f"directory TOC already read for {self.toc_starts[start]} (directory loop?)"
            raise MalformedArchiveError(msg, path=path, offset=start)
        self.toc_bytes += size
        if self.toc_bytes > self.file_size:
            msg = "directory TOCs overlap (more TOC bytes than the file holds)"
            raise MalformedArchiveError(msg, path=path, offset=start)
        self.toc_starts[start] = path
        self.toc_paths[start, start + size] = path

    def _parse_dir(  # noqa: PLR0913 - a TOC's location, signed hash and bound, and depth
        self, path: str, position: int, size: int, *, expected: bytes, bound: int, depth: int
    ) -> Directory:
        if depth > MAX_DEPTH:
            msg = f"directory depth over {MAX_DEPTH}"
            raise MalformedArchiveError(msg, path=path)
        if size > bound:
            msg = "size is greater than signed"
            raise SignatureError(msg, path=path)
        if size > MAX_TOC_SIZE:
            msg = f"directory TOC of {size} bytes exceeds the {MAX_TOC_SIZE}-byte limit"
            raise MalformedArchiveError(msg, path=path, offset=position)
        self._check_range(path, position, size, "directory TOC")
        self._claim_toc(path, position, size)
        self.stream.seek(position)
        buf = self.stream.read(size)
        if len(buf) != size:
            msg = "truncated directory TOC"
            raise MalformedArchiveError(msg, path=path, offset=position)
        entries, subdirs = self._parse_toc(path, buf, position)
        if sighash(entries) != expected:
            msg = "hash sum does not match (directory sighash)"
            raise IntegrityError(msg, path=path, offset=position)
        for name, (sub_pos, sub_size) in subdirs.items():
            child = entries[name]
            entries[name] = self._parse_dir(
                f"{path}{name}/",
                sub_pos,
                sub_size,
                expected=child.hash,
                bound=child.size,
                depth=depth + 1,
            )
        return Directory(entries, expected, bound, position)

    def _parse_toc(
        self, path: str, buf: bytes, base: int
    ) -> tuple[dict[str, Node], dict[str, tuple[int, int]]]:
        """Parse one TOC; sub-directories come back as MISSING placeholders plus their ranges."""
        try:
            count, p = _varint.decode(buf, 0)
        except MalformedArchiveError as e:
            raise MalformedArchiveError(e.problem, path=path, offset=base) from None
        if count * _MIN_ENTRY > len(buf) - p:
            msg = f"entry count {count} cannot fit in a {len(buf)}-byte TOC"
            raise MalformedArchiveError(msg, path=path, offset=base)
        self.entries += count
        if self.entries > MAX_ENTRIES:
            msg = f"more than {MAX_ENTRIES} entries in the archive"
            raise MalformedArchiveError(msg, path=path, offset=base)
        entries: dict[str, Node] = {}
        subdirs: dict[str, tuple[int, int]] = {}
        for _ in range(count):
            name, p = self._parse_name(path, buf, p, base)
            if name in entries:
                msg = "duplicate entry name"
                raise MalformedArchiveError(msg, path=path + name, offset=base + p)
            entries[name], sub, p = self._parse_entry(path + name, buf, p, base)
            if sub is not None:
                subdirs[name] = sub
        if p != len(buf):
            # Upstream ignores them; writers never produce them, and a type byte demoted to
            # MISSING (a one-byte corruption the sighash cannot see) leaves exactly such bytes.
            msg = f"{len(buf) - p} unexpected bytes after the last TOC entry"
            raise MalformedArchiveError(msg, path=path, offset=base + p)
        return dict(sorted(entries.items(), key=lambda kv: kv[0].encode())), subdirs

    @staticmethod
    def _parse_name(path: str, buf: bytes, p: int, base: int) -> tuple[str, int]:
        try:
            name_len, p = _varint.decode(buf, p)
        except MalformedArchiveError as e:
            raise MalformedArchiveError(e.problem, path=path, offset=base + p) from None
        if p + name_len + ENTRY_FIXED > len(buf):
            msg = "truncated TOC entry"
            raise MalformedArchiveError(msg, path=path, offset=base + p)
        try:
            name = buf[p : p + name_len].decode()
        except UnicodeDecodeError:
            msg = "entry name is not valid UTF-8"
            raise MalformedArchiveError(msg, path=path, offset=base + p) from None
        check_name(name, path + name)
        return name, p + name_len

    def _parse_entry(
        self, path: str, buf: bytes, p: int, base: int
    ) -> tuple[Node, tuple[int, int] | None, int]:
        """One entry after its name; a directory comes back as a placeholder plus its range."""
        digest = buf[p : p + HASH_SIZE]
        (size,) = _U64.unpack_from(buf, p + HASH_SIZE)
        kind = buf[p + HASH_SIZE + 8]
        p += ENTRY_FIXED
        extra = {0: 0, 1: 8, 2: 16}.get(kind)
        if extra is None:
            msg = f"Unknown type id {kind} found in MerkleArchive"
            raise MalformedArchiveError(msg, path=path, offset=base + p - 1)
        if p + extra > len(buf):
            msg = "truncated TOC entry"
            raise MalformedArchiveError(msg, path=path, offset=base + p)
        if kind == 0:
            return Missing(digest, size), None, p
        if kind == 1:
            (pos,) = _U64.unpack_from(buf, p)
            self._check_range(path, pos, size, "file")
            if size:
                self.bodies.append((pos, pos + size, path))
            return File(digest, size, ArchiveSource(self.stream, pos)), None, p + 8
        sub = _DIR_HEADER.unpack_from(buf, p)
        return Missing(digest, size), (sub[0], sub[1]), p + 16

    def _check_overlaps(self) -> None:
        ranges = sorted(
            self.bodies + [(s, e, f"TOC of {p}") for (s, e), p in self.toc_paths.items()]
        )
        for (_, e1, p1), (s2, _, p2) in itertools.pairwise(ranges):
            if s2 < e1:
                msg = f"contents overlap {p1}"
                raise MalformedArchiveError(msg, path=p2.removeprefix("TOC of "), offset=s2)
