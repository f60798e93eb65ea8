"""The v2 reader is strict where upstream is lenient, on validly signed hostile archives (§3-§6).

Every hostile archive here carries a correct header signature and consistent sighashes (built by
``tests/property/strategies.py``), so the structural check under test is what rejects it.
"""

from __future__ import annotations

import gc
import io
import re
import struct
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from s9reg.s9pk import _varint
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.errors import (
    IntegrityError,
    MalformedArchiveError,
    S9pkError,
    SignatureError,
    UnsupportedFormatError,
)
from s9reg.s9pk.reader import HEADER_SIZE, MAX_DEPTH, Archive, read_archive
from s9reg.s9pk.tree import Directory, File
from s9reg.s9pk.writer import write_archive

# The crafting helpers are shared with the property tests and the fuzz target.
from strategies import (
    TEST_KEY,
    Crafted,
    RawDir,
    RawEntry,
    craft_archive,
    fix_hashes,
    hard_time_limit,
    raw_sighash,
)

_U64 = struct.Struct(">Q")
EMPTY_SIGHASH = raw_sighash([])


def F(
    name: bytes,
    data: bytes = b"x",
    *,
    size: int | None = None,
    position: int | None = None,
    name_len: bytes | None = None,
) -> RawEntry:
    return RawEntry(name, 1, data, size=size, position=position, name_len=name_len)


def D(
    name: bytes,
    *entries: RawEntry,
    size: int | None = None,
    position: int | None = None,
    toc_size: int | None = None,
) -> RawEntry:
    sub = RawDir(tuple(entries))
    return RawEntry(name, 2, dir=sub, size=size, position=position, toc_size=toc_size)


def M(name: bytes, *, name_len: bytes | None = None) -> RawEntry:
    return RawEntry(name, 0, name_len=name_len)


def root(
    *entries: RawEntry,
    count: int | None = None,
    count_bytes: bytes | None = None,
    sighash: bytes | None = None,
) -> RawDir:
    return RawDir(tuple(entries), count=count, count_bytes=count_bytes, sighash=sighash)


def read_everything(data: bytes, commitment: MerkleArchiveCommitment | None = None) -> Archive:
    """Read, verify every body, and read every file: the reader's whole surface."""
    archive = read_archive(io.BytesIO(data), commitment=commitment)
    archive.verify_all()
    for path, _ in archive.root.files():
        archive.read_file(path)
    return archive


@dataclass(frozen=True, slots=True)
class Rejection:
    """What a hostile archive must raise: exact class, problem pattern, archive path(s)."""

    error: type[S9pkError]
    problem: str
    paths: tuple[str | None, ...]


def expect(error: type[S9pkError], problem: str, *paths: str | None) -> Rejection:
    return Rejection(error, problem, paths)


def check_rejected(
    data: bytes, want: Rejection, commitment: MerkleArchiveCommitment | None = None
) -> S9pkError:
    with hard_time_limit(10), pytest.raises(S9pkError) as info:
        read_everything(data, commitment)
    e = info.value
    assert type(e) is want.error, f"{type(e).__name__}: {e}"
    assert re.search(want.problem, e.problem), str(e)
    # One library error, whose message names the problem and where in the archive it is.
    assert e.path in want.paths, f"path {e.path!r} not in {want.paths}: {e}"
    if e.path is not None:
        assert str(e).startswith(f"{e.path}: "), str(e)
    return e


# ----------------------------------------------------------------------------------------------
# One case per strict rule, each validly signed


def _at_first_body(d: RawDir) -> int:
    """Where the layout puts the first placed item after the root TOC."""
    return HEADER_SIZE + d.toc_length()


def _shared_overlap() -> Crafted:
    probe = root(F(b"a", b"abc"), F(b"b", b"abc", position=0))
    return craft_archive(root(F(b"a", b"abc"), F(b"b", b"abc", position=_at_first_body(probe))))


def _partial_overlap() -> Crafted:
    # Both bodies verify on their own; only the overlap check can refuse the shared bytes.
    probe = root(F(b"a", b"abcd"), F(b"b", b"cd", position=0))
    return craft_archive(root(F(b"a", b"abcd"), F(b"b", b"cd", position=_at_first_body(probe) + 2)))


