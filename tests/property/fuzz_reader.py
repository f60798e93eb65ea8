"""Atheris fuzz target for the v2 reader: anything but an ``S9pkError`` is a crash (§6).

Each input is read with :func:`read_archive`, then :meth:`Archive.verify_all` and every file is
read (see :func:`strategies.read_everything`: bodies are verified both through the stream and
through memory maps, an accepted archive must pass the strict invariants, and a rejection must
say where). Modes say what is done
to the bytes first, so that mutations get past the signature to the structural checks:

- ``plain``: nothing; almost every mutation fails the signature or a sighash.
- ``resign``: the header is re-signed (fixed test key) for whatever sighash and maxsize it holds.
- ``rehash``: file hashes and sighashes are recomputed bottom-up, then the header is re-signed.
- ``tree``: as ``rehash`` but unsigned, and the tree is parsed by the reader's private
  ``_TreeParser`` (what :func:`read_archive` runs once the signature holds), skipping the
  Ed25519 work that dominates the other modes: several times more executions per second.
- ``manifest``: the input is ``manifest.json`` bytes for :meth:`Manifest.from_bytes` (repeated
  keys, versions, every field); what it accepts must round-trip through ``to_bytes``.

An accepted archive is then read as a package as a registry reads it (the manifest, the icon,
dependency metadata, the per-arch install check of s9pk-format.md §17): anything but an
``S9regError`` there is a crash too.

Usage (libFuzzer flags pass through; seeds are written to a temporary corpus directory)::

    .venv/bin/python tests/property/fuzz_reader.py --mode=rehash -runs=100000 [CORPUS_DIR]
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import atheris

with atheris.instrument_imports(include=["s9reg"]):
    from s9reg.errors import S9regError
    from s9reg.s9pk.demo import demo_package_tree
    from s9reg.s9pk.keys import PrivateKey
    from s9reg.s9pk.manifest import Manifest
    from s9reg.s9pk.package import S9pk
    from s9reg.s9pk.reader import HEADER_SIZE, MAGIC_V2, Archive, Header, _TreeParser, read_archive
    from s9reg.s9pk.tree import BytesSource, Directory, File, Missing, Node
    from s9reg.s9pk.tree_check import validate_for
    from s9reg.s9pk.writer import RootOrder, write_archive

from strategies import OTHER_KEY, TEST_KEY, Reader, fix_hashes, read_everything, sign_header

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "data" / "vectors"
_HEADER = struct.Struct(">32s64s32sQQQ")


def _read_tree(stream: IO[bytes]) -> Archive:
    """:func:`read_archive` after its signature check, for inputs with a v2 magic."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(3)
    header = Header(*_HEADER.unpack(stream.read(_HEADER.size)))
    return Archive(header, _TreeParser(stream, size).parse_root(header), stream, size)


def check(data: bytes, reader: Reader = read_archive) -> None:
    """Read everything in ``data``; a crash is anything but an ``S9pkError`` or a broken invariant."""
    archive = read_everything(data, reader)
    if not isinstance(archive, Archive) or archive.get("manifest.json") is None:
        return
    try:
        pkg = S9pk.from_archive(archive)
        pkg.check_listable()
        pkg.arch_problems()
    except S9regError:
        return


def check_manifest(data: bytes) -> None:
    """A manifest is refused with a ``ManifestError`` or accepted and stable through its bytes."""
    try:
        manifest = Manifest.from_bytes(data)
    except S9regError:
        return
    assert Manifest.from_bytes(manifest.to_bytes()) == manifest, data


def _archive(
    entries: dict[str, Node], *, key: PrivateKey = TEST_KEY, order: RootOrder = RootOrder.PLAIN
) -> bytes:
    out = io.BytesIO()
    write_archive(out, Directory.of(entries), key, order=order)
    return out.getvalue()


def _seeds() -> dict[str, bytes]:
    """The two vectors (the writer reproduces them) and a few small archives of every shape."""
    txt = File.from_bytes
    b = Directory.of({"b": Directory.of({"a.txt": txt(b"a.txt")}), "a.txt": txt(b"a.txt")})
    deep: Directory = Directory.of({"f": txt(b"deep")})
    for _ in range(5):
        deep = Directory.of({"d": deep})
    full = Directory.of({"x": txt(b"1"), "sub": Directory.of({"y": txt(b"22"), "z": txt(b"")})})
    seeds = {
        "example1": _archive({"foo": txt(b"bar")}),
        "example2": _archive(
            {"a": Directory.of({"b": b.with_entries({**b.entries, "c.txt": txt(b"c.txt")})})}
        ),
        "empty": _archive({}),
        "empty-file": _archive({"e": txt(b"")}),
        "missing": _archive({"m": Missing(bytes(32), 7), "f": txt(b"present")}),
        "unicode": _archive({"é😀": txt(b"\xff\x00"), "manifest.json": txt(b"{}")}),
        "priority": _archive(
            {"manifest.json": txt(b"{}"), "icon.png": txt(b"png"), "images": Directory.of({})},
            order=RootOrder.PRIORITY,
        ),
        "filtered": _archive({"sub": full.with_entries({"x": full.entries["x"].to_missing()})}),
        "deep": _archive({"d": deep}),
        "other-key": _archive({"k": txt(b"other")}, key=OTHER_KEY),
    }
    if VECTORS.is_dir():
        seeds.update({f"vector-{p.stem}": p.read_bytes() for p in VECTORS.glob("*.s9pk")})
    # The verdicts of s9pk-format.md §17: a filtered package, repeated fields, bad versions.
    package = demo_package_tree("fuzz", arches=("x86_64", "aarch64"), with_deps=True)
    seeds["package"] = _archive(dict(package.entries))
    manifest = Manifest.from_bytes(_manifest_bytes(package))
    seeds["package-filtered"] = _written(validate_for(package, manifest, "x86_64", warn=_quiet))
    for name, text in _manifest_seeds(_manifest_bytes(package)).items():
        entries = {**package.entries, "manifest.json": txt(text)}
        seeds[f"package-{name}"] = _archive(entries)
    return seeds


