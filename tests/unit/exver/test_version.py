"""Version, ExtendedVersion and VersionString: parsing, display, equality, ordering."""

from __future__ import annotations

import pytest

from s9reg.errors import S9regError
from s9reg.exver import (
    USIZE_MAX,
    ExtendedVersion,
    Version,
    VersionError,
    VersionString,
    compare,
)

V = Version.parse
E = ExtendedVersion.parse


# --- Version.parse ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "prerelease"),
    [
        pytest.param("1", (1,), (), id="single"),
        pytest.param("1.2.3", (1, 2, 3), (), id="three parts"),
        pytest.param("1.2.3.4.5.6", (1, 2, 3, 4, 5, 6), (), id="any length"),
        pytest.param("0", (0,), (), id="zero"),
        pytest.param("1.0-beta.1", (1, 0), ("beta", 1), id="prerelease"),
        pytest.param("1-0", (1,), (0,), id="numeric zero prerelease"),
        pytest.param("1-rc1", (1,), ("rc1",), id="letters and digits"),
        pytest.param("1-beta-2", (1,), ("beta-2",), id="hyphen inside a segment"),
        pytest.param("1--", (1,), ("-",), id="hyphen segment"),
        pytest.param("1-a.-b", (1,), ("a", "-b"), id="segment starting with hyphen"),
        pytest.param("1-Beta.RC", (1,), ("Beta", "RC"), id="uppercase"),
        pytest.param("007.+5", (7, 5), (), id="leading zeros and plus in the number"),
        pytest.param(f"{USIZE_MAX}", (USIZE_MAX,), (), id="usize max"),
        pytest.param(f"1-{USIZE_MAX}", (1,), (USIZE_MAX,), id="usize max prerelease"),
        # Rust's usize::from_str reads any number of leading zeros; Python's int() refuses more
        # than 4300 digits with a ValueError (issue #16).
        pytest.param("0" * 4300 + "1", (1,), (), id="4300 leading zeros"),
        pytest.param("0" * 5000, (0,), (), id="5000 zeros"),
        pytest.param("+" + "0" * 5000 + "2.1", (2, 1), (), id="leading zeros and plus"),
    ],
)
def test_version_parse(text: str, number: tuple[int, ...], prerelease: tuple[object, ...]) -> None:
    v = V(text)
    assert v.number == number
    assert v.prerelease == prerelease


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        pytest.param("", 0, "empty version number", id="empty"),
        pytest.param("1.", 2, "empty version number", id="trailing dot"),
        pytest.param(".1", 0, "empty version number", id="leading dot"),
        pytest.param("1..2", 2, "empty version number", id="double dot"),
        pytest.param("1.x", 2, "'x' is not a number", id="letter"),
        pytest.param("+", 0, "'+' is not a number", id="plus alone"),
        pytest.param("1.++2", 2, "'++2' is not a number", id="double plus"),
        pytest.param(" 1", 0, "' 1' is not a number", id="space"),
        pytest.param("1_000", 0, "'1_000' is not a number", id="underscore"),
        pytest.param("\u0661", 0, "is not a number", id="arabic digit"),
        pytest.param(f"{USIZE_MAX + 1}", 0, "larger than", id="overflow"),
        pytest.param("9" * 5000, 0, "larger than", id="very long number"),
        pytest.param("0" * 5000 + "1" * 21, 0, "larger than", id="leading zeros and overflow"),
        pytest.param("1-", 2, "empty prerelease identifier", id="empty prerelease"),
        pytest.param("1-a..b", 4, "empty prerelease identifier", id="empty segment"),
        pytest.param("1-.a", 2, "empty prerelease identifier", id="leading dot segment"),
        pytest.param("1-a.", 4, "empty prerelease identifier", id="trailing dot segment"),
        pytest.param("1-01", 2, "leading zero", id="leading zero prerelease"),
        pytest.param("1-a.00", 4, "leading zero", id="double zero prerelease"),
        pytest.param(f"1-{USIZE_MAX + 1}", 2, "larger than", id="prerelease overflow"),
        pytest.param("1-a+b", 3, "invalid character '+'", id="plus in prerelease"),
        pytest.param("1-\u00e9", 2, "invalid character", id="non-ASCII prerelease"),
        pytest.param("1:0", 0, "'1:0' is not a number", id="extended version"),
    ],
)
def test_version_parse_errors(text: str, position: int, problem: str) -> None:
    with pytest.raises(VersionError) as caught:
        V(text)
    error = caught.value
    assert isinstance(error, S9regError)
    assert error.code == "VERSION"
    assert error.position == position
    assert error.text == text
    assert problem in error.problem
    assert repr(text) in error.message
    assert f"(at position {position})" in error.message
    assert error.details == f"{text}\n{' ' * position}^"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("1.0", "1.0", id="trailing zero kept"),
        pytest.param("007.+5", "7.5", id="numbers normalized"),
        pytest.param("1.2.3-beta.1", "1.2.3-beta.1", id="prerelease"),
        pytest.param("1-rc1.0", "1-rc1.0", id="mixed"),
    ],
)
def test_version_str(text: str, shown: str) -> None:
    assert str(V(text)) == shown