def _file_in_root_toc() -> Crafted:
    return craft_archive(root(F(b"f", b"\x01", position=HEADER_SIZE)))


def _dir_toc_in_file_body() -> Crafted:
    # The empty directory's TOC is the single byte 00, which is also the body of /a.
    probe = root(F(b"a", b"\x00"), D(b"d", position=0))
    return craft_archive(root(F(b"a", b"\x00"), D(b"d", position=_at_first_body(probe))))


def _loop_to_parent() -> Crafted:
    probe = root(D(b"a", position=HEADER_SIZE, toc_size=0, size=0))
    n = probe.toc_length()
    return craft_archive(root(D(b"a", position=HEADER_SIZE, toc_size=n, size=n)))


def _loop_to_self() -> Crafted:
    inner = RawDir((D(b"b", position=0, toc_size=0, size=0),))
    n = inner.toc_length()
    at = _at_first_body(root(RawEntry(b"a", 2, dir=inner)))
    inner = RawDir((D(b"b", position=at, toc_size=n, size=n),))
    return craft_archive(root(RawEntry(b"a", 2, dir=inner)))


def _two_dirs_one_toc() -> Crafted:
    probe = root(D(b"a", M(b"x")), D(b"b", M(b"x"), position=0))
    return craft_archive(root(D(b"a", M(b"x")), D(b"b", M(b"x"), position=_at_first_body(probe))))


def _toc_inside_toc() -> Crafted:
    # Byte 190 is the high byte of the root entry's size: 00, a valid empty TOC on its own.
    crafted = craft_archive(root(D(b"a", position=HEADER_SIZE + 35, toc_size=1)))
    assert crafted.data[HEADER_SIZE + 35] == 0
    return crafted


def _nested(depth: int, leaf: RawEntry | None = None) -> RawDir:
    d = RawDir(() if leaf is None else (leaf,))
    for _ in range(depth):
        d = RawDir((RawEntry(b"d", 2, dir=d),))
    return d


def _truncated_file_entry() -> Crafted:
    toc = b"\x01" + _varint.encode_str("foo") + bytes(40) + b"\x01" + b"\x00\x00"
    return craft_archive(RawDir(raw=toc))


def _ten_byte(value: int) -> bytes:
    """``value`` as a ten-byte varint (non-minimal, bits past 64 allowed in the tenth byte)."""
    out = bytearray()
    for _ in range(9):
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value & 0x7F)
    return bytes(out)


def _overflowing_count() -> Crafted:
    # Ten bytes holding 2^64: truncated to 64 bits it would read as an empty directory.
    return craft_archive(RawDir(raw=_ten_byte(1 << 64), sighash=EMPTY_SIGHASH))


def _overflowing_name_len() -> Crafted:
    # Ten bytes holding 3 + 2^64: truncated to 64 bits it would read as a 3-byte name.
    entry = F(b"foo", b"bar", name_len=_ten_byte(3 + (1 << 64)))
    return craft_archive(root(entry, sighash=raw_sighash([(b"foo", _b3(b"bar"), 3)])))


def _b3(data: bytes) -> bytes:
    import blake3  # noqa: PLC0415

    return bytes(blake3.blake3(data).digest())


