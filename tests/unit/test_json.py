"""The JSON kit (s9reg._json): one key-path syntax, struct and map readers, strict decoding."""

from __future__ import annotations

import pytest

from s9reg._json import ABSENT, JSONObject, Problem, Reader, at, details, summary


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        pytest.param("", "signers", "signers", id="first key"),
        pytest.param("signers", 2, "signers[2]", id="index"),
        pytest.param("signers[2]", "keys", "signers[2].keys", id="key after index"),
        pytest.param("packages", "hello-world", "packages.hello-world", id="dashes stay bare"),
        pytest.param("versions", "1.0:0", 'versions["1.0:0"]', id="version quoted"),
        pytest.param("deps", "Bad Id", 'deps["Bad Id"]', id="space quoted"),
        pytest.param("", "0x", '["0x"]', id="leading digit quoted"),
        pytest.param("a", 'q"', 'a["q\\""]', id="quote escaped"),
        pytest.param("", 0, "[0]", id="index at the root"),
    ],
)
def test_one_path_syntax(path: str, key: str | int, expected: str) -> None:
    assert at(path, key) == expected


def test_struct_refuses_repeated_known_fields_map_takes_the_last() -> None:
    r = Reader()
    value = r.decode(b'{"a": {"x": 1, "x": 2, "y": 1, "y": 2}, "m": {"k": 1, "k": 2}}')
    assert isinstance(value, dict)
    s = r.struct(value["a"], "a", frozenset({"x"}))
    assert s is not None
    assert s.get("x") == 2  # the last value
    assert r.problems == [Problem("a", "duplicate field `x`")]  # `y` is unknown: accepted
    assert list(r.entries(value["m"], "m")) == [("k", 2, "m.k")]
    assert r.problems == [Problem("a", "duplicate field `x`")]


def test_only_repeated_objects_carry_the_repeats() -> None:
    value = Reader().decode(b'{"a": 1, "b": {"c": 1, "c": 1}}')
    assert type(value) is dict
    assert isinstance(value["b"], JSONObject)
    assert value["b"].repeated == frozenset({"c"})


def test_every_problem_is_named_once() -> None:
    r = Reader()
    s = r.struct({"n": "x", "b": 1, "list": ["a", 2, None]}, "", frozenset())
    assert s is not None
    assert s.string("missing") is None
    assert s.string("missing") is None  # reported once
    assert s.boolean("b") is None
    assert s.boolean("absent", default=False) is False
    assert r.strings(s.get("list"), s.at("list")) == ["a"]
    assert r.u64(-1, "ram") is None
    assert r.items("x", "arr") is None
    assert [str(p) for p in r.problems] == [
        "missing: required key missing",
        "b: expected true or false",
        "list[1]: expected a string",
        "list[2]: expected a string",
        "ram: expected an unsigned 64-bit integer",
        "arr: expected a JSON array",
    ]
    first = summary(r.problems)
    assert first == Problem("missing", "required key missing (and 5 more)")
    assert details(r.problems[:2], "/x.json").splitlines() == [
        "/x.json: missing: required key missing",
        "/x.json: b: expected true or false",
    ]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(b"\xff", Problem("", "not valid UTF-8 (at byte 0)"), id="not utf-8"),
        pytest.param(b"[NaN]", Problem("", "invalid JSON: NaN is not valid JSON"), id="NaN"),
        pytest.param(
            b'{"a": ["\\ud800"]}',
            Problem("a[0]", "string holds a lone surrogate (not valid Unicode)"),
            id="lone surrogate",
        ),
        pytest.param(
            b"[" * 129 + b"]" * 129,
            Problem("[0]" * 128, "nested deeper than 128 levels"),
            id="deep",
        ),
    ],
)
def test_decode_is_as_strict_as_serde_json(data: bytes, problem: Problem) -> None:
    r = Reader()
    r.decode(data)
    assert r.problems == [problem]


def test_problems_located_in_a_file_and_line() -> None:
    # The site configuration's form: ``site-config.yaml:41: signers[2].keys[0]: …``.
    yaml_problem = Problem(at(at(at("", "signers"), 2), "keys") + "[0]", "not a PEM key", 41)
    assert yaml_problem.located("site-config.yaml") == (
        "site-config.yaml:41: signers[2].keys[0]: not a PEM key"
    )
    assert Problem("", "empty file", 1).located("c.yaml") == "c.yaml:1: empty file"
    assert Problem("id", "bad").located(None) == "id: bad"
    assert summary([yaml_problem, Problem("x", "y")]).line == 41


def test_absent_is_not_null() -> None:
    r = Reader()
    assert r.opt_string(ABSENT, "x") is None
    assert r.opt_string(None, "x") is None
    assert r.string(None, "x") is None
    # An absent value is reported once, where it is required, not again by each getter.
    assert r.struct(ABSENT, "y", frozenset()) is None
    assert r.items(ABSENT, "y") is None
    assert r.problems == [Problem("x", "expected a string")]
