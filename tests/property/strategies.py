"""Test helpers for the v2 reader: hostile signed archives, repairs, invariants, strategies.

:func:`craft_archive` lays out a raw TOC description (names as raw bytes, any hash, size, type
byte or position) behind a correctly signed header, with sighashes computed as the reader does
(s9pk-format.md §3-§5), so that a structural check, not the signature or a sighash, decides.
:func:`sign_header` and :func:`fix_hashes` repair mutated bytes the same way;
:func:`read_everything` reads any bytes and asserts the invariants; the rest are hypothesis
strategies for valid trees and byte mutations.
"""

from __future__ import annotations

import functools
import io
import itertools
import signal
import struct
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

import blake3
from hypothesis import strategies as st

from s9reg.s9pk import _varint
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.errors import MalformedArchiveError, S9pkError, UnsupportedFormatError
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.reader import HEADER_SIZE, MAGIC_V2, MAX_DEPTH, Archive, read_archive
from s9reg.s9pk.tree import BytesSource, Directory, File, Missing, Node, check_name

__all__ = [
    "OTHER_KEY",
    "TEST_KEY",
    "Crafted",
    "HangError",
    "Mutation",
    "RawDir",
    "RawEntry",
    "apply_mutation",
    "check_accepted",
    "check_located",
    "craft_archive",
    "file_bytes",
    "file_contents",
    "fix_hashes",
    "hard_time_limit",
    "mutations",
    "names",
    "raw_sighash",
    "read_everything",
    "sign_header",
    "tree_summary",
    "trees",
]

# The vectors' example key (seed 00..1f): public, so never use it for anything real.
TEST_KEY = PrivateKey(bytes(range(32)))
OTHER_KEY = PrivateKey(bytes(range(32, 64)))

_U64 = struct.Struct(">Q")
_U64_MAX = (1 << 64) - 1
_OFF_SIGHASH = 99
_OFF_MAXSIZE = 131
_OFF_ROOT_POSITION = 139
_OFF_ROOT_TOC_SIZE = 147
_FIXED = 32 + 8 + 1  # hash, size, type byte
_KIND_FILE = 1
_KIND_DIR = 2


# --------------------------------------------------------------------------------------------
# Crafting validly signed, structurally hostile archives


