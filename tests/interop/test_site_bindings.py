"""Every registry JSON file a real build writes type-checks against start-sdk's bindings.

A site is built from real packages (variants, a flavor, dependencies, categories, a registry
co-signature, StartOS releases); each JSON file under the registry layout is declared as a
typed constant in one generated ``.ts`` file and checked with ``tsc --strict`` (excess
properties are errors), with only the corrections documented in ``test_ts_bindings.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_ts_bindings import OSB, tsc

from s9reg.builder import build_site
from s9reg.builder.settings import OsReleaseSettings
from s9reg.exver import Version, VersionRange

from helpers.buildkit import ADMIN, ALICE, REGISTRY, pkg, settings

pytestmark = pytest.mark.interop

EXTRA_IMPORTS = """\
import type {{ OsVersionInfo }} from '{osb}/OsVersionInfo';
import type {{ Blake3Commitment }} from '{osb}/Blake3Commitment';
type Map<T> = {{ [key: string]: T }};
"""

# Site path (regular expression) → TypeScript type of the file's JSON.
TYPES: list[tuple[str, str]] = [
    (r"index\.json", "FullIndex"),
    (r"[a-z0-9-]+/index\.json", "PackageInfo"),
    (r"rpc\.v0/info\.json", "RegistryInfo"),
    (r"rpc\.v0/package\.index\.json", "PackageIndex"),
    (r"rpc\.v0/package\.category\.list\.json", "Map<Category>"),
    (r"rpc\.v0/package\.get/_all/(none|short)\.json", "Map<GetPackageResponse>"),
    (r"rpc\.v0/package\.get/_all/full\.json", "Map<GetPackageResponseFull>"),
    (r"rpc\.v0/package\.get/[a-z0-9-]+/(version/.+\.)?(none|short)\.json", "GetPackageResponse"),
    (r"rpc\.v0/package\.get/[a-z0-9-]+/(version/.+\.)?full\.json", "GetPackageResponseFull"),
    (r"rpc\.v0/package\.signer\.list/[a-z0-9-]+\.json", "Map<[SignerInfo, string]>"),
    (r"rpc\.v0/os\.index\.json", "OsIndex"),
    (r"rpc\.v0/os\.version\.get/.+\.json", "Map<OsVersionInfo>"),
    (r"rpc\.v0/os\.asset\.get\.(iso|img|squashfs)/.+\.json", "RegistryAsset<Blake3Commitment>"),
]
# s9reg's own files, not registry documents.
OWN = {"s9reg-site.json"}


def _type_of(rel: str) -> str | None:
    for pattern, kind in TYPES:
        if re.fullmatch(pattern, rel):
            return kind
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("site")
    src = tmp / "src"
    src.mkdir()
    sources = [
        pkg(src, "hello_x86.s9pk", id_="hello", arches=("x86_64",), with_deps=True),
        pkg(src, "hello_arm.s9pk", id_="hello", arches=("aarch64",), with_deps=True),
        pkg(src, "hello-old.s9pk", ADMIN, id_="hello", version="1.0.0:0-beta.1", with_deps=True),
        pkg(src, "bitcoind.s9pk", ADMIN, id_="bitcoind", version="27.0.0:0"),
        pkg(src, "knots.s9pk", ADMIN, id_="bitcoind", version="#knots:27.1.0:0"),
        pkg(src, "wiki.s9pk", ALICE, id_="hello", version="1.1.0:0", with_deps=True),
    ]
    iso = tmp / "startos.iso"
    iso.write_bytes(b"iso" * 100)
    release = OsReleaseSettings(
        version=Version.parse("0.4.0-beta.1"),
        headline="v0.4.0-beta.1",
        release_notes="notes",
        source_version=VersionRange.parse(">=0.3.5:0"),
        images={"iso": {"x86_64": iso}, "squashfs": {"x86_64": iso, "raspberrypi": iso}},
    )
    s = settings(tmp, sources, registry_key=REGISTRY, os_releases=(release,))
    build_site(s)
    return s.output


def test_every_registry_document_type_checks(tmp_path: Path, site: Path) -> None:
    body = []
    seen: set[str] = set()
    for n, path in enumerate(sorted(site.rglob("*.json"))):
        rel = path.relative_to(site).as_posix()
        if rel in OWN:
            continue
        kind = _type_of(rel)
        if kind is None:
            if rel.startswith("rpc.v0/") or rel.count("/") <= 1:
                pytest.fail(f"{rel}: a registry document with no binding type in TYPES")
            continue  # catalogue data (search index and the like) is not a registry document
        seen.add(kind)
        value = json.loads(path.read_bytes())
        body.append(f"// {rel}\nexport const doc{n}: {kind} = {json.dumps(value, indent=1)};\n")
    assert {
        "FullIndex",
        "PackageInfo",
        "GetPackageResponse",
        "GetPackageResponseFull",
        "OsIndex",
        "Map<OsVersionInfo>",
        "RegistryAsset<Blake3Commitment>",
    } <= seen
    result = tsc(tmp_path, EXTRA_IMPORTS.format(osb=OSB.as_posix()) + "".join(body))
    assert result.returncode == 0, (result.stdout + result.stderr)[:4000]


def test_the_site_check_catches_a_wrong_document(tmp_path: Path, site: Path) -> None:
    value = json.loads((site / "rpc.v0/info.json").read_bytes())
    value["unexpected"] = 1
    body = f"export const bad: RegistryInfo = {json.dumps(value)};\n"
    result = tsc(tmp_path, EXTRA_IMPORTS.format(osb=OSB.as_posix()) + body)
    assert result.returncode != 0
    assert "unexpected" in result.stdout + result.stderr
