"""Differential test of ``s9reg.exver`` against the JS exver bundled in ``@start9labs/start-sdk``.

s9reg follows the Rust crate; the JS library differs from it in documented ways
(``shared/spec/exver-notes.md``). Seeded random cases (versions, extended versions, comparisons,
ranges with satisfaction on sample versions, range display) are evaluated by both, in one Node
process (``exver_oracle.mjs``). Every disagreement must be explained by a deviation that the
classifier below recognises from the inputs; the test fails on any unexplained one, and also if
some deviation never shows up (the generator would then no longer exercise it).

Display: JS ``toString()`` has its own format (keeps ``^``/``~``, writes ``&&``), so strings are
never compared. Instead, each display is re-parsed by the *other* implementation and evaluated on
the same sample versions:

- s9reg's display, parsed by JS, must select the same versions as s9reg's range (checks that
  the Rust-format display means the same to the SDK and the web UI);
- JS's display, parsed by s9reg, must select the same versions as JS's range (checks that s9reg
  reads ranges written in the SDK's format).

Disagreements there are classified from the display text that was re-parsed. Independently,
s9reg's own display must be a fixed point (``str(parse(str(r))) == str(r)``) that keeps the
satisfaction of every sample version.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from s9reg.exver import (
    Anchor,
    And,
    ExtendedVersion,
    Not,
    Or,
    Version,
    VersionError,
    VersionRange,
)
from s9reg.exver._grammar import _Item, _Matcher, _Raw, _RawAnchor, _RawLeaf, _RawNot, _RawRange

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "exver_oracle.mjs"
SDK_PACKAGE = HERE / "node_modules" / "@start9labs" / "start-sdk" / "package.json"
HINT = "run `npm ci --prefix tests/interop` (needs Node >= 20 and npm)"
SEED = 0x5E9_0E7E
MAX_SAFE = 2**53

# --- deviation categories (one per row of the table in exver-notes.md, plus findings) ---------

MIXED = "prerelease segment mixing letters, digits or hyphens"
EMPTY_SEGMENT = "empty prerelease segment (extra dots)"
PRE_ZERO = "numeric prerelease segment with a leading zero"
BIG = "number above 2^53"
PLUS = "leading + in a version number"
PRE_ORDER = "prerelease ordering bug (segment types differ)"
JUXTAPOSITION = "juxtaposition after an explicit ||"
CARET_ZERO = "^ with all-zero number"
BOUND_PRERELEASE = "^/~ upper bound keeps the upstream prerelease"
TILDE = "~ without a component after the first non-zero one"
BARE_FLAVOR = "bare # flavor atom"
EMPTY_FLAVOR = "empty flavor in a version (#:)"
TRAILING = "trailing input after a range"
WHITESPACE = "tab or newline in a range"
SORT = "compareForSort across flavors"
# Not (yet) in the table of exver-notes.md: the pest grammar's `num` has no leading zeros, so
# Rust reads `>=01` as `>=0 ^1`; JS reads it as `>=1`.
RANGE_ZERO = "leading zero in a range version number"

CATEGORIES = (
    MIXED,
    EMPTY_SEGMENT,
    PRE_ZERO,
    BIG,
    PLUS,
    PRE_ORDER,
    JUXTAPOSITION,
    CARET_ZERO,
    BOUND_PRERELEASE,
    TILDE,
    BARE_FLAVOR,
    EMPTY_FLAVOR,
    TRAILING,
    WHITESPACE,
    SORT,
    RANGE_ZERO,
)

# --- the JS prerelease ordering bug, modelled to recognise it ---------------------------------


def _js_type(segment: int | str | None) -> str:
    if segment is None:
        return "undefined"
    return "number" if isinstance(segment, int) else "string"


def js_prerelease_cmp(a: tuple[int | str, ...], b: tuple[int | str, ...]) -> int:
    """JS ``Version.compare`` on prereleases: it checks the type of segment 1, not segment i."""
    if not a and b:
        return 1
    if a and not b:
        return -1
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if _js_type(x) == _js_type(y):
            if x != y:
                return 1 if x > y else -1  # type: ignore[operator]
            continue
        verdict = {
            "number:string": -1,
            "string:number": 1,
            "number:undefined": 1,
            "string:undefined": 1,
            "undefined:number": -1,
            "undefined:string": -1,
        }.get(f"{_js_type(a[1] if len(a) > 1 else None)}:{_js_type(y)}")
        if verdict is not None:
            return verdict
    return 0


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _rust_cmp(a: Version, b: Version) -> int:
    return _sign((a.sort_key > b.sort_key) - (a.sort_key < b.sort_key))


def _bug_changes(a: Version, b: Version) -> bool:
    if a.semantic_number != b.semantic_number:
        return False
    return js_prerelease_cmp(a.prerelease, b.prerelease) != _rust_cmp(a, b)


def prerelease_bug_applies(v: ExtendedVersion, w: ExtendedVersion) -> bool:
    """Whether JS's bug can change how ``v`` compares with ``w``."""
    return _bug_changes(v.upstream, w.upstream) or (
        v.upstream == w.upstream and _bug_changes(v.downstream, w.downstream)
    )


