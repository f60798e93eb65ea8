"""One test per row of the "Where JS differs from Rust" table of exver-notes.md.

Each test pins the Rust behaviour that s9reg follows (the JS behaviour is in the test's
docstring). tests/interop/test_exver_differential.py checks against the JS library that these are
indeed the places where the two disagree.
"""

from __future__ import annotations

import pytest

from s9reg.exver import (
    Anchor,
    And,
    ExtendedVersion,
    Flavor,
    Op,
    Or,
    Version,
    VersionError,
    VersionRange,
    VersionString,
)

R = VersionRange.parse
E = ExtendedVersion.parse
V = Version.parse


def test_prerelease_segment_syntax() -> None:
    """Rust: ``[0-9A-Za-z-]+``, non-empty, numbers without leading zero (JS: digits or letters)."""
    assert V("1.0-rc1").prerelease == ("rc1",)
    assert V("1-1a").prerelease == ("1a",)
    assert V("1-beta-2").prerelease == ("beta-2",)
    for text in ("1.0-01", "1.0-alpha..1", "1.0-.alpha"):
        with pytest.raises(VersionError):
            V(text)


def test_numbers_are_usize() -> None:
    """Rust: ``usize`` with a leading ``+`` and leading zeros (JS: doubles, rounded past 2^53)."""
    assert V("9007199254740993") != V("9007199254740992")
    assert V("18446744073709551615").number == (2**64 - 1,)
    with pytest.raises(VersionError, match="larger than"):
        V("18446744073709551616")
    assert V("+1.007") == V("1.7")
    assert str(E("+1.007:00")) == "1.7:0"


def test_prerelease_order_is_derived() -> None:
    """Rust: numbers below strings, a prefix first (JS: ``1-a < 1-1`` and ``1-1 < 1-a``)."""
    assert V("1-1") < V("1-a")
    assert not V("1-a") < V("1-1")
    assert V("1-1.2") < V("1-1.2.3")
    assert V("1-1.2") != V("1-1.2.3")


def test_juxtaposition_repeats_the_latest_operator() -> None:
    """Rust: ``<1 || >2 <4`` is ``(<1 || >2) || <4`` (JS: ``... && <4``)."""
    r = R("<1 || >2 <4")
    assert r == R("(<1 || >2) || <4")
    assert r.satisfied_by(E("5:0"))
    # With no operator yet, juxtaposition is AND; after `&&` it stays AND.
    assert R(">=1 <2") == And(Anchor(Op.GTE, E("1:0")), Anchor(Op.LT, E("2:0")))
    assert not R(">=1 && <3 !=2").satisfied_by(E("2:0"))


def test_caret_is_never_empty() -> None:
    """Rust: ``^0.0.0`` is ``>=0.0.0:0 <1:0``; the bound keeps the prerelease (JS: empty)."""
    assert str(R("^0.0.0")) == ">=0.0.0:0 <1:0"
    assert str(R("^0")) == ">=0:0 <1:0"
    assert R("^0").satisfied_by(E("0.5:0"))
    assert str(R("^1.2.3-beta")) == ">=1.2.3-beta:0 <2-beta:0"
    assert not R("^1.2.3-beta").satisfied_by(E("2-gamma:0"))


def test_tilde_is_never_empty() -> None:
    """Rust: ``~1`` is ``>=1:0 <1.1:0``, ``~0.0.1`` is ``>=0.0.1:0 <0.0.1.1:0`` (JS: empty)."""
    assert str(R("~1")) == ">=1:0 <1.1:0"
    assert str(R("~0.0.1")) == ">=0.0.1:0 <0.0.1.1:0"
    assert R("~1").satisfied_by(E("1.0.5:0"))
    assert R("~0.0.1").satisfied_by(E("0.0.1.0.9:0"))


def test_bare_flavor_atom_means_no_flavor() -> None:
    """Rust: ``#`` is ``Flavor(None)`` and matches unflavored versions (JS: flavor "")."""
    assert R("#") == Flavor(None)
    assert R("#").satisfied_by(E("1:0"))
    assert not R("#").satisfied_by(E("#knots:1:0"))
    assert not R("#").satisfied_by(E("#:1:0"))


