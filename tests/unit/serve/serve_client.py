"""HTTP helpers for the serve tests: raw requests with http.client, and the test registry."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s9reg.builder import BuildSettings, CategorySettings, build_site
from s9reg.exver import VersionRange
from s9reg.registry import Guid, SignerInfo
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import LocaleString
from s9reg.s9pk.writer import write_archive_file

ADMIN = PrivateKey(b"\x21" * 32)
DEV = PrivateKey(b"\x22" * 32)
REGISTRY_KEY = PrivateKey(b"\x23" * 32)
STRANGER = PrivateKey(b"\x24" * 32)
G_ADMIN = Guid.generate(b"serve-admin")
G_DEV = Guid.generate(b"serve-dev")
# Nothing listens on the discard port: the first URL of every asset is dead.
DEAD_BASE = "http://127.0.0.1:9/dead"
EPOCH = 1_750_000_000
PACKAGES = 50


@dataclass(frozen=True)
class BuiltSite:
    path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def rpc(
    url: str, body: bytes | dict[str, Any] | list[Any], headers: dict[str, str] | None = None
) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(
        url, "POST", "/rpc/v0", raw, {"Content-Type": "application/json", **(headers or {})}
    )


def result(
    url: str,
    method: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    r = rpc(url, {"id": 0, "method": method, "params": params or {}}, headers)
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    assert "result" in doc, doc
    return doc["result"]


def rpc_error(
    url: str, method: str, params: object = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    r = rpc(url, {"id": 1, "method": method, "params": params}, headers)
    assert r.status == 200
    doc = r.json()
    assert "error" in doc, doc
    assert doc["id"] == 1
    return doc["error"]  # type: ignore[no-any-return]


def catalogue() -> list[tuple[str, str, tuple[str, ...], dict[str, Any], bool]]:
    """(id, version, arches, manifest overrides, with dependencies) of the test registry."""
    out: list[tuple[str, str, tuple[str, ...], dict[str, Any], bool]] = []
    for i in range(PACKAGES):
        pid = f"pkg{i:02d}"
        deps = i % 7 == 0
        out.append((pid, "1.0.0:0", ("x86_64", "aarch64"), {"osVersion": "0.3.5"}, deps))
        if i % 4 == 0:
            out.append((pid, "1.1.0:0", ("x86_64",), {}, deps))
            out.append((pid, "1.1.0:0", ("aarch64",), {}, deps))
        else:
            out.append((pid, "1.1.0:0", ("x86_64", "aarch64"), {}, deps))
        if i % 3 == 0:
            out.append((pid, "2.0.0:0", ("x86_64", "aarch64"), {"osVersion": "0.4.1"}, deps))
        if i % 5 == 0:
            out.append((pid, "#knots:1.0.0:0", ("x86_64",), {}, deps))
    return out


def build_test_site(root: Path, file_base: str) -> Path:
    """Write the test registry's packages under ``root`` and build its site; return the site."""
    src = root / "src"
    src.mkdir(parents=True)
    paths = []
    for pid, version, arches, overrides, deps in catalogue():
        tree = demo_package_tree(
            pid, version, arches=arches, with_deps=deps, manifest_overrides=overrides
        )
        path = src / f"{pid}_{version.replace('#', '').replace(':', '_')}_{'_'.join(arches)}.s9pk"
        write_archive_file(path, tree, ADMIN if pid != "pkg01" else DEV)
        paths.append(path)
    settings = BuildSettings(
        name="Serve Test Registry",
        api_url="https://registry.example.com/",
        file_urls=(DEAD_BASE, file_base),
        signers={
            G_ADMIN: SignerInfo("Admin", (), (ADMIN.public_key.to_pem(),)),
            G_DEV: SignerInfo("Dev", (), (DEV.public_key.to_pem(),)),
        },
        admins=frozenset({G_ADMIN}),
        authorized={"pkg01": {G_DEV: VersionRange.parse("*")}},
        categories=(
            CategorySettings(
                id="even",
                name=LocaleString((("en_US", "Even"), ("de_DE", "Gerade"))),
                packages=tuple(f"pkg{i:02d}" for i in range(0, PACKAGES, 2)),
            ),
            CategorySettings(id="first", name=LocaleString("First"), packages=("pkg00", "pkg01")),
        ),
        sources=tuple(paths),
        registry_key=REGISTRY_KEY,
        output=root / "site",
        source_date_epoch=EPOCH,
    )
    build_site(settings)
    return root / "site"


@contextmanager
def serve_process(
    cwd: Path, *args: str, env_extra: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``s9reg serve ARGS…`` as a child process (no AWS_/S9REG_ environment apart from
    ``env_extra``); killed on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S9REG_"))}
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "s9reg", "serve", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def stop(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM ``proc``; its stderr once it has ended."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return err.decode()


def upload_site(client: Any, site: Path, bucket: str, prefix: str) -> None:
    """Put part of a built site into ``bucket`` under ``prefix`` (``""`` for the root).

    The part keeps moto fast: the top-level files (the index), some precomputed results (the
    others are then computed by the responder) and the files of one package.
    """
    wanted = [
        site / "rpc.v0" / "info.json",
        site / "rpc.v0" / "package.get" / "pkg02",
        site / "pkg02",
    ]
    files = [
        p
        for p in sorted(site.rglob("*"))
        if p.is_file() and (p.parent == site or any(p == w or p.is_relative_to(w) for w in wanted))
    ]

    def put(path: Path) -> None:
        rel = path.relative_to(site).as_posix()
        key = f"{prefix}/{rel}" if prefix else rel
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files))


def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.05)