# --- Version equality and ordering ------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("1", "1.0", id="trailing zero"),
        pytest.param("1", "1.0.0.0", id="trailing zeros"),
        pytest.param("0", "0.0", id="zero"),
        pytest.param("1.0-a", "1-a", id="with prerelease"),
        pytest.param("01", "1", id="leading zero"),
    ],
)
def test_version_equal(a: str, b: str) -> None:
    assert V(a) == V(b)
    assert hash(V(a)) == hash(V(b))
    assert not V(a) < V(b)
    assert V(a) <= V(b)
    assert V(a) >= V(b)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        pytest.param("1", "2", id="major"),
        pytest.param("1.9", "1.10", id="numeric not lexical"),
        pytest.param("1", "1.0.1", id="missing parts are zero"),
        pytest.param("1.0.0.1", "1.1", id="length does not matter"),
        pytest.param("1-beta", "1", id="prerelease below release"),
        pytest.param("1-rc.9", "1.0", id="prerelease below equal release"),
        pytest.param("0.9", "1-alpha", id="number first"),
        pytest.param("1-alpha", "1-beta", id="strings lexical"),
        pytest.param("1-Beta", "1-alpha", id="byte order: uppercase first"),
        pytest.param("1-2", "1-10", id="numeric segments numeric"),
        pytest.param("1-1", "1-a", id="number below string"),
        pytest.param("1-9", "1-10a", id="number below string with digits"),
        pytest.param("1-a", "1-a.1", id="prefix first"),
        pytest.param("1-1.2", "1-1.2.3", id="numeric prefix first"),
        pytest.param("1-a.b", "1-b", id="element by element"),
    ],
)
def test_version_order(low: str, high: str) -> None:
    a, b = V(low), V(high)
    assert a < b
    assert a <= b
    assert b > a
    assert b >= a
    assert a != b
    assert not b < a


def test_version_sort() -> None:
    texts = ["1.0", "1-1", "0.9", "1-a", "1-1.2", "1.0.1", "1-a.1", "2-rc.1", "1.10"]
    assert [str(v) for v in sorted(map(V, texts))] == [
        "0.9",
        "1-1",
        "1-1.2",
        "1-a",
        "1-a.1",
        "1.0",
        "1.0.1",
        "1.10",
        "2-rc.1",
    ]


def test_version_semantic_number() -> None:
    assert V("1.2.0.0").semantic_number == (1, 2)
    assert V("0.0.0").semantic_number == (0,)
    assert V("0.1").semantic_number == (0, 1)


def test_version_compares_only_with_versions() -> None:
    assert V("1") != "1"
    with pytest.raises(TypeError):
        _ = V("1") < "2"  # type: ignore[operator]


@pytest.mark.parametrize(
    ("number", "prerelease"),
    [
        pytest.param((), (), id="no number"),
        pytest.param((-1,), (), id="negative"),
        pytest.param((USIZE_MAX + 1,), (), id="overflow"),
        pytest.param((True,), (), id="bool"),
        pytest.param(("1",), (), id="string number"),
        pytest.param((1,), ("1",), id="numeric string segment"),
        pytest.param((1,), ("",), id="empty segment"),
        pytest.param((1,), ("a.b",), id="dot in segment"),
        pytest.param((1,), (-1,), id="negative segment"),
        pytest.param((1,), (1.5,), id="float segment"),
    ],
)
def test_version_constructor_validates(
    number: tuple[object, ...], prerelease: tuple[object, ...]
) -> None:
    with pytest.raises(VersionError):
        Version(number, prerelease)  # type: ignore[arg-type]


