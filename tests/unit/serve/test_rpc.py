"""JSON-RPC through a real server: every method against an independent computation, and errors."""

from __future__ import annotations

import copy
import io
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from serve_client import (
    ADMIN,
    DEV,
    G_ADMIN,
    G_DEV,
    PACKAGES,
    STRANGER,
    BuiltSite,
    catalogue,
    result,
    rpc,
    rpc_error,
)

from s9reg.exver import ExtendedVersion, Version, VersionRange, VersionString
from s9reg.registry import RegistryAsset
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.reader import read_archive
from s9reg.serve import BackgroundServer
from s9reg.serve.auth import sign_request

CURRENT = (
    "os.version=0.4.0-beta.10&os.compat=%3E%3D0.3.0%3A0+%3C%3D0.4.0-beta.10%3A0"
    "&os.platform=x86_64-nonfree&os.language=de_DE"
)


@pytest.fixture(scope="module")
def index(built_site: BuiltSite) -> dict[str, Any]:
    return json.loads((built_site.path / "index.json").read_bytes())  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# The oracle: package.get computed here from index.json, by the spec's rules (§2.4, §1.4.1)
# --------------------------------------------------------------------------------------------


def _localize(value: Any, locale: str) -> Any:
    if not isinstance(value, dict):
        return value
    if locale in value:
        return value[locale]
    prefix = locale.split("_", maxsplit=1)[0] + "_"
    for k, v in value.items():
        if k.startswith(prefix):
            return v
    return next(iter(value.values()), "")


def _for_device(info: dict[str, Any], device: dict[str, Any]) -> dict[str, Any] | None:
    if not VersionRange.parse(device["compat"]).satisfied_by(Version.parse(info["osVersion"])):
        return None
    arch = device.get("arch")
    if arch is None:
        return info
    out = copy.deepcopy(info)
    out["s9pks"] = sorted(
        (v for v in info["s9pks"] if v[0]["arch"] is None or arch in v[0]["arch"]),
        key=lambda v: (
            len(v[0]["device"]),
            len(v[0]["arch"]) if v[0]["arch"] else 2**32 - 1,
            v[0]["ram"] or 0,
        ),
    )
    if not out["s9pks"]:
        return None
    lang = device["language"]
    out["releaseNotes"] = _localize(out["releaseNotes"], lang)
    out["description"] = {k: _localize(v, lang) for k, v in out["description"].items()}
    for dep in out["dependencyMetadata"].values():
        dep["title"] = _localize(dep["title"], lang)
        dep["description"] = _localize(dep["description"], lang)
    return out


def _legacy(info: dict[str, Any]) -> dict[str, Any]:
    hw, asset = info["s9pks"][0]
    return {**info, "s9pk": {**asset, "url": asset["urls"][0]}, "hardwareRequirements": hw}


def oracle(
    index: dict[str, Any],
    pid: str | None,
    *,
    target: str | None = None,
    source: str | None = None,
    level: str = "short",
    device: dict[str, Any] | None = None,
) -> Any:
    packages = index["package"]["packages"]
    out: dict[str, Any] = {}
    for p in [pid] if pid else sorted(packages):
        if p not in packages:
            continue
        matches: dict[str, Any] = {}
        for v, info in packages[p]["versions"].items():
            ev = ExtendedVersion.parse(v)
            if target is not None and not VersionRange.parse(target).satisfied_by(ev):
                continue
            accepted = VersionRange.parse(info["sourceVersion"] or "*")
            if source is not None and not accepted.satisfied_by(ExtendedVersion.parse(source)):
                continue
            kept = info if device is None else _for_device(info, device)
            if kept is not None:
                matches[v] = kept
        if not matches and pid is None:
            continue
        top: dict[str | None, str] = {}
        for v in matches:
            ev = ExtendedVersion.parse(v)
            if ev.flavor not in top or ev > ExtendedVersion.parse(top[ev.flavor]):
                top[ev.flavor] = v
        best = {v: matches[v] for v in top.values()}
        other = {v: i for v, i in matches.items() if v not in best}
        entry: dict[str, Any] = {"categories": packages[p]["categories"], "best": best}
        if level == "short":
            entry["otherVersions"] = {
                v: {"releaseNotes": i["releaseNotes"]} for v, i in other.items()
            }
        elif level == "full":
            entry["otherVersions"] = other
        if device is not None and device.get("legacy"):
            for group in ("best", "otherVersions") if level == "full" else ("best",):
                entry[group] = {v: _legacy(i) for v, i in entry[group].items()}
        out[p] = entry
    if pid is None:
        return out
    empty = {"categories": [], "best": {}} | ({} if level == "none" else {"otherVersions": {}})
    return out.get(pid, empty)


