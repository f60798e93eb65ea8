"""The registry model: upstream JSON shapes, defaults, validation paths, Guids, from_s9pk."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from s9reg.exver import Version, VersionRange, VersionString
from s9reg.registry import (
    Category,
    ContactInfo,
    FullIndex,
    GetPackageResponse,
    GetPackageResponseFull,
    Guid,
    OsIndex,
    OsVersionInfo,
    PackageIndex,
    PackageInfo,
    PackageInfoShort,
    PackageVersionInfo,
    RegistryAsset,
    RegistryError,
    RegistryInfo,
    SignerInfo,
    dump_json,
    format_timestamp,
    hardware_from_dict,
    packages_response_to_dict,
    parse_timestamp,
    specificity_desc,
)
from s9reg.s9pk.commitment import Blake3Commitment
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey, Signature
from s9reg.s9pk.metadata import DeviceFilter, HardwareRequirements, LocaleString
from s9reg.s9pk.package import S9pk
from s9reg.s9pk.tree import Directory
from s9reg.s9pk.writer import write_archive

KEY = PrivateKey(bytes(range(32)))
OTHER_KEY = PrivateKey(bytes(range(1, 33)))
WHEN = datetime(2026, 6, 30, 18, 22, 41, 512000, tzinfo=UTC)
GUID_A = Guid("A" * 32)
GUID_B = Guid("B" * 31 + "2")

PVI_KEYS = [
    "title",
    "description",
    "releaseNotes",
    "gitHash",
    "license",
    "packageRepo",
    "upstreamRepo",
    "marketingUrl",
    "donationUrl",
    "osVersion",
    "sdkVersion",
    "hardwareAcceleration",
    "userspaceFilesystems",
    "virtualNetworking",
    "plugins",
    "satisfies",
    "icon",
    "dependencyMetadata",
    "sourceVersion",
    "s9pks",
]


def read(tree: Directory, key: PrivateKey = KEY) -> S9pk:
    buf = io.BytesIO()
    write_archive(buf, tree, key)
    buf.seek(0)
    return S9pk.read(buf)


def version_info(
    pid: str = "hello", version: str = "1.0.0:0", arches: tuple[str, ...] = ("x86_64",)
) -> PackageVersionInfo:
    pkg = read(demo_package_tree(pid, version, arches=arches, with_deps=True))
    url = f"https://cdn.example.com/{pid}/{version}/{pid}.s9pk"
    return PackageVersionInfo.from_s9pk(pkg, [url], WHEN)


def os_asset(seed: int) -> RegistryAsset[Blake3Commitment]:
    c = Blake3Commitment(bytes([seed]) * 32, 1000 + seed)
    sig = c.sign(KEY).to_pem()
    return RegistryAsset(
        WHEN, (f"https://img.example.com/{seed}.iso",), c, {KEY.public_key.to_pem(): sig}
    )


def full_index() -> FullIndex:
    v1 = version_info("hello", "1.0.0:0")
    v2 = version_info("hello", "1.1.0:0")
    knots = version_info("bitcoind", "#knots:27.1.0:0")
    core = version_info("bitcoind", "27.0.0:1")
    cats = {
        "bitcoin": Category(LocaleString("Bitcoin")),
        "ai": Category(LocaleString((("en_US", "AI"), ("de_DE", "KI")))),
    }
    packages = {
        "hello": PackageInfo(
            {GUID_A: VersionRange.parse("*")},
            {VersionString.parse("1.1.0:0"): v2, VersionString.parse("1.0.0:0"): v1},
            ("utilities",),
        ),
        "bitcoind": PackageInfo(
            {GUID_B: VersionRange.parse(">=27")},
            {VersionString.parse("27.0.0:1"): core, VersionString.parse("#knots:27.1.0:0"): knots},
            ("bitcoin",),
        ),
    }
    os_info = OsVersionInfo(
        "v0.4.0-beta.10",
        "Notes — ünïcode",
        VersionRange.parse(">=0.3.5 <=0.4.0-beta.10"),
        (GUID_A,),
        iso={"x86_64": os_asset(1)},
        squashfs={"x86_64-nonfree": os_asset(3), "x86_64": os_asset(2)},
    )
    signers = {
        GUID_B: SignerInfo(
            "Bob", (ContactInfo("matrix", "@bob:example.com"),), (OTHER_KEY.public_key.to_pem(),)
        ),
        GUID_A: SignerInfo(
            "Alice",
            (
                ContactInfo("email", "alice@example.com"),
                ContactInfo("website", "https://alice.example/"),
            ),
            (KEY.public_key.to_pem(),),
        ),
    }
    return FullIndex(
        "Example Registry",
        None,
        PackageIndex(cats, packages),
        OsIndex({Version.parse("0.4.0-beta.10"): os_info, Version.parse("0.3.5.1"): os_info}),
        signers,
    )


# --------------------------------------------------------------------------------------------
# from_s9pk
# --------------------------------------------------------------------------------------------


def test_from_s9pk_fills_every_field() -> None:
    pkg = read(demo_package_tree("hello", "1.0.0:0", arches=("x86_64",), with_deps=True))
    info = PackageVersionInfo.from_s9pk(pkg, ["https://cdn.example.com/h.s9pk"], WHEN)
    d = info.to_dict()
    assert list(d) == PVI_KEYS
    m = pkg.manifest
    assert d["title"] == m.title
    assert d["description"] == m.description.to_dict()
    assert d["gitHash"] == m.git_hash
    assert d["packageRepo"] == m.package_repo
    assert d["marketingUrl"] == m.marketing_url
    assert d["osVersion"] == "0.4.0-beta.10"
    assert d["sdkVersion"] == "0.4.0-beta.45"
    assert d["icon"] == pkg.icon_data_url()
    assert d["sourceVersion"] is None
    assert d["dependencyMetadata"] == {
        "bitcoind": {
            "title": "Bitcoind",
            "icon": pkg.dependency_icon_data_url("bitcoind"),
            "description": "Provides what hello needs from bitcoind.",
            "optional": False,
        }
    }
    [[hw, asset]] = d["s9pks"]
    assert hw == {"device": [], "ram": None, "arch": ["x86_64"]}
    header = pkg.archive.header
    assert asset == {
        "publishedAt": "2026-06-30T18:22:41.512Z",
        "urls": ["https://cdn.example.com/h.s9pk"],
        "commitment": pkg.commitment.to_dict(),
        "signatures": {KEY.public_key.to_pem(): Signature(header.signature).to_pem()},
    }
    info.s9pks[0][1].verify()


def test_from_s9pk_extra_signatures_are_added_not_replaced() -> None:
    pkg = read(demo_package_tree())
    extra = {OTHER_KEY.public_key.to_pem(): pkg.commitment.sign(OTHER_KEY).to_pem()}
    bogus = {KEY.public_key.to_pem(): pkg.commitment.sign(OTHER_KEY).to_pem()}
    info = PackageVersionInfo.from_s9pk(pkg, [], WHEN, {**extra})
    sigs = info.s9pks[0][1].signatures
    assert list(sigs) == [KEY.public_key.to_pem(), OTHER_KEY.public_key.to_pem()]
    info.s9pks[0][1].verify()
    kept = PackageVersionInfo.from_s9pk(pkg, [], WHEN, bogus).s9pks[0][1]
    kept.verify()


def test_from_s9pk_without_icon_fails() -> None:
    tree = demo_package_tree()
    tree = Directory.of({k: v for k, v in tree.entries.items() if k != "icon.png"})
    with pytest.raises(RegistryError, match="has no icon"):
        PackageVersionInfo.from_s9pk(read(tree), [], WHEN)


def test_from_s9pk_rejects_relative_url() -> None:
    with pytest.raises(RegistryError, match=r"urls\[0\]: expected an absolute URL"):
        PackageVersionInfo.from_s9pk(read(demo_package_tree()), ["/hello.s9pk"], WHEN)


def test_verify_detects_a_wrong_signature() -> None:
    asset = version_info().s9pks[0][1]
    forged = RegistryAsset(
        asset.published_at,
        asset.urls,
        asset.commitment,
        {KEY.public_key.to_pem(): Blake3Commitment(b"\0" * 32, 1).sign(KEY).to_pem()},
    )
    with pytest.raises(RegistryError, match="does not verify"):
        forged.verify()
    with pytest.raises(RegistryError, match="no signature"):
        RegistryAsset(asset.published_at, asset.urls, asset.commitment, {}).verify()


# --------------------------------------------------------------------------------------------
# Round trips and shapes
# --------------------------------------------------------------------------------------------


def test_full_index_round_trip_and_order() -> None:
    index = full_index()
    data = dump_json(index)
    assert data.endswith(b"}\n")
    assert "ünïcode".encode() in data
    assert b", " not in data[:200]
    value = json.loads(data)
    assert list(value) == ["name", "icon", "package", "os", "signers"]
    assert list(value["package"]["packages"]) == ["bitcoind", "hello"]
    assert list(value["package"]["categories"]) == ["ai", "bitcoin"]
    # VersionString order: a flavored version sorts before flavorless ones.
    assert list(value["package"]["packages"]["bitcoind"]["versions"]) == [
        "#knots:27.1.0:0",
        "27.0.0:1",
    ]
    assert list(value["package"]["packages"]["hello"]["versions"]) == ["1.0.0:0", "1.1.0:0"]
    assert list(value["os"]["versions"]) == ["0.3.5.1", "0.4.0-beta.10"]
    assert list(value["os"]["versions"]["0.4.0-beta.10"]["squashfs"]) == [
        "x86_64",
        "x86_64-nonfree",
    ]
    assert (
        value["os"]["versions"]["0.4.0-beta.10"]["sourceVersion"] == ">=0.3.5:0 <=0.4.0-beta.10:0"
    )
    assert list(value["signers"]) == [GUID_A, GUID_B]
    assert value["signers"][GUID_A]["contact"] == [
        {"email": "alice@example.com"},
        {"website": "https://alice.example/"},
    ]
    again = FullIndex.from_dict(value)
    assert dump_json(again) == data
    assert again == index


def test_registry_info_and_full_index_info() -> None:
    index = full_index()
    info = index.info()
    assert info.to_dict() == {
        "name": "Example Registry",
        "icon": None,
        "categories": {
            "ai": {"name": {"en_US": "AI", "de_DE": "KI"}},
            "bitcoin": {"name": "Bitcoin"},
        },
    }
    assert RegistryInfo.from_dict({"categories": {}}) == RegistryInfo()


def test_package_get_shapes() -> None:
    v1 = version_info()
    v2 = version_info(version="1.1.0:0")
    best = {VersionString.parse("1.1.0:0"): v2}
    none = GetPackageResponse(("utilities",), best)
    assert list(none.to_dict()) == ["categories", "best"]
    short = GetPackageResponse(
        ("utilities",), best, {VersionString.parse("1.0.0:0"): PackageInfoShort(v1.release_notes)}
    )
    assert short.to_dict()["otherVersions"] == {"1.0.0:0": {"releaseNotes": "Release 1.0.0:0."}}
    full = GetPackageResponseFull(("utilities",), best, {VersionString.parse("1.0.0:0"): v1})
    assert list(full.to_dict()) == ["categories", "best", "otherVersions"]
    for obj in (none, short):
        assert GetPackageResponse.from_dict(json.loads(dump_json(obj))).to_dict() == obj.to_dict()
    assert GetPackageResponseFull.from_dict(json.loads(dump_json(full))).to_dict() == full.to_dict()
    many = packages_response_to_dict({"zeta": none, "alpha": short})
    assert list(many) == ["alpha", "zeta"]
    empty = GetPackageResponse((), {}, {})
    assert dump_json(empty) == b'{"categories":[],"best":{},"otherVersions":{}}\n'


def minimal_pvi() -> dict[str, Any]:
    full = version_info().to_dict()
    keep = [
        "title",
        "description",
        "releaseNotes",
        "license",
        "upstreamRepo",
        "icon",
        "dependencyMetadata",
        "s9pks",
    ]
    return {k: full[k] for k in keep}


def test_defaults_and_unknown_keys() -> None:
    raw = minimal_pvi()
    raw["alerts"] = {"install": "old field"}
    raw["s9pks"][0][0] = {}
    info = PackageVersionInfo.from_dict(raw)
    d = info.to_dict()
    assert "alerts" not in d
    assert d["packageRepo"] == "https://example.com/"
    assert d["osVersion"] == "0.4.0-beta.10"
    assert d["gitHash"] is None
    assert d["marketingUrl"] is None
    assert d["sdkVersion"] is None
    assert d["sourceVersion"] is None
    assert (d["hardwareAcceleration"], d["userspaceFilesystems"], d["virtualNetworking"]) == (
        False,
        False,
        False,
    )
    assert (d["plugins"], d["satisfies"]) == ([], [])
    assert d["s9pks"][0][0] == {"device": [], "ram": None, "arch": None}


def test_sets_are_sorted_and_versions_normalized() -> None:
    raw = minimal_pvi()
    raw["satisfies"] = ["2.0:0", "#f:1:0", "1.0:0", "1:0"]
    raw["plugins"] = ["url-v0", "url-v0"]
    raw["osVersion"] = "0.4.00"
    raw["sourceVersion"] = "^1.2"
    d = PackageVersionInfo.from_dict(raw).to_dict()
    assert d["satisfies"][0] == "#f:1:0"
    assert d["satisfies"][1:] == ["1.0:0", "2.0:0"]
    assert d["plugins"] == ["url-v0"]
    assert d["osVersion"] == "0.4.0"
    assert d["sourceVersion"] == ">=1.2:0 <2:0"


def test_hardware_requirements_and_specificity() -> None:
    hw = hardware_from_dict(
        {
            "device": [
                {
                    "description": "GPU",
                    "class": "display",
                    "vendor": "nvidia",
                    "capabilities": ["b", "a"],
                }
            ],
            "ram": 8 << 30,
            "arch": ["x86_64", "aarch64", "x86_64"],
        }
    )
    assert hw.arch == ("aarch64", "x86_64")
    assert hw.device == (DeviceFilter("GPU", "display", None, "nvidia", ("a", "b"), None),)
    assert hw.to_dict()["device"] == [
        {
            "description": "GPU",
            "class": "display",
            "product": None,
            "vendor": "nvidia",
            "capabilities": ["a", "b"],
            "driver": None,
        }
    ]
    variants = [
        HardwareRequirements(),
        HardwareRequirements(arch=("x86_64", "aarch64")),
        HardwareRequirements(arch=("x86_64",), ram=4),
        HardwareRequirements(arch=("x86_64",)),
        hw,
    ]
    ordered = sorted(variants, key=specificity_desc)
    assert ordered == [hw, variants[3], variants[2], variants[1], variants[0]]


# --------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "text"),
    [
        pytest.param(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z", id="whole"),
        pytest.param(
            datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC),
            "2026-01-02T03:04:05.500Z",
            id="millis",
        ),
        pytest.param(
            datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
            "2026-01-02T03:04:05.123456Z",
            id="micros",
        ),
        pytest.param(
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05Z",
            id="to-utc",
        ),
    ],
)
def test_format_timestamp(when: datetime, text: str) -> None:
    assert format_timestamp(when) == text
    assert parse_timestamp(text) == when


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp("2026-06-30T18:22:41.512345678Z").microsecond == 512345
    assert parse_timestamp("2026-06-30T20:22:41+02:00") == datetime(
        2026, 6, 30, 18, 22, 41, tzinfo=UTC
    )
    with pytest.raises(RegistryError, match="no time zone"):
        format_timestamp(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(RegistryError, match=r"^t: expected an RFC 3339"):
        parse_timestamp("2026-06-30 18:22:41", "t")
    with pytest.raises(RegistryError, match=r"^t: expected an RFC 3339"):
        parse_timestamp("\u0662\u0660\u0662\u0666-06-30T18:22:41Z", "t")  # Arabic-Indic digits
    with pytest.raises(RegistryError, match="invalid timestamp"):
        parse_timestamp("2026-02-30T00:00:00Z")


# --------------------------------------------------------------------------------------------
# Guid
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("A" * 31, id="short"),
        pytest.param("A" * 33, id="long"),
        pytest.param("a" * 32, id="lowercase"),
        pytest.param("A" * 31 + "1", id="digit-1"),
        pytest.param("A" * 31 + "8", id="digit-8"),
        pytest.param("A" * 31 + "=", id="padding"),
    ],
)
def test_guid_rejects(text: str) -> None:
    with pytest.raises(RegistryError, match="invalid signer id"):
        Guid(text)
    with pytest.raises(RegistryError, match=r"^x: invalid signer id"):
        Guid.parse(text, "x")


def test_guid_generation() -> None:
    a = Guid.generate(b"seed")
    assert a == Guid.generate(b"seed")
    assert a != Guid.generate(b"seed2")
    assert Guid(a) == a
    assert len(a) == 32
    r1, r2 = Guid.generate(), Guid.generate()
    assert r1 != r2
    assert Guid(r1) == r1
    assert Guid("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


# --------------------------------------------------------------------------------------------
# Validation errors name their JSON path
# --------------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]

PKG = 'package.packages.hello.versions["1.0.0:0"]'


def _set(path: list[str | int], value: object) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _del(path: list[str | int]) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


V = ["package", "packages", "hello", "versions", "1.0.0:0"]
ASSET = [*V, "s9pks", 0, 1]


@pytest.mark.parametrize(
    ("mutate", "path", "problem"),
    [
        pytest.param(_set(["name"], 3), "name", "expected a string", id="name"),
        pytest.param(_set(["icon"], "https://x/icon.png"), "icon", "data URL", id="icon-url"),
        pytest.param(
            _set(["icon"], "data:image/png;base64,abc"), "icon", "data URL", id="icon-unpadded"
        ),
        pytest.param(_del(["os"]), "os", "required key missing", id="os-missing"),
        pytest.param(
            _set(["signers", "bad"], {}), "signers.bad", "invalid signer id", id="signer-guid"
        ),
        pytest.param(
            _set(["signers", GUID_A, "keys", 0], "nope"),
            f"signers.{GUID_A}.keys[0]",
            "not a PEM PUBLIC KEY",
            id="signer-key",
        ),
        pytest.param(
            _set(["signers", GUID_A, "contact", 0], {"phone": "1"}),
            f"signers.{GUID_A}.contact[0]",
            "exactly one of",
            id="contact-kind",
        ),
        pytest.param(
            _set(["package", "packages", "Bad_Id"], {}),
            "package.packages.Bad_Id",
            "invalid package id",
            id="package-id",
        ),
        pytest.param(
            _set(["package", "packages", "hello", "authorized", GUID_A], ">>1"),
            f"package.packages.hello.authorized.{GUID_A}",
            "version range",
            id="authorized-range",
        ),
        pytest.param(
            _set(["package", "packages", "hello", "versions", "1.0:0"], {}),
            'package.packages.hello.versions["1.0:0"]',
            "duplicate key",
            id="duplicate-version",
        ),
        pytest.param(
            _set(["package", "packages", "hello", "versions", "x:y"], {}),
            'package.packages.hello.versions["x:y"]',
            "extended version",
            id="version-key",
        ),
        pytest.param(
            _set(["package", "packages", "hello", "categories"], "a"),
            "package.packages.hello.categories",
            "JSON array",
            id="categories",
        ),
        pytest.param(
            _set([*V, "osVersion"], "abc"), f"{PKG}.osVersion", "version", id="os-version"
        ),
        pytest.param(
            _set([*V, "sourceVersion"], 5),
            f"{PKG}.sourceVersion",
            "expected a string",
            id="source-version",
        ),
        pytest.param(_del([*V, "title"]), f"{PKG}.title", "required key missing", id="title"),
        pytest.param(
            _set([*V, "hardwareAcceleration"], "yes"),
            f"{PKG}.hardwareAcceleration",
            "true or false",
            id="bool",
        ),
        pytest.param(
            _set([*V, "upstreamRepo"], "github.com/x"), f"{PKG}.upstreamRepo", "URL", id="url"
        ),
        pytest.param(
            _set([*V, "description", "short"], {"en": 1}),
            f"{PKG}.description.short.en",
            "expected a string",
            id="locale",
        ),
        pytest.param(
            _set([*V, "plugins"], ["url-v0", "x"]),
            f"{PKG}.plugins[1]",
            "unknown plugin",
            id="plugin",
        ),
        pytest.param(
            _set([*V, "icon"], "data:image/png;base64,iVBORw0KGgp="),
            f"{PKG}.icon",
            "data URL",
            id="icon-trailing-bits",
        ),
        pytest.param(
            _set([*V, "satisfies"], ["1.0"]),
            f"{PKG}.satisfies[0]",
            "is not a valid Version: missing downstream",
            id="satisfies",
        ),
        pytest.param(
            _set([*V, "dependencyMetadata", "bitcoind", "optional"], None),
            f"{PKG}.dependencyMetadata.bitcoind.optional",
            "true or false",
            id="dep-optional",
        ),
        pytest.param(
            _set([*V, "s9pks", 0], [{}]),
            f"{PKG}.s9pks[0]",
            "hardwareRequirements, asset",
            id="variant-pair",
        ),
        pytest.param(
            _set([*V, "s9pks", 0, 0, "ram"], -1), f"{PKG}.s9pks[0][0].ram", "64-bit", id="ram"
        ),
        pytest.param(
            _set([*V, "s9pks", 0, 0, "device"], [{"class": "display"}]),
            f"{PKG}.s9pks[0][0].device[0].description",
            "required key missing",
            id="device",
        ),
        pytest.param(
            _set([*ASSET, "urls"], ["cdn/x.s9pk"]),
            f"{PKG}.s9pks[0][1].urls[0]",
            "absolute URL",
            id="asset-url",
        ),
        pytest.param(
            _set([*ASSET, "publishedAt"], "yesterday"),
            f"{PKG}.s9pks[0][1].publishedAt",
            "RFC 3339",
            id="published",
        ),
        pytest.param(
            _set([*ASSET, "commitment", "rootSighash"], "!!"),
            f"{PKG}.s9pks[0][1].commitment",
            "base64",
            id="commitment",
        ),
        pytest.param(
            _set([*ASSET, "signatures"], {}),
            f"{PKG}.s9pks[0][1].signatures",
            "at least one",
            id="no-signatures",
        ),
        pytest.param(
            _set(["os", "versions", "0.4.0-beta.10", "authorized"], ["x"]),
            'os.versions["0.4.0-beta.10"].authorized[0]',
            "invalid signer id",
            id="os-authorized",
        ),
        pytest.param(
            _del(["os", "versions", "0.4.0-beta.10", "img"]),
            'os.versions["0.4.0-beta.10"].img',
            "required key missing",
            id="os-img",
        ),
        pytest.param(
            _set(["os", "versions", "0.4.0-beta.10", "iso", "x86_64", "commitment", "size"], "1"),
            'os.versions["0.4.0-beta.10"].iso.x86_64.commitment',
            "size",
            id="os-commitment",
        ),
    ],
)
def test_validation_names_the_path(mutate: Mutation, path: str, problem: str) -> None:
    doc = copy.deepcopy(json.loads(dump_json(full_index())))
    mutate(doc)
    with pytest.raises(RegistryError) as info:
        FullIndex.from_dict(doc)
    assert info.value.path == path
    assert problem in info.value.problem
    assert str(info.value).startswith(path + ": ")


@pytest.mark.parametrize(
    ("cls", "value"),
    [
        pytest.param(FullIndex, [], id="full-index"),
        pytest.param(RegistryInfo, "x", id="info"),
        pytest.param(OsIndex, None, id="os-index"),
        pytest.param(Category, 1, id="category"),
    ],
)
def test_not_an_object(cls: Any, value: object) -> None:
    with pytest.raises(RegistryError, match=r"^expected a JSON object$"):
        cls.from_dict(value)


def test_dump_json_rejects_non_json() -> None:
    with pytest.raises(RegistryError, match="not serializable"):
        dump_json({"x": float("nan")})


def test_data_url_mime_may_carry_parameters() -> None:
    raw = minimal_pvi()
    raw["icon"] = "data:image/svg+xml;charset=utf-8;base64,PHN2Zy8+"
    assert PackageVersionInfo.from_dict(raw).icon == raw["icon"]


def test_every_problem_is_reported_at_once() -> None:
    doc = copy.deepcopy(json.loads(dump_json(full_index())))
    doc["name"] = 3
    del doc["os"]
    doc["package"]["packages"]["hello"]["categories"] = "a"
    with pytest.raises(RegistryError) as info:
        FullIndex.from_dict(doc)
    assert str(info.value) == "name: expected a string (and 2 more)"
    assert info.value.details is not None
    assert info.value.details.splitlines() == [
        "name: expected a string",
        "package.packages.hello.categories: expected a JSON array",
        "os: required key missing",
    ]


def test_from_bytes_refuses_a_repeated_field_and_accepts_repeated_map_keys() -> None:
    text = dump_json(full_index()).decode()
    with pytest.raises(RegistryError, match=r"^duplicate field `name`$"):
        FullIndex.from_bytes(text.replace('{"name":', '{"name":"x","name":', 1).encode())
    repeated = text.replace('"os":{', '"os":{"versions":{},', 1)
    with pytest.raises(RegistryError, match=r"^os: duplicate field `versions`$"):
        FullIndex.from_bytes(repeated.encode())
    with pytest.raises(RegistryError, match=r"^invalid JSON"):
        FullIndex.from_bytes(b"{")
    unknown = text.replace('{"name":', '{"x":1,"x":2,"name":', 1)
    assert FullIndex.from_bytes(unknown.encode()) == full_index()
    mapped = text.replace('"categories":{', '"categories":{"ai":{"name":"X"},', 1)
    assert FullIndex.from_bytes(mapped.encode()) == full_index()  # the last "ai" wins
