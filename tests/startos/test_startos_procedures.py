"""The service's procedures run with the SDK's own code (issue 20, proof 4): harness/*.mjs.

node's test runner runs ``harness/procedures.test.mjs`` in a private mount and network
namespace (``unshare``), so that the SDK finds the volume and image files where StartOS puts
them (``/media/startos``) and the server listens on its real port, 5959, without meeting any
other process on this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ADMIN, OTHER, Built, need

from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.writer import write_archive_file

pytestmark = pytest.mark.slow
HARNESS = Path(__file__).resolve().parent / "harness"


def unpack(package: Path, inner: str, dest: Path) -> Path:
    data = subprocess.run(
        [sys.executable, "-m", "s9reg", "s9pk", "inspect", str(package), "cat", inner],
        capture_output=True,
        check=True,
    ).stdout
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


def test_procedures(startos_package: Built, tmp_path: Path) -> None:
    node = need("node", "nodejs")
    unshare = need("unshare", "util-linux")
    need("rsync", "rsync")  # the SDK's backups run rsync
    ip = need("ip", "iproute2")
    squashfs = unpack(startos_package.package, "javascript.squashfs", tmp_path / "js.squashfs")
    subprocess.run(
        [need("unsquashfs", "squashfs-tools"), "-q", "-d", str(tmp_path / "javascript"),
         str(squashfs)],
        check=True, capture_output=True,
    )  # fmt: skip
    for name in ("s9reg.json", "s9reg.env"):
        unpack(startos_package.package, f"images/x86_64/{name}", tmp_path / "images" / name)
    hello = tmp_path / "hello.s9pk"
    write_archive_file(hello, demo_package_tree("hello", "1.0.0:0"), ADMIN)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {
        **os.environ,
        "S9REG_BUNDLE": str(tmp_path / "javascript" / "index.js"),
        "S9REG_IMAGES": str(tmp_path / "images"),
        "S9REG_ROOTFS": str(startos_package.rootfs),
        "S9REG_SCRATCH": str(scratch),
        "S9REG_HELLO": str(hello),
        "S9REG_ADMIN_PEM": ADMIN.public_key.to_pem(),
        "S9REG_OTHER_PEM": OTHER.public_key.to_pem(),
    }
    namespaces = ["--mount", "--net", "--propagation", "private"]
    if os.geteuid() != 0:
        namespaces.append("--map-root-user")
    cmd = [
        unshare, *namespaces, "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh",
        node, "--test", "--test-reporter=spec",
        str(HARNESS / "procedures.test.mjs"),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    report = done.stdout[-12000:] + done.stderr[-6000:]
    assert done.returncode == 0, report
    assert "\N{INFORMATION SOURCE} fail 0" in done.stdout, report
