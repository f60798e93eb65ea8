"""The registry model's JSON type-checks against start-sdk's generated ``osBindings`` types.

Documents built with :mod:`s9reg.registry` are written into a ``.ts`` file as typed constants
(object literals, so an extra or misspelt key is an error) and checked with ``tsc --strict``.
Where a binding disagrees with the Rust struct the devices run, the type is corrected below and
the correction is listed in ``CORRECTIONS`` (exver-notes.md, "The TypeScript bindings are
stricter than Rust in places"); the output itself is never bent to the TS types.
"""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

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
    SignerInfo,
    dump_json,
    packages_response_to_dict,
)
from s9reg.s9pk.commitment import Blake3Commitment
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import DeviceFilter, HardwareRequirements, LocaleString
from s9reg.s9pk.package import S9pk
from s9reg.s9pk.writer import write_archive

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
TSC = HERE / "node_modules" / ".bin" / "tsc"
OSB = HERE / "node_modules/@start9labs/start-sdk/node_modules/@start9labs/start-core/osBindings"
HINT = "run `npm ci --prefix tests/interop` (needs Node >= 20 and npm)"
KEY = PrivateKey(bytes(range(32)))
DEV_KEY = PrivateKey(bytes(range(2, 34)))
WHEN = datetime(2026, 6, 30, 18, 22, 41, 512345, tzinfo=UTC)

# Bindings whose hand-written ts-rs overrides disagree with the Rust structs (the wire truth).
CORRECTIONS = {
    "PackageVersionInfo.marketingUrl": "Rust Option<Url>: null is valid; TS says string",
    "DeviceFilter.capabilities": "Rust Option without skip_serializing_if: null on the wire; TS says ?: string[]",
    "DeviceFilter.driver": "Rust Option without skip_serializing_if: null on the wire; TS says ?: string",
}

PRELUDE = """\
import type {{ FullIndex as RawFullIndex }} from '{osb}/FullIndex';
import type {{ PackageIndex as RawPackageIndex }} from '{osb}/PackageIndex';
import type {{ PackageInfo as RawPackageInfo }} from '{osb}/PackageInfo';
import type {{ PackageVersionInfo as RawPackageVersionInfo }} from '{osb}/PackageVersionInfo';
import type {{ HardwareRequirements as RawHardwareRequirements }} from '{osb}/HardwareRequirements';
import type {{ DeviceFilter as RawDeviceFilter }} from '{osb}/DeviceFilter';
import type {{ GetPackageResponse as RawGetPackageResponse }} from '{osb}/GetPackageResponse';
import type {{ GetPackageResponseFull as RawGetPackageResponseFull }} from '{osb}/GetPackageResponseFull';
import type {{ RegistryAsset }} from '{osb}/RegistryAsset';
import type {{ MerkleArchiveCommitment }} from '{osb}/MerkleArchiveCommitment';
import type {{ RegistryInfo }} from '{osb}/RegistryInfo';
import type {{ OsIndex }} from '{osb}/OsIndex';
import type {{ SignerInfo }} from '{osb}/SignerInfo';
import type {{ Category }} from '{osb}/Category';

// Corrections (see CORRECTIONS in test_ts_bindings.py): only the listed fields change.
type DeviceFilter = Omit<RawDeviceFilter, 'capabilities' | 'driver'> & {{
  capabilities?: string[] | null;
  driver?: string | null;
}};
type HardwareRequirements = Omit<RawHardwareRequirements, 'device'> & {{ device: DeviceFilter[] }};
type PackageVersionInfo = Omit<RawPackageVersionInfo, 'marketingUrl' | 's9pks'> & {{
  marketingUrl: string | null;
  s9pks: Array<[HardwareRequirements, RegistryAsset<MerkleArchiveCommitment>]>;
}};
type Versions = {{ [key: string]: PackageVersionInfo }};
type PackageInfo = Omit<RawPackageInfo, 'versions'> & {{ versions: Versions }};
type PackageIndex = Omit<RawPackageIndex, 'packages'> & {{ packages: {{ [key: string]: PackageInfo }} }};
type FullIndex = Omit<RawFullIndex, 'package'> & {{ package: PackageIndex }};
type GetPackageResponse = Omit<RawGetPackageResponse, 'best'> & {{ best: Versions }};
type GetPackageResponseFull = Omit<RawGetPackageResponseFull, 'best' | 'otherVersions'> & {{
  best: Versions;
  otherVersions: Versions;
}};
"""


def read(pid: str, version: str, arches: tuple[str, ...], **overrides: object) -> S9pk:
    tree = demo_package_tree(
        pid, version, arches=arches, with_deps=pid == "hello", manifest_overrides=overrides or None
    )
    buf = io.BytesIO()
    write_archive(buf, tree, DEV_KEY)
    buf.seek(0)
    return S9pk.read(buf)


