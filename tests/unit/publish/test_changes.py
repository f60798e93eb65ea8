"""The versions a publish adds and removes, and the CI outputs and summary made of them (#18)."""

from __future__ import annotations

import json
from pathlib import Path

from s9reg.builder import build_site
from s9reg.cli._ci import MAX_ROWS, CiResult, append_github_output, summary_markdown
from s9reg.publish import PublishReport
from s9reg.publish.changes import IndexChanges, index_changes
from s9reg.registry.model.index import FullIndex

from helpers.actions_runner import _read_commands
from helpers.buildkit import ADMIN, pkg, read_index, settings


def _index(root: Path, packages: list[tuple[str, str]]) -> FullIndex:
    src = root / "src"
    src.mkdir(parents=True)
    files = [
        pkg(src, f"{i}-{v.replace(':', '_')}.s9pk", ADMIN, id_=i, version=v) for i, v in packages
    ]
    build_site(settings(root, files, output=root / "site"))
    return read_index(root / "site")


def test_versions_added_and_removed(tmp_path: Path) -> None:
    before = _index(tmp_path / "a", [("hello", "1.0.0:0"), ("wiki", "3.0.0:0")])
    after = _index(
        tmp_path / "b", [("hello", "1.0.0:0"), ("hello", "1.1.0:0"), ("notes", "2.0.0:0")]
    )
    changes = index_changes(before, after)
    assert changes.to_dict() == {
        "added": {"hello": ["1.1.0:0"], "notes": ["2.0.0:0"]},
        "removed": {"wiki": ["3.0.0:0"]},
        "packagesAdded": ["notes"],
        "packagesRemoved": ["wiki"],
    }
    assert changes.count() == (2, 1)
    assert index_changes(after, after).empty
    first = index_changes(None, before)
    assert first.added == {"hello": ("1.0.0:0",), "wiki": ("3.0.0:0",)}
    assert first.packages_added == ("hello", "wiki")


def _report(**fields: object) -> PublishReport:
    base: dict[str, object] = {
        "target": "s3://b/",
        "generation": 2,
        "previous_generation": 1,
        "dry_run": False,
    }
    return PublishReport(**{**base, **fields})  # type: ignore[arg-type]


def test_github_outputs_parse_as_the_runner_reads_them(tmp_path: Path) -> None:
    changes = IndexChanges(added={"hello": ("1.1.0:0",)}, removed={}, packages_added=())
    result = CiResult(
        report=_report(), changes=changes, index_sha256="ab" * 32, packages=1, versions=2
    )
    out = tmp_path / "github_output"
    out.write_text("earlier=1\n")
    append_github_output(out, result)
    values = _read_commands(out)
    assert values["earlier"] == "1"
    assert values["generation"] == "2"
    assert values["previous-generation"] == "1"
    assert values["index-sha256"] == "ab" * 32
    assert values["dry-run"] == "false"
    assert json.loads(values["changed"])["added"] == {"hello": ["1.1.0:0"]}


def test_the_summary_stays_small_for_a_huge_first_publish() -> None:
    added = {f"pkg-{n}": tuple(f"{v}.0.0:0" for v in range(40)) for n in range(5000)}
    warnings = tuple(f"warning {n}: " + "x" * 1000 for n in range(10_000))
    result = CiResult(
        report=_report(previous_generation=0, generation=1, warnings=warnings),
        changes=IndexChanges(added=added, removed={}),
        index_sha256="cd" * 32,
        packages=5000,
        versions=200_000,
        links=(("registry URL", "https://reg.example.org/"),),
    )
    text = summary_markdown(result)
    assert len(text.encode()) < 32 * 1024  # GitHub's limit is 1 MiB per step
    assert text.startswith("### s9reg: published generation 1 (was 0)\n")
    assert text.count("| added |") == MAX_ROWS
    assert f"… and {5000 - MAX_ROWS} more packages" in text
    assert "200000 versions; 200000 versions added, 0 removed" in text
    assert "- … and 9990 more (in the job log)" in text


def test_the_summary_of_a_dry_run_and_of_no_change() -> None:
    empty = IndexChanges(added={}, removed={})
    dry = summary_markdown(
        CiResult(
            report=_report(dry_run=True),
            changes=empty,
            index_sha256="0" * 64,
            packages=0,
            versions=0,
        )
    )
    assert dry.startswith("### s9reg: dry run, would publish generation 2\n")
    same = summary_markdown(
        CiResult(
            report=_report(generation=1),
            changes=empty,
            index_sha256="0" * 64,
            packages=0,
            versions=0,
        )
    )
    assert same.startswith("### s9reg: up to date, generation 1 is live\n")
    assert "| change |" not in same
