"""s9reg's own StartOS package, built once per session (x86_64), and what its tests share.

The build is the real one (`startos/build.py`, as `./tasks startos-package` runs it): the Debian
base comes from the cache in ``.s9reg-cache/startos`` when its recipe is unchanged
(``S9REG_STARTOS_CACHE`` names another), everything else is rebuilt from this checkout. A
missing tool fails the tests with the Debian package to install; nothing is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.writer import write_archive_file

REPO = Path(__file__).resolve().parents[2]
STARTOS = REPO / "startos"
CACHE = Path(os.environ.get("S9REG_STARTOS_CACHE", REPO / ".s9reg-cache" / "startos"))
ADMIN = PrivateKey(b"\x21" * 32)
OTHER = PrivateKey(b"\x22" * 32)

sys.path.insert(0, str(STARTOS))
import build as startos_build  # noqa: E402  (startos/build.py: a script, not a package)


@dataclass(frozen=True)
class Built:
    """The package, its root filesystem unpacked, and figures."""

    package: Path
    rootfs: Path
    sizes: dict[str, int]
    seconds: float


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: apt-get install {package} (./tasks deps installs it)")
    return path


@pytest.fixture(scope="session")
def startos_package(tmp_path_factory: pytest.TempPathFactory) -> Built:
    if not (STARTOS / "node_modules" / ".bin" / "esbuild").exists():
        pytest.fail("startos/node_modules is missing: run `npm ci --prefix startos`")
    work = tmp_path_factory.mktemp("startos")
    key = work / "developer.key.pem"
    subprocess.run(
        [sys.executable, "-m", "s9reg", "key", "init", "--path", str(key)],
        check=True,
        capture_output=True,
    )
    try:
        built = startos_build.build(
            ["x86_64"], key, work / "dist", CACHE, rootfs_dir=work / "rootfs"
        )
    except startos_build.BuildError as e:
        pytest.fail(f"./tasks startos-package failed: {e}")
    return Built(built.package, work / "rootfs", built.sizes, built.seconds)


# --- a registry volume ----------------------------------------------------------------------


def write_volume(data: Path, *, name: str = "Box Registry", port: int = 5959) -> Path:
    """A volume as the service keeps it: config, registry key, one package signed by an admin."""
    (data / "keys").mkdir(parents=True)
    (data / "packages").mkdir()
    (data / "keys" / "registry.key.pem").write_text(PrivateKey(b"\x23" * 32).to_pem())
    write_archive_file(
        data / "packages" / "hello.s9pk", demo_package_tree("hello", "1.0.0:0"), ADMIN
    )
    admin_pem = ADMIN.public_key.to_pem().strip().replace("\n", "\n        ")
    (data / "site-config.yaml").write_text(
        f"""registry:
  name: {name}
  url: http://127.0.0.1:{port}/
  signing_key: file:keys/registry.key.pem
signers:
  - name: Admin
    contact:
      - email: admin@example.org
    keys:
      - |
        {admin_pem}
    admin: true
packages:
  sources:
    - packages/
output: site
serve:
  listen: 0.0.0.0:{port}
  refresh_interval: 2
"""
    )
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc(port: int, method: str, params: object = None, timeout: float = 5) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}})
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/rpc/v0",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as res:
        doc = json.loads(res.read())
    assert "result" in doc, doc
    return doc["result"]


def wait_rpc(port: int, method: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return rpc(port, method)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def admin_key() -> PrivateKey:
    return ADMIN


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; stopped (TERM, then KILL) when it ends."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