def variant_info(pid: str, version: str, **overrides: object) -> PackageVersionInfo:
    """A version with three hardware variants, sorted as upstream's merge_with sorts them."""
    variants = []
    for arches in (("x86_64",), ("aarch64",)):
        pkg = read(pid, version, arches, **overrides)
        url = f"https://cdn.example.com/{pid}/{version}/{pid}_{arches[0]}.s9pk"
        extra = {KEY.public_key.to_pem(): pkg.commitment.sign(KEY).to_pem()}
        info = PackageVersionInfo.from_s9pk(pkg, [url, url.replace("cdn", "mirror")], WHEN, extra)
        variants.append(info.s9pks[0])
    gpu = HardwareRequirements(
        (DeviceFilter("NVIDIA GPU", "display", None, "(?i)nvidia", ("cuda",), "nvidia"),),
        8 << 30,
        ("x86_64",),
    )
    variants.insert(0, (gpu, variants[0][1]))
    base = PackageVersionInfo.from_s9pk(read(pid, version, ("x86_64",), **overrides), [], WHEN)
    return PackageVersionInfo(**{**_fields(base), "s9pks": tuple(variants)})


def _fields(info: PackageVersionInfo) -> dict[str, object]:
    return {name: getattr(info, name) for name in PackageVersionInfo.__dataclass_fields__}


def os_asset(seed: int) -> RegistryAsset[Blake3Commitment]:
    c = Blake3Commitment(bytes([seed]) * 32, 1 << 31)
    url = f"https://images.example.com/v0.4.0/startos-{seed}.iso"
    return RegistryAsset(WHEN, (url,), c, {KEY.public_key.to_pem(): c.sign(KEY).to_pem()})


def documents() -> dict[str, tuple[str, object]]:
    hello = {
        VersionString.parse(v): variant_info("hello", v, plugins=["url-v0"])
        for v in ("1.0.0:0", "1.1.0:0")
    }
    no_marketing = {"marketingUrl": None, "satisfies": ["27.0.0:0"]}
    bitcoind = {
        VersionString.parse(v): variant_info("bitcoind", v, **no_marketing)
        for v in ("#knots:27.1.0:0", "27.0.0:1", "26.1.0:0")
    }
    admin, dev = Guid.generate(b"admin"), Guid.generate(b"dev")
    index = FullIndex(
        "Example Registry — ünïcode",
        "data:image/png;base64,iVBORw0KGgo=",
        PackageIndex(
            {
                "bitcoin": Category(LocaleString("Bitcoin")),
                "ai": Category(LocaleString((("en_US", "AI"), ("de_DE", "KI")))),
            },
            {
                "hello": PackageInfo({dev: VersionRange.parse("^1")}, hello, ("utilities",)),
                "bitcoind": PackageInfo(
                    {admin: VersionRange.parse("*"), dev: VersionRange.parse("#knots")},
                    bitcoind,
                    ("bitcoin", "featured"),
                ),
            },
        ),
        OsIndex(
            {
                Version.parse("0.4.0-beta.10"): OsVersionInfo(
                    "v0.4.0-beta.10",
                    "",
                    VersionRange.parse(">=0.3.5 <=0.4.0-beta.10"),
                    (admin,),
                    iso={"x86_64": os_asset(1)},
                    squashfs={"x86_64": os_asset(2), "x86_64-nonfree": os_asset(3)},
                    img={"raspberrypi": os_asset(4)},
                )
            }
        ),
        {
            admin: SignerInfo(
                "Admin",
                (
                    ContactInfo("email", "a@example.com"),
                    ContactInfo("website", "https://a.example/"),
                ),
                (KEY.public_key.to_pem(),),
            ),
            dev: SignerInfo(
                "Dev", (ContactInfo("matrix", "@dev:example.com"),), (DEV_KEY.public_key.to_pem(),)
            ),
        },
    )
    best = {k: bitcoind[k] for k in list(bitcoind)[:2]}
    older = VersionString.parse("26.1.0:0")
    none = GetPackageResponse(("bitcoin",), best)
    short = GetPackageResponse(
        ("bitcoin",), best, {older: PackageInfoShort(bitcoind[older].release_notes)}
    )
    full = GetPackageResponseFull(("bitcoin",), best, {older: bitcoind[older]})
    unknown = GetPackageResponse((), {}, {})
    return {
        "fullIndex": ("FullIndex", json.loads(dump_json(index))),
        "registryInfo": ("RegistryInfo", json.loads(dump_json(index.info()))),
        "osIndex": ("OsIndex", json.loads(dump_json(index.os))),
        "packageIndex": ("PackageIndex", json.loads(dump_json(index.package))),
        "signers": (
            "{ [key: string]: SignerInfo }",
            {str(g): s.to_dict() for g, s in index.signers.items()},
        ),
        "categories": ("{ [key: string]: Category }", index.info().to_dict()["categories"]),
        "getNone": ("GetPackageResponse", none.to_dict()),
        "getShort": ("GetPackageResponse", short.to_dict()),
        "getUnknown": ("GetPackageResponse", unknown.to_dict()),
        "getFull": ("GetPackageResponseFull", full.to_dict()),
        "getAllShort": (
            "{ [key: string]: GetPackageResponse }",
            packages_response_to_dict({"bitcoind": short}),
        ),
        "getAllFull": (
            "{ [key: string]: GetPackageResponseFull }",
            packages_response_to_dict({"bitcoind": full}),
        ),
    }


