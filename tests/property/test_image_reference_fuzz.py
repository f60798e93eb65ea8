"""Property: an image reference parses to Docker's ASCII grammar or is one ImageReferenceError.

Any text (non-ASCII letters and digits included: ``\\w`` and ``\\d`` are Unicode in Python) either
gives a reference that prints as ASCII, reads back equal and can go into an HTTP request line, or
raises :class:`ImageReferenceError` with a short message; nothing else (issue #16).
``S9REG_FUZZ_EXAMPLES`` sets how many examples each test tries.
"""

from __future__ import annotations

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from s9reg.imagecache.errors import ImageReferenceError
from s9reg.imagecache.reference import ImageRef

EXAMPLES = int(os.environ.get("S9REG_FUZZ_EXAMPLES", "300"))
# Pieces of valid references mixed with what Unicode-aware patterns let through.
PIECES = st.sampled_from(
    ["nginx", "library/", "ghcr.io/", "localhost:5000/", ":", "@", "sha256:", "0" * 64, "1.27",
     "_", "-", ".", "/", "é", "١٢", "ǅ", "Ⅻ", "ß", "\u0130", "\ud800", " ", "\n", "A", "x" * 130]
)  # fmt: skip
# What \w matches: letters, digits and connector punctuation of every script.
WORD = st.text(st.characters(categories=["L", "N", "Pc"]), min_size=1, max_size=6)
TEXTS = st.one_of(
    st.text(max_size=60),
    st.lists(PIECES, max_size=8).map("".join),
    st.tuples(st.sampled_from(["nginx:", "ghcr.io/a/b:", "localhost:"]), WORD).map("".join),
)
_ASCII_PRINTABLE = re.compile(r"[!-~]+")


@settings(max_examples=EXAMPLES, deadline=None)
@given(TEXTS)
def test_parse_is_ascii_or_one_error(text: str) -> None:
    try:
        ref = ImageRef.parse(text)
    except ImageReferenceError as e:
        message = e.message
        ref = None
    if ref is None:
        assert len(message) < 400
        return
    printed = str(ref)
    assert _ASCII_PRINTABLE.fullmatch(printed), printed
    assert ImageRef.parse(printed) == ref
    f"/v2/{ref.repository}/manifests/{ref.reference}".encode("ascii")