_MAL = MalformedArchiveError
STRICT_CASES = [
    # names
    pytest.param(lambda: craft_archive(root(F(b""))), expect(_MAL, "empty entry name", "/"),
                 id="empty name"),
    pytest.param(lambda: craft_archive(root(D(b"sub", F(b"")))), expect(_MAL, "empty entry name", "/sub/"),
                 id="empty name in sub-directory"),
    pytest.param(lambda: craft_archive(root(F(b"a/b"))), expect(_MAL, "contains '/'", "/a/b"),
                 id="slash in name"),
    pytest.param(lambda: craft_archive(root(D(b"sub", F(b"../../etc/passwd")))),
                 expect(_MAL, "contains '/'", "/sub/../../etc/passwd"), id="path traversal name"),
    pytest.param(lambda: craft_archive(root(F(b"a\x00b"))), expect(_MAL, "NUL", "/a\x00b"),
                 id="NUL in name"),
    pytest.param(lambda: craft_archive(root(D(b"."))), expect(_MAL, "'.' is not allowed", "/."),
                 id="dot name"),
    pytest.param(lambda: craft_archive(root(D(b"sub", M(b"..")))),
                 expect(_MAL, r"'\.\.' is not allowed", "/sub/.."), id="dot-dot name in sub-directory"),
    pytest.param(lambda: craft_archive(root(F(b"\xff\xfe"))), expect(_MAL, "not valid UTF-8", "/"),
                 id="invalid UTF-8 name"),
    pytest.param(lambda: craft_archive(root(F(b"\xc0\xae"))), expect(_MAL, "not valid UTF-8", "/"),
                 id="overlong UTF-8 dot"),
    # duplicates
    pytest.param(lambda: craft_archive(root(F(b"x", b"1"), F(b"x", b"2"))),
                 expect(_MAL, "duplicate entry name", "/x"), id="duplicate file names"),
    pytest.param(lambda: craft_archive(root(D(b"sub", M(b"x"), D(b"x")))),
                 expect(_MAL, "duplicate entry name", "/sub/x"), id="duplicate names of different kinds"),
    # positions and sizes outside the data area
    pytest.param(lambda: craft_archive(root(F(b"f", b"abc", size=4))),
                 expect(_MAL, "file at .* outside the data area", "/f"), id="file runs past the end"),
    pytest.param(lambda: craft_archive(root(F(b"f", b"abc", size=2**64 - 1))),
                 expect(_MAL, "outside the data area", "/f"), id="file size 2^64-1"),
    pytest.param(lambda: craft_archive(root(F(b"f", b"abc", position=100))),
                 expect(_MAL, "outside the data area", "/f"), id="file position inside the header"),
    pytest.param(lambda: craft_archive(root(F(b"f", b"abc", position=2**63))),
                 expect(_MAL, "outside the data area", "/f"), id="file position past the end"),
    pytest.param(lambda: craft_archive(root(F(b"f", b"", position=10**6))),
                 expect(_MAL, "outside the data area", "/f"), id="empty file position past the end"),
    pytest.param(lambda: craft_archive(root(D(b"d", position=2**64 - 1))),
                 expect(_MAL, "directory TOC at .* outside the data area", "/d/"), id="sub-directory TOC past the end"),
    pytest.param(lambda: craft_archive(root(D(b"d", toc_size=5000, size=5000))),
                 expect(_MAL, "directory TOC at .* outside the data area", "/d/"), id="sub-directory TOC runs past the end"),
    pytest.param(lambda: craft_archive(root(D(b"d", toc_size=2**40, size=2**40))),
                 expect(_MAL, "exceeds the .*-byte limit", "/d/"), id="sub-directory TOC over the size limit"),
    pytest.param(lambda: craft_archive(root(F(b"f")), root_position=10**9),
                 expect(_MAL, "directory TOC at .* outside the data area", "/"), id="root TOC position past the end"),
    pytest.param(lambda: craft_archive(root(F(b"f")), root_position=3),
                 expect(_MAL, "directory TOC at .* outside the data area", "/"), id="root TOC inside the header"),
    pytest.param(lambda: craft_archive(root(F(b"f")), root_toc_size=10**5, root_maxsize=10**5),
                 expect(_MAL, "directory TOC at .* outside the data area", "/"), id="root TOC runs past the end"),
    # signed bounds
    pytest.param(lambda: craft_archive(root(D(b"d", M(b"x"), size=1))),
                 expect(SignatureError, "size is greater than signed", "/d/"), id="sub-directory TOC larger than signed"),
    pytest.param(lambda: craft_archive(root(F(b"f")), root_toc_size=root(F(b"f")).toc_length() + 1),
                 expect(SignatureError, "size is greater than signed", "/"), id="root TOC larger than signed"),
    # overlapping reads
    pytest.param(_shared_overlap, expect(_MAL, "overlap", "/a", "/b"), id="two files share bytes"),
    pytest.param(_partial_overlap, expect(_MAL, "overlap", "/a", "/b"), id="files overlap partially"),
    pytest.param(_file_in_root_toc, expect(_MAL, "overlap", "/f", "/"), id="file inside the root TOC"),
    pytest.param(_dir_toc_in_file_body, expect(_MAL, "overlap", "/a", "/d/"), id="directory TOC inside a file body"),
    # loops and depth
    pytest.param(_loop_to_parent, expect(_MAL, "loop", "/a/"), id="directory points at its parent's TOC"),
    pytest.param(_loop_to_self, expect(_MAL, "loop", "/a/b/"), id="directory points at its own TOC"),
    pytest.param(_two_dirs_one_toc, expect(_MAL, "loop|overlap", "/b/"), id="two directories share one TOC"),
    pytest.param(_toc_inside_toc, expect(_MAL, "loop|overlap", "/a/"), id="TOC starts inside another TOC"),
    pytest.param(lambda: craft_archive(_nested(MAX_DEPTH + 1)),
                 expect(_MAL, f"depth over {MAX_DEPTH}", "/d" * (MAX_DEPTH + 1) + "/"), id="depth 65"),
    # entry counts that cannot fit the TOC
    pytest.param(lambda: craft_archive(root(F(b"f"), count=2)),
                 expect(_MAL, "entry count 2 cannot fit", "/"), id="count one too large"),
    pytest.param(lambda: craft_archive(RawDir(raw=_varint.encode(2**63) + bytes(60))),
                 expect(_MAL, f"entry count {2**63} cannot fit", "/"), id="count 2^63"),
    pytest.param(lambda: craft_archive(RawDir(raw=b"\xff" * 9 + b"\x01" + bytes(60))),
                 expect(_MAL, "cannot fit", "/"), id="count 2^64-1"),
    pytest.param(lambda: craft_archive(root(RawEntry(b"d", 2, dir=RawDir((M(b"x"),), count=1000)))),
                 expect(_MAL, "entry count 1000 cannot fit", "/d/"), id="count too large in sub-directory"),
    pytest.param(lambda: craft_archive(RawDir(raw=b"\x01")),
                 expect(_MAL, "entry count 1 cannot fit", "/"), id="count without entries"),
    pytest.param(_truncated_file_entry, expect(_MAL, "truncated TOC entry", "/foo"), id="FILE entry cut by the TOC end"),
    pytest.param(lambda: craft_archive(root(F(b"f", name_len=_varint.encode(2**62)))),
                 expect(_MAL, "truncated TOC entry", "/"), id="name runs past the TOC end"),
    pytest.param(lambda: craft_archive(root(RawEntry(b"x", 3))),
                 expect(_MAL, "Unknown type id 3", "/x"), id="unknown type byte"),
    # unterminated or over-long varints
    pytest.param(lambda: craft_archive(RawDir(raw=b"\xff" * 11)),
                 expect(_MAL, "Unterminated varint", "/"), id="unterminated count varint"),
    pytest.param(lambda: craft_archive(root(RawEntry(b"d", 2, dir=RawDir(raw=b"\xff" * 11)))),
                 expect(_MAL, "Unterminated varint", "/d/"), id="unterminated count varint in sub-directory"),
    pytest.param(lambda: craft_archive(RawDir(raw=b"\x80")),
                 expect(_MAL, "truncated varint", "/"), id="count varint cut by the TOC end"),
    pytest.param(lambda: craft_archive(RawDir(raw=b""), root_maxsize=0),
                 expect(_MAL, "truncated varint", "/"), id="zero-length root TOC"),
    pytest.param(lambda: craft_archive(root(M(b"", name_len=b"\xff" * 11))),
                 expect(_MAL, "Unterminated varint", "/"), id="unterminated name-length varint"),
    pytest.param(_overflowing_count, expect(_MAL, "varint", "/"), id="count varint over 64 bits"),
    pytest.param(_overflowing_name_len, expect(_MAL, "varint", "/"), id="name-length varint over 64 bits"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "want"), STRICT_CASES)