# --- feature recognisers ----------------------------------------------------------------------

_NUMBER = re.compile(r"[0-9]+")


def big_numbers(text: str) -> bool:
    return any(int(m) > MAX_SAFE for m in _NUMBER.findall(text))


def version_features(text: str) -> set[str]:
    """Deviation features of a version text (upstream or downstream, Rust's split)."""
    found = set()
    number, dash, pre = text.partition("-")
    if any(piece.startswith("+") for piece in number.split(".")):
        found.add(PLUS)
    if big_numbers(text):
        found.add(BIG)
    if dash:
        for segment in pre.split("."):
            if not segment:
                found.add(EMPTY_SEGMENT)
            elif segment.isdigit():
                if len(segment) > 1 and segment[0] == "0":
                    found.add(PRE_ZERO)
            elif not segment.isalpha():
                found.add(MIXED)
    return found


def exver_features(text: str) -> set[str]:
    found = set()
    if text.startswith("#:"):
        found.add(EMPTY_FLAVOR)
    if text.startswith("#") and ":" in text:
        text = text.split(":", 1)[1]
    for part in text.split(":"):
        found |= version_features(part)
    return found


def raw_range(text: str) -> tuple[_RawRange, int] | None:
    """s9reg's grammar match of ``text`` (what Rust's pest grammar matches)."""
    try:
        return _Matcher(text).match_range(0, 0)
    except VersionError:
        return None


def _raw_items(raw: _Raw) -> Iterator[_Raw | _Item]:
    if isinstance(raw, _RawNot):
        yield raw
        yield from _raw_items(raw.inner)
    elif isinstance(raw, _RawRange):
        for item in raw.items:
            yield item
            yield from _raw_items(item.atom)
    else:
        yield raw


def _js_increment_is_noop(number: tuple[int, ...], *, minor: bool) -> bool:
    major = next((i for i, n in enumerate(number) if n), -1)
    if major == -1:
        return True
    return minor and major + 1 >= len(number)


