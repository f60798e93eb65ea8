"""``Archive.verify_all`` on real files (memory-mapped windows) and on in-memory streams."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from s9reg.s9pk.errors import IntegrityError
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.reader import MMAP_WINDOW, read_archive
from s9reg.s9pk.tree import Directory, File
from s9reg.s9pk.writer import write_archive_file

BIG = 2 * MMAP_WINDOW + 12345  # spans three windows, at an unaligned position


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("big") / "big.s9pk"
    root = Directory.of(
        {
            "a.txt": File.from_bytes(b"small"),
            "big.bin": File.from_bytes(os.urandom(BIG)),
            "empty": File.from_bytes(b""),
        }
    )
    write_archive_file(path, root, PrivateKey(bytes(range(32))))
    with path.open("rb") as f:
        node = read_archive(f).file("big.bin")
    assert node.position is not None
    return path, node.position


def test_real_file_and_stream_agree(big_archive: tuple[Path, int]) -> None:
    path, _ = big_archive
    seen: list[int] = []
    with path.open("rb") as f:
        read_archive(f).verify_all(seen.append)
    assert sum(seen) == BIG + len(b"small")
    read_archive(io.BytesIO(path.read_bytes())).verify_all()


@pytest.mark.parametrize("where", [0, MMAP_WINDOW + 7, BIG - 1], ids=["first", "middle", "last"])
@pytest.mark.parametrize("mapped", [True, False], ids=["file", "BytesIO"])
def test_flipped_body_byte(
    big_archive: tuple[Path, int], tmp_path: Path, where: int, mapped: bool
) -> None:
    path, position = big_archive
    data = bytearray(path.read_bytes())
    data[position + where] ^= 0x40
    bad = tmp_path / "bad.s9pk"
    bad.write_bytes(bytes(data))
    with bad.open("rb") as f:
        archive = read_archive(f if mapped else io.BytesIO(bytes(data)))
        with pytest.raises(IntegrityError, match=r"/big\.bin: hash sum mismatch"):
            archive.verify_all()


def test_truncated_after_open(big_archive: tuple[Path, int], tmp_path: Path) -> None:
    path, position = big_archive
    copy = tmp_path / "copy.s9pk"
    copy.write_bytes(path.read_bytes())
    with copy.open("rb") as f:
        archive = read_archive(f)
        os.truncate(copy, position + 100)
        with pytest.raises(IntegrityError, match=r"/big\.bin: file size mismatch"):
            archive.verify_all()


def test_many_small_files_first_failure_in_file_order(tmp_path: Path) -> None:
    names = [f"f{i:03}" for i in range(40)]
    root = Directory.of({n: File.from_bytes(n.encode() * 1000) for n in names})
    path = tmp_path / "many.s9pk"
    write_archive_file(path, root, PrivateKey(bytes(range(32))))
    data = bytearray(path.read_bytes())
    with path.open("rb") as f:
        archive = read_archive(f)
        seen: list[int] = []
        archive.verify_all(seen.append)
        assert sum(seen) == sum(len(n.encode()) * 1000 for n in names)
        positions = {n: archive.file(n).position for n in ("f007", "f031")}
    for pos in positions.values():
        assert pos is not None
        data[pos + 10] ^= 1
    path.write_bytes(bytes(data))
    with path.open("rb") as f, pytest.raises(IntegrityError, match=r"^/f007: hash sum mismatch"):
        read_archive(f).verify_all()