@dataclass(frozen=True, slots=True)
class RawDir:
    """A TOC to lay out: entries in the given order, or raw bytes.

    Attributes:
        entries: the entries, written in this order (the reader does not check order).
        count: the entry count written; None for ``len(entries)``.
        count_bytes: raw bytes for the count varint (e.g. unterminated); overrides ``count``.
        raw: the whole TOC as raw bytes, instead of count and entries.
        sighash: the sighash a parent (or the header) records; None to compute it.
    """

    entries: tuple[RawEntry, ...] = ()
    count: int | None = None
    count_bytes: bytes | None = None
    raw: bytes | None = None
    sighash: bytes | None = None

    def toc_length(self) -> int:
        """Bytes this TOC occupies when laid out."""
        return len(self._count_prefix()) + sum(e.header_length() for e in self.entries)

    def computed_sighash(self, memo: dict[int, bytes] | None = None) -> bytes:
        """The sighash the reader will compute, unless overridden by ``sighash``.

        ``memo`` (by object identity) keeps shared sub-directories from being hashed once per
        path to them, which would be exponential for a fan-out chain.
        """
        if self.sighash is not None:
            return self.sighash
        if self.raw is not None:
            return bytes(32)  # the reader never gets far enough to compare it
        memo = {} if memo is None else memo
        if id(self) not in memo:
            triples = [(e.name, e.entry_hash(memo), e.entry_size()) for e in self.entries]
            memo[id(self)] = raw_sighash(triples)
        return memo[id(self)]

    def _count_prefix(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.count_bytes is not None:
            return self.count_bytes
        return _varint.encode(len(self.entries) if self.count is None else self.count)


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One TOC entry with every field under the test's control.

    Attributes:
        name: the name as raw bytes (may be empty, invalid UTF-8, contain ``/`` or NUL).
        kind: the type byte (0 MISSING, 1 FILE, 2 DIRECTORY, anything else is unknown).
        data: FILE body placed by the layout (and hashed by default); for MISSING, hashed only.
        dir: DIRECTORY contents placed by the layout (an empty directory when None).
        hash: the recorded hash; None for BLAKE3 of ``data`` or the sub-directory's sighash.
        size: the recorded size; None for ``len(data)`` or the sub-TOC length.
        position: absolute position written; None to place ``data``/``dir`` after what precedes.
            With an explicit position nothing is placed for this entry.
        toc_size: DIRECTORY only, the sub-TOC length written; None for its real length.
        name_len: raw bytes for the name-length varint; None for the canonical encoding.
    """

    name: bytes
    kind: int = _KIND_FILE
    data: bytes = b""
    dir: RawDir | None = None
    hash: bytes | None = None
    size: int | None = None
    position: int | None = None
    toc_size: int | None = None
    name_len: bytes | None = None

    @property
    def subdir(self) -> RawDir:
        """The sub-directory description (empty when not given)."""
        return self.dir if self.dir is not None else _EMPTY_DIR

    def entry_hash(self, memo: dict[int, bytes] | None = None) -> bytes:
        """The hash written in the TOC and fed to the parent's sighash."""
        if self.hash is not None:
            return self.hash
        if self.kind == _KIND_DIR:
            return self.subdir.computed_sighash(memo)
        return blake3.blake3(self.data).digest()

    def entry_size(self) -> int:
        """The size written in the TOC and fed to the parent's sighash."""
        if self.size is not None:
            return self.size
        if self.kind == _KIND_DIR:
            return self.subdir.toc_length()
        return len(self.data)

    def header_length(self) -> int:
        """Bytes of this entry inside its TOC."""
        extra = 8 if self.kind == _KIND_FILE else 16 if self.kind == _KIND_DIR else 0
        return len(self._name_prefix()) + len(self.name) + _FIXED + extra

    def _name_prefix(self) -> bytes:
        return self.name_len if self.name_len is not None else _varint.encode(len(self.name))


_EMPTY_DIR = RawDir()


def _vstr(name: bytes) -> bytes:
    return _varint.encode(len(name)) + name


def raw_sighash(entries: Iterable[tuple[bytes, bytes, int]]) -> bytes:
    """Sighash (§4.3) of ``(name, hash, size)`` triples with names as raw bytes."""
    items = sorted(entries, key=lambda t: t[0])
    h = blake3.blake3(_varint.encode(len(items)))
    for name, digest, size in items:
        h.update(_vstr(name) + digest + _U64.pack(size & _U64_MAX) + b"\x00")
    return h.digest()


@dataclass(frozen=True, slots=True)
class Crafted:
    """A crafted archive and where its layout put things.

    Attributes:
        data: the archive bytes.
        positions: absolute position of each placed TOC (``/``, ``/a/``) and FILE body (``/a/f``).
        root_sighash: the sighash the header carries.
        root_maxsize: the maxsize the header carries.
    """

    data: bytes
    positions: Mapping[str, int] = field(default_factory=dict)
    root_sighash: bytes = bytes(32)
    root_maxsize: int = 0

    @property
    def commitment(self) -> MerkleArchiveCommitment:
        """The commitment the header signs."""
        return MerkleArchiveCommitment(self.root_sighash, self.root_maxsize)


class _Layout:
    """Breadth-first placement as the writer does it (§7.2), honouring explicit positions."""

    def __init__(self, start: int) -> None:
        self.memo: dict[int, bytes] = {}
        self.next = start
        self.queue: deque[tuple[str, RawEntry]] = deque()
        self.positions: dict[str, int] = {}

    def toc(self, d: RawDir, path: str) -> bytes:
        out = bytearray(d._count_prefix())
        if d.raw is not None:
            return bytes(out)
        for e in d.entries:
            out += e._name_prefix() + e.name
            out += (
                e.entry_hash(self.memo)
                + _U64.pack(e.entry_size() & _U64_MAX)
                + bytes([e.kind & 0xFF])
            )
            child = path + e.name.decode(errors="replace")
            if e.kind == _KIND_FILE:
                out += _U64.pack(self._place(child, e, len(e.data)) & _U64_MAX)
            elif e.kind == _KIND_DIR:
                length = e.subdir.toc_length()
                pos = self._place(child + "/", e, length)
                toc_size = length if e.toc_size is None else e.toc_size
                out += _U64.pack(pos & _U64_MAX) + _U64.pack(toc_size & _U64_MAX)
        return bytes(out)

    def _place(self, path: str, e: RawEntry, length: int) -> int:
        if e.position is not None:
            return e.position
        pos = self.next
        self.next += length
        self.positions[path] = pos
        self.queue.append((path, e))
        return pos


def craft_archive(
    root: RawDir,
    *,
    key: PrivateKey = TEST_KEY,
    root_sighash: bytes | None = None,
    root_maxsize: int | None = None,
    root_position: int | None = None,
    root_toc_size: int | None = None,
    trailer: bytes = b"",
) -> Crafted:
    """Lay out ``root`` after a correctly signed header.

    The root TOC always sits at byte 155; ``root_position``/``root_toc_size`` only change the
    (unsigned) header fields. Sighashes are computed bottom-up unless overridden, and the header
    signature covers ``root_sighash``/``root_maxsize`` whatever they are.

    Args:
        root: the root TOC.
        key: the signing key.
        root_sighash: header sighash; None for the computed one.
        root_maxsize: header maxsize; None for the root TOC length.
        root_position: header root TOC position; None for 155.
        root_toc_size: header root TOC size; None for the root TOC length.
        trailer: bytes appended after everything placed.

    Returns:
        The archive and its layout.
    """
    length = root.toc_length()
    layout = _Layout(HEADER_SIZE + length)
    layout.positions["/"] = HEADER_SIZE
    body = bytearray(layout.toc(root, "/"))
    while layout.queue:
        path, e = layout.queue.popleft()
        body += e.data if e.kind == _KIND_FILE else layout.toc(e.subdir, path)
    sighash = root.computed_sighash(layout.memo) if root_sighash is None else root_sighash
    maxsize = length if root_maxsize is None else root_maxsize
    header = _header(
        key,
        sighash,
        maxsize,
        HEADER_SIZE if root_position is None else root_position,
        length if root_toc_size is None else root_toc_size,
    )
    return Crafted(header + bytes(body) + trailer, layout.positions, sighash, maxsize)


def _header(key: PrivateKey, sighash: bytes, maxsize: int, position: int, toc_size: int) -> bytes:
    signature = _sign(key, sighash + _U64.pack(maxsize))
    return (
        MAGIC_V2
        + _public(key)
        + signature
        + sighash
        + _U64.pack(maxsize)
        + _U64.pack(position)
        + _U64.pack(toc_size)
    )


@functools.lru_cache(maxsize=4096)
def _sign(key: PrivateKey, message: bytes) -> bytes:
    return MerkleArchiveCommitment(message[:32], _U64.unpack(message[32:])[0]).sign(key).raw


@functools.lru_cache(maxsize=4)
def _public(key: PrivateKey) -> bytes:
    return key.public_key.raw


def sign_header(data: bytes, key: PrivateKey = TEST_KEY) -> bytes:
    """Replace the header's key and signature with a valid one for its sighash and maxsize.

    Everything else (magic, position and size fields, TOCs) is kept as is. Inputs shorter than a
    header are returned unchanged.
    """
    if len(data) < HEADER_SIZE:
        return data
    message = data[_OFF_SIGHASH:_OFF_ROOT_POSITION]
    return data[:3] + _public(key) + _sign(key, bytes(message)) + data[_OFF_SIGHASH:]


# --------------------------------------------------------------------------------------------
# Repairing mutated bytes: recompute every hash the reader will check, then sign


def _u64(buf: bytearray, p: int) -> int:
    return int(_U64.unpack_from(buf, p)[0])


def _read_varint(buf: bytearray, p: int, end: int) -> tuple[int, int] | None:
    value = 0
    for i in range(10):
        if p + i >= end:
            return None
        b = buf[p + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value & _U64_MAX, p + i + 1
    return None


class _Fixer:
    """Best-effort, never-raising repair of file hashes and sighashes in a mutated archive."""

    MAX_DEPTH = 80
    MAX_TOCS = 2000
    MAX_ENTRIES = 20000

    def __init__(self, buf: bytearray) -> None:
        self.buf = buf
        self.seen: set[int] = set()
        self.entries = 0

    def fix_dir(self, pos: int, size: int, depth: int) -> bytes | None:
        buf = self.buf
        end = pos + size
        if (
            depth > self.MAX_DEPTH
            or pos in self.seen
            or len(self.seen) >= self.MAX_TOCS
            or pos < HEADER_SIZE
            or end > len(buf)
        ):
            return None
        self.seen.add(pos)
        head = _read_varint(buf, pos, end)
        if head is None:
            return None
        count, p = head
        triples: list[tuple[bytes, int]] = []  # name, offset of its hash
        for _ in range(count):
            p_next = self._fix_entry(p, end, depth, triples)
            if p_next is None:
                break
            p = p_next
        h = blake3.blake3(_varint.encode(len(triples)))
        for name, off in sorted(triples):
            h.update(_vstr(name) + bytes(buf[off : off + 40]) + b"\x00")
        return h.digest()

    def _fix_entry(
        self, p: int, end: int, depth: int, triples: list[tuple[bytes, int]]
    ) -> int | None:
        buf = self.buf
        self.entries += 1
        got = _read_varint(buf, p, end) if self.entries <= self.MAX_ENTRIES else None
        if got is None:
            return None
        name_len, p = got
        if p + name_len + _FIXED > end:
            return None
        name = bytes(buf[p : p + name_len])
        off = p + name_len
        size = _u64(buf, off + 32)
        kind = buf[off + 40]
        p = off + _FIXED
        if kind == _KIND_FILE:
            if p + 8 > end:
                return None
            fpos = _u64(buf, p)
            if fpos >= HEADER_SIZE and fpos + size <= len(buf):
                buf[off : off + 32] = blake3.blake3(bytes(buf[fpos : fpos + size])).digest()
            p += 8
        elif kind == _KIND_DIR:
            if p + 16 > end:
                return None
            digest = self.fix_dir(_u64(buf, p), _u64(buf, p + 8), depth + 1)
            if digest is not None:
                buf[off : off + 32] = digest
            p += 16
        elif kind != 0:
            return None
        triples.append((name, off))
        return p


def fix_hashes(data: bytes, key: PrivateKey = TEST_KEY, *, sign: bool = True) -> bytes:
    """Recompute file hashes and directory sighashes bottom-up, then re-sign the header.

    Parses leniently whatever the bytes hold (stopping at anything unparsable), so that after
    repair the reader's structural checks, not a hash or the signature, decide. With ``sign``
    false the old signature is kept. Never raises.
    """
    if len(data) < HEADER_SIZE:
        return data
    buf = bytearray(data)
    digest = _Fixer(buf).fix_dir(_u64(buf, _OFF_ROOT_POSITION), _u64(buf, _OFF_ROOT_TOC_SIZE), 0)
    if digest is not None:
        buf[_OFF_SIGHASH : _OFF_SIGHASH + 32] = digest
    return sign_header(bytes(buf), key) if sign else bytes(buf)


# --------------------------------------------------------------------------------------------
# Hypothesis strategies: valid trees


names = st.text(
    st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12
).filter(lambda s: s not in {".", ".."})
"""Valid entry names: any UTF-8 text without ``/`` or NUL, other than ``.`` and ``..``."""

file_contents = st.one_of(st.just(b""), st.binary(min_size=1, max_size=80))
"""File bodies, often empty."""

_missing = st.builds(
    Missing,
    st.binary(min_size=32, max_size=32),
    st.one_of(st.integers(0, 300), st.integers(0, _U64_MAX)),
)
_leaves: st.SearchStrategy[Node] = st.one_of(file_contents.map(File.from_bytes), _missing)


@st.composite
def _filtered(draw: st.DrawFn, d: Directory) -> Directory:
    """Maybe turn some children into MISSING, keeping the sighash and size (as §4.5 filtering)."""
    if not d.entries or not draw(st.booleans()):
        return d
    chosen = draw(st.sets(st.sampled_from(sorted(d.entries))))
    if not chosen:
        return d
    return d.with_entries({n: c.to_missing() if n in chosen else c for n, c in d.entries.items()})


def _directories(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.dictionaries(names, children, max_size=5).map(Directory.of).flatmap(_filtered)


_nodes: st.SearchStrategy[Node] = st.recursive(_leaves, _directories, max_leaves=24)


def trees() -> st.SearchStrategy[Directory]:
    """Valid roots: nested directories, empty files, MISSING entries, filtered directories."""
    return st.dictionaries(names, _nodes, max_size=6).map(Directory.of).flatmap(_filtered)


def tree_summary(root: Directory) -> list[tuple[str, int, bytes, int]]:
    """``(path, kind, hash, size)`` of every node below ``root``, sorted by path."""
    return sorted((path, int(node.kind), node.hash, node.size) for path, node in root.walk())


def file_bytes(root: Directory) -> dict[str, bytes]:
    """Contents of every in-memory FILE below ``root``, by path."""
    return {
        path: node.source.data
        for path, node in root.files()
        if isinstance(node.source, BytesSource)
    }


# --------------------------------------------------------------------------------------------
# What every accepted archive must satisfy, whatever its bytes


def check_accepted(archive: Archive) -> None:
    """Assert the strict invariants on an archive the reader accepted.

    Names are single safe components, directories nest at most ``MAX_DEPTH`` deep, every body
    and TOC lies inside the file after the header, and none of them overlap. TOC extents are
    their canonical lengths, which never exceed what was actually read, so a reported overlap
    is a real one.

    Raises:
        AssertionError: an invariant does not hold (the reader accepted hostile input).
    """
    root = archive.root
    ranges = [(archive.header.root_position, root.toc_size, "/")]
    for path, node in root.walk():
        parts = path.rstrip("/").split("/")
        for part in parts:
            try:
                check_name(part, path)
            except MalformedArchiveError as e:
                msg = f"accepted a bad name: {e}"
                raise AssertionError(msg) from None
        if isinstance(node, Directory):
            assert len(parts) <= MAX_DEPTH, f"accepted depth {len(parts)}: {path}"
            assert node.position is not None
            ranges.append((node.position, node.toc_size, path))
        elif isinstance(node, File) and node.size:
            assert node.position is not None
            ranges.append((node.position, node.size, path))
    ranges.sort()
    for start, size, path in ranges:
        assert start >= HEADER_SIZE, f"accepted {path} at {start}, inside the header"
        assert start + size <= archive.file_size, f"accepted {path} past the end of the file"
    for (s1, n1, p1), (s2, _, p2) in itertools.pairwise(ranges):
        assert s2 >= s1 + n1, f"accepted overlapping {p1} and {p2}"


def check_located(error: S9pkError) -> None:
    """Assert that a rejection says where: a path inside the archive, or a header offset.

    Only header-level problems (magic, a short header, a v1 file) may lack a path.

    Raises:
        AssertionError: the error names no archive path.
    """
    if isinstance(error, UnsupportedFormatError):
        return
    if error.path is None:
        assert error.offset is not None, f"no path and no offset: {error}"
        assert error.offset <= HEADER_SIZE, f"no path for a problem past the header: {error}"
    else:
        assert error.path.startswith("/"), f"not an archive path: {error.path!r}"


Reader = Callable[[IO[bytes]], Archive]


def read_everything(data: bytes, reader: Reader = read_archive) -> Archive | S9pkError:
    """Read ``data``, verify every body and read every file: the archive, or its one error.

    Bodies are verified twice, through the stream and through memory maps of a real file (the
    path :meth:`Archive.verify_all` takes for files on disk); both must reach the same verdict.
    A rejection must say where (:func:`check_located`); an accepted archive must pass
    :func:`check_accepted`. Anything else propagates: it is a reader bug.

    Raises:
        AssertionError: an invariant does not hold, or the two body paths disagree.
    """
    try:
        archive = reader(io.BytesIO(data))
    except S9pkError as e:
        check_located(e)
        return e
    verdicts: list[tuple[type[S9pkError], str | None] | None] = []
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        for a in (archive, Archive(archive.header, archive.root, f, archive.file_size)):
            try:
                a.verify_all()
                verdicts.append(None)
            except S9pkError as e:
                check_located(e)
                verdicts.append((type(e), e.path))
                error = e
    assert verdicts[0] == verdicts[1], f"stream and mapped verify disagree: {verdicts}"
    if verdicts[0] is not None:
        return error
    try:
        for path, _ in archive.root.files():
            archive.read_file(path)
    except S9pkError as e:
        msg = f"verify_all passed but reading failed: {e}"
        raise AssertionError(msg) from e
    check_accepted(archive)
    return archive


# --------------------------------------------------------------------------------------------
# Hypothesis strategies: byte mutations


_INTERESTING_U64 = (0, 1, 154, 155, 156, 0x7F, 0x80, 1 << 20, 1 << 31, 1 << 63, _U64_MAX)


@dataclass(frozen=True, slots=True)
class Mutation:
    """One edit of archive bytes; ``at`` is taken modulo the length so any value applies.

    Kinds: ``flip`` (xor a byte with ``value``), ``truncate`` (keep ``at`` bytes), ``insert``
    (``payload`` at ``at``), ``delete`` (``length`` bytes at ``at``), ``overwrite`` (``payload``
    over bytes at ``at``), ``u64`` (an interesting big-endian u64 at ``at``, e.g. a size field),
    ``header_u64`` (the same into one of the header's maxsize/position/size fields).
    """

    kind: str
    at: int
    value: int = 1
    length: int = 1
    payload: bytes = b""


def apply_mutation(data: bytes, m: Mutation) -> bytes:
    """The bytes after ``m``."""
    n = len(data)
    at = m.at % (n + 1)
    if m.kind == "flip":
        if n == 0:
            return data
        i = m.at % n
        return data[:i] + bytes([data[i] ^ (m.value or 1)]) + data[i + 1 :]
    if m.kind == "truncate":
        return data[:at]
    if m.kind == "insert":
        return data[:at] + m.payload + data[at:]
    if m.kind == "delete":
        return data[:at] + data[at + m.length :]
    if m.kind in {"overwrite", "u64", "header_u64"}:
        payload = m.payload
        if m.kind != "overwrite":
            payload = _U64.pack(_INTERESTING_U64[m.value % len(_INTERESTING_U64)])
        if m.kind == "header_u64":
            fields = (_OFF_MAXSIZE, _OFF_ROOT_POSITION, _OFF_ROOT_TOC_SIZE)
            at = fields[m.at % len(fields)]
        return data[:at] + payload + data[at + len(payload) :]
    msg = f"unknown mutation {m.kind!r}"
    raise ValueError(msg)


def mutations() -> st.SearchStrategy[Mutation]:
    """Byte flips, truncations, insertions, deletions, overwrites and interesting u64 fields."""
    # Offsets wrap modulo the length; the mix keeps small ones (header) from crowding out TOCs.
    at = st.one_of(st.integers(3, HEADER_SIZE), st.integers(HEADER_SIZE, 1 << 16))
    return st.one_of(
        st.builds(Mutation, st.just("flip"), at, st.integers(1, 255)),
        st.builds(Mutation, st.just("truncate"), at),
        st.builds(Mutation, st.just("insert"), at, payload=st.binary(min_size=1, max_size=16)),
        st.builds(Mutation, st.just("delete"), at, length=st.integers(1, 64)),
        st.builds(Mutation, st.just("overwrite"), at, payload=st.binary(min_size=1, max_size=16)),
        st.builds(Mutation, st.just("u64"), at, st.integers(0, len(_INTERESTING_U64) - 1)),
        st.builds(Mutation, st.just("header_u64"), at, st.integers(0, len(_INTERESTING_U64) - 1)),
    )


# --------------------------------------------------------------------------------------------
# A hard time bound (a hypothesis deadline only measures an example after it returns)


class HangError(Exception):
    """The code under test ran past its hard time limit."""


@contextmanager
def hard_time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`HangError` inside the block if it runs longer than ``seconds`` (POSIX)."""

    def _expired(signum: int, frame: FrameType | None) -> None:
        msg = f"still running after {seconds} s"
        raise HangError(msg)

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
