"""queries: device-info parsing, params, package.get filters and shapes, OS versions and assets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s9reg.exver import Version, VersionRange, VersionString
from s9reg.registry import (
    FullIndex,
    GetPackageResponse,
    GetPackageResponseFull,
    Guid,
    OsIndex,
    OsVersionInfo,
    PackageIndex,
    PackageInfo,
    PackageVersionInfo,
    RegistryAsset,
    SignerInfo,
)
from s9reg.registry.queries import (
    DeviceInfo,
    ErrorKind,
    HardwareInfo,
    InvalidParamsError,
    OsAssetGetParams,
    OsVersionGetParams,
    PackageGetParams,
    QueryError,
    best_versions,
    form_decode,
    os_asset_get,
    os_version_get,
    os_version_get_json,
    os_version_signer_list,
    package_get,
    package_get_json,
    package_signer_list,
)
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import Description, HardwareRequirements, LocaleString

KEY = PrivateKey(bytes(range(32)))
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
G = Guid("A" * 32)
HEADER = (
    "os.version=0.4.0-beta.10&os.compat=%3E%3D0.3.0%3A0+%3C%3D0.4.0-beta.10%3A0"
    "&os.platform=x86_64-nonfree&os.language=en_US"
)
LOCALIZED = LocaleString((("en_US", "hello"), ("de_DE", "hallo")))


def asset(n: int) -> RegistryAsset[MerkleArchiveCommitment]:
    c = MerkleArchiveCommitment(bytes([n]) * 32, 1000 + n)
    return RegistryAsset(
        WHEN,
        (f"https://cdn.example.com/{n}.s9pk", f"https://mirror.example.com/{n}.s9pk"),
        c,
        {KEY.public_key.to_pem(): c.sign(KEY).to_pem()},
    )


def hw(arch: tuple[str, ...] | None, ram: int | None = None) -> HardwareRequirements:
    return HardwareRequirements(device=(), ram=ram, arch=arch)


def pvi(
    n: int = 1,
    *,
    os: str = "0.4.0-beta.10",
    variants: tuple[HardwareRequirements, ...] = (HardwareRequirements(arch=("x86_64",)),),
    source: str | None = None,
    notes: LocaleString = LOCALIZED,
) -> PackageVersionInfo:
    return PackageVersionInfo(
        title=f"Package {n}",
        description=Description(LOCALIZED, LocaleString("long")),
        release_notes=notes,
        license="MIT",
        upstream_repo="https://example.com/",
        icon="data:image/png;base64,AAAA",
        s9pks=tuple((h, asset(n * 10 + i)) for i, h in enumerate(variants)),
        os_version=Version.parse(os),
        source_version=None if source is None else VersionRange.parse(source),
    )


def vs(text: str) -> VersionString:
    return VersionString.parse(text)


def index_of(packages: dict[str, dict[str, PackageVersionInfo]]) -> PackageIndex:
    return PackageIndex(
        packages={
            pid: PackageInfo({}, {vs(v): info for v, info in versions.items()}, ("cat",))
            for pid, versions in packages.items()
        }
    )


def device(header: str = HEADER) -> DeviceInfo:
    return DeviceInfo.parse(header)


# --------------------------------------------------------------------------------------------
# Device info
# --------------------------------------------------------------------------------------------


def test_device_info_parses_the_header_a_device_sends() -> None:
    info = DeviceInfo.parse(HEADER)
    assert info.os_version == Version.parse("0.4.0-beta.10")
    assert str(info.os_compat) == ">=0.3.0:0 <=0.4.0-beta.10:0"
    assert info.os_platform == "x86_64-nonfree"
    assert info.os_language == "en_US"
    assert info.hardware is None
    assert not info.legacy


def test_device_info_hardware_and_language_default_for_old_devices() -> None:
    info = DeviceInfo.parse(
        "os.version=0.4.0-alpha.17&os.compat=*&os.platform=aarch64"
        "&hardware.arch=aarch64&hardware.ram=8589934592",
        default_language="de_DE",
    )
    assert info.hardware == HardwareInfo("aarch64", 8589934592)
    assert info.os_language == "de_DE"
    # Rust's u64::from_str reads any number of leading zeros; int() refuses over 4300 digits.
    zeros = DeviceInfo.parse(
        "os.version=1&os.compat=*&os.platform=x&hardware.arch=a&hardware.ram=%2B" + "0" * 4300 + "9"
    )
    assert zeros.hardware == HardwareInfo("a", 9)
    assert info.legacy
    newer = DeviceInfo.parse("os.version=0.4.0-alpha.18&os.compat=*&os.platform=x")
    assert newer.os_language is None
    assert not newer.legacy


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        pytest.param("os.compat=*&os.platform=x", ErrorKind.NOT_FOUND, id="no os.version"),
        pytest.param("os.version=1.0&os.platform=x", ErrorKind.NOT_FOUND, id="no os.compat"),
        pytest.param("os.version=1.0&os.compat=*", ErrorKind.NOT_FOUND, id="no os.platform"),
        pytest.param(
            "os.version=x.y&os.compat=*&os.platform=x", ErrorKind.PARSE_VERSION, id="bad version"
        ),
        pytest.param(
            "os.version=1.0&os.compat=%3E%3E&os.platform=x",
            ErrorKind.PARSE_VERSION,
            id="bad compat range",
        ),
        pytest.param(
            "os.version=1.0&os.compat=*&os.platform=x&hardware.arch=x86_64",
            ErrorKind.NOT_FOUND,
            id="hardware without ram",
        ),
        pytest.param(
            "os.version=1.0&os.compat=*&os.platform=x&hardware.arch=a&hardware.ram=-1",
            ErrorKind.PARSE_NUMBER,
            id="negative ram",
        ),
        pytest.param(
            "os.version=1.0&os.compat=*&os.platform=x&hardware.arch=a&hardware.ram=18446744073709551616",
            ErrorKind.PARSE_NUMBER,
            id="ram beyond u64",
        ),
        pytest.param(
            "os.version=1.0&os.compat=*&os.platform=x&hardware.arch=a&hardware.ram=1" + "0" * 4400,
            ErrorKind.PARSE_NUMBER,
            id="ram of 4401 digits",
        ),
        pytest.param(
            "os.version=" + "0" * 4300 + "1.x&os.compat=*&os.platform=x",
            ErrorKind.PARSE_VERSION,
            id="bad version with 4300 leading zeros",
        ),
    ],
)
def test_device_info_errors(header: str, kind: ErrorKind) -> None:
    with pytest.raises(QueryError) as e:
        DeviceInfo.parse(header)
    assert e.value.kind == kind


def test_form_decode_matches_form_urlencoded() -> None:
    assert form_decode("a=1+2&b=%3E%3D&a=3&&c&d=%zz&e=%C3%A9") == {
        "a": "3",
        "b": ">=",
        "c": "",
        "d": "%zz",
        "e": "é",
    }


# --------------------------------------------------------------------------------------------
# Params
# --------------------------------------------------------------------------------------------


def test_package_get_params_defaults_and_parsing() -> None:
    assert PackageGetParams.from_json(None) == PackageGetParams()
    assert PackageGetParams.from_json({}).level == "short"
    p = PackageGetParams.from_json(
        {
            "id": "hello",
            "targetVersion": "=1.0:0",
            "sourceVersion": "0.9:0",
            "otherVersions": "full",
            "unknown": 1,
        }
    )
    assert p.id == "hello"
    assert p.level == "full"
    assert str(p.source_version) == "0.9:0"


@pytest.mark.parametrize(
    "params",
    [
        pytest.param([], id="params is an array"),
        pytest.param("x", id="params is a string"),
        pytest.param({"id": 3}, id="id is a number"),
        pytest.param({"id": "Not_An_Id"}, id="id is not a package id"),
        pytest.param({"targetVersion": ">>"}, id="bad target range"),
        pytest.param({"targetVersion": True}, id="target is a boolean"),
        pytest.param({"sourceVersion": "1.0"}, id="source without downstream"),
        pytest.param({"otherVersions": "all"}, id="unknown detail level"),
        pytest.param({"otherVersions": 1}, id="detail level is a number"),
    ],
)
def test_package_get_params_refused(params: object) -> None:
    with pytest.raises(InvalidParamsError):
        PackageGetParams.from_json(params)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"sourceVersion": "x"}, id="bad source"),
        pytest.param({"platform": 5}, id="platform is a number"),
        pytest.param({"serverId": []}, id="server id is an array"),
    ],
)
def test_os_version_get_params_refused(params: object) -> None:
    with pytest.raises(InvalidParamsError):
        OsVersionGetParams.from_json(params)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="empty"),
        pytest.param({"version": "0.4.0"}, id="no platform"),
        pytest.param({"version": "bad!", "platform": "x86_64"}, id="bad version"),
    ],
)
def test_os_asset_params_refused(params: object) -> None:
    with pytest.raises(InvalidParamsError):
        OsAssetGetParams.from_json(params)


# --------------------------------------------------------------------------------------------
# package.get
# --------------------------------------------------------------------------------------------


def test_best_is_the_greatest_of_each_flavor() -> None:
    versions = {vs(v): None for v in ["1.0:0", "2.0:0", "#knots:1.5:0", "#knots:1.0:0", "1.5:3"]}
    assert sorted(str(v) for v in best_versions(versions)) == ["#knots:1.5:0", "2.0:0"]


def test_package_get_filters_target_then_source() -> None:
    index = index_of(
        {
            "a": {
                "1.0.0:0": pvi(1),
                "1.1.0:0": pvi(2, source=">=1.0.0:0"),
                "2.0.0:0": pvi(3, source=">=1.1.0:0"),
            }
        }
    )
    all_ = package_get(index, PackageGetParams(id="a"))
    assert isinstance(all_, GetPackageResponse)
    assert [str(v) for v in all_.best] == ["2.0.0:0"]
    assert all_.other_versions is not None
    assert [str(v) for v in all_.other_versions] == ["1.0.0:0", "1.1.0:0"]
    exact = package_get(index, PackageGetParams.from_json({"id": "a", "targetVersion": "=1.0:0"}))
    assert isinstance(exact, GetPackageResponse)
    assert [str(v) for v in exact.best] == ["1.0.0:0"]
    stepping = package_get(index, PackageGetParams(id="a", source_version=vs("1.0.0:0")))
    assert isinstance(stepping, GetPackageResponse)
    assert [str(v) for v in stepping.best] == ["1.1.0:0"]


def test_unknown_id_is_an_empty_response_not_an_error() -> None:
    index = index_of({"a": {"1.0.0:0": pvi()}})
    for level, expected in [
        ("none", {"categories": [], "best": {}}),
        ("short", {"categories": [], "best": {}, "otherVersions": {}}),
        ("full", {"categories": [], "best": {}, "otherVersions": {}}),
    ]:
        params = PackageGetParams.from_json({"id": "zzz", "otherVersions": level})
        assert package_get_json(index, params) == expected


def test_all_packages_lists_only_packages_with_a_match() -> None:
    index = index_of({"a": {"1.0.0:0": pvi()}, "b": {"2.0.0:0": pvi()}})
    result = package_get_json(index, PackageGetParams.from_json({"targetVersion": ">=2"}))
    assert isinstance(result, dict)
    assert list(result) == ["b"]
    known_no_match = package_get(
        index, PackageGetParams.from_json({"id": "a", "targetVersion": ">=2"})
    )
    assert isinstance(known_no_match, GetPackageResponse)
    assert known_no_match.categories == ("cat",)
    assert not known_no_match.best


def test_detail_levels() -> None:
    index = index_of({"a": {"1.0.0:0": pvi(1), "2.0.0:0": pvi(2)}})
    none = package_get(index, PackageGetParams(id="a", other_versions="none"))
    assert isinstance(none, GetPackageResponse)
    assert none.other_versions is None
    assert "otherVersions" not in none.to_dict()
    full = package_get(index, PackageGetParams(id="a", other_versions="full"))
    assert isinstance(full, GetPackageResponseFull)
    assert next(iter(full.other_versions.values())) == pvi(1)
    short = package_get_json(index, PackageGetParams(id="a"))
    assert isinstance(short, dict)
    assert short["otherVersions"] == {
        "1.0.0:0": {"releaseNotes": {"en_US": "hello", "de_DE": "hallo"}}
    }


def test_os_compat_filter_runs_before_best() -> None:
    # The newest version needs a newer OS: the device gets the older one as best (§9.2).
    index = index_of({"a": {"1.0.0:0": pvi(1, os="0.3.5"), "2.0.0:0": pvi(2, os="0.4.0")}})
    result = package_get(index, PackageGetParams(id="a"), device())
    assert isinstance(result, GetPackageResponse)
    assert [str(v) for v in result.best] == ["1.0.0:0"]
    assert result.other_versions == {}
    unfiltered = package_get(index, PackageGetParams(id="a"))
    assert isinstance(unfiltered, GetPackageResponse)
    assert [str(v) for v in unfiltered.best] == ["2.0.0:0"]


def test_hardware_filter_sort_and_localization() -> None:
    variants = (
        hw(("aarch64",)),
        hw(None, ram=1 << 40),
        hw(("aarch64", "x86_64"), ram=4),
        hw(("x86_64",)),
    )
    index = index_of({"a": {"1.0.0:0": pvi(1, variants=variants)}, "b": {"1.0.0:0": pvi(2)}})
    dev = device(HEADER + "&hardware.arch=x86_64&hardware.ram=1024")
    result = package_get(index, PackageGetParams(), dev)
    assert isinstance(result, dict)
    assert list(result) == ["a", "b"]
    info = result["a"].best[vs("1.0.0:0")]
    # Incompatible arch and too little RAM are dropped; fewer arches first, then by RAM.
    assert [v[0] for v in info.s9pks] == [hw(("x86_64",)), hw(("aarch64", "x86_64"), ram=4)]
    assert info.description.short == LocaleString("hello")
    assert info.release_notes == LocaleString("hello")
    de = package_get(
        index,
        PackageGetParams(id="a"),
        device(HEADER.replace("en_US", "de_AT") + "&hardware.arch=x86_64&hardware.ram=9"),
    )
    assert isinstance(de, GetPackageResponse)
    assert de.best[vs("1.0.0:0")].release_notes == LocaleString("hallo")
    arm_only = package_get(
        index, PackageGetParams(id="b"), device(HEADER + "&hardware.arch=riscv64&hardware.ram=9")
    )
    assert isinstance(arm_only, GetPackageResponse)
    assert not arm_only.best


def test_current_devices_get_texts_as_stored() -> None:
    # Upstream localizes only inside the hardware branch of for_device.
    index = index_of({"a": {"1.0.0:0": pvi(1)}})
    result = package_get(index, PackageGetParams(id="a"), device())
    assert isinstance(result, GetPackageResponse)
    assert result.best[vs("1.0.0:0")].release_notes == LOCALIZED


def test_legacy_fields_for_old_devices_only() -> None:
    variants = (hw(("x86_64",)), hw(("aarch64",)))
    index = index_of(
        {"a": {"1.0.0:0": pvi(1, os="0.3.5", variants=variants), "0.9.0:0": pvi(2, os="0.3.5")}}
    )
    old = "os.version=0.4.0-alpha.17&os.compat=%3E%3D0.3.0%3A0&os.platform=x86_64&os.language=en_US"
    result = package_get_json(index, PackageGetParams(id="a", other_versions="full"), device(old))
    assert isinstance(result, dict)
    for group in ("best", "otherVersions"):
        versions = result[group]
        assert isinstance(versions, dict)
        for entry in versions.values():
            assert isinstance(entry, dict)
            s9pks = entry["s9pks"]
            assert isinstance(s9pks, list)
            first = s9pks[0]
            assert isinstance(first, list)
            assert entry["hardwareRequirements"] == first[0]
            legacy = entry["s9pk"]
            assert isinstance(legacy, dict)
            assert legacy["url"] == legacy["urls"][0]  # type: ignore[index]
            assert {k: v for k, v in legacy.items() if k != "url"} == first[1]
            assert list(entry)[-2:] == ["s9pk", "hardwareRequirements"]
    new = old.replace("alpha.17", "alpha.18")
    result = package_get_json(index, PackageGetParams(id="a"), device(new))
    assert isinstance(result, dict)
    best = result["best"]
    assert isinstance(best, dict)
    assert all("s9pk" not in e for e in best.values() if isinstance(e, dict))


# --------------------------------------------------------------------------------------------
# OS
# --------------------------------------------------------------------------------------------


def blake(n: int) -> RegistryAsset[Blake3Commitment]:
    c = Blake3Commitment(bytes([n]) * 32, 10 * n)
    return RegistryAsset(
        WHEN, (f"https://img.example.com/{n}",), c, {KEY.public_key.to_pem(): c.sign(KEY).to_pem()}
    )


def os_index() -> FullIndex:
    versions = {
        Version.parse("0.4.0-beta.9"): OsVersionInfo(
            "b9", "", VersionRange.parse(">=0.3.5:0"), (G,), squashfs={"x86_64": blake(1)}
        ),
        Version.parse("0.4.0-beta.10"): OsVersionInfo(
            "b10",
            "",
            VersionRange.parse(">=0.4.0-beta.9:0"),
            (G,),
            iso={"x86_64": blake(2)},
            squashfs={"x86_64": blake(3), "aarch64": blake(4)},
        ),
        Version.parse("0.3.6"): OsVersionInfo(
            "old", "", VersionRange.parse("*"), (), squashfs={"aarch64": blake(5)}
        ),
    }
    return FullIndex(
        os=OsIndex(versions), signers={G: SignerInfo("Admin", (), (KEY.public_key.to_pem(),))}
    )


def keys(result: dict[Version, OsVersionInfo]) -> list[str]:
    return [str(v) for v in result]


def test_os_version_get_filters_and_ascending_order() -> None:
    index = os_index()
    assert keys(os_version_get(index, OsVersionGetParams())) == [
        "0.3.6",
        "0.4.0-beta.9",
        "0.4.0-beta.10",
    ]
    assert keys(os_version_get(index, OsVersionGetParams(platform="aarch64"))) == [
        "0.3.6",
        "0.4.0-beta.10",
    ]
    assert keys(
        os_version_get(index, OsVersionGetParams(source_version=Version.parse("0.3.5")))
    ) == ["0.3.6", "0.4.0-beta.9"]
    assert keys(
        os_version_get(
            index, OsVersionGetParams(target_version=VersionRange.parse(">=0.4.0-beta.10"))
        )
    ) == ["0.4.0-beta.10"]
    # Header defaults: platform x86_64, source 0.4.0-beta.9.
    dev = device("os.version=0.4.0-beta.9&os.compat=*&os.platform=x86_64")
    assert keys(os_version_get(index, OsVersionGetParams(), dev)) == [
        "0.4.0-beta.9",
        "0.4.0-beta.10",
    ]
    explicit = OsVersionGetParams(platform="aarch64", source_version=Version.parse("0.3.0"))
    # The response filter still applies the device's own version.
    assert keys(os_version_get(index, explicit, dev)) == ["0.3.6"]


def test_os_version_get_legacy_url() -> None:
    dev = device("os.version=0.4.0-alpha.10&os.compat=*&os.platform=aarch64")
    result = os_version_get_json(os_index(), OsVersionGetParams(), dev)
    assert list(result) == ["0.3.6"]
    entry = result["0.3.6"]
    assert isinstance(entry, dict)
    assert entry["squashfs"] == {
        "aarch64": {**blake(5).to_dict(), "url": "https://img.example.com/5"}
    }
    plain = os_version_get_json(os_index(), OsVersionGetParams(platform="aarch64"))
    assert plain["0.3.6"] == os_index().os.versions[Version.parse("0.3.6")].to_dict()


def test_os_asset_get_and_signers() -> None:
    index = os_index()
    found = os_asset_get(
        index, "iso", OsAssetGetParams.from_json({"version": "0.4.0-beta.10", "platform": "x86_64"})
    )
    assert found == blake(2)
    for kind, params in [
        ("img", {"version": "0.4.0-beta.10", "platform": "x86_64"}),
        ("iso", {"version": "9.9.9", "platform": "x86_64"}),
    ]:
        with pytest.raises(QueryError) as e:
            os_asset_get(index, kind, OsAssetGetParams.from_json(params))
        assert e.value.kind == ErrorKind.NOT_FOUND
    assert os_version_signer_list(index, {"version": "0.4.0-beta.9"}) == {
        str(G): index.signers[G].to_dict()
    }
    assert os_version_signer_list(index, {"version": "0.3.6"}) == {}
    with pytest.raises(QueryError):
        os_version_signer_list(index, {"version": "1.0.0"})


def test_package_signer_list() -> None:
    info = PackageInfo({G: VersionRange.parse(">=1")}, {}, ())
    index = FullIndex(
        package=PackageIndex(packages={"a": info}), signers={G: SignerInfo("Admin", (), ())}
    )
    assert package_signer_list(index, {"id": "a"}) == {
        str(G): [{"name": "Admin", "contact": [], "keys": []}, ">=1:0"]
    }
    with pytest.raises(QueryError):
        package_signer_list(index, {"id": "b"})
    with pytest.raises(InvalidParamsError):
        package_signer_list(index, {})