def test_strict_rule(build: Callable[[], Crafted], want: Rejection) -> None:
    check_rejected(build().data, want)


def test_crafter_reproduces_the_vectors(vectors: Path) -> None:
    """The hostile cases are trustworthy: the same crafter writes both vectors byte for byte."""
    ex1 = craft_archive(root(F(b"foo", b"bar")))
    assert ex1.data == (vectors / "example1.s9pk").read_bytes()

    def txt(n: str) -> RawEntry:
        return F(n.encode(), n.encode())

    b = RawEntry(
        b"b", 2, dir=root(RawEntry(b"b", 2, dir=root(txt("a.txt"))), txt("a.txt"), txt("c.txt"))
    )
    ex2 = craft_archive(root(RawEntry(b"a", 2, dir=root(b, txt("a.txt"), txt("c.txt")))))
    assert ex2.data == (vectors / "example2.s9pk").read_bytes()


def test_depth_64_accepted() -> None:
    data = craft_archive(_nested(MAX_DEPTH, F(b"leaf", b"deep"))).data
    archive = read_everything(data)
    assert archive.read_file("/d" * MAX_DEPTH + "/leaf") == b"deep"


def test_depth_64_written_by_the_writer_accepted() -> None:
    node: Directory = Directory.of({"leaf": File.from_bytes(b"deep")})
    for _ in range(MAX_DEPTH - 1):
        node = Directory.of({"d": node})
    out = io.BytesIO()
    write_archive(out, Directory.of({"d": node}), TEST_KEY)
    assert read_everything(out.getvalue()).read_file("d/" * MAX_DEPTH + "leaf") == b"deep"


