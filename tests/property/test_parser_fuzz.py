"""Bounded fuzzing of the text parsers that take hostile input (issue #16).

Versions and ranges come from devices (``os.version``, ``os.compat``), from ``package.get``
parameters and from package manifests; image references come from configuration and from the
image cache's API. Each parser may refuse an input only with its own error, and must take time
about linear in the input: a CPU budget per example turns a hang (the range parser used to
double its time per unclosed ``!(``) into a failure. Inputs mix the grammar's own tokens, runs of
one token repeated up to thousands of times, and arbitrary text.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from s9reg.exver import ExtendedVersion, Version, VersionError, VersionRange
from s9reg.imagecache.errors import ImageReferenceError
from s9reg.imagecache.reference import ImageRef

# Per example: 10,000 characters of any range take under 0.2 s of CPU (tests/unit/exver).
CPU_BUDGET_S = 2.0
FUZZ = settings(
    max_examples=300,
    deadline=None,  # the CPU budget below is the time limit; wall time varies with the machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _TooSlowError(Exception):
    pass


@contextlib.contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Raise :class:`_TooSlowError` inside the block once it has used ``seconds`` of CPU."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise _TooSlowError(f"more than {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def only(error: type[Exception], parse: Callable[[str], object], text: str) -> object | None:
    """``parse(text)``, or None if it raised ``error``; any other exception fails the test."""
    with cpu_budget(CPU_BUDGET_S):
        try:
            return parse(text)
        except error:
            return None


def texts(tokens: list[str]) -> st.SearchStrategy[str]:
    """Token sequences, one token repeated many times, the two joined, and arbitrary text."""
    token = st.sampled_from(tokens)
    sequence = st.lists(token, max_size=30).map("".join)
    repeated = st.builds(lambda t, n: t * n, token, st.integers(1, 5000))
    return st.one_of(
        sequence,
        repeated,
        st.builds(lambda a, b, c: a + b + c, sequence, repeated, sequence),
        st.text(max_size=60),
    )


VERSION_TOKENS = ["0", "1", "9", "00", "27", ".", "-", "+", ":", "#", "a", "beta", "Z", "_", " "]
RANGE_TOKENS = [
    *VERSION_TOKENS, "!(", "(", ")", "!", "*", "||", "&&", ">=", "<=", "<", ">", "=", "!=",
    "^", "~", "#knots", "1.0:0", "\t", "\n", "\u00e9", "\u0661",
]  # fmt: skip


@FUZZ
@given(texts(VERSION_TOKENS))
@example("0" * 4300 + "1")
@example("1:" + "0" * 4400 + "2")
def test_versions_raise_only_version_error(text: str) -> None:
    version = only(VersionError, Version.parse, text)
    if isinstance(version, Version):
        assert Version.parse(str(version)) == version
    extended = only(VersionError, ExtendedVersion.parse, text)
    if isinstance(extended, ExtendedVersion):
        assert ExtendedVersion.parse(str(extended)) == extended


@FUZZ
@given(texts(RANGE_TOKENS))
@example("!(" * 22)
@example("!(" * 24 + "1 " * 2000)
def test_ranges_raise_only_version_error_in_linear_time(text: str) -> None:
    for strict in (False, True):
        parsed = only(VersionError, lambda t, s=strict: VersionRange.parse(t, strict=s), text)
        if isinstance(parsed, VersionRange):
            # The normalized display reads back as the same range, strictly.
            assert VersionRange.parse(str(parsed), strict=True) == parsed


REFERENCE_TOKENS = [
    "nginx", "library/", "ghcr.io/", "localhost:5000/", "a", "/", ":", "@", ".", "-", "_", "__",
    "1.0", "latest", "sha256:", "0" * 64, "A", "\u00e9", "\u0661\u0662", "\u00b2", " ", "..", "[::1]",
]  # fmt: skip


@FUZZ
@given(texts(REFERENCE_TOKENS))
def test_image_references_raise_only_their_error(text: str) -> None:
    ref = only(ImageReferenceError, ImageRef.parse, text)
    if isinstance(ref, ImageRef):
        assert ImageRef.parse(str(ref)) == ref


# The image-reference grammar is ASCII, as Docker's (issue #16): with Python's Unicode \w,
# `nginx:é` and `nginx:١٢` parsed and failed later in the HTTP client (UnicodeEncodeError).
@FUZZ
@given(texts(REFERENCE_TOKENS))
@example("nginx:\u00e9")
@example("nginx:\u0661\u0662")
def test_accepted_image_references_are_ascii(text: str) -> None:
    ref = only(ImageReferenceError, ImageRef.parse, text)
    if isinstance(ref, ImageRef):
        assert str(ref).isascii(), ref