def range_features(text: str) -> set[str]:
    """Deviation features of a range text, found with s9reg's grammar match."""
    found = set()
    if big_numbers(text):
        found.add(BIG)
    if any(c in text for c in "\t\n\r"):
        found.add(WHITESPACE)
    matched = raw_range(text)
    if matched is None:
        # Whatever Rust rejects: the version features of every version-like token.
        for token in re.split(r"[ \t\n\r()|&!*<>=^~]+", text):
            found |= exver_features(token) if token else set()
        return found
    raw, end = matched
    rest = end
    while rest < len(text) and text[rest] == " ":
        rest += 1
    if rest < len(text) and text[rest] in "\t\n\r":
        found.add(WHITESPACE)
    elif end < len(text):
        # Trailing spaces included: JS rejects them.
        found.add(TRAILING)
    latest = None
    for node in _raw_items(raw):
        if isinstance(node, _Item):
            if node.op is None and latest == "||":
                found.add(JUXTAPOSITION)
            latest = node.op or latest
            # Two numbers against each other: `01` read as `0` then `1`.
            if not node.gap and text[node.start].isdigit() and text[node.start - 1].isdigit():
                found.add(RANGE_ZERO)
        elif isinstance(node, _RawAnchor):
            spec = text[node.spec_start : node.spec_end]
            found |= exver_features(spec)
            upstream = spec.split(":", 1)[1] if spec.startswith("#") else spec
            upstream = upstream.split(":")[0]
            try:
                version = Version.parse(upstream)
            except VersionError:
                continue
            if node.op in (None, "^", "~") and version.prerelease:
                found.add(BOUND_PRERELEASE)
            if node.op in (None, "^") and _js_increment_is_noop(version.number, minor=False):
                found.add(CARET_ZERO)
            if node.op == "~" and _js_increment_is_noop(version.number, minor=True):
                found.add(TILDE)
        elif isinstance(node, _RawLeaf) and node.symbol == "#" and node.flavor is None:
            found.add(BARE_FLAVOR)
    return found


def anchors(r: VersionRange) -> Iterator[ExtendedVersion]:
    if isinstance(r, Anchor):
        yield r.version
    elif isinstance(r, And | Or):
        yield from anchors(r.left)
        yield from anchors(r.right)
    elif isinstance(r, Not):
        yield from anchors(r.inner)


def satisfaction_features(r: VersionRange | None, version: str) -> set[str]:
    found = exver_features(version)
    if r is not None:
        v = ExtendedVersion.parse(version)
        if any(prerelease_bug_applies(v, a) for a in anchors(r)):
            found.add(PRE_ORDER)
    return found


# --- generators --------------------------------------------------------------------------------

WORDS = ("alpha", "beta", "rc", "a", "b", "x", "dev", "Beta")
ODD_SEGMENTS = ("rc1", "beta-2", "1a", "-", "01", "", "b-")
SMALL = (0, 0, 0, 1, 1, 1, 2, 2, 3, 4, 5, 9, 10, 27)
HUGE = (2**53 + 1, 2**53 + 2, 2**64 - 1, 2**64, 10**20)


def rand_number_part(rng: random.Random, *, odd: bool, in_range: bool) -> str:
    if odd and rng.random() < 0.08:
        return str(rng.choice(HUGE))
    if odd and rng.random() < 0.06:
        return rng.choice(("01", "007", "00")) if in_range else rng.choice(("01", "007", "+1"))
    return str(rng.choice(SMALL))


def rand_version(rng: random.Random, *, odd: bool = True, in_range: bool = False) -> str:
    parts = [
        rand_number_part(rng, odd=odd, in_range=in_range)
        for _ in range(rng.choice((1, 1, 2, 3, 3, 4)))
    ]
    text = ".".join(parts)
    if rng.random() < 0.35:
        segments = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            roll = rng.random()
            if odd and roll < 0.12:
                segments.append(rng.choice(ODD_SEGMENTS))
            elif roll < 0.55:
                segments.append(rng.choice(WORDS))
            else:
                segments.append(str(rng.choice((0, 1, 2, 3, 10))))
        text += "-" + ".".join(segments)
    return text


def rand_flavor(rng: random.Random, *, odd: bool) -> str:
    roll = rng.random()
    if roll < 0.75:
        return ""
    if odd and roll < 0.8:
        return "#:"
    return f"#{rng.choice(('knots', 'a', 'b'))}:"


