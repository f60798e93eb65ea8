"""build_site: verification, authorization, variants, determinism, publishedAt, atomic swap."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from s9reg.builder import BuildError, CategorySettings, IncompleteArches, build_site
from s9reg.errors import ConfigError
from s9reg.exver import VersionRange, VersionString
from s9reg.registry import (
    GetPackageResponse,
    GetPackageResponseFull,
    Guid,
    PackageIndex,
    PackageInfo,
    RegistryInfo,
    UnauthorizedSignerError,
    dump_json,
    format_timestamp,
)
from s9reg.registry.errors import RegistryError
from s9reg.registry.queries import best_versions
from s9reg.s9pk.demo import demo_manifest, demo_package_tree
from s9reg.s9pk.errors import IntegrityError, ManifestError
from s9reg.s9pk.keys import PrivateKey, PublicKey
from s9reg.s9pk.manifest import Manifest
from s9reg.s9pk.metadata import LocaleString
from s9reg.s9pk.tree_check import validate_for
from s9reg.s9pk.writer import write_archive_file
from s9reg.site_layout import asset_urls

from helpers.buildkit import (
    ADMIN,
    ALICE,
    CDN,
    EPOCH,
    G_ADMIN,
    G_ALICE,
    ORIGIN,
    REGISTRY,
    STRANGER,
    pkg,
    read_index,
    settings,
    snapshot,
)

# --------------------------------------------------------------------------------------------
# Authorization
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "id_", "version"),
    [
        pytest.param(ALICE, "hello", "1.0.0:0", id="signer in range, first version"),
        pytest.param(ALICE, "hello", "1.9.9:3", id="signer at the top of its range"),
        pytest.param(ADMIN, "other", "7.0.0:0", id="admin, package not in authorized"),
        pytest.param(ADMIN, "hello", "5.0.0:0", id="admin, outside every signer range"),
    ],
)
def test_authorized_publish(
    tmp_path: Path, src: Path, key: PrivateKey, id_: str, version: str
) -> None:
    path = pkg(src, f"{id_}.s9pk", key, id_=id_, version=version)
    report = build_site(settings(tmp_path, [path]))
    assert [str(r) for r in report.added] == [f"{id_}@{version}"]
    index = read_index(tmp_path / "site")
    assert [str(v) for v in index.package.packages[id_].versions] == [version]


@pytest.mark.parametrize(
    ("key", "id_", "version", "message"),
    [
        pytest.param(ALICE, "hello", "2.0.0:0", "outside its authorized range", id="above range"),
        pytest.param(ALICE, "hello", "0.9.0:0", "outside its authorized range", id="below range"),
        pytest.param(ALICE, "other", "1.0.0:0", "only admins", id="package not authorized"),
        pytest.param(STRANGER, "hello", "1.0.0:0", "belongs to no signer", id="unknown key"),
    ],
)
def test_unauthorized_publish_refused(
    tmp_path: Path, src: Path, key: PrivateKey, id_: str, version: str, message: str
) -> None:
    path = pkg(src, "p.s9pk", key, id_=id_, version=version)
    with pytest.raises(UnauthorizedSignerError, match=message):
        build_site(settings(tmp_path, [path]))
    assert not (tmp_path / "site").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_skip_invalid_keeps_the_good_packages(tmp_path: Path, src: Path) -> None:
    good = pkg(src, "good.s9pk")
    refused = pkg(src, "refused.s9pk", STRANGER, version="1.1.0:0")
    corrupt = pkg(src, "corrupt.s9pk", version="1.2.0:0")
    data = bytearray(corrupt.read_bytes())
    data[data.find(b"placeholder javascript")] ^= 0x01
    corrupt.write_bytes(bytes(data))
    report = build_site(settings(tmp_path, [good, refused, corrupt], skip_invalid=True))
    assert [str(r) for r in report.added] == ["hello@1.0.0:0"]
    assert {(s.path.name, s.code) for s in report.skipped} == {
        ("refused.s9pk", "UNAUTHORIZED_SIGNER"),
        ("corrupt.s9pk", "S9PK_INTEGRITY"),
    }
    assert any("corrupt.s9pk" in w for w in report.warnings)
    site = tmp_path / "site"
    # one version directory (the catalogue adds index.html and feed.atom beside index.json)
    assert sorted(p.name for p in (site / "hello").iterdir() if p.is_dir()) == ["1.0.0:0"]


# --------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------


def test_variants_merged_and_sorted_by_specificity(tmp_path: Path, src: Path) -> None:
    both = pkg(src, "hello_universal.s9pk", arches=("x86_64", "aarch64"))
    x86 = pkg(src, "hello_x86_64.s9pk", arches=("x86_64",))
    arm = pkg(src, "hello_aarch64.s9pk", arches=("aarch64",))
    report = build_site(settings(tmp_path, [both, x86, arm]))
    assert (report.packages, report.versions, report.variants) == (1, 1, 3)
    pv = (
        read_index(tmp_path / "site")
        .package.packages["hello"]
        .versions[VersionString.parse("1.0.0:0")]
    )
    assert [hw.arch for hw, _ in pv.s9pks] == [("aarch64",), ("x86_64",), ("aarch64", "x86_64")]
    assert [a.urls[0] for _, a in pv.s9pks] == [
        "https://cdn.example.com/hello/1.0.0:0/hello_aarch64.s9pk",
        "https://cdn.example.com/hello/1.0.0:0/hello_x86_64.s9pk",
        "https://cdn.example.com/hello/1.0.0:0/hello_universal.s9pk",
    ]
    for name in ("hello_aarch64.s9pk", "hello_x86_64.s9pk", "hello_universal.s9pk"):
        assert (tmp_path / "site" / "hello" / "1.0.0:0" / name).read_bytes() == (
            src / name
        ).read_bytes()


def test_variant_metadata_mismatch_refused(tmp_path: Path, src: Path) -> None:
    x86 = pkg(src, "a.s9pk", arches=("x86_64",))
    arm = pkg(src, "b.s9pk", arches=("aarch64",), manifest_overrides={"license": "Apache-2.0"})
    with pytest.raises(BuildError, match=r"metadata differ \(license\)"):
        build_site(settings(tmp_path, [x86, arm]))
    assert not (tmp_path / "site").exists()


def test_same_hardware_different_contents_refused(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk")
    b = pkg(src, "b.s9pk", manifest_overrides={"canMigrateTo": "!"})
    with pytest.raises(BuildError, match="same hardware requirements"):
        build_site(settings(tmp_path, [a, b]))


def test_identical_package_twice_is_one_variant(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk")
    other = src / "copy"
    other.mkdir()
    b = other / "b.s9pk"
    b.write_bytes(a.read_bytes())
    report = build_site(settings(tmp_path, [a, b, a]))
    assert report.variants == 1
    assert any("same package as hello/1.0.0:0/a.s9pk" in w for w in report.warnings)


def test_file_name_collision_refused(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "hello.s9pk", arches=("x86_64",))
    (src / "arm").mkdir()
    b = pkg(src / "arm", "hello.s9pk", arches=("aarch64",))
    with pytest.raises(BuildError, match="already taken"):
        build_site(settings(tmp_path, [a, b]))


# --------------------------------------------------------------------------------------------
# Atomicity, determinism, publishedAt
# --------------------------------------------------------------------------------------------


def test_corrupt_package_leaves_previous_output_untouched(tmp_path: Path, src: Path) -> None:
    good = pkg(src, "good.s9pk")
    build_site(settings(tmp_path, [good]))
    before = snapshot(tmp_path / "site")
    corrupt = pkg(src, "corrupt.s9pk", version="1.1.0:0")
    data = bytearray(corrupt.read_bytes())
    data[data.find(b"placeholder image main")] ^= 0x20
    corrupt.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"corrupt\.s9pk: /images/x86_64/main\.squashfs"):
        build_site(settings(tmp_path, [good, corrupt]))
    assert snapshot(tmp_path / "site") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "src"]


def test_builds_are_byte_identical(tmp_path: Path, src: Path) -> None:
    sources = [
        pkg(src, "a.s9pk", arches=("x86_64",)),
        pkg(src, "b.s9pk", arches=("aarch64",)),
        pkg(src, "c.s9pk", ADMIN, id_="other", version="#knots:2.0.0:0", with_deps=True),
    ]
    build_site(settings(tmp_path, sources, registry_key=REGISTRY))
    first = snapshot(tmp_path / "site")
    build_site(settings(tmp_path, sources[::-1], output=tmp_path / "again", registry_key=REGISTRY))
    assert snapshot(tmp_path / "again") == first
    build_site(settings(tmp_path, sources, registry_key=REGISTRY))
    assert snapshot(tmp_path / "site") == first
    assert "other/knots:2.0.0:0/c.s9pk" in first


def test_published_at_preserved_across_rebuilds(tmp_path: Path, src: Path) -> None:
    v1 = pkg(src, "v1.s9pk")
    first = build_site(settings(tmp_path, [v1], source_date_epoch=1000))
    assert [str(r) for r in first.added] == ["hello@1.0.0:0"]
    v2 = pkg(src, "v2.s9pk", version="1.1.0:0")
    report = build_site(settings(tmp_path, [v1, v2], source_date_epoch=2000))
    assert [str(r) for r in report.unchanged] == ["hello@1.0.0:0"]
    assert [str(r) for r in report.added] == ["hello@1.1.0:0"]
    versions = read_index(tmp_path / "site").package.packages["hello"].versions
    published = {
        str(v): format_timestamp(pv.s9pks[0][1].published_at) for v, pv in versions.items()
    }
    assert published == {"1.0.0:0": "1970-01-01T00:16:40Z", "1.1.0:0": "1970-01-01T00:33:20Z"}
    third = build_site(settings(tmp_path, [v2], source_date_epoch=3000))
    assert [str(r) for r in third.removed] == ["hello@1.0.0:0"]
    assert [str(r) for r in third.unchanged] == ["hello@1.1.0:0"]
    assert not (tmp_path / "site" / "hello" / "1.0.0:0").exists()


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path, src: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(BuildError, match="not a site built by s9reg"):
        build_site(settings(tmp_path, [pkg(src, "a.s9pk")]))
    assert (out / "precious.txt").read_text() == "keep me"


# --------------------------------------------------------------------------------------------
# Signatures and output shapes
# --------------------------------------------------------------------------------------------


def test_registry_co_signature_verifies(tmp_path: Path, src: Path) -> None:
    build_site(settings(tmp_path, [pkg(src, "a.s9pk")], registry_key=REGISTRY))
    pv = next(iter(read_index(tmp_path / "site").package.packages["hello"].versions.values()))
    asset = pv.s9pks[0][1]
    asset.verify()
    assert set(asset.signatures) == {ALICE.public_key.to_pem(), REGISTRY.public_key.to_pem()}
    for pem in asset.signatures:
        assert PublicKey.from_pem(pem) in {ALICE.public_key, REGISTRY.public_key}


def test_without_registry_key_only_the_developer_signs(tmp_path: Path, src: Path) -> None:
    build_site(settings(tmp_path, [pkg(src, "a.s9pk")]))
    pv = next(iter(read_index(tmp_path / "site").package.packages["hello"].versions.values()))
    pv.s9pks[0][1].verify()
    assert list(pv.s9pks[0][1].signatures) == [ALICE.public_key.to_pem()]


def test_output_json_parses_back(tmp_path: Path, src: Path) -> None:
    sources = [
        pkg(src, "h1.s9pk"),
        pkg(src, "h2.s9pk", version="1.5.0:0"),
        pkg(src, "k.s9pk", ADMIN, version="#knots:1.0.0:0"),
        pkg(src, "o.s9pk", ADMIN, id_="other", arches=()),
    ]
    build_site(settings(tmp_path, sources))
    site = tmp_path / "site"

    def load(rel: str) -> object:
        raw = (site / rel).read_bytes()
        return json.loads(raw)

    def roundtrip(rel: str, parsed: object) -> None:
        assert dump_json(parsed) == (site / rel).read_bytes(), rel  # type: ignore[arg-type]

    index = read_index(site)
    roundtrip("index.json", index)
    assert index.name == "Test Registry"
    assert index.package.packages["hello"].categories == ("demo",)
    assert index.package.packages["other"].categories == ()
    for pid in ("hello", "other"):
        roundtrip(f"{pid}/index.json", PackageInfo.from_dict(load(f"{pid}/index.json")))
    info = RegistryInfo.from_dict(load("rpc.v0/info.json"))
    roundtrip("rpc.v0/info.json", info)
    assert list(info.categories) == ["demo"]
    roundtrip(
        "rpc.v0/package.index.json", PackageIndex.from_dict(load("rpc.v0/package.index.json"))
    )
    assert load("rpc.v0/package.category.list.json") == {"demo": {"name": "Demo"}}

    none = GetPackageResponse.from_dict(load("rpc.v0/package.get/hello/none.json"))
    assert none.other_versions is None
    assert "otherVersions" not in load("rpc.v0/package.get/hello/none.json")  # type: ignore[operator]
    assert [str(v) for v in none.best] == ["#knots:1.0.0:0", "1.5.0:0"]
    short = GetPackageResponse.from_dict(load("rpc.v0/package.get/hello/short.json"))
    assert short.other_versions is not None
    assert [str(v) for v in short.other_versions] == ["1.0.0:0"]
    full = GetPackageResponseFull.from_dict(load("rpc.v0/package.get/hello/full.json"))
    roundtrip("rpc.v0/package.get/hello/full.json", full)
    assert [str(v) for v in full.other_versions] == ["1.0.0:0"]
    all_short = load("rpc.v0/package.get/_all/short.json")
    assert isinstance(all_short, dict)
    assert sorted(all_short) == ["hello", "other"]
    for level in ("none", "short", "full"):
        whole = load(f"rpc.v0/package.get/_all/{level}.json")
        assert isinstance(whole, dict)
        assert whole["hello"] == load(f"rpc.v0/package.get/hello/{level}.json")

    signers = load("rpc.v0/package.signer.list/hello.json")
    assert signers == {
        str(G_ALICE): [
            {"name": "Alice", "contact": [], "keys": [ALICE.public_key.to_pem()]},
            str(VersionRange.parse(">=1.0.0:0 <2.0.0:0")),
        ]
    }
    assert load("rpc.v0/package.signer.list/other.json") == {}
    meta = load("s9reg-site.json")
    assert meta == {
        "format": 1,
        "apiUrl": "https://registry.example.com/",
        "fileUrls": [CDN, ORIGIN],
        "admins": [str(G_ADMIN)],
    }
    knots = index.package.packages["hello"].versions[VersionString.parse("#knots:1.0.0:0")]
    assert knots.s9pks[0][1].urls == (
        "https://cdn.example.com/hello/knots:1.0.0:0/k.s9pk",
        "https://origin.example.com/files/hello/knots:1.0.0:0/k.s9pk",
    )
    assert (site / "hello" / "knots:1.0.0:0" / "k.s9pk").is_file()


# --------------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("versions", "best"),
    [
        pytest.param(["1.0:0", "2.0:0", "1.5:0"], ["2.0:0"], id="one flavor"),
        pytest.param(
            ["1.0:0", "#knots:1.0:0", "#knots:3.0:0", "2.0:0"],
            ["#knots:3.0:0", "2.0:0"],
            id="max of each flavor",
        ),
        pytest.param(["1.0:0-beta.1", "1.0:0"], ["1.0:0"], id="release beats prerelease"),
    ],
)
def test_best_versions(versions: list[str], best: list[str]) -> None:
    parsed = {VersionString.parse(v): None for v in versions}
    assert [str(v) for v in best_versions(parsed)] == best  # type: ignore[arg-type]


def test_asset_urls_percent_encode_segments() -> None:
    assert asset_urls(("https://a.example/x/", "https://b.example"), "p/1.0:0/my file.s9pk") == (
        "https://a.example/x/p/1.0:0/my%20file.s9pk",
        "https://b.example/p/1.0:0/my%20file.s9pk",
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"file_urls": ()}, "at least one base URL", id="no file URL"),
        pytest.param({"file_urls": ("cdn.example.com",)}, "not an absolute", id="relative URL"),
        pytest.param({"admins": frozenset({G_ALICE, Guid.generate(b"x")})}, "admins", id="admin"),
        pytest.param(
            {"authorized": {"hello": {Guid.generate(b"y"): VersionRange.parse("*")}}},
            "authorized.hello",
            id="authorized unknown signer",
        ),
        pytest.param({"authorized": {"Bad_Id": {}}}, "not a valid package id", id="bad id"),
    ],
)
def test_settings_contradictions_refused(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, [], **overrides)


def test_icon_must_be_a_data_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="icon: expected a data URL"):
        settings(tmp_path, [], icon="https://example.com/icon.png")


class RecordingProgress:
    def __init__(self) -> None:
        self.files: list[tuple[str, int]] = []
        self.bytes = 0

    def begin(self, path: Path, size: int) -> None:
        self.files.append((path.name, size))

    def advance(self, nbytes: int) -> None:
        self.bytes += nbytes


def test_progress_reports_files_and_bytes(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk")
    progress = RecordingProgress()
    build_site(settings(tmp_path, [a]), progress)
    assert progress.files == [("a.s9pk", a.stat().st_size)]
    assert 0 < progress.bytes <= a.stat().st_size


def test_unreadable_previous_index_resets_publication_times(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk")
    build_site(settings(tmp_path, [a], source_date_epoch=1000))
    (tmp_path / "site" / "index.json").write_text("{not json")
    report = build_site(settings(tmp_path, [a], source_date_epoch=2000))
    assert any("previous index unreadable" in w for w in report.warnings)
    assert [str(r) for r in report.added] == ["hello@1.0.0:0"]
    pv = next(iter(read_index(tmp_path / "site").package.packages["hello"].versions.values()))
    assert format_timestamp(pv.s9pks[0][1].published_at) == "1970-01-01T00:33:20Z"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"categories": (CategorySettings(id="a", name=LocaleString("A")),) * 2},
            "defined twice",
            id="duplicate category",
        ),
        pytest.param(
            {"categories": (CategorySettings(id="a", name=LocaleString("A"), packages=("X",)),)},
            "categories.a",
            id="bad category member",
        ),
        pytest.param({"source_date_epoch": -1}, "negative", id="negative epoch"),
    ],
)
def test_more_settings_contradictions_refused(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, [], **overrides)


def test_category_member_without_versions_is_a_warning(tmp_path: Path, src: Path) -> None:
    cats = (CategorySettings(id="demo", name=LocaleString("Demo"), packages=("hello", "ghost")),)
    report = build_site(settings(tmp_path, [pkg(src, "a.s9pk")], categories=cats))
    assert report.warnings == ("category demo: package ghost has no version in the site",)
    assert read_index(tmp_path / "site").package.packages["hello"].categories == ("demo",)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        pytest.param("missing/site", "parent directory does not exist", id="no parent"),
        pytest.param("src/a.s9pk", "not a directory", id="output is a file"),
    ],
)
def test_unusable_output_refused(tmp_path: Path, src: Path, output: str, message: str) -> None:
    a = pkg(src, "a.s9pk")
    with pytest.raises(BuildError, match=message):
        build_site(settings(tmp_path, [a], output=tmp_path / output))
    assert a.is_file()


def test_missing_source_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="cannot read"):
        build_site(settings(tmp_path, [tmp_path / "nope.s9pk"]))
    assert not (tmp_path / "site").exists()


def test_without_source_date_epoch_new_assets_get_the_build_time(tmp_path: Path, src: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    build_site(settings(tmp_path, [pkg(src, "a.s9pk")], source_date_epoch=None))
    after = datetime.now(UTC)
    pv = next(iter(read_index(tmp_path / "site").package.packages["hello"].versions.values()))
    published = pv.s9pks[0][1].published_at
    assert before <= published <= after
    assert published.microsecond == 0


def test_equal_versions_written_differently_share_one_directory(tmp_path: Path, src: Path) -> None:
    same = {"releaseNotes": "Notes.", "gitHash": "abc"}
    a = pkg(src, "a.s9pk", version="1.0:0", arches=("x86_64",), manifest_overrides=same)
    b = pkg(src, "b.s9pk", version="1.0.0:0", arches=("aarch64",), manifest_overrides=same)
    report = build_site(settings(tmp_path, [a, b]))
    assert (report.versions, report.variants) == (1, 2)
    assert sorted(p.name for p in (tmp_path / "site" / "hello" / "1.0:0").iterdir()) == [
        "a.s9pk",
        "b.s9pk",
    ]
    assert any("is written 1.0:0" in w for w in report.warnings)


def _filtered_for_x86(tmp: Path) -> Path:
    """The archive an x86_64 device keeps (aarch64 images MISSING), with the original signature."""
    arches = ("x86_64", "aarch64")
    full = demo_package_tree("hello", "1.0.0:0", arches=arches)
    manifest = Manifest.from_dict(demo_manifest("hello", "1.0.0:0", arches=arches))
    path = tmp / "hello_x86_64.s9pk"
    write_archive_file(path, validate_for(full, manifest, "x86_64", warn=lambda _m: None), ALICE)
    return path


def test_arch_filtered_archive_is_listed_with_a_warning(tmp_path: Path, src: Path) -> None:
    # Upstream's registry lists it (s9pk-format.md §17.3); aarch64 devices would refuse it.
    path = _filtered_for_x86(src)
    report = build_site(settings(tmp_path, [path]))
    assert (report.versions, report.variants) == (1, 1)
    [(hardware, _asset)] = (
        read_index(tmp_path / "site")
        .package.packages["hello"]
        .versions[VersionString.parse("1.0.0:0")]
        .s9pks
    )
    assert hardware.arch == ("aarch64", "x86_64")  # listed verbatim
    [warning] = [w for w in report.warnings if "claims aarch64" in w]
    assert "devices of that arch would refuse to install it" in warning
    assert "/images/aarch64/main.squashfs" in warning
    # A rebuild from the verification cache warns the same.
    again = build_site(settings(tmp_path, [path]))
    assert [w for w in again.warnings if "claims aarch64" in w] == [warning]


def test_policy_refuses_a_variant_claiming_a_missing_arch(tmp_path: Path, src: Path) -> None:
    path = _filtered_for_x86(src)
    refuse = IncompleteArches.REFUSE
    with pytest.raises(RegistryError, match=r"claims aarch64, but devices of that arch"):
        build_site(settings(tmp_path, [path], incomplete_arches=refuse))
    assert not (tmp_path / "site").exists()
    report = build_site(settings(tmp_path, [path], incomplete_arches=refuse, skip_invalid=True))
    assert [s.path for s in report.skipped] == [path]


def test_package_without_icon_is_refused(tmp_path: Path, src: Path) -> None:
    tree = demo_package_tree("hello", "1.0.0:0", arches=("x86_64",))
    icon = tree.entries["icon.png"]
    path = src / "noicon.s9pk"
    write_archive_file(
        path, tree.with_entries({**tree.entries, "icon.png": icon.to_missing()}), ALICE
    )
    with pytest.raises(ManifestError, match="no icon found in archive"):
        build_site(settings(tmp_path, [path]))


# --------------------------------------------------------------------------------------------
# Adding to an index published elsewhere (s9reg publish FILE…)
# --------------------------------------------------------------------------------------------


def test_base_index_is_kept_and_sources_add_to_it(tmp_path: Path, src: Path) -> None:
    x86 = pkg(src, "hello_x86.s9pk", arches=("x86_64",))
    build_site(settings(tmp_path, [x86], registry_key=REGISTRY))
    base = read_index(tmp_path / "site")
    arm = pkg(src, "hello_arm.s9pk", arches=("aarch64",))
    newer = pkg(src, "hello_2.s9pk", version="1.1.0:0")
    again = pkg(src, "hello_x86_copy.s9pk", arches=("x86_64",))
    out = tmp_path / "overlay"
    report = build_site(
        settings(
            tmp_path,
            [arm, newer, again],
            base=base,
            output=out,
            registry_key=REGISTRY,
            source_date_epoch=EPOCH + 100,
        )
    )
    index = read_index(out)
    versions = index.package.packages["hello"].versions
    assert [str(v) for v in versions] == ["1.0.0:0", "1.1.0:0"]
    old = next(iter(versions.values()))
    base_asset = next(iter(base.package.packages["hello"].versions.values())).s9pks[0][1]
    assets = {tuple(hw.arch or ()): a for hw, a in old.s9pks}
    assert assets[("x86_64",)] == base_asset  # kept as published: URLs, time, signatures
    assert assets[("aarch64",)].published_at.timestamp() == EPOCH + 100
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.s9pk"))
    assert files == ["hello/1.0.0:0/hello_arm.s9pk", "hello/1.1.0:0/hello_2.s9pk"]
    assert any("same package as" in w for w in report.warnings)


def test_base_index_variant_with_other_metadata_is_refused(tmp_path: Path, src: Path) -> None:
    build_site(settings(tmp_path, [pkg(src, "a.s9pk", arches=("x86_64",))]))
    base = read_index(tmp_path / "site")
    other = pkg(src, "b.s9pk", arches=("aarch64",), title="Another Title")
    with pytest.raises(BuildError, match="metadata differ"):
        build_site(settings(tmp_path, [other], base=base, output=tmp_path / "overlay"))


def test_exact_version_results(tmp_path: Path, src: Path) -> None:
    a = pkg(src, "a.s9pk", version="1.0.0:0")
    b = pkg(src, "b.s9pk", version="1.1.0:0")
    k = pkg(src, "k.s9pk", ADMIN, version="#knots:1.0.0:0")
    build_site(settings(tmp_path, [a, b, k]))
    base = tmp_path / "site/rpc.v0/package.get/hello/version"
    index = read_index(tmp_path / "site")
    for version in ("1.0.0:0", "1.1.0:0", "knots:1.0.0:0"):
        none = json.loads((base / f"{version}.none.json").read_bytes())
        short = json.loads((base / f"{version}.short.json").read_bytes())
        full = json.loads((base / f"{version}.full.json").read_bytes())
        key = version if not version.startswith("knots") else f"#{version}"
        assert list(none["best"]) == [key]
        assert "otherVersions" not in none
        assert short["otherVersions"] == full["otherVersions"] == {}
        expected = next(
            pv for v, pv in index.package.packages["hello"].versions.items() if str(v) == key
        )
        assert none["best"][key] == expected.to_dict()