def _quiet(_message: str) -> None:
    pass


def _written(root: Directory) -> bytes:
    out = io.BytesIO()
    write_archive(out, root, TEST_KEY)
    return out.getvalue()


def _manifest_bytes(tree: Directory) -> bytes:
    node = tree.entries["manifest.json"]
    assert isinstance(node, File)
    assert isinstance(node.source, BytesSource)
    return node.source.data


def _manifest_seeds(good: bytes) -> dict[str, bytes]:
    """``manifest.json`` texts around the §17 verdicts (repeated fields, downstream parts)."""
    body = good[:-1]
    return {
        "manifest": good,
        "id-twice": body + b',"id":"other"}',
        "title-twice": body + b',"title":"Other"}',
        "unknown-twice": body + b',"x":1,"x":2}',
        "no-downstream": good.replace(b'"version":"1.0.0:0"', b'"version":"1.0.0"'),
        "empty-flavor": good.replace(b'"version":"1.0.0:0"', b'"version":"#:1.0.0:0"'),
        "range-no-downstream": good.replace(
            b'"canMigrateFrom":"', b'"canMigrateFrom":">=1.0.0 ||', 1
        ),
    }


def _check_tree(data: bytes) -> None:
    if len(data) >= HEADER_SIZE and data.startswith(MAGIC_V2):
        check(fix_hashes(data, sign=False), _read_tree)


MODES: dict[str, Callable[[bytes], None]] = {
    "plain": check,
    "resign": lambda data: check(sign_header(data)),
    "rehash": lambda data: check(fix_hashes(data)),
    "tree": _check_tree,
    "manifest": check_manifest,
}


def main(argv: list[str]) -> None:
    """Parse ``--mode``, write the seed corpus, and hand the rest of ``argv`` to libFuzzer."""
    mode = "rehash"
    args = [argv[0]]
    for arg in argv[1:]:
        if arg.startswith("--mode="):
            mode = arg.removeprefix("--mode=")
        else:
            args.append(arg)
    if mode not in MODES:
        sys.exit(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    one_input = MODES[mode]

    seed_dir = Path(tempfile.mkdtemp(prefix="s9reg-fuzz-seeds-"))
    try:
        _write_seeds(seed_dir, mode, one_input)
    except BaseException:
        shutil.rmtree(seed_dir, ignore_errors=True)
        raise
    # libFuzzer writes new inputs to the first corpus directory: the caller's, if any.
    args.append(str(seed_dir))
    if not any(a.startswith("-max_len=") for a in args):
        args.append("-max_len=4096")
    sys.exit(_fuzz_then_remove(args, one_input, seed_dir))


def _write_seeds(seed_dir: Path, mode: str, one_input: Callable[[bytes], None]) -> None:
    seeds = (
        _manifest_seeds(_manifest_bytes(demo_package_tree("fuzz", with_deps=True)))
        if mode == "manifest"
        else _seeds()
    )
    for name, data in seeds.items():
        (seed_dir / name).write_bytes(data)
        one_input(data)  # the seeds themselves must not crash


def _fuzz_then_remove(args: list[str], one_input: Callable[[bytes], None], seed_dir: Path) -> int:
    """Fuzz in a child process; remove the seeds when it ends, however it ends.

    libFuzzer leaves with C ``exit()`` (after a crash, ``-runs``, a timeout or Ctrl-C), which
    skips Python's ``atexit``: a cleanup registered there left a ``s9reg-fuzz-seeds-*``
    directory behind on every run (issue #16). The parent only waits and cleans up.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns: libFuzzer exits it
        try:
            atheris.Setup(args, one_input)
            atheris.Fuzz()
        finally:
            os._exit(70)
    try:
        while True:
            try:
                status = os.waitpid(pid, 0)[1]
                break
            except KeyboardInterrupt:
                continue  # the child got the same SIGINT: libFuzzer stops and says so
    finally:
        shutil.rmtree(seed_dir, ignore_errors=True)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    main(sys.argv)