def test_non_minimal_varints_still_accepted() -> None:
    """Strictness stops where the spec requires leniency: ``80 00`` reads as 0 (§2.1)."""
    crafted = craft_archive(root(F(b"foo", b"bar", name_len=b"\x83\x00"), count_bytes=b"\x81\x00"))
    assert read_everything(crafted.data).read_file("foo") == b"bar"


def _fan_out(levels: int) -> bytes:
    """``levels`` TOCs back to back, each with entries ``a`` and ``b`` pointing at the next one.

    A reader that parses a shared TOC once per path to it does 2^levels parses.
    """
    length = RawDir((D(b"a", position=0), D(b"b", position=0))).toc_length()
    chain = [RawDir()]
    for level in reversed(range(levels)):
        sub, at = chain[-1], HEADER_SIZE + (level + 1) * length
        pair = tuple(RawEntry(n, 2, dir=sub, position=at) for n in (b"a", b"b"))
        chain.append(RawDir(pair))
    chain.reverse()
    return craft_archive(chain[0], trailer=b"".join(_toc_bytes(d) for d in chain[1:])).data


def _toc_bytes(d: RawDir) -> bytes:
    data = craft_archive(d).data
    return data[HEADER_SIZE : HEADER_SIZE + d.toc_length()]


def test_exponential_fan_out_rejected_quickly() -> None:
    data = _fan_out(MAX_DEPTH)
    start = time.monotonic()
    # Depth first down the a's: the first TOC claimed twice is the deepest one, by way of b.
    check_rejected(data, expect(_MAL, "loop|overlap", "/a" * (MAX_DEPTH - 1) + "/b/"))
    assert time.monotonic() - start < 2


# ----------------------------------------------------------------------------------------------
# The spec's suggested negative tests (shared/vectors/README.md), on the vector files