def test_version_constructor_accepts_lists() -> None:
    v = Version([1, 2], ["beta", 3])  # type: ignore[arg-type]
    assert v.number == (1, 2)
    assert v.prerelease == ("beta", 3)
    assert v.without_prerelease() == V("1.2")


# --- ExtendedVersion --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "flavor", "upstream", "downstream"),
    [
        pytest.param("1.2.3:0", None, "1.2.3", "0", id="plain"),
        pytest.param("27.1:1", None, "27.1", "1", id="downstream"),
        pytest.param("#knots:27.1:0", "knots", "27.1", "0", id="flavor"),
        pytest.param("0.4.0-beta.1:2", None, "0.4.0-beta.1", "2", id="prerelease"),
        pytest.param("1:0-rc.1", None, "1", "0-rc.1", id="downstream prerelease"),
        pytest.param("#:1:0", "", "1", "0", id="empty flavor"),
        pytest.param("+1:007", None, "1", "7", id="usize syntax"),
        pytest.param("1:" + "0" * 4400 + "3", None, "1", "3", id="4400 leading zeros"),
    ],
)
def test_exver_parse(text: str, flavor: str | None, upstream: str, downstream: str) -> None:
    v = E(text)
    assert v.flavor == flavor
    assert v.upstream == V(upstream)
    assert v.downstream == V(downstream)


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        pytest.param("1.0", 3, "missing downstream", id="no downstream"),
        pytest.param("#knots:1.0", 10, "missing downstream", id="flavor, no downstream"),
        pytest.param("#knots", 6, "missing downstream", id="flavor only"),
        pytest.param("#Knots:1:0", 1, "invalid character 'K' in flavor", id="uppercase flavor"),
        pytest.param("#kn0ts:1:0", 3, "invalid character '0' in flavor", id="digit in flavor"),
        pytest.param("1:0:0", 2, "'0:0' is not a number", id="three parts"),
        pytest.param(":0", 0, "empty version number", id="empty upstream"),
        pytest.param("1:", 2, "empty version number", id="empty downstream"),
        pytest.param("1-01:0", 2, "leading zero", id="bad upstream prerelease"),
        pytest.param("1:0-a..b", 6, "empty prerelease identifier", id="bad downstream"),
    ],
)
def test_exver_parse_errors(text: str, position: int, problem: str) -> None:
    with pytest.raises(VersionError) as caught:
        E(text)
    assert caught.value.position == position
    assert problem in caught.value.problem
    assert caught.value.kind == "extended version"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("1.0:0", "1.0:0", id="plain"),
        pytest.param("#knots:27.1:0", "#knots:27.1:0", id="flavor"),
        pytest.param("#:1:0", "#:1:0", id="empty flavor"),
        pytest.param("+01.0:00", "1.0:0", id="normalized numbers"),
    ],
)
def test_exver_str(text: str, shown: str) -> None:
    assert str(E(text)) == shown


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param("1:0", "1.0:0", 0, id="trailing zero"),
        pytest.param("1:0", "1:1", -1, id="downstream"),
        pytest.param("1:9", "1.0.1:0", -1, id="upstream first"),
        pytest.param("2-beta:5", "2:0", -1, id="prerelease upstream"),
        pytest.param("1:0", "1:0-rc", 1, id="prerelease downstream"),
        pytest.param("#knots:2:0", "#knots:1:0", 1, id="same flavor"),
        pytest.param("#knots:1:0", "1:0", None, id="flavor vs none"),
        pytest.param("#a:1:0", "#b:1:0", None, id="two flavors"),
        pytest.param("#:1:0", "1:0", None, id="empty flavor vs none"),
        pytest.param("#:1:0", "#:2:0", -1, id="empty flavors"),
    ],
)
def test_exver_compare(a: str, b: str, expected: int | None) -> None:
    assert E(a).compare(E(b)) == expected
    assert compare(E(a), E(b)) == expected
    assert compare(VersionString.parse(a), E(b)) == expected
    reverse = None if expected is None else -expected
    assert E(b).compare(E(a)) == reverse