def rand_exver(rng: random.Random, *, odd: bool = True) -> str:
    text = f"{rand_flavor(rng, odd=odd)}{rand_version(rng, odd=odd)}:{rand_version(rng, odd=odd)}"
    if odd and rng.random() < 0.03:
        text = text.rsplit(":", 1)[0]  # missing downstream
    return text


OPERATORS = ("", "", ">=", "<=", ">", "<", "=", "!=", "^", "^", "~", "~")
SEPARATORS = (" ", " ", " || ", " || ", " && ", " && ", "||", "&&", "  ")
JUNK = (" garbage", "\t<2", " &&", ")", " ", "\n>=1", ":", " (1", "\r")


def rand_anchor(rng: random.Random, *, odd: bool) -> str:
    op = rng.choice(OPERATORS)
    space = " " if op and rng.random() < 0.1 else ""
    flavor = rand_flavor(rng, odd=odd)
    if not odd and op in ("", "^", "~"):
        # Where JS's ^ and ~ agree with Rust: a non-zero major, a minor, no prerelease.
        upstream = f"{rng.randint(1, 30)}.{rng.choice(SMALL)}"
        upstream += f".{rng.choice(SMALL)}" if rng.random() < 0.5 else ""
    else:
        upstream = rand_version(rng, odd=odd, in_range=True)
    spec = flavor + upstream
    if rng.random() < 0.5:
        spec += f":{rand_version(rng, odd=odd, in_range=True)}"
    return f"{op}{space}{spec}"


def rand_atom(rng: random.Random, depth: int, *, odd: bool) -> str:
    roll = rng.random()
    if roll < 0.62 or depth > 2:
        return rand_anchor(rng, odd=odd)
    if roll < 0.66:
        return "*"
    if roll < 0.69:
        return "!"
    if roll < 0.78:
        return "!" + rand_atom(rng, depth + 1, odd=odd)
    if roll < 0.86:
        return f"#{rng.choice(('knots', 'a'))}"
    if roll < 0.89:
        return "#" if odd else "#knots"
    return f"({rand_range(rng, depth + 1, odd=odd)})"


def rand_range(rng: random.Random, depth: int = 0, *, odd: bool = True) -> str:
    text = rand_atom(rng, depth, odd=odd)
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        separators = SEPARATORS if odd else (" || ", " && ")
        text += rng.choice(separators) + rand_atom(rng, depth, odd=odd)
    if depth == 0 and odd and rng.random() < 0.08:
        text += rng.choice(JUNK)
    return text


SAMPLE_VERSIONS = (
    "0:0",
    "0.0.0-x:0",
    "0.0.1:0",
    "0.0.2:0",
    "0.1:0",
    "0.1.5:0",
    "0.9.9:0",
    "1:0",
    "1.0:0",
    "1.0.0:1",
    "1.0.1:0",
    "1.1:0",
    "1.2.3:0",
    "1.2.3-alpha:0",
    "1.2.3-beta:0",
    "1.2.3-beta.1:0",
    "1.2.3-1:0",
    "1.9:0",
    "2:0",
    "2-beta:0",
    "2-gamma:0",
    "2.0.0-rc.1:0",
    "2.5:3",
    "3:0",
    "10:0",
    "27.1:0",
    "27.1:2",
    "#knots:27.1:0",
    "#knots:1:0",
    "#knots:2.1:0",
    "#a:1:0",
    "#:1:0",
    "1-1:0",
    "1-a:0",
    "1-1.2:0",
    "1-1.2.3:0",
    "1-rc1:0",
    "9007199254740993:0",
)


def sample_versions(rng: random.Random, r: VersionRange | None) -> list[str]:
    chosen = rng.sample(SAMPLE_VERSIONS, 10)
    if r is not None:
        for a in anchors(r):
            chosen.append(str(a))
            chosen.append(str(a.without_flavor()))
    return list(dict.fromkeys(chosen))


# --- cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    payload: dict[str, Any]
    ours: dict[str, Any] = field(default_factory=dict)