def assert_version_order(value: Any) -> None:
    for key in ("best", "otherVersions"):
        if key in value:
            keys = list(value[key])
            assert keys == sorted(keys, key=lambda v: VersionString.parse(v).sort_key)


# --------------------------------------------------------------------------------------------
# Methods against the oracle
# --------------------------------------------------------------------------------------------


def test_registry_has_the_intended_shape(index: dict[str, Any]) -> None:
    packages = index["package"]["packages"]
    assert len(packages) == PACKAGES
    assert sum(len(p["versions"]) for p in packages.values()) == len(
        {(c[0], c[1]) for c in catalogue()}
    )
    assert len(packages["pkg04"]["versions"]["1.1.0:0"]["s9pks"]) == 2
    assert "#knots:1.0.0:0" in packages["pkg05"]["versions"]


@pytest.mark.parametrize("level", ["none", "short", "full", None])
def test_package_get_every_package_without_header(
    server: BackgroundServer, index: dict[str, Any], level: str | None
) -> None:
    expected_level = level or "short"
    got_all = result(server.url, "package.get", {"id": None, "otherVersions": level})
    assert got_all == oracle(index, None, level=expected_level)
    for i in range(PACKAGES):
        pid = f"pkg{i:02d}"
        got = result(
            server.url,
            "package.get",
            {"id": pid, "targetVersion": None, "sourceVersion": None, "otherVersions": level},
        )
        assert got == oracle(index, pid, level=expected_level)
        assert_version_order(got)


@pytest.mark.parametrize(
    ("header", "device"),
    [
        pytest.param(CURRENT, {"compat": ">=0.3.0:0 <=0.4.0-beta.10:0"}, id="current device"),
        pytest.param(
            CURRENT + "&hardware.arch=aarch64&hardware.ram=4000000000",
            {"compat": ">=0.3.0:0 <=0.4.0-beta.10:0", "arch": "aarch64", "language": "de_DE"},
            id="device with hardware",
        ),
        pytest.param(
            "os.version=0.3.6&os.compat=%3E%3D0.3.0%3A0+%3C%3D0.3.6%3A0&os.platform=x86_64",
            {"compat": ">=0.3.0:0 <=0.3.6:0", "legacy": True},
            id="old OS",
        ),
    ],
)
@pytest.mark.parametrize("level", ["none", "short", "full"])
def test_package_get_with_device_header(
    server: BackgroundServer, index: dict[str, Any], header: str, device: dict[str, Any], level: str
) -> None:
    headers = {"X-StartOS-Device-Info": header}
    got_all = result(server.url, "package.get", {"otherVersions": level}, headers)
    assert got_all == oracle(index, None, level=level, device=device)
    for pid in ("pkg00", "pkg03", "pkg04", "pkg05", "pkg07"):
        got = result(server.url, "package.get", {"id": pid, "otherVersions": level}, headers)
        assert got == oracle(index, pid, level=level, device=device)
        assert_version_order(got)


