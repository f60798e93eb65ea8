"""The three reader verdicts settled against upstream's code (s9pk-format.md §17).

Packages are made by the project's writer; a filtered archive is derived from the full one as a
device derives it (``validate_for(arch)``), so it keeps the original signature.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from s9reg.s9pk.demo import demo_manifest, demo_package_tree
from s9reg.s9pk.errors import ManifestError
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.manifest import Manifest
from s9reg.s9pk.package import S9pk
from s9reg.s9pk.tree import BytesSource, Directory, File
from s9reg.s9pk.tree_check import validate_for
from s9reg.s9pk.writer import write_archive, write_archive_file

from helpers.cli import run_cli
from helpers.trees import edit

KEY = PrivateKey(bytes(range(32)))
FULL = demo_package_tree("hello", "1.0.0:0", arches=("x86_64", "aarch64"), with_deps=True)


def read(tree: Directory) -> S9pk:
    buf = io.BytesIO()
    write_archive(buf, tree, KEY)
    buf.seek(0)
    return S9pk.read(buf)


def filtered(tree: Directory = FULL, arch: str = "x86_64") -> Directory:
    """The archive a device keeps: everything ``arch`` does not need turned MISSING."""
    manifest = Manifest.from_bytes(_bytes(tree, "manifest.json"))
    out = validate_for(tree, manifest, arch, warn=lambda _msg: None)
    # A package without instructions.md, filtered; ``with_entries`` keeps the signed size.
    return out.with_entries(
        {**out.entries, "instructions.md": _node(out, "instructions.md").to_missing()}
    )


def _node(tree: Directory, path: str) -> File:
    node = tree.get(path)
    assert isinstance(node, File)
    return node


def _bytes(tree: Directory, path: str) -> bytes:
    source = _node(tree, path).source
    assert isinstance(source, BytesSource)
    return source.data


def with_manifest(text: str) -> Directory:
    return edit(FULL, {"manifest.json": File.from_bytes(text.encode())})


def manifest_text(**changes: object) -> str:
    value = demo_manifest("hello", "1.0.0:0", dependencies=("bitcoind",))
    value.update(changes)  # type: ignore[arg-type]
    return json.dumps(value)


# --- 17.3: filtered archives -------------------------------------------------------------------


def test_filtered_archive_keeps_the_signature_and_is_listable() -> None:
    full, part = read(FULL), read(filtered())
    assert part.commitment == full.commitment
    assert part.archive.header.signature == full.archive.header.signature
    part.archive.verify_all()
    part.check_listable()
    assert "/images/aarch64" in part.missing_entries()
    assert "/instructions.md" in part.missing_entries()
    assert full.missing_entries() == ()
    assert part.instructions() is None


def test_filtered_archive_names_the_arch_devices_would_refuse() -> None:
    part = read(filtered())
    assert part.claimed_arches() == ("aarch64", "x86_64")
    problems = part.arch_problems()
    assert list(problems) == ["aarch64"]
    assert "/images/aarch64/main.squashfs: file missing from archive" in problems["aarch64"]
    assert read(FULL).arch_problems() == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda t: edit(t, {"icon.png": _node(t, "icon.png").to_missing()}),
            "/icon: no icon found in archive",
            id="MISSING icon",
        ),
        pytest.param(
            lambda t: edit(
                t,
                {
                    "dependencies/bitcoind/metadata.json": _node(
                        t, "dependencies/bitcoind/metadata.json"
                    ).to_missing()
                },
            ),
            "/dependencies/bitcoind/metadata.json: not a file",
            id="MISSING dependency metadata",
        ),
    ],
)
def test_what_upstream_reads_must_be_present(
    change: Callable[[Directory], Directory], message: str
) -> None:
    pkg = read(change(filtered()))
    pkg.archive.verify_all()
    with pytest.raises(ManifestError) as e:
        pkg.check_listable()
    assert str(e.value) == message


def test_absent_dependency_metadata_is_listable() -> None:
    tree = edit(FULL, {"dependencies": None})
    read(tree).check_listable()


def test_verify_cli_accepts_a_filtered_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hello_x86_64.s9pk"
    write_archive_file(path, filtered(), KEY)
    code, out, _ = run_cli(["s9pk", "verify", str(path)], capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("OK hello 1.0.0:0 aarch64 x86_64 ")
    assert "  MISSING /images/aarch64" in lines
    assert "  MISSING /instructions.md" in lines
    assert any(line.startswith("  warning: aarch64: devices would refuse") for line in lines)
    code, out, _ = run_cli(["s9pk", "verify", "--json", str(path)], capsys)
    result = json.loads(out)
    assert result["ok"] is True
    assert "/images/aarch64" in result["missing"]
    assert list(result["notInstallable"]) == ["aarch64"]


def test_verify_cli_refuses_a_missing_icon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "noicon.s9pk"
    tree = filtered()
    write_archive_file(path, edit(tree, {"icon.png": _node(tree, "icon.png").to_missing()}), KEY)
    code, out, _ = run_cli(["s9pk", "verify", str(path)], capsys)
    assert code == 1
    assert out == f"FAIL {path}: /icon: no icon found in archive\n"


# --- 17.1: repeated manifest keys ----------------------------------------------------------------


def _repeat(key: str, value: object) -> str:
    """The manifest text with ``key`` written a second time, after the first."""
    text = manifest_text()
    return text[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(_repeat("id", "other"), "duplicate field `id`", id="id twice"),
        pytest.param(_repeat("title", "Other"), "duplicate field `title`", id="flattened title"),
        pytest.param(
            _repeat("hardwareRequirements", {}),
            "duplicate field `hardwareRequirements`",
            id="hardwareRequirements twice",
        ),
        pytest.param(
            manifest_text().replace(
                '"description": {"short": ', '"description": {"short": "", "short": '
            ),
            "description: duplicate field `short`",
            id="struct field inside description",
        ),
        pytest.param(
            manifest_text().replace('"arch": [', '"arch": ["x86_64"], "arch": [', 1),
            "images.main: duplicate field `arch`",
            id="struct field inside an image",
        ),
    ],
)
def test_repeated_known_fields_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ManifestError) as e:
        Manifest.from_bytes(text.encode())
    assert str(e.value) == f"/manifest.json: {problem}"
    # The whole package is refused with the same one line.
    with pytest.raises(ManifestError, match="duplicate field"):
        read(with_manifest(text))


def test_repeated_unknown_and_map_keys_are_accepted() -> None:
    text = manifest_text()[:-1] + ', "x-unknown": 1, "x-unknown": 2}'
    images = '"images": {"main": {"source": "packed", "arch": []}, "main": '
    text = text.replace('"images": {"main": ', images)
    m = Manifest.from_bytes(text.encode())
    assert m.images["main"].arch == ("aarch64", "x86_64")  # the last value wins


def test_repeated_dependency_title_is_refused() -> None:
    path = "dependencies/bitcoind/metadata.json"
    tree = edit(FULL, {path: File.from_bytes(b'{"title": "Bitcoin", "title": "Core"}')})
    with pytest.raises(ManifestError) as e:
        read(tree).check_listable()
    assert str(e.value) == f"/{path}: duplicate field `title`"


# --- 17.2: versions need a downstream part ---------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("1.0.0", '"1.0.0" is not a valid Version: missing downstream version'),
        ("1.0.0:", '"1.0.0:" is not a valid Version: empty version number'),
        ("1.0.0:0:0", "\"1.0.0:0:0\" is not a valid Version: version number '0:0'"),
        ("#1.0.0:0", '"#1.0.0:0" is not a valid Version: invalid character'),
    ],
)
def test_versions_upstream_refuses(version: str, problem: str) -> None:
    with pytest.raises(ManifestError) as e:
        Manifest.from_bytes(manifest_text(version=version).encode())
    assert str(e.value).startswith(f"/manifest.json: version: {problem}")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("version", ["#:1.0.0:0", "01.0.0:0", "+1.0.0:0", "#knots:27.1:0"])
def test_versions_upstream_accepts(version: str) -> None:
    m = Manifest.from_bytes(manifest_text(version=version).encode())
    assert m.version == version  # kept as written
    pkg = read(demo_package_tree("hello", version, arches=("x86_64",)))
    pkg.check_listable()


def test_ranges_may_omit_the_downstream() -> None:
    m = Manifest.from_bytes(manifest_text(canMigrateFrom=">=1.0.0", canMigrateTo="=1.0.0").encode())
    assert (m.can_migrate_from, m.can_migrate_to) == (">=1.0.0", "=1.0.0")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"canMigrateTo": "not a range"},
            'canMigrateTo: "not a range" is not a valid VersionRange',
        ),
        ({"osVersion": "0.4:0"}, 'osVersion: "0.4:0" is not a valid Version'),
        ({"sdkVersion": "x"}, 'sdkVersion: "x" is not a valid Version'),
        ({"satisfies": ["1.0"]}, 'satisfies[0]: "1.0" is not a valid Version: missing downstream'),
    ],
)
def test_other_version_fields_are_parsed_as_upstream_types(
    changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(ManifestError) as e:
        Manifest.from_bytes(manifest_text(**changes).encode())
    assert str(e.value).startswith(f"/manifest.json: {problem}")