def test_exver_equality_and_hash() -> None:
    assert E("1.0:0") == E("1:0.0")
    assert hash(E("1.0:0")) == hash(E("1:0.0"))
    assert E("#knots:1:0") != E("1:0")
    assert E("#:1:0") != E("1:0")
    assert len({E("1:0"), E("1.0.0:0"), E("#:1:0")}) == 2


def test_exver_ordering_operators() -> None:
    assert E("1:0") < E("1:1") <= E("1.0:1") < E("2:0")
    assert E("3:0") > E("2:9") >= E("2.0:9")


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_exver_different_flavors_do_not_order(op: str) -> None:
    a, b = E("#knots:1:0"), E("1:0")
    with pytest.raises(VersionError, match="different flavors") as caught:
        {"<": a.__lt__, "<=": a.__le__, ">": a.__gt__, ">=": a.__ge__}[op](b)
    assert caught.value.hint is not None


def test_exver_sort_key_matches_rust_versionstring_cmp() -> None:
    texts = ["2:0", "#b:1:0", "1:0", "#a:2:0", "#:5:0", "#a:1:0", "1.5:0", "#b:0:1"]
    ordered = sorted(map(E, texts), key=lambda v: v.sort_key)
    # Flavored first, flavors by name ("" first), then flavorless; by version within each.
    assert [str(v) for v in ordered] == [
        "#:5:0",
        "#a:1:0",
        "#a:2:0",
        "#b:0:1",
        "#b:1:0",
        "1:0",
        "1.5:0",
        "2:0",
    ]


def test_exver_constructor() -> None:
    v = ExtendedVersion(V("1.2"))
    assert str(v) == "1.2:0"
    assert v.flavor is None
    assert str(v.with_flavor("knots")) == "#knots:1.2:0"
    assert v.with_flavor("").flavor is None  # as Rust's with_flavor
    assert E("#knots:1:0").without_flavor() == E("1:0")
    assert str(ExtendedVersion(V("1"), V("0"), "")) == "#:1:0"
    with pytest.raises(VersionError, match="flavor"):
        ExtendedVersion(V("1"), flavor="Knots")


# --- VersionString ----------------------------------------------------------------------------


def test_versionstring_keeps_text() -> None:
    v = VersionString.parse("1.0.0:0")
    assert str(v) == "1.0.0:0"
    assert v.text == "1.0.0:0"
    assert str(v.version) == "1.0.0:0"
    assert str(VersionString.parse("+01:0")) == "+01:0"
    assert v.upstream == V("1")
    assert v.downstream == V("0")
    assert v.flavor is None


def test_versionstring_equality_uses_the_version() -> None:
    a, b = VersionString.parse("1.0.0:0"), VersionString.parse("1:0")
    assert a == b
    assert hash(a) == hash(b)
    assert str(a) != str(b)
    assert a != E("1:0")  # a VersionString is not an ExtendedVersion


def test_versionstring_total_order() -> None:
    texts = ["1:0", "#knots:2:0", "0.9:0", "#knots:1:0", "#a:9:0"]
    strings = sorted(map(VersionString.parse, texts))
    assert [str(s) for s in strings] == ["#a:9:0", "#knots:1:0", "#knots:2:0", "0.9:0", "1:0"]
    a, b = VersionString.parse("#knots:1:0"), VersionString.parse("1:0")
    assert a < b
    assert a <= b
    assert b > a
    assert b >= a
    assert a.compare(b) is None


def test_versionstring_from_version() -> None:
    v = VersionString.from_version(E("#knots:1.0:0"))
    assert str(v) == "#knots:1.0:0"


def test_versionstring_checks_text_against_version() -> None:
    VersionString("1.0:0", E("1:0"))
    with pytest.raises(VersionError, match="does not denote"):
        VersionString("1:0", E("2:0"))
    with pytest.raises(VersionError):
        VersionString("nope", E("1:0"))