def _version_json(v: Version) -> dict[str, Any]:
    return {"number": list(v.number), "prerelease": list(v.prerelease)}


def our_version(text: str) -> dict[str, Any]:
    try:
        v = Version.parse(text)
    except VersionError as e:
        return {"ok": False, "error": str(e)}
    return {"ok": True, **_version_json(v)}


def our_exver(text: str) -> dict[str, Any]:
    try:
        v = ExtendedVersion.parse(text)
    except VersionError as e:
        return {"ok": False, "error": str(e)}
    return {
        "ok": True,
        "flavor": v.flavor,
        "upstream": _version_json(v.upstream),
        "downstream": _version_json(v.downstream),
    }


def our_range(text: str) -> VersionRange | None:
    try:
        return VersionRange.parse(text)
    except VersionError:
        return None


def generate(rng: random.Random) -> list[Case]:
    cases: list[Case] = []
    for i in range(500):
        text = rand_version(rng, odd=i % 2 == 0)
        cases.append(Case({"op": "version", "text": text}))
    for i in range(500):
        text = rand_exver(rng, odd=i % 2 == 0)
        cases.append(Case({"op": "exver", "text": text}))
    for i in range(600):
        odd = i % 3 == 0
        a = rand_exver(rng, odd=odd)
        if rng.random() < 0.5:
            # Same numbers, other prerelease/flavor: where ordering bugs live.
            b = re.sub(r"-[^:]*", lambda _: "-" + rng.choice(("1", "a", "1.2", "a.1", "b")), a)
        else:
            b = rand_exver(rng, odd=odd)
        cases.append(Case({"op": "compare", "a": a, "b": b}))
    for i in range(1200):
        text = rand_range(rng, odd=i % 3 == 0)
        r = our_range(text)
        versions = sample_versions(rng, r)
        cases.append(
            Case(
                {
                    "op": "range",
                    "text": text,
                    "versions": versions,
                    "display": str(r) if r is not None else None,
                },
                {"range": r},
            )
        )
    return cases