def tsc(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    if not TSC.is_file() or not (OSB / "FullIndex.d.ts").is_file():
        pytest.fail(f"tests/interop/node_modules (tsc, start-sdk osBindings) not found; {HINT}")
    source = tmp_path / "documents.ts"
    source.write_text(PRELUDE.format(osb=OSB.as_posix()) + body, encoding="utf-8")
    command = [
        str(TSC),
        "--strict",
        "--noEmit",
        "--skipLibCheck",
        "--target",
        "es2022",
        "--module",
        "esnext",
        "--moduleResolution",
        "bundler",
        str(source),
    ]
    return subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )


def constants(docs: dict[str, tuple[str, object]]) -> str:
    return "".join(
        f"export const {name}: {kind} = {json.dumps(value, ensure_ascii=False, indent=1)};\n"
        for name, (kind, value) in docs.items()
    )


@pytest.fixture(scope="module")
def docs() -> dict[str, tuple[str, object]]:
    return documents()


def test_documents_match_the_bindings(tmp_path: Path, docs: dict[str, tuple[str, object]]) -> None:
    result = tsc(tmp_path, constants(docs))
    assert result.returncode == 0, result.stdout + result.stderr


def test_documents_exercise_the_corrections(docs: dict[str, tuple[str, object]]) -> None:
    text = json.dumps(docs["fullIndex"][1])
    assert '"marketingUrl": null' in text
    assert '"capabilities": ["cuda"]' in text
    assert '"marketingUrl": "https://' in text


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        pytest.param(lambda v: v.update(nestedRuntime=False), "nestedRuntime", id="excess-key"),
        pytest.param(lambda v: v.pop("icon"), "icon", id="missing-key"),
        pytest.param(lambda v: v.update(plugins=["other"]), "other", id="wrong-value"),
        pytest.param(lambda v: v.update(releaseNotes=3), "LocaleString", id="wrong-type"),
    ],
)
def test_the_check_catches_bad_documents(
    tmp_path: Path, docs: dict[str, tuple[str, object]], edit: object, error: str
) -> None:
    kind, value = docs["getFull"]
    bad = json.loads(json.dumps(value))
    version_info = next(iter(bad["best"].values()))
    edit(version_info)  # type: ignore[operator]
    result = tsc(tmp_path, constants({"bad": (kind, bad)}))
    assert result.returncode != 0
    assert "error TS" in result.stdout
    assert error in result.stdout


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("marketingUrl", None, id="marketingUrl"),
        pytest.param("capabilities", None, id="capabilities"),
        pytest.param("driver", None, id="driver"),
        pytest.param("driver", "nvidia", id="control-raw-types-accept-the-rest"),
    ],
)
def test_each_correction_is_needed(
    tmp_path: Path, docs: dict[str, tuple[str, object]], field: str, value: object
) -> None:
    """The uncorrected bindings refuse what Rust emits, for each listed correction."""
    _, full = docs["getFull"]
    doc = json.loads(json.dumps(full))
    for version_info in [*doc["best"].values(), *doc["otherVersions"].values()]:
        if field == "marketingUrl":
            version_info[field] = value
            version_info["s9pks"] = [v for v in version_info["s9pks"] if not v[0]["device"]]
        else:
            version_info["marketingUrl"] = "https://example.com/"
            device = version_info["s9pks"][0][0]["device"][0]
            device.update(capabilities=["cuda"], driver="nvidia")
            device[field] = value
    assert tsc(tmp_path, constants({"ok": ("GetPackageResponseFull", doc)})).returncode == 0
    result = tsc(tmp_path, constants({"raw": ("RawGetPackageResponseFull", doc)}))
    if value is not None:
        assert result.returncode == 0, result.stdout
        return
    assert result.returncode != 0
    assert "error TS" in result.stdout
