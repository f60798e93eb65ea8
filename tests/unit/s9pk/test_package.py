"""S9pk (verified package + manifest), its accessors, and pack_directory (§10, §13)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from s9reg.s9pk.demo import demo_package_tree, png_icon, write_tree
from s9reg.s9pk.errors import (
    IntegrityError,
    ManifestError,
    S9pkError,
    SignatureError,
    UnsupportedFormatError,
)
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import LocaleString
from s9reg.s9pk.package import DependencyMetadata, S9pk, pack_directory
from s9reg.s9pk.reader import read_archive
from s9reg.s9pk.tree import Directory, File, Missing, Node, tree_from_directory
from s9reg.s9pk.tree_check import validate_for
from s9reg.s9pk.writer import RootOrder, write_archive

from helpers.trees import edit

KEY = PrivateKey(bytes(range(32)))
OTHER_KEY = PrivateKey(bytes(range(1, 33)))


def archive_bytes(tree: Directory, key: PrivateKey = KEY) -> io.BytesIO:
    buf = io.BytesIO()
    write_archive(buf, tree, key)
    buf.seek(0)
    return buf


def f(data: bytes) -> File:
    return File.from_bytes(data)


# --------------------------------------------------------------------------------------------
# S9pk.read / open
# --------------------------------------------------------------------------------------------


def test_read_demo_package() -> None:
    tree = demo_package_tree(with_deps=True)
    buf = io.BytesIO()
    commitment = write_archive(buf, tree, KEY)
    pkg = S9pk.read(buf)
    assert pkg.manifest.id == "hello"
    assert pkg.manifest.version == "1.0.0:0"
    assert pkg.commitment == commitment
    assert pkg.signer == KEY.public_key
    assert pkg.root.hash == tree.hash
    node = tree.get("manifest.json")
    assert isinstance(node, File)
    assert pkg.manifest_bytes == node.source.data  # type: ignore[union-attr]


def test_read_checks_the_commitment() -> None:
    buf = io.BytesIO()
    commitment = write_archive(buf, demo_package_tree(), KEY)
    assert S9pk.read(buf, commitment).commitment == commitment
    other = io.BytesIO()
    write_archive(other, demo_package_tree("other"), KEY)
    with pytest.raises(SignatureError, match="merkle root mismatch"):
        S9pk.read(other, commitment)


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        pytest.param(None, "not found", id="absent"),
        pytest.param(f(b"{}").to_missing(), "entry is missing", id="MISSING"),
        pytest.param(Directory.of({}), "is a directory", id="directory"),
    ],
)
def test_manifest_must_be_a_file(node: Node | None, problem: str) -> None:
    tree = edit(demo_package_tree(), {"manifest.json": node})
    with pytest.raises(ManifestError) as err:
        S9pk.read(archive_bytes(tree))
    assert err.value.path == "/manifest.json"
    assert err.value.problem == problem


def test_invalid_manifest_inside_archive() -> None:
    tree = edit(demo_package_tree(), {"manifest.json": f(b'{"id": "Nope"}')})
    with pytest.raises(ManifestError, match=r"^/manifest.json: id: invalid package id"):
        S9pk.read(archive_bytes(tree))


def test_tampered_manifest_body_is_detected() -> None:
    buf = archive_bytes(demo_package_tree())
    data = bytearray(buf.getvalue())
    i = data.index(b'"id":"hello"')
    data[i + 6] ^= 0x01
    with pytest.raises(IntegrityError, match="hash sum mismatch"):
        S9pk.read(io.BytesIO(bytes(data)))


def test_v1_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormatError):
        S9pk.read(io.BytesIO(b"\x3b\x3b\x01" + bytes(200)))


def test_open_closes_the_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "hello.s9pk"
    path.write_bytes(archive_bytes(demo_package_tree()).getvalue())
    with S9pk.open(path) as pkg:
        stream = pkg.archive.stream
        assert pkg.manifest.id == "hello"
        assert not stream.closed
    assert stream.closed


def test_open_attaches_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.s9pk"
    tree = edit(demo_package_tree(), {"manifest.json": None})
    path.write_bytes(archive_bytes(tree).getvalue())
    with pytest.raises(ManifestError) as err, S9pk.open(path):
        pass  # pragma: no cover - never reached
    assert str(err.value) == "broken.s9pk: /manifest.json: not found"
    assert err.value.archive == "broken.s9pk"


def test_open_names_errors_raised_in_the_block(tmp_path: Path) -> None:
    path = tmp_path / "hello.s9pk"
    path.write_bytes(archive_bytes(demo_package_tree()).getvalue())
    with pytest.raises(ManifestError) as err, S9pk.open(path):
        raise ManifestError("boom", path="/x")
    assert str(err.value) == "hello.s9pk: /x: boom"


def test_open_keeps_an_existing_archive_name(tmp_path: Path) -> None:
    path = tmp_path / "hello.s9pk"
    path.write_bytes(archive_bytes(demo_package_tree()).getvalue())
    with pytest.raises(S9pkError) as err, S9pk.open(path):
        raise S9pkError("inner", archive="other.s9pk")
    assert str(err.value) == "other.s9pk: inner"


def test_open_missing_file(tmp_path: Path) -> None:
    with pytest.raises(S9pkError) as err, S9pk.open(tmp_path / "nope.s9pk"):
        pass  # pragma: no cover - never reached
    assert str(err.value).startswith("nope.s9pk: cannot open: ")


# --------------------------------------------------------------------------------------------
# Accessors
# --------------------------------------------------------------------------------------------


@pytest.fixture
def pkg() -> S9pk:
    return S9pk.read(archive_bytes(demo_package_tree(with_deps=True)))


def test_icon_and_data_url(pkg: S9pk) -> None:
    found = pkg.icon()
    assert found is not None
    name, data, mime = found
    assert (name, mime) == ("icon.png", "image/png")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    url = pkg.icon_data_url()
    assert url is not None
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    assert base64.b64decode(url[len(prefix) :], validate=True) == data


def test_icon_prefers_the_largest_image() -> None:
    tree = edit(demo_package_tree(), {"icon.png": f(b"small"), "icon.svg": f(b"<svg>big</svg>")})
    pkg = S9pk.read(archive_bytes(tree))
    found = pkg.icon()
    assert found is not None
    assert found[0] == "icon.svg"
    assert found[2] == "image/svg+xml"
    assert pkg.icon_data_url() == "data:image/svg+xml;base64,PHN2Zz5iaWc8L3N2Zz4="


def test_no_icon() -> None:
    tree = edit(demo_package_tree(), {"icon.png": None})
    pkg = S9pk.read(archive_bytes(tree))
    assert pkg.icon() is None
    assert pkg.icon_data_url() is None


def test_license_and_instructions(pkg: S9pk) -> None:
    assert pkg.license() == "# MIT License\n\nCopyright (c) Hello authors.\n"
    assert pkg.instructions() == "# Hello\n\nStart the service and open its UI.\n"


@pytest.mark.parametrize(
    "node",
    [pytest.param(None, id="absent"), pytest.param(f(b"x").to_missing(), id="MISSING")],
)
def test_absent_texts_are_none(node: Node | None) -> None:
    tree = edit(demo_package_tree(), {"instructions.md": node, "LICENSE.md": node})
    pkg = S9pk.read(archive_bytes(tree))
    assert pkg.instructions() is None
    assert pkg.license() is None


def test_text_errors() -> None:
    tree = edit(
        demo_package_tree(),
        {"LICENSE.md": f(b"caf\xe9"), "instructions.md": Directory.of({"a": f(b"a")})},
    )
    pkg = S9pk.read(archive_bytes(tree))
    with pytest.raises(ManifestError, match=r"^/LICENSE.md: not valid UTF-8 \(at byte 3\)$"):
        pkg.license()
    with pytest.raises(ManifestError, match=r"^/instructions.md: is a directory$"):
        pkg.instructions()


def test_dependency_metadata(pkg: S9pk) -> None:
    meta = pkg.dependency_metadata("bitcoind")
    assert meta is not None
    assert meta.title == LocaleString("Bitcoind")
    assert meta.icon_data_url is not None
    assert meta.icon_data_url == (
        "data:image/png;base64," + base64.b64encode(png_icon_for("bitcoind")).decode()
    )
    assert pkg.dependency_metadata("tor") is None
    assert pkg.dependency_metadata("../x") is None


def png_icon_for(dep: str) -> bytes:
    tree = demo_package_tree(with_deps=(dep,))
    node = tree.get(f"dependencies/{dep}/icon.png")
    assert isinstance(node, File)
    return node.source.data  # type: ignore[union-attr]


def test_dependency_metadata_localized_title_without_icon() -> None:
    title = {"en_US": "Tor", "de_DE": "Tor (de)"}
    tree = edit(
        demo_package_tree(with_deps=("tor",)),
        {
            "dependencies/tor/metadata.json": f(json.dumps({"title": title, "x": 1}).encode()),
            "dependencies/tor/icon.png": None,
        },
    )
    meta = S9pk.read(archive_bytes(tree)).dependency_metadata("tor")
    assert meta == DependencyMetadata(LocaleString.from_json(title), None)
    assert meta.title.localize_for("de_DE") == "Tor (de)"


def test_dependency_icon_without_metadata() -> None:
    tree = edit(
        demo_package_tree(with_deps=("tor",)),
        {"dependencies/tor/metadata.json": None},
    )
    pkg = S9pk.read(archive_bytes(tree))
    assert pkg.dependency_metadata("tor") is None
    assert pkg.dependency_icon_data_url("tor") is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"[]", "expected a JSON object", id="not an object"),
        pytest.param(b"{}", "title: required key missing", id="no title"),
        pytest.param(b'{"title": 3}', "title: expected a string or an object", id="bad title"),
        pytest.param(b"{", "invalid JSON", id="not JSON"),
    ],
)
def test_bad_dependency_metadata(content: bytes, message: str) -> None:
    tree = edit(
        demo_package_tree(with_deps=("tor",)), {"dependencies/tor/metadata.json": f(content)}
    )
    pkg = S9pk.read(archive_bytes(tree))
    with pytest.raises(ManifestError) as err:
        pkg.dependency_metadata("tor")
    assert err.value.path == "/dependencies/tor/metadata.json"
    assert message in err.value.problem


def test_arches_from_hardware_requirements(pkg: S9pk) -> None:
    assert pkg.arches() == ("aarch64", "x86_64")


def test_arches_from_image_directories() -> None:
    tree = demo_package_tree(arches=("x86_64", "aarch64", "riscv64"))
    raw = json.loads(tree.get("manifest.json").source.data)  # type: ignore[union-attr]
    raw["hardwareRequirements"]["arch"] = None
    raw["images"]["main"]["emulateMissingAs"] = "x86_64"
    tree = edit(tree, {"manifest.json": f(json.dumps(raw).encode())})
    pkg = S9pk.read(archive_bytes(tree))
    assert pkg.arches() == ("aarch64", "riscv64", "x86_64")
    # After filtering for one arch, the others are MISSING and no longer count.
    filtered = S9pk.read(archive_bytes(pkg.validate_for("riscv64")))
    assert filtered.arches() == ("riscv64",)
    assert isinstance(filtered.archive.get("images/x86_64"), Missing)


def test_arches_without_images() -> None:
    pkg = S9pk.read(archive_bytes(demo_package_tree(arches=())))
    assert pkg.arches() == ()


def test_validate_for(pkg: S9pk) -> None:
    filtered = pkg.validate_for("x86_64")
    assert filtered.hash == pkg.root.hash
    assert isinstance(filtered.get("images/aarch64"), Missing)
    assert pkg.validate_for().hash == pkg.root.hash


# --------------------------------------------------------------------------------------------
# pack_directory
# --------------------------------------------------------------------------------------------


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    write_tree(demo_package_tree(with_deps=True), path)
    return path


def test_pack_round_trip(src: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.s9pk"
    result = pack_directory(src, out, KEY)
    assert result.path == out
    assert result.manifest.id == "hello"
    assert result.warnings == ()
    # The directory holds the demo tree's bytes, so the sighash is the same.
    assert result.root.hash == demo_package_tree(with_deps=True).hash
    with S9pk.open(out) as pkg:
        assert pkg.commitment == result.commitment
        assert pkg.manifest == result.manifest
        pkg.archive.verify_all()
        assert [p for p, n in pkg.root.walk() if isinstance(n, Missing)] == []
        validate_for(pkg.root, pkg.manifest, None)


def test_pack_priority_order(src: Path, tmp_path: Path) -> None:
    plain = pack_directory(src, tmp_path / "a.s9pk", KEY)
    prio = pack_directory(src, tmp_path / "b.s9pk", KEY, RootOrder.PRIORITY)
    assert plain.commitment == prio.commitment
    assert (tmp_path / "a.s9pk").read_bytes() != (tmp_path / "b.s9pk").read_bytes()
    with (tmp_path / "b.s9pk").open("rb") as fh:
        read_archive(fh).verify_all()


def test_pack_checks_the_output_directory_before_reading(tmp_path: Path) -> None:
    # Hashing a package's images can take minutes: a mistyped -o must fail before that.
    out = tmp_path / "missing" / "hello.s9pk"
    with pytest.raises(S9pkError, match=r"hello\.s9pk: .*missing is not a directory"):
        pack_directory(tmp_path / "no-such-source", out, KEY)


def test_pack_refuses_extra_files(src: Path, tmp_path: Path) -> None:
    (src / "README.md").write_text("hi")
    (src / "images" / "riscv64").mkdir()
    (src / "images" / "riscv64" / "main.squashfs").write_bytes(b"r")
    out = tmp_path / "hello.s9pk"
    with pytest.raises(ManifestError) as err:
        pack_directory(src, out, KEY)
    assert str(err.value) == (
        "/README.md: not part of the package (the manifest does not account for it) (and 1 more)"
    )
    assert err.value.hint is not None
    assert err.value.details is not None
    assert "/images/riscv64/" in err.value.details
    assert not out.exists()


def test_pack_allow_extra_writes_missing(src: Path, tmp_path: Path) -> None:
    (src / "README.md").write_text("hi")
    out = tmp_path / "hello.s9pk"
    result = pack_directory(src, out, KEY, allow_extra=True)
    assert result.root.hash == tree_from_directory(src).hash
    with S9pk.open(out) as pkg:
        assert isinstance(pkg.archive.get("README.md"), Missing)
        pkg.archive.verify_all()


def test_pack_refuses_invalid_trees(src: Path, tmp_path: Path) -> None:
    (src / "LICENSE.md").unlink()
    (src / "icon.svg").write_text("<svg/>")
    with pytest.raises(ManifestError) as err:
        pack_directory(src, tmp_path / "x.s9pk", KEY)
    assert err.value.details == (
        "/icon: more than one file matching icon with valid extension: icon.png, icon.svg\n"
        "/LICENSE.md: file missing from archive"
    )


def test_pack_refuses_invalid_manifest(src: Path, tmp_path: Path) -> None:
    (src / "manifest.json").write_text('{"id": 1}')
    with pytest.raises(ManifestError, match=r"^/manifest.json: id: expected a string"):
        pack_directory(src, tmp_path / "x.s9pk", KEY)


def test_pack_needs_a_manifest(src: Path, tmp_path: Path) -> None:
    (src / "manifest.json").unlink()
    with pytest.raises(ManifestError, match=r"^/manifest.json: not found$"):
        pack_directory(src, tmp_path / "x.s9pk", KEY)


def test_pack_missing_source(tmp_path: Path) -> None:
    with pytest.raises(S9pkError, match="cannot read"):
        pack_directory(tmp_path / "nope", tmp_path / "x.s9pk", KEY)


def test_pack_reports_warnings(src: Path, tmp_path: Path) -> None:
    (src / "instructions.md").unlink()
    seen: list[str] = []
    result = pack_directory(src, tmp_path / "x.s9pk", OTHER_KEY, warn=seen.append)
    assert seen == ["/instructions.md: file missing from archive"]
    assert result.warnings == tuple(seen)
    with S9pk.open(tmp_path / "x.s9pk") as pkg:
        assert pkg.signer == OTHER_KEY.public_key
        assert pkg.instructions() is None


def test_write_tree_refuses_missing_entries(tmp_path: Path) -> None:
    tree = edit(demo_package_tree(), {"README.md": f(b"x").to_missing()})
    with pytest.raises(S9pkError, match="only in-memory files"):
        write_tree(tree, tmp_path / "out")


def test_demo_icon_matches_png_icon() -> None:
    # The demo uses png_icon; a dependency's icon differs from the package's.
    tree = demo_package_tree(with_deps=True)
    a = tree.get("icon.png")
    b = tree.get("dependencies/bitcoind/icon.png")
    assert isinstance(a, File)
    assert isinstance(b, File)
    assert a.hash != b.hash
    assert png_icon((1, 2, 3)) == png_icon((1, 2, 3))