def test_empty_flavor_in_a_version_is_kept() -> None:
    """Rust: ``#:1:0`` has flavor ``Some("")``, unordered with ``1:0`` (JS: same as ``1:0``)."""
    v = E("#:1:0")
    assert v.flavor == ""
    assert str(v) == "#:1:0"
    assert v != E("1:0")
    assert v.compare(E("1:0")) is None
    assert VersionString.parse("#:1:0") != VersionString.parse("1:0")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(">=1:0 garbage", id="junk"),
        pytest.param(">=1 &&", id="dangling operator"),
        pytest.param(">=1)", id="closing parenthesis"),
        pytest.param(">=1 ", id="trailing space"),
    ],
)
def test_trailing_input_is_ignored(text: str) -> None:
    """Rust ignores what follows the range (JS: an error); s9reg's strict mode rejects it."""
    assert str(R(text)) == ">=1:0"
    if text != ">=1 ":
        with pytest.raises(VersionError):
            R(text, strict=True)


@pytest.mark.parametrize("space", ["\t", "\n", "\r"])
def test_only_spaces_are_whitespace(space: str) -> None:
    """Rust: only " "; a tab or newline ends the range (JS: ``[ \\t\\n\\r]*``)."""
    assert str(R(f">=1{space}<2")) == ">=1:0"
    with pytest.raises(VersionError, match="tabs and line breaks"):
        R(f">=1{space}<2", strict=True)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param(">=1 && <2", ">=1:0 <2:0", id="AND as a space"),
        pytest.param("<1 || >2", "<1:0 || >2:0", id="OR"),
        pytest.param("#knots && >=27", "(#knots) >=27:0", id="flavor parenthesised"),
        pytest.param("!#knots", "!(#knots)", id="negated flavor"),
        pytest.param("^1.2.3", ">=1.2.3:0 <2:0", id="caret expanded"),
        pytest.param("~1.2.3", ">=1.2.3:0 <1.3:0", id="tilde expanded"),
        pytest.param("!(=1 || >2)", "!=1:0 (!>2:0)", id="not pushed inward"),
        pytest.param("* && >=1 || !", ">=1:0", id="any and none folded"),
        pytest.param("^1 || ^2", "(>=1:0 <2:0) || (>=2:0 <3:0)", id="operands parenthesised"),
    ],
)
def test_range_display_is_normalized(text: str, shown: str) -> None:
    """Rust's Display (JS ``toString()`` keeps ``^``/``~``, writes ``&&``, fewer parentheses)."""
    assert str(R(text)) == shown


def test_sort_key_is_versionstring_cmp() -> None:
    """Rust: flavored before flavorless, flavors by name (JS ``compareForSort``: undefined)."""
    texts = ["1:0", "#knots:1:0", "#bitcoin:2:0", "0.1:0"]
    assert [str(v) for v in sorted(map(VersionString.parse, texts))] == [
        "#bitcoin:2:0",
        "#knots:1:0",
        "0.1:0",
        "1:0",
    ]
    assert min(map(E, texts), key=lambda v: v.sort_key) == E("#bitcoin:2:0")


def test_range_numbers_have_no_leading_zeros() -> None:
    """Not in the table yet. Rust's grammar reads ``>=01`` as ``>=0`` then ``^1`` (JS: ``>=1``).

    The pest rule ``num`` is ``"0" | [1-9][0-9]*``, so a range splits ``01`` into two atoms
    joined by juxtaposition; versions outside ranges (``usize::from_str``) accept ``01`` as 1.
    """
    assert str(R(">=01")) == ">=0:0 (>=1:0 <2:0)"
    assert str(R("<1.02 || =3")) == "(<1.0:0 (>=2:0 <3:0)) || =3:0"
    assert R("<1.02 || =3") == Or(R("<1.0 2"), R("=3"))
    assert E("01:0") == E("1:0")
    with pytest.raises(VersionError, match="separated by a space"):
        R(">=01", strict=True)