def _edit(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def _xor(data: bytes, offset: int) -> bytes:
    return _edit(data, offset, bytes([data[offset] ^ 0x01]))


def _swap_positions(data: bytes) -> bytes:
    """Swap the positions of a/a.txt (555) and a/c.txt (560) in example2's a/ TOC."""
    toc = slice(215, 385)
    first, second = _U64.pack(555), _U64.pack(560)
    part = data[toc]
    assert part.count(first) == 1
    assert part.count(second) == 1
    part = part.replace(first, b"\0" * 8).replace(second, first).replace(b"\0" * 8, second)
    return data[: toc.start] + part + data[toc.stop :]


EX1_COMMITMENT = MerkleArchiveCommitment(
    bytes.fromhex("d10f1d8c09af0e0103dbe36a215f689848087fc429877261ef646c1449142753"), 54
)

VECTOR_CASES = [
    pytest.param("example1", lambda d: _xor(d, 209), None,
                 expect(IntegrityError, "hash sum mismatch", "/foo"), id="flip a body byte"),
    pytest.param("example1", lambda d: _edit(d, 0x9F, b"x"), None,
                 expect(IntegrityError, "hash sum does not match", "/"), id="change a TOC name byte"),
    pytest.param("example1", lambda d: _xor(d, 0xA0), None,
                 expect(IntegrityError, "hash sum does not match", "/"), id="change a TOC hash byte"),
    pytest.param("example1", lambda d: _edit(d, 0xC7, b"\x02"), None,
                 expect(IntegrityError, "hash sum does not match", "/"), id="change a TOC size byte"),
    pytest.param("example1", lambda d: _edit(d, 0xC7, b"\x04"), None,
                 expect(_MAL, "outside the data area", "/foo"), id="change a TOC size byte past the end"),
    pytest.param("example1", lambda d: _edit(d, 0xD0, b"\xd0"), None,
                 expect(_MAL, "overlap", "/foo", "/"), id="change a FILE position into the TOC"),
    pytest.param("example2", _swap_positions, None,
                 expect(IntegrityError, "hash sum mismatch", "/a/c.txt"), id="swap two FILE positions"),
    pytest.param("example1", lambda d: _xor(d, 138), None,
                 expect(SignatureError, "signature verification failed", "/"), id="change root_maxsize"),
    pytest.param("example1", lambda d: _xor(d, 40), None,
                 expect(SignatureError, "signature verification failed", "/"), id="flip a signature byte"),
    pytest.param("example1", lambda d: _xor(d, 80), None,
                 expect(SignatureError, "signature verification failed", "/"), id="flip an S byte"),
    pytest.param("example1", lambda d: _xor(d, 10), None,
                 expect(SignatureError, "signature verification failed", "/"), id="flip a public key byte"),
    pytest.param("example1", lambda d: _edit(d, 147, _U64.pack(55)), None,
                 expect(SignatureError, "size is greater than signed", "/"), id="root TOC size above root_maxsize"),
    # The reader checks a directory's sighash before descending into it (upstream descends
    # first), so the plain edit fails at the root; re-signed, the bound check is what fires.
    pytest.param("example2", lambda d: _edit(d, 197, b"\xa9"), None,
                 expect(IntegrityError, "hash sum does not match", "/"), id="dir entry size below its toc_size"),
    pytest.param("example2", lambda d: fix_hashes(_edit(d, 197, b"\xa9")), None,
                 expect(SignatureError, "size is greater than signed", "/a/"),
                 id="dir entry size below its toc_size, re-signed"),
    pytest.param("example1", lambda d: _edit(d, 2, b"\x03"), None,
                 expect(_MAL, "Invalid Magic or Unexpected Version", None), id="magic 3b3b03"),
    pytest.param("example1", lambda d: _edit(d, 2, b"\x01"), None,
                 expect(UnsupportedFormatError, "v1", None), id="magic 3b3b01"),
    pytest.param("example1", lambda d: d[:154], None,
                 expect(_MAL, "truncated header", None), id="truncated header"),
    pytest.param("example1", lambda d: d[:211], None,
                 expect(_MAL, "outside the data area", "/foo"), id="truncated body"),
    pytest.param("example1", lambda d: d, MerkleArchiveCommitment(bytes(32), 54),
                 expect(SignatureError, "merkle root mismatch", "/"), id="commitment with other sighash"),
    pytest.param("example1", lambda d: d, MerkleArchiveCommitment(EX1_COMMITMENT.root_sighash, 53),
                 expect(SignatureError, "root directory max size too large", "/"),
                 id="commitment with smaller maxsize"),
    pytest.param("example1", lambda d: craft_archive(root(F(b"foo", b"bar")), root_maxsize=(1 << 20) + 1).data,
                 None, expect(SignatureError, "over 1MiB", "/"), id="root_maxsize over 1 MiB"),
]  # fmt: skip


@pytest.mark.parametrize(("vector", "edit", "commitment", "want"), VECTOR_CASES)
def test_vector_tampering(
    vectors: Path,
    vector: str,
    edit: Callable[[bytes], bytes],
    commitment: MerkleArchiveCommitment | None,
    want: Rejection,
) -> None:
    original = (vectors / f"{vector}.s9pk").read_bytes()
    check_rejected(edit(original), want, commitment)


def test_body_tampering_found_only_when_read(vectors: Path) -> None:
    archive = read_archive(io.BytesIO(_xor((vectors / "example1.s9pk").read_bytes(), 209)))
    with pytest.raises(IntegrityError, match="hash sum mismatch") as info:
        archive.read_file("foo")
    assert info.value.path == "/foo"


def test_vectors_accepted_with_their_commitment(vectors: Path) -> None:
    archive = read_everything((vectors / "example1.s9pk").read_bytes(), EX1_COMMITMENT)
    assert archive.read_file("foo") == b"bar"
    larger = MerkleArchiveCommitment(EX1_COMMITMENT.root_sighash, 2**40)
    read_everything((vectors / "example1.s9pk").read_bytes(), larger)


# ----------------------------------------------------------------------------------------------
# Huge claims are refused before anything is allocated


def _huge_toc_with_commitment() -> tuple[bytes, MerkleArchiveCommitment | None]:
    crafted = craft_archive(root(F(b"f")), root_maxsize=2**40, root_toc_size=2**40)
    return crafted.data, crafted.commitment


HUGE_CLAIMS = [
    pytest.param(lambda: (craft_archive(root(F(b"f", b"abc", size=2**60))).data, None),
                 expect(_MAL, "outside the data area", "/f"), id="file of 2^60 bytes"),
    pytest.param(lambda: (craft_archive(root(D(b"d", toc_size=2**40, size=2**40))).data, None),
                 expect(_MAL, "exceeds", "/d/"), id="sub-directory TOC of 2^40 bytes"),
    pytest.param(lambda: (craft_archive(root(D(b"d", toc_size=60 << 20, size=60 << 20))).data, None),
                 expect(_MAL, "outside the data area", "/d/"), id="sub-directory TOC of 60 MiB"),
    pytest.param(_huge_toc_with_commitment,
                 expect(_MAL, "exceeds", "/"), id="root TOC of 2^40 bytes under a commitment"),
    pytest.param(lambda: (craft_archive(RawDir(raw=_varint.encode(2**63) + bytes(100))).data, None),
                 expect(_MAL, "cannot fit", "/"), id="entry count 2^63"),
    pytest.param(lambda: (craft_archive(root(F(b"f", name_len=_varint.encode(2**63)))).data, None),
                 expect(_MAL, "truncated TOC entry", "/"), id="name length 2^63"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "want"), HUGE_CLAIMS)
def test_huge_claims_rejected_without_allocating(
    build: Callable[[], tuple[bytes, MerkleArchiveCommitment | None]], want: Rejection
) -> None:
    data, commitment = build()
    tracemalloc.start()
    try:
        start = time.monotonic()
        check_rejected(data, want, commitment)
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak} bytes"
    assert elapsed < 2