def run_oracle(cases: list[Case]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node not found on PATH: the interop tests need it; {HINT}")
    if not SDK_PACKAGE.is_file():
        pytest.fail(f"{SDK_PACKAGE} not found; {HINT}")
    stdin = json.dumps([c.payload for c in cases])
    proc = subprocess.run(
        [node, str(SCRIPT)], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"exver_oracle.mjs exited {proc.returncode}:\n{proc.stderr}")
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    assert len(results) == len(cases)
    return results


# --- comparison -------------------------------------------------------------------------------


@dataclass
class Disagreement:
    case: dict[str, Any]
    what: str
    categories: set[str]


def _same_version(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    # JS numbers are doubles: int == float compares exactly in Python.
    return bool(ours["number"] == theirs["number"] and ours["prerelease"] == theirs["prerelease"])


def check_version(payload: dict[str, Any], js: dict[str, Any]) -> Iterator[Disagreement]:
    ours = our_version(payload["text"])
    if ours["ok"] != js["ok"] or (ours["ok"] and not _same_version(ours, js)):
        yield Disagreement(payload, "version parse", version_features(payload["text"]))


def check_exver(payload: dict[str, Any], js: dict[str, Any]) -> Iterator[Disagreement]:
    ours = our_exver(payload["text"])
    same = ours["ok"] == js["ok"] and (
        not ours["ok"]
        or (
            ours["flavor"] == js["flavor"]
            and _same_version(ours["upstream"], js["upstream"])
            and _same_version(ours["downstream"], js["downstream"])
        )
    )
    if not same:
        yield Disagreement(payload, "exver parse", exver_features(payload["text"]))


_JS_CMP = {"less": -1, "equal": 0, "greater": 1, None: None}


def check_compare(payload: dict[str, Any], js: dict[str, Any]) -> Iterator[Disagreement]:
    features = exver_features(payload["a"]) | exver_features(payload["b"])
    try:
        a, b = ExtendedVersion.parse(payload["a"]), ExtendedVersion.parse(payload["b"])
    except VersionError:
        if js["ok"]:
            yield Disagreement(payload, "compare parse", features)
        return
    if not js["ok"]:
        yield Disagreement(payload, "compare parse", features)
        return
    if prerelease_bug_applies(a, b):
        features.add(PRE_ORDER)
    if a.compare(b) != _JS_CMP[js["cmp"]]:
        yield Disagreement(payload, "compare", features)
    ka, kb = a.sort_key, b.sort_key
    if (ka > kb) - (ka < kb) != js["sort"]:
        sort_features = features | ({SORT} if a.flavor != b.flavor else set())
        yield Disagreement(payload, "sort", sort_features)


def _satisfaction(r: VersionRange, versions: list[str]) -> list[bool]:
    return [r.satisfied_by(ExtendedVersion.parse(v)) for v in versions]


def _compare_sat(
    payload: dict[str, Any],
    what: str,
    r: VersionRange | None,
    ours: list[bool],
    theirs: list[bool | None],
    text_features: set[str],
) -> Iterator[Disagreement]:
    for version, mine, js in zip(payload["versions"], ours, theirs, strict=True):
        if js is not None and mine != js:
            features = text_features | satisfaction_features(r, version)
            yield Disagreement({**payload, "version": version}, what, features)


def check_range(
    payload: dict[str, Any], ours: dict[str, Any], js: dict[str, Any]
) -> Iterator[Disagreement]:
    text = payload["text"]
    features = range_features(text)
    r: VersionRange | None = ours["range"]
    if r is None or not js["ok"]:
        if (r is None) != (not js["ok"]):
            yield Disagreement(payload, "range parse", features)
        return
    mine = _satisfaction(r, payload["versions"])
    # Self-consistency: the display is a fixed point with the same meaning.
    display = str(r)
    again = VersionRange.parse(display, strict=True)
    assert str(again) == display, text
    assert _satisfaction(again, payload["versions"]) == mine, text
    yield from _compare_sat(payload, "satisfaction", r, mine, js["sat"], features)
    # s9reg's display read by JS.
    shown = js["display"]
    display_features = range_features(display)
    if not shown["ok"]:
        yield Disagreement(payload, "JS parse of s9reg display", display_features)
    else:
        yield from _compare_sat(
            payload, "JS reading s9reg display", r, mine, shown["sat"], display_features
        )
    # JS's display read by s9reg.
    js_display = js["str"]
    js_features = range_features(js_display) | features
    theirs_read = our_range(js_display)
    if theirs_read is None:
        yield Disagreement({**payload, "js": js_display}, "s9reg parse of JS display", js_features)
    else:
        yield from _compare_sat(
            {**payload, "js": js_display},
            "s9reg reading JS display",
            theirs_read,
            _satisfaction(theirs_read, payload["versions"]),
            js["sat"],
            range_features(js_display),
        )


def compare_all(cases: list[Case], results: list[dict[str, Any]]) -> list[Disagreement]:
    found: list[Disagreement] = []
    for case, js in zip(cases, results, strict=True):
        op = case.payload["op"]
        if op == "version":
            found += check_version(case.payload, js)
        elif op == "exver":
            found += check_exver(case.payload, js)
        elif op == "compare":
            found += check_compare(case.payload, js)
        else:
            found += check_range(case.payload, case.ours, js)
    return found


@pytest.fixture(scope="module")
def differential() -> tuple[list[Case], list[Disagreement]]:
    cases = generate(random.Random(SEED))
    return cases, compare_all(cases, run_oracle(cases))


def test_every_disagreement_is_a_documented_deviation(
    differential: tuple[list[Case], list[Disagreement]],
) -> None:
    cases, disagreements = differential
    assert len(cases) >= 2000
    counts = Counter(c for d in disagreements for c in d.categories)
    print(f"\n{len(cases)} cases, {len(disagreements)} disagreements with JS:")  # noqa: T201
    for category in CATEGORIES:
        print(f"  {counts[category]:5d}  {category}")  # noqa: T201
    unexplained = [d for d in disagreements if not d.categories]
    assert not unexplained, "\n".join(f"{d.what}: {d.case}" for d in unexplained[:20])


def test_every_deviation_is_exercised(
    differential: tuple[list[Case], list[Disagreement]],
) -> None:
    _, disagreements = differential
    seen = {c for d in disagreements for c in d.categories}
    assert set(CATEGORIES) - seen == set()


def text_features(payload: dict[str, Any]) -> set[str]:
    op = payload["op"]
    if op == "version":
        return version_features(payload["text"])
    if op == "exver":
        return exver_features(payload["text"])
    if op == "compare":
        return exver_features(payload["a"]) | exver_features(payload["b"])
    return range_features(payload["text"])


def test_most_cases_are_clean(differential: tuple[list[Case], list[Disagreement]]) -> None:
    """Most cases have no deviation feature at all, so they must agree exactly."""
    cases, _ = differential
    for op in ("version", "exver", "compare", "range"):
        of_op = [c for c in cases if c.payload["op"] == op]
        clean = [c for c in of_op if not text_features(c.payload)]
        assert len(clean) >= 0.5 * len(of_op), op


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(">=1.0:0 <2:0", id="anchors"),
        pytest.param("^1.2.3 || ~1.2", id="caret and tilde"),
        pytest.param("#knots && !(=2-beta.1:0 || >3)", id="flavor, not, parens"),
        pytest.param("(>=1)(<2)", id="abutting parentheses"),
        pytest.param(">=1 && <2 !=1.5", id="juxtaposition after &&"),
        pytest.param("!#knots", id="negated flavor"),
        pytest.param("*", id="any"),
    ],
)
def test_classifier_finds_nothing_in_plain_ranges(text: str) -> None:
    assert range_features(text) == set()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        pytest.param(">=1.0-rc1", MIXED, id="mixed"),
        pytest.param(">=1-a..1", TRAILING, id="extra dots end the Rust range"),
        pytest.param(">=1-01", PRE_ZERO, id="prerelease zero"),
        pytest.param(">=9007199254740993", BIG, id="big"),
        pytest.param("<1 || >2 <4", JUXTAPOSITION, id="juxtaposition"),
        pytest.param("^0.0", CARET_ZERO, id="caret zero"),
        pytest.param("0", CARET_ZERO, id="bare zero"),
        pytest.param("~1.2-beta", BOUND_PRERELEASE, id="tilde prerelease"),
        pytest.param("~1", TILDE, id="tilde"),
        pytest.param("~0.1", TILDE, id="tilde after zeros"),
        pytest.param("#", BARE_FLAVOR, id="bare flavor"),
        pytest.param(">=1 )", TRAILING, id="trailing"),
        pytest.param(">=1 ", TRAILING, id="trailing space"),
        pytest.param(">=1\t<2", WHITESPACE, id="tab"),
        pytest.param(">=01", RANGE_ZERO, id="leading zero"),
    ],
)
def test_classifier_recognises(text: str, category: str) -> None:
    assert category in range_features(text)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(("a",), (1,), True, id="string vs number"),
        pytest.param((1,), ("a",), False, id="number vs string happens to be right"),
        pytest.param((1, 2), (1, 2, 3), True, id="prefix"),
        pytest.param(("a",), ("b",), False, id="same types"),
        pytest.param(("a", 1), ("a", "b"), False, id="segment 1 decides correctly"),
        pytest.param((), (1,), False, id="release vs prerelease"),
    ],
)
def test_prerelease_bug_model(
    a: tuple[int | str, ...], b: tuple[int | str, ...], expected: bool
) -> None:
    assert _bug_changes(Version((1,), a), Version((1,), b)) is expected
