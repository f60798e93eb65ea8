"""Property: any tree :func:`write_archive` writes reads back unchanged, in both root orders (§6-§7).

Run with ``--hypothesis-show-statistics`` to see how many examples ran; ``S9REG_FUZZ_EXAMPLES``
sets how many each test tries.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.reader import read_archive
from s9reg.s9pk.tree import Directory, File, Missing
from s9reg.s9pk.writer import RootOrder, write_archive

from strategies import (
    OTHER_KEY,
    TEST_KEY,
    check_accepted,
    file_bytes,
    fix_hashes,
    hard_time_limit,
    tree_summary,
    trees,
)

EXAMPLES = int(os.environ.get("S9REG_FUZZ_EXAMPLES", "120"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
KEYS = st.sampled_from([TEST_KEY, OTHER_KEY])


def _write(tree: Directory, key: PrivateKey, order: RootOrder) -> bytes:
    out = io.BytesIO()
    write_archive(out, tree, key, order=order)
    return out.getvalue()


def _kinds(tree: Directory) -> str:
    counts = {File: 0, Directory: 0, Missing: 0}
    for _, node in tree.walk():
        counts[type(node)] += 1
    return f"{min(counts[File], 3)}+ files, {min(counts[Directory], 3)}+ dirs, " + (
        "with MISSING" if counts[Missing] else "no MISSING"
    )


@SETTINGS
@given(tree=trees(), order=st.sampled_from(RootOrder), key=KEYS)
def test_written_tree_reads_back(tree: Directory, order: RootOrder, key: PrivateKey) -> None:
    event(_kinds(tree))
    out = io.BytesIO()
    commitment = write_archive(out, tree, key, order=order)
    data = out.getvalue()
    with hard_time_limit(10):
        archive = read_archive(io.BytesIO(data))
        archive.verify_all()
        check_accepted(archive)
    assert archive.commitment == commitment
    assert archive.header.root_sighash == tree.hash
    # A filtered root keeps its signed bound; only its TOC is shorter (§4.5).
    assert archive.header.root_maxsize == max(tree.size, tree.toc_size)
    assert archive.header.root_toc_size == tree.toc_size
    assert archive.signer == key.public_key
    assert tree_summary(archive.root) == tree_summary(tree)
    for path, content in file_bytes(tree).items():
        assert archive.read_file(path) == content
        # Each chunk is a view of one reused buffer: copy it before asking for the next.
        assert b"".join(bytes(c) for c in archive.iter_file(path, chunk_size=7)) == content
    read_archive(io.BytesIO(data), commitment=commitment).verify_all()
    # What was read writes back to the very same bytes.
    assert _write(archive.root, key, order) == data


@SETTINGS
@given(tree=trees(), key=KEYS)
def test_root_order_changes_bytes_not_commitment(tree: Directory, key: PrivateKey) -> None:
    plain, priority = (_write(tree, key, order) for order in RootOrder)
    a, b = (read_archive(io.BytesIO(d)) for d in (plain, priority))
    assert a.commitment == b.commitment
    assert a.header.signature == b.header.signature
    assert len(plain) == len(priority)
    assert tree_summary(a.root) == tree_summary(b.root)
    for path, _ in a.root.files():
        assert a.read_file(path) == b.read_file(path)


@SETTINGS
@given(tree=trees(), order=st.sampled_from(RootOrder))
def test_repair_helpers_leave_valid_archives_alone(tree: Directory, order: RootOrder) -> None:
    """The mutation tests' repair (rehash + re-sign) is the identity on a valid archive."""
    data = _write(tree, TEST_KEY, order)
    assert fix_hashes(data) == data