# ----------------------------------------------------------------------------------------------
# Work stays linear in the number of directories, whatever order their TOCs are laid out in


def _many_empty_dirs(n: int, *, reverse: bool) -> bytes:
    """One directory holding ``n`` empty sub-directories whose 1-byte TOCs follow it."""
    names = [f"{i:06d}".encode() for i in range(n)]

    def inner(start: int) -> RawDir:
        return RawDir(
            tuple(
                D(name, position=start + ((n - 1 - i) if reverse else i))
                for i, name in enumerate(names)
            )
        )

    probe = inner(0)
    start = HEADER_SIZE + root(RawEntry(b"d", 2, dir=probe)).toc_length() + probe.toc_length()
    return craft_archive(root(RawEntry(b"d", 2, dir=inner(start))), trailer=b"\x00" * n).data


DIRS = 200_000  # enough for a quadratic term to dwarf the linear one (about 4x at this size)


@pytest.mark.slow
def test_directory_order_does_not_make_parsing_quadratic() -> None:
    """Sub-directory TOCs laid out in reverse order must not cost more than in file order.

    Keeping every claimed TOC range in one sorted list and inserting each new one at its place
    costs a memmove of the whole list per directory when they arrive in descending order.
    """
    timings = {}
    for reverse in (False, True):
        data = _many_empty_dirs(DIRS, reverse=reverse)
        # Collections scale with whatever else is alive (earlier tests): keep them out of it.
        gc.collect()
        gc.disable()
        try:
            start = time.thread_time()
            archive = read_archive(io.BytesIO(data))
            timings[reverse] = time.thread_time() - start
        finally:
            gc.enable()
        entries = archive.get("d")
        assert isinstance(entries, Directory)
        assert len(entries.entries) == DIRS
    assert timings[True] < 2 * timings[False] + 1, timings
