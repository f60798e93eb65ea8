"""The verification cache: unchanged sources are not re-read, changed ones always are."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from s9reg.builder import build_site
from s9reg.builder.verify_cache import CACHE_FILE
from s9reg.s9pk.errors import IntegrityError
from s9reg.s9pk.reader import read_archive

from helpers.buildkit import ADMIN, ALICE, REGISTRY, pkg, read_index, settings, snapshot


def _flip_body_byte_keeping_identity(path: Path) -> None:
    """Corrupt one byte of a file body in place, restoring size and mtime (stat identity)."""
    st = path.stat()
    with path.open("rb") as f:
        archive = read_archive(f)
        node = archive.file("instructions.md")
        assert node.position is not None
        offset = node.position
    with path.open("r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _json_files(root: Path) -> dict[str, bytes]:
    # The site's .s9pk is a hard link to the source, so it shares the corruption.
    return {k: v for k, v in snapshot(root).items() if k.endswith(".json")}


def test_unchanged_sources_are_not_reread(tmp_path: Path, src: Path) -> None:
    # The proof that bodies are not read: a corruption that keeps the file's stat identity
    # and header goes unnoticed by the cached rebuild, and is caught once the cache is off.
    a = pkg(src, "a.s9pk")
    cache = tmp_path / "cache"
    s = settings(tmp_path, [a], cache_dir=cache, registry_key=REGISTRY)
    build_site(s)
    first = _json_files(s.output)
    _flip_body_byte_keeping_identity(a)
    report = build_site(s, force=True)  # force: past the up-to-date check, to the file cache
    assert not report.up_to_date
    assert _json_files(s.output) == first
    assert len(report.unchanged) == 1
    with pytest.raises(IntegrityError):
        build_site(settings(tmp_path, [a], cache_dir=None, registry_key=REGISTRY))


def test_rewritten_source_is_verified_again(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk")
    cache = tmp_path / "cache"
    s = settings(tmp_path, [a], cache_dir=cache)
    build_site(s)
    data = bytearray(a.read_bytes())
    with a.open("rb") as f:
        pos = read_archive(f).file("instructions.md").position
    assert pos is not None
    data[pos] ^= 0xFF
    a.write_bytes(bytes(data))  # new mtime: the identity changes
    before = snapshot(s.output)
    with pytest.raises(IntegrityError):
        build_site(s)
    assert snapshot(s.output) == before


def test_replaced_source_with_same_identity_but_new_header_is_verified(
    tmp_path: Path, src: Path
) -> None:
    a = pkg(src, "a.s9pk", version="1.0.0:0")
    cache = tmp_path / "cache"
    s = settings(tmp_path, [a], cache_dir=cache)
    build_site(s)
    st = a.stat()
    other = pkg(tmp_path, "other.s9pk", ADMIN, version="1.0.0:1")
    data = other.read_bytes()
    assert len(data) == st.st_size  # same layout, other key and version: same size
    a.write_bytes(data)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    build_site(s)
    versions = read_index(s.output).package.packages["hello"].versions
    assert [str(v) for v in versions] == ["1.0.0:1"]


def test_cache_keeps_only_used_entries_and_rebuild_is_identical(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk", version="1.0.0:0")
    b = pkg(src, "b.s9pk", version="1.1.0:0")
    cache = tmp_path / "cache"
    build_site(settings(tmp_path, [a, b], cache_dir=cache, registry_key=REGISTRY))
    cached = snapshot(tmp_path / "site")
    uncached_out = tmp_path / "site2"
    build_site(settings(tmp_path, [a, b], output=uncached_out, registry_key=REGISTRY))
    assert snapshot(uncached_out) == cached
    build_site(settings(tmp_path, [a], cache_dir=cache, registry_key=REGISTRY))
    entries = json.loads((cache / CACHE_FILE).read_text())["entries"]
    assert list(entries) == [str(a.resolve())]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"not json", id="not JSON"),
        pytest.param(b'{"format": 99, "entries": {}}', id="foreign format"),
        pytest.param(b'{"format": 1, "s9reg": "0", "entries": {}}', id="other s9reg version"),
        pytest.param(b"[1, 2]", id="wrong shape"),
    ],
)
def test_unreadable_cache_means_full_verification(
    tmp_path: Path, src: Path, content: bytes
) -> None:
    a = pkg(src, "a.s9pk", ALICE)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CACHE_FILE).write_bytes(content)
    _flip_body_byte_keeping_identity(a)
    with pytest.raises(IntegrityError):
        build_site(settings(tmp_path, [a], cache_dir=cache))


def test_broken_entry_is_ignored(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk")
    cache = tmp_path / "cache"
    s = settings(tmp_path, [a], cache_dir=cache)
    build_site(s)
    data = json.loads((cache / CACHE_FILE).read_text())
    for entry in data["entries"].values():
        del entry["signer"]
    (cache / CACHE_FILE).write_text(json.dumps(data))
    _flip_body_byte_keeping_identity(a)
    with pytest.raises(IntegrityError):
        build_site(s, force=True)


# --- the up-to-date check ------------------------------------------------------------------


def test_noop_rebuild_leaves_the_output_alone(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk")
    s = settings(tmp_path, [a], cache_dir=tmp_path / "cache", registry_key=REGISTRY)
    first = build_site(s)
    ino = (s.output / "index.json").stat().st_ino
    again = build_site(s)
    assert again.up_to_date
    assert (s.output / "index.json").stat().st_ino == ino  # not rewritten, not swapped
    assert (again.packages, again.versions, again.variants) == (1, 1, 1)
    assert again.unchanged == first.added


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("settings", id="a setting changed"),
        pytest.param("output edited", id="the output's index was edited"),
        pytest.param("output gone", id="the output was removed"),
        pytest.param("source touched", id="a source was rewritten"),
        pytest.param("source added", id="a source was added"),
    ],
)
def test_any_change_means_a_real_build(tmp_path: Path, src: Path, change: str) -> None:
    a = pkg(src, "a.s9pk")
    s = settings(tmp_path, [a], cache_dir=tmp_path / "cache")
    build_site(s)
    if change == "settings":
        s = settings(tmp_path, [a], cache_dir=tmp_path / "cache", name="Renamed")
    elif change == "output edited":
        (s.output / "index.json").write_text("{}")
    elif change == "output gone":
        for p in sorted(s.output.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
    elif change == "source touched":
        a.write_bytes(a.read_bytes())
    else:
        b = pkg(src, "b.s9pk", version="1.1.0:0")
        s = settings(tmp_path, [a, b], cache_dir=tmp_path / "cache")
    report = build_site(s)
    assert not report.up_to_date
    assert read_index(s.output).package.packages["hello"].versions


def test_skipped_sources_are_reported_again_when_up_to_date(tmp_path: Path, src: Path) -> None:
    good = pkg(src, "good.s9pk")
    bad = src / "bad.s9pk"
    bad.write_bytes(b"not a package")
    s = settings(tmp_path, [good, bad], cache_dir=tmp_path / "cache", skip_invalid=True)
    first = build_site(s)
    again = build_site(s)
    assert again.up_to_date
    assert again.skipped == first.skipped
    assert again.warnings == first.warnings
    assert len(first.skipped) == 1


def test_fresh_checkout_with_restored_cache_verifies_nothing(tmp_path: Path, src: Path) -> None:
    # New inodes and times, same bytes (a CI checkout with the cache restored): found by
    # header and size once the bodies hashed right, nothing verified again; a changed file is
    # still verified.
    files = [pkg(src, f"{n}.s9pk", version=f"1.{n}.0:0") for n in range(3)]
    cache = tmp_path / "cache"
    first = build_site(settings(tmp_path, files, cache_dir=cache))
    assert (first.verified, first.from_cache) == (3, 0)
    clone = tmp_path / "clone"
    clone.mkdir()
    copies = [Path(shutil.copy(f, clone / f.name)) for f in files]
    pkg(clone, "2.s9pk", version="1.7.0:0")  # one really changed
    again = build_site(settings(tmp_path, copies, cache_dir=cache, output=tmp_path / "out2"))
    assert (again.verified, again.from_cache) == (1, 2)


def test_copy_with_same_header_but_corrupt_body_is_not_reused(tmp_path: Path, src: Path) -> None:
    # Same header and size as a cached entry, new identity: the bodies are hashed before the
    # entry is trusted, so a corrupt copy fails the build instead of inheriting the result.
    a = pkg(src, "a.s9pk")
    cache = tmp_path / "cache"
    build_site(settings(tmp_path, [a], cache_dir=cache))
    clone = tmp_path / "clone"
    clone.mkdir()
    copy = Path(shutil.copy(a, clone / a.name))
    _flip_body_byte_keeping_identity(copy)
    with pytest.raises(IntegrityError):
        build_site(settings(tmp_path, [copy], cache_dir=cache, output=tmp_path / "out2"))
    intact = Path(shutil.copy(a, clone / "b.s9pk"))
    again = build_site(settings(tmp_path, [intact], cache_dir=cache, output=tmp_path / "out3"))
    assert (again.verified, again.from_cache) == (0, 1)


def test_report_counts_verified_bytes_and_times_each_phase(tmp_path: Path, src: Path) -> None:
    files = [pkg(src, f"{n}.s9pk", version=f"1.{n}.0:0") for n in range(2)]
    cache = tmp_path / "cache"
    first = build_site(settings(tmp_path, files, cache_dir=cache))
    assert first.verified_bytes == sum(f.stat().st_size for f in files)
    assert set(first.timings) == {"sources", "os", "render", "write"}
    assert all(t >= 0 for t in first.timings.values())
    again = build_site(settings(tmp_path, files, cache_dir=cache), force=True)
    assert (again.verified, again.verified_bytes, again.from_cache) == (0, 0, 2)