@pytest.mark.parametrize(
    ("params", "kwargs"),
    [
        pytest.param(
            {"id": "pkg00", "targetVersion": "=1.0.0:0"},
            {"target": "=1.0.0:0"},
            id="exact older version",
        ),
        pytest.param(
            {"id": "pkg00", "targetVersion": "=1.0:0"},
            {"target": "=1.0:0"},
            id="exact, other spelling",
        ),
        pytest.param(
            {"id": "pkg05", "targetVersion": "#knots"}, {"target": "#knots"}, id="flavor only"
        ),
        pytest.param({"targetVersion": "<1.1"}, {"target": "<1.1"}, id="range over all packages"),
        pytest.param(
            {"id": "pkg03", "sourceVersion": "1.0.0:0"}, {"source": "1.0.0:0"}, id="upgrade from"
        ),
        pytest.param({"id": "nope"}, {}, id="unknown id"),
        pytest.param({"targetVersion": ">=9"}, {"target": ">=9"}, id="nothing matches"),
    ],
)
def test_package_get_filters(
    server: BackgroundServer, index: dict[str, Any], params: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    for level in ("none", "short", "full"):
        got = result(server.url, "package.get", {**params, "otherVersions": level})
        assert got == oracle(index, params.get("id"), level=level, **kwargs)


def test_unknown_id_exact_shape(server: BackgroundServer) -> None:
    assert result(server.url, "package.get", {"id": "nope"}) == {
        "categories": [],
        "best": {},
        "otherVersions": {},
    }


def test_other_public_methods(server: BackgroundServer, index: dict[str, Any]) -> None:
    categories = index["package"]["categories"]
    assert result(server.url, "info") == {
        "name": "Serve Test Registry",
        "icon": None,
        "categories": categories,
    }
    assert result(server.url, "package.index") == index["package"]
    assert result(server.url, "package.category.list") == categories
    assert result(server.url, "os.index") == {"versions": {}}
    assert result(server.url, "os.version.get", {}) == {}
    assert result(server.url, "os.version.get", {}, {"X-StartOS-Device-Info": CURRENT}) == {}
    dev = index["signers"][str(G_DEV)]
    assert result(server.url, "package.signer.list", {"id": "pkg01"}) == {str(G_DEV): [dev, "*"]}
    assert result(server.url, "package.signer.list", {"id": "pkg02"}) == {}
    assert rpc_error(server.url, "package.signer.list", {"id": "nope"})["code"] == 6
    for kind in ("iso", "img", "squashfs"):
        error = rpc_error(
            server.url, f"os.asset.get.{kind}", {"version": "0.4.0", "platform": "x86_64"}
        )
        assert error["code"] == 6
        assert error["message"] == "Not Found"
        assert set(error["data"]) == {"details", "debug", "info"}
    assert rpc_error(server.url, "os.version.signer.list", {"version": "0.4.0"})["code"] == 6


# --------------------------------------------------------------------------------------------
# index: signed requests only (§1.6)
# --------------------------------------------------------------------------------------------


def _signed(
    url: str,
    key: Any,
    context: str = "registry.example.com",
    *,
    timestamp: int | None = None,
    tamper: bool = False,
) -> dict[str, Any]:
    body = json.dumps({"id": 0, "method": "index", "params": {}}).encode()
    header = sign_request(key, body, context, timestamp=timestamp, nonce=42)
    sent = body.replace(b"{}", b"{ }") if tamper else body
    r = rpc(url, sent, {"X-StartOS-Auth-Sig": header})
    assert r.status == 200
    return r.json()  # type: ignore[no-any-return]


def test_index_accepts_a_registered_signer(server: BackgroundServer, built_site: BuiltSite) -> None:
    for key in (ADMIN, DEV):
        doc = _signed(server.url, key)
        assert doc["result"] == json.loads((built_site.path / "index.json").read_bytes())
    # The Host the client addressed is also a valid context.
    assert "result" in _signed(server.url, ADMIN, "127.0.0.1")
    assert G_ADMIN in {str(g) for g in doc["result"]["signers"]}


@pytest.mark.parametrize(
    ("key", "kwargs", "code"),
    [
        pytest.param(STRANGER, {}, 34, id="unregistered key"),
        pytest.param(ADMIN, {"context": "evil.example.com"}, 34, id="other host name"),
        pytest.param(ADMIN, {"timestamp": int(time.time()) - 120}, 31, id="stale timestamp"),
        pytest.param(ADMIN, {"tamper": True}, 31, id="body changed after signing"),
    ],
)
def test_index_refuses(
    server: BackgroundServer, key: Any, kwargs: dict[str, Any], code: int
) -> None:
    doc = _signed(server.url, key, **kwargs)
    assert doc["error"]["code"] == code
    assert "result" not in doc


def test_index_without_signature_is_unauthorized(server: BackgroundServer) -> None:
    error = rpc_error(server.url, "index", {})
    assert error == {"code": 34, "message": "Unauthorized", "data": error["data"]}
    garbled = rpc(
        server.url,
        {"id": 1, "method": "index", "params": {}},
        {"X-StartOS-Auth-Sig": "timestamp=x"},
    )
    assert garbled.json()["error"]["code"] == 28


# --------------------------------------------------------------------------------------------
# A client that behaves like a StartOS device (§4.1, §4.3)
# --------------------------------------------------------------------------------------------


class Device:
    """Strict response checks, local filtering, s9pks[0], URL fallback, full verification."""

    def __init__(self, url: str, arch: str) -> None:
        self.url = url
        self.arch = arch
        self.header = CURRENT

    def call(self, method: str, params: dict[str, Any]) -> Any:
        body = json.dumps({"id": 0, "method": method, "params": params}).encode()
        req = urllib.request.Request(
            self.url + "/rpc/v0",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-StartOS-Device-Info": self.header,
            },
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert 200 <= r.status < 300
            assert r.headers["Content-Type"] == "application/json"  # byte for byte
            doc = json.loads(r.read())
        assert doc["jsonrpc"] == "2.0"
        assert "id" in doc
        assert ("result" in doc) != ("error" in doc)
        assert "result" in doc, doc
        return doc["result"]

    def pick(self, info: dict[str, Any]) -> dict[str, Any]:
        variants = [v for v in info["s9pks"] if v[0]["arch"] is None or self.arch in v[0]["arch"]]
        variants.sort(
            key=lambda v: (
                len(v[0]["device"]),
                len(v[0]["arch"] or []) or 2**32 - 1,
                v[0]["ram"] or 0,
            )
        )
        assert variants, f"no variant for {self.arch}"
        return variants[0][1]  # type: ignore[no-any-return]

    def download(self, urls: list[str]) -> bytes:
        errors = []
        for url in urls:
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    data = r.read()
                    assert len(data) == int(r.headers["Content-Length"])
                    return data  # type: ignore[no-any-return]
            except (urllib.error.URLError, OSError) as e:
                errors.append(e)
        raise AssertionError(f"every URL failed: {errors}")

    def install(self, pid: str, version: str, source: str | None = None) -> dict[str, Any]:
        got = self.call(
            "package.get",
            {
                "id": pid,
                "targetVersion": f"={version}",
                "sourceVersion": source,
                "otherVersions": "none",
            },
        )
        info = got["best"][version]
        raw = self.pick(info)
        asset = RegistryAsset.from_dict(raw, MerkleArchiveCommitment)
        asset.verify()  # every listed signature, at least one
        assert len(asset.signatures) == 2  # developer and registry
        assert raw["urls"][0].startswith("http://127.0.0.1:9/")
        data = self.download(raw["urls"])
        archive = read_archive(io.BytesIO(data), commitment=asset.commitment)
        archive.verify_all()
        manifest = json.loads(archive.read_file("manifest.json"))
        assert manifest["id"] == pid
        assert ExtendedVersion.parse(manifest["version"]) == ExtendedVersion.parse(version)
        assert (
            manifest["hardwareRequirements"]["arch"] is None
            or self.arch in manifest["hardwareRequirements"]["arch"]
        )
        return manifest  # type: ignore[no-any-return]


def test_device_installs_every_package(server: BackgroundServer) -> None:
    device = Device(server.url, "x86_64")
    listing = device.call(
        "package.get",
        {"id": None, "targetVersion": None, "sourceVersion": None, "otherVersions": "short"},
    )
    assert len(listing) == PACKAGES
    installed = 0
    for pid, entry in listing.items():
        for version in entry["best"]:
            # What the OS offers: the best version compatible with its OS (0.4.1 packages are hidden).
            assert VersionRange.parse(">=0.3.0:0 <=0.4.0-beta.10:0").satisfied_by(
                Version.parse(entry["best"][version]["osVersion"])
            )
            device.install(pid, version)
            installed += 1
    assert installed == PACKAGES + len([i for i in range(PACKAGES) if i % 5 == 0])


def test_device_install_scenarios(server: BackgroundServer) -> None:
    x86 = Device(server.url, "x86_64")
    arm = Device(server.url, "aarch64")
    assert x86.install("pkg00", "1.0.0:0")["osVersion"] == "0.3.5"  # older version, exact target
    x86.install("pkg03", "1.1.0:0", source="1.0.0:0")  # upgrade from the installed version
    assert x86.install("pkg05", "#knots:1.0.0:0")["version"] == "#knots:1.0.0:0"  # flavor
    # Multi-arch: version 1.1.0 of pkg04 is two files; each device gets its own.
    assert x86.install("pkg04", "1.1.0:0")["hardwareRequirements"]["arch"] == ["x86_64"]
    assert arm.install("pkg04", "1.1.0:0")["hardwareRequirements"]["arch"] == ["aarch64"]


def test_install_requests_are_counted(server: BackgroundServer) -> None:
    metrics = server.app.metrics
    before = metrics.value("s9reg_package_install_requests_total", "pkg10", "1.0.0:0")
    result(
        server.url,
        "package.get",
        {"id": "pkg10", "targetVersion": "=1.0.0:0", "otherVersions": "none"},
    )
    assert metrics.value("s9reg_package_install_requests_total", "pkg10", "1.0.0:0") == before + 1
    result(
        server.url, "os.version.get", {"serverId": "secret-id"}, {"X-StartOS-Device-Info": CURRENT}
    )
    assert metrics.value("s9reg_os_update_checks_total", "x86_64-nonfree", "0.4.0-beta.10") >= 1
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 's9reg_package_install_requests_total{package="pkg10",version="1.0.0:0"}' in text
    assert 's9reg_rpc_requests_total{method="package.get"}' in text
    assert "secret-id" not in text


# --------------------------------------------------------------------------------------------
# Legacy devices and localization through the server
# --------------------------------------------------------------------------------------------


def test_legacy_device_gets_single_asset_fields(server: BackgroundServer) -> None:
    header = "os.version=0.4.0-alpha.16&os.compat=%3E%3D0.3.0%3A0&os.platform=x86_64"
    got = result(
        server.url,
        "package.get",
        {"id": "pkg04", "otherVersions": "none"},
        {"X-StartOS-Device-Info": header},
    )
    entry = got["best"]["1.1.0:0"]
    assert entry["hardwareRequirements"] == entry["s9pks"][0][0]
    assert entry["s9pk"]["url"] == entry["s9pks"][0][1]["urls"][0]


def test_old_device_with_hardware_gets_localized_texts(server: BackgroundServer) -> None:
    header = "os.version=0.4.0-alpha.5&os.compat=%3E%3D0.3.0%3A0&os.platform=x86_64&hardware.arch=x86_64&hardware.ram=1"
    got = result(
        server.url,
        "package.get",
        {"id": "pkg00", "targetVersion": "=1.0.0:0", "otherVersions": "none"},
        {"X-StartOS-Device-Info": header},
    )
    short = got["best"]["1.0.0:0"]["description"]["short"]
    # No os.language and older than alpha.18: the server's default language (en_US).
    assert short == "Pkg00, a demo package"
