"""Manifest text limits (#16): registry policy checked at ingest, with field, size and limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg.builder import build_site
from s9reg.builder.limits import MAX_TRANSLATIONS, TEXT_LIMITS
from s9reg.registry.errors import RegistryError

from helpers.buildkit import ADMIN, pkg, read_index, settings, snapshot

MB = 1_000_000


def _desc(long: object, short: object = "A short description.") -> dict[str, object]:
    return {"short": short, "long": long}


def test_huge_description_and_release_notes_refused(tmp_path: Path) -> None:
    """The finding: a 20 MB package (10 MB description.long, 10 MB release notes)."""
    good = pkg(tmp_path, "good.s9pk")
    build_site(settings(tmp_path, [good]))
    before = snapshot(tmp_path / "site")
    huge = pkg(
        tmp_path,
        "huge.s9pk",
        version="1.1.0:0",
        manifest_overrides={"description": _desc("x" * (10 * MB)), "releaseNotes": "y" * (10 * MB)},
    )
    with pytest.raises(RegistryError) as exc:
        build_site(settings(tmp_path, [good, huge]))
    message = exc.value.message
    assert message == (
        f"{huge}: hello 1.1.0:0: description.long is 10,000,000 characters (limit 5,000) "
        "(and 1 more)"
    )
    assert exc.value.details == (
        "description.long is 10,000,000 characters (limit 5,000)\n"
        "releaseNotes is 10,000,000 characters (limit 20,000)"
    )
    assert snapshot(tmp_path / "site") == before


def test_skip_invalid_leaves_the_package_out(tmp_path: Path) -> None:
    good = pkg(tmp_path, "good.s9pk")
    long_title = pkg(tmp_path, "t.s9pk", version="1.2.0:0", title="T" * 101)
    report = build_site(settings(tmp_path, [good, long_title], skip_invalid=True))
    assert [s.path for s in report.skipped] == [long_title]
    assert "title is 101 characters (limit 100)" in report.skipped[0].message
    assert [str(v) for v in read_index(tmp_path / "site").package.packages["hello"].versions] == [
        "1.0.0:0"
    ]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        pytest.param(
            {"description": _desc("ok", "s" * 161)},
            "description.short is 161 characters (limit 160)",
            id="short",
        ),
        pytest.param(
            {"description": _desc({"en_US": "ok", "de_DE": "l" * 5001})},
            "description.long (de_DE) is 5,001 characters (limit 5,000)",
            id="long translation",
        ),
        pytest.param(
            {"releaseNotes": {f"l{n:02d}_XX": "n" for n in range(MAX_TRANSLATIONS + 1)}},
            f"releaseNotes has {MAX_TRANSLATIONS + 1} translations (limit {MAX_TRANSLATIONS})",
            id="translations",
        ),
        pytest.param({"license": "L" * 129}, "license is 129 characters (limit 128)", id="license"),
        pytest.param(
            {"marketingUrl": "https://example.com/" + "a" * 2048},
            "marketingUrl is 2,068 characters (limit 2,048)",
            id="url",
        ),
    ],
)
def test_each_field_limit(tmp_path: Path, overrides: dict[str, object], problem: str) -> None:
    bad = pkg(tmp_path, "bad.s9pk", manifest_overrides=overrides)
    with pytest.raises(RegistryError, match="limit") as exc:
        build_site(settings(tmp_path, [bad]))
    assert exc.value.message == f"{bad}: hello 1.0.0:0: {problem}"


def test_texts_at_the_limits_are_accepted(tmp_path: Path) -> None:
    at = pkg(
        tmp_path,
        "at.s9pk",
        title="T" * TEXT_LIMITS["title"].limit,
        manifest_overrides={
            "description": _desc("l" * 5000, "s" * 160),
            "releaseNotes": "n" * 20_000,
        },
    )
    build_site(settings(tmp_path, [at]))
    assert "hello" in read_index(tmp_path / "site").package.packages


def test_one_package_dominating_the_index_is_warned_about(tmp_path: Path) -> None:
    notes = {f"l{n:02d}_XX": "n" * 20_000 for n in range(MAX_TRANSLATIONS)}
    big = [
        pkg(
            tmp_path,
            f"big{v}.s9pk",
            version=f"1.{v}.0:0",
            manifest_overrides={"releaseNotes": notes},
        )
        for v in range(2)
    ]
    small = pkg(tmp_path, "small.s9pk", ADMIN, id_="other")
    report = build_site(settings(tmp_path, [*big, small]))
    size = (tmp_path / "site" / "index.json").stat().st_size
    assert size > 1 << 20
    (warning,) = [w for w in report.warnings if w.startswith("index.json:")]
    assert warning.startswith("index.json: package hello makes 9")
    assert warning.endswith(f"of its {size:,} bytes, which every device downloads")
