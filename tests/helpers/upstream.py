"""A second registry for registry-source and mirror tests: a site built and run by ``s9reg serve``.

:class:`Upstream` builds a site from packages it writes itself (signed by the test keys, with the
upstream's own registry key co-signing), serves it with :class:`s9reg.serve.BackgroundServer`
on 127.0.0.1 (files included), and can publish a new release or tamper with a file in place.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from s9reg.builder import BuildSettings, CategorySettings, build_site
from s9reg.builder.settings import OsReleaseSettings
from s9reg.exver import Version, VersionRange
from s9reg.registry import FullIndex, Guid, SignerInfo
from s9reg.registry.queries import PackageGetParams, package_get
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import LocaleString
from s9reg.serve import BackgroundServer, ServeSettings

from helpers.buildkit import ADMIN, ALICE, EPOCH, STRANGER, pkg

UPSTREAM_KEY = PrivateKey(b"\x21" * 32)
G_UP_ALICE = Guid.generate(b"upstream-alice")
G_UP_STRANGER = Guid.generate(b"upstream-stranger")
G_UP_ADMIN = Guid.generate(b"upstream-admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    """Packages ``hello`` 1.0.0, 1.1.0, 2.0.0 and ``#knots:1.5.0`` (Alice, two arches each),
    and ``other`` 1.0.0 signed by a stranger that only this upstream authorizes."""

    def __init__(self, root: Path, *, os_image_bytes: int = 0) -> None:
        self.root = root
        self.src = root / "src"
        self.src.mkdir(parents=True)
        self.site = root / "site"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for version in ("1.0.0:0", "1.1.0:0", "2.0.0:0", "#knots:1.5.0:0"):
            name = version.replace("#", "").replace(":", "_")
            for arch in ("x86_64", "aarch64"):
                pkg(self.src, f"hello_{name}_{arch}.s9pk", ALICE, version=version, arches=(arch,))
        pkg(self.src, "other_1.0.0.s9pk", STRANGER, id_="other")
        self.os_image: Path | None = None
        if os_image_bytes:
            self.os_image = root / "startos-0.4.0_x86_64.squashfs"
            self.os_image.write_bytes(os.urandom(os_image_bytes))
        self.build()

    def settings(self) -> BuildSettings:
        return BuildSettings(
            name="Upstream",
            api_url=self.url + "/",
            file_urls=(self.url + "/",),
            signers={
                G_UP_ADMIN: SignerInfo("Up Admin", (), (ADMIN.public_key.to_pem(),)),
                G_UP_ALICE: SignerInfo("Alice", (), (ALICE.public_key.to_pem(),)),
                G_UP_STRANGER: SignerInfo("Stranger", (), (STRANGER.public_key.to_pem(),)),
            },
            admins=frozenset({G_UP_ADMIN}),
            categories=(
                CategorySettings(
                    id="demo",
                    name=LocaleString.from_json({"en_US": "Demo", "de_DE": "Vorführung"}),
                    packages=("hello",),
                ),
            ),
            authorized={
                "hello": {G_UP_ALICE: VersionRange.any()},
                "other": {G_UP_STRANGER: VersionRange.any()},
            },
            sources=tuple(sorted(self.src.glob("*.s9pk"))),
            registry_key=UPSTREAM_KEY,
            os_releases=()
            if self.os_image is None
            else (
                OsReleaseSettings(
                    version=Version.parse("0.4.0"),
                    headline="v0.4.0",
                    source_version=VersionRange.any(),
                    images={"squashfs": {"x86_64": self.os_image}},
                ),
            ),
            output=self.site,
            source_date_epoch=EPOCH - 1000,
        )

    def build(self, **overrides: object) -> None:
        build_site(replace(self.settings(), **overrides))  # type: ignore[arg-type]

    def release(self, version: str) -> None:
        """Publish a new version of ``hello`` (both arches) and rebuild."""
        name = version.replace("#", "").replace(":", "_")
        for arch in ("x86_64", "aarch64"):
            pkg(self.src, f"hello_{name}_{arch}.s9pk", ALICE, version=version, arches=(arch,))
        self.build(source_date_epoch=EPOCH + 1000)

    def file(self, version: str, arch: str) -> Path:
        name = version.replace("#", "").replace(":", "_")
        return self.site / "hello" / version.removeprefix("#") / f"hello_{name}_{arch}.s9pk"

    @contextmanager
    def serving(self) -> Iterator[BackgroundServer]:
        settings = ServeSettings(site=str(self.site), port=self.port, client_timeout=5)
        with BackgroundServer(settings) as server:
            yield server


# --------------------------------------------------------------------------------------------
# A stand-in for upstream's start-registryd: its exact JSON shapes (registry-protocol.md §2)
# --------------------------------------------------------------------------------------------


def _upstream_version(info: dict[str, Any]) -> dict[str, Any]:
    """A PackageVersionInfo as start-registryd may write it, with fields s9reg never writes.

    ``sourceVersion`` set, the removed ``supportSite``/``docsUrls``/``alerts`` still present
    (an older registry), a device filter, and ``publishedAt`` with nanoseconds.
    """
    out = dict(info)
    out["sourceVersion"] = ">=0.1.0:0"
    out["supportSite"] = "https://support.example.com/"
    out["docsUrls"] = ["https://docs.example.com/"]
    out["alerts"] = {"install": None, "uninstall": "Back up first", "start": None}
    variants = []
    for hw, asset in out["s9pks"]:
        stamp = str(asset["publishedAt"]).removesuffix("Z")
        whole = stamp.split(".", 1)[0]
        variants.append(
            [
                {**hw, "device": [*hw["device"]]},
                {**asset, "publishedAt": f"{whole}.512345678Z", "x-future": 1},
            ]
        )
    out["s9pks"] = variants
    return out


def _versions(versions: dict[str, Any]) -> dict[str, Any]:
    return {v: _upstream_version(i) for v, i in versions.items()}


class _StandInHandler(BaseHTTPRequestHandler):
    site: Path

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet."""

    def do_GET(self) -> None:
        """start-registryd serves no files and no precomputed results."""
        self._send(404, b"Not Found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length))
        if self.path != "/rpc/v0":
            self._send(404, b"Not Found", "text/plain")
            return
        method, params = request["method"], request.get("params") or {}
        index = FullIndex.from_dict(json.loads((self.site / "index.json").read_bytes()))
        try:
            result = self._answer(index, method, params)
        except KeyError:
            error = {"code": -32601, "message": "Method not found", "data": {"details": method}}
            body = {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
        else:
            body = {"jsonrpc": "2.0", "id": request.get("id"), "result": result}
        self._send(200, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _answer(index: FullIndex, method: str, params: dict[str, Any]) -> Any:
        if method == "info":
            return {**index.info().to_dict(), "x-motd": "unknown to s9reg"}
        if method == "package.index":
            raw: dict[str, Any] = index.package.to_dict()
            for info in raw["packages"].values():
                info["versions"] = _versions(info["versions"])
            return raw
        if method == "package.get":
            got = package_get(index, PackageGetParams.from_json(params))
            assert not isinstance(got, dict)
            answer: dict[str, Any] = got.to_dict()
            answer["best"] = _versions(answer["best"])
            if params.get("otherVersions") == "full":
                answer["otherVersions"] = _versions(answer["otherVersions"])
            return answer
        if method == "package.signer.list":
            info = index.package.packages.get(params["id"])
            scopes = info.authorized if info is not None else {}
            return {
                str(g): [index.signers[g].to_dict(), str(r)]
                for g, r in scopes.items()
                if g in index.signers
            }
        if method == "os.index":
            return index.os.to_dict()
        raise KeyError(method)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def stand_in(site: Path) -> Iterator[str]:
    """A start-registryd stand-in over ``site``'s index (read at every request); its URL."""
    handler = type("H", (_StandInHandler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
