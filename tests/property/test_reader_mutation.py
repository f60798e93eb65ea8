"""Property: for any bytes, the reader verifies or raises an ``S9pkError``, and nothing else (§6).

Mutated archives are also repaired (header re-signed, or every hash recomputed and re-signed), so
that mutations get past the signature and the sighashes to the structural checks. Counts: run with
``--hypothesis-show-statistics`` (each test reports the outcomes it saw as events);
``S9REG_FUZZ_EXAMPLES`` sets how many examples each test tries.
"""

from __future__ import annotations

import functools
import io
import os
from datetime import timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.reader import HEADER_SIZE, MAGIC_V1, MAGIC_V2, Archive
from s9reg.s9pk.tree import Directory, File
from s9reg.s9pk.writer import RootOrder, write_archive

from strategies import (
    OTHER_KEY,
    TEST_KEY,
    Mutation,
    apply_mutation,
    file_bytes,
    fix_hashes,
    hard_time_limit,
    mutations,
    read_everything,
    sign_header,
    tree_summary,
    trees,
)

EXAMPLES = int(os.environ.get("S9REG_FUZZ_EXAMPLES", "300"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Magic, key, signature, sighash, maxsize; root TOC position and size follow, unsigned.
_SIGNED_PREFIX = HEADER_SIZE - 16


def _write(tree: Directory, order: RootOrder) -> bytes:
    out = io.BytesIO()
    write_archive(out, tree, TEST_KEY, order=order)
    return out.getvalue()


def _read(data: bytes) -> Archive | S9pkError:
    """:func:`read_everything` under a hard time limit, recording the outcome as an event."""
    with hard_time_limit(5):
        result = read_everything(data)
    if isinstance(result, S9pkError):
        event(f"rejected: {type(result).__name__}: {result.problem.split(' (')[0][:48]}")
    else:
        event("accepted")
    return result


def _assert_bound_to(archive: Archive, original: Directory) -> None:
    """The merkle binding: under the original signature, every accepted node is an original one."""
    want = {path: (digest, size) for path, _, digest, size in tree_summary(original)}
    for path, _, digest, size in tree_summary(archive.root):
        assert want.get(path) == (digest, size), f"{path} accepted but not signed"


@SETTINGS
@given(
    tree=trees(),
    order=st.sampled_from(RootOrder),
    edits=st.lists(mutations(), min_size=1, max_size=4),
    repair=st.sampled_from(["none", "re-sign header", "rehash and re-sign"]),
)
def test_mutated_archive_verifies_or_raises(
    tree: Directory, order: RootOrder, edits: list[Mutation], repair: str
) -> None:
    data = functools.reduce(apply_mutation, edits, _write(tree, order))
    if repair == "re-sign header":
        data = sign_header(data)
    elif repair == "rehash and re-sign":
        data = fix_hashes(data)
    event(f"repair: {repair}")
    result = _read(data)
    if isinstance(result, Archive) and result.commitment.root_sighash == tree.hash:
        _assert_bound_to(result, tree)
        for path, content in file_bytes(tree).items():
            if isinstance(result.root.get(path), File):
                assert result.read_file(path) == content


@SETTINGS
@given(
    tree=trees(),
    order=st.sampled_from(RootOrder),
    edits=st.lists(mutations(), min_size=1, max_size=3),
)
def test_unsigned_bytes_cannot_change_the_signed_tree(
    tree: Directory, order: RootOrder, edits: list[Mutation]
) -> None:
    """Whatever follows the signed header prefix, an accepted tree is the one that was signed."""
    original = _write(tree, order)
    data = functools.reduce(apply_mutation, edits, original)
    data = original[:_SIGNED_PREFIX] + data[_SIGNED_PREFIX:]
    result = _read(data)
    if isinstance(result, Archive):
        assert result.commitment.root_sighash == tree.hash
        _assert_bound_to(result, tree)


@SETTINGS
@given(
    tree=trees(),
    order=st.sampled_from(RootOrder),
    key=st.sampled_from([TEST_KEY, OTHER_KEY]),
    extra=st.integers(0, 1 << 16),
)
def test_resigned_valid_archive_reads_back(
    tree: Directory, order: RootOrder, key: PrivateKey, extra: int
) -> None:
    """Re-signing by another key, or with a looser signed bound, keeps the tree and contents."""
    data = bytearray(_write(tree, order))
    maxsize = int.from_bytes(data[131:139], "big") + extra
    data[131:139] = maxsize.to_bytes(8, "big")
    result = _read(sign_header(bytes(data), key))
    assert isinstance(result, Archive), result
    assert result.header.root_maxsize == maxsize
    assert result.signer == key.public_key
    assert tree_summary(result.root) == tree_summary(tree)
    for path, content in file_bytes(tree).items():
        assert result.read_file(path) == content


@SETTINGS
@given(
    head=st.sampled_from(["none", "v1 magic", "v2 magic", "v2 header"]),
    data=st.binary(max_size=800),
    repair=st.sampled_from(["none", "re-sign", "rehash"]),
)
def test_arbitrary_bytes_verify_or_raise(head: str, data: bytes, repair: str) -> None:
    """Random bytes; with a plausible v2 header in front, they are parsed as the root TOC."""
    if head == "v2 header":
        n = len(data).to_bytes(8, "big")
        data = MAGIC_V2 + bytes(32 + 64 + 32) + n + HEADER_SIZE.to_bytes(8, "big") + n + data
    elif head != "none":
        data = (MAGIC_V1 if head == "v1 magic" else MAGIC_V2) + data
    if repair == "re-sign":
        data = sign_header(data)
    elif repair == "rehash":
        data = fix_hashes(data)
    _read(data)
