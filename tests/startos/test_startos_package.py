"""The package builds, and both s9reg and the official SDK reader accept it (issue 20, proof 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, Built, need

pytestmark = pytest.mark.slow


def test_s9reg_verifies_the_package(startos_package: Built) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "s9reg", "s9pk", "verify", "--json", str(startos_package.package)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True
    assert (result["id"], result["version"], result["arches"]) == ("s9reg", "0.1.0:0", ["x86_64"])
    assert result["missing"] == []
    assert result["notInstallable"] == {}


def test_the_sdk_reader_accepts_the_package(startos_package: Built) -> None:
    node = need("node", "nodejs")
    done = subprocess.run(
        [node, str(REPO / "tests/interop/oracle.mjs"), str(startos_package.package)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["ok"] is True, verdict
    assert verdict["manifestId"] == "s9reg"
    assert set(verdict["files"]) == {
        "manifest.json",
        "icon.svg",
        "LICENSE.md",
        "instructions.md",
        "javascript.squashfs",
        "images/x86_64/s9reg.squashfs",
        "images/x86_64/s9reg.json",
        "images/x86_64/s9reg.env",
    }


def test_the_package_is_small(startos_package: Built) -> None:
    # The trimmed Debian base with python3 and s9reg's dependencies (docs, locales, perl, AWS
    # models other than S3 left out) is about 37 MiB as xz squashfs; a regression in the
    # trimming shows here first.
    sizes = startos_package.sizes
    assert sizes["package"] < 45 * 2**20, sizes
    assert sizes["javascript.squashfs"] < 2**20, sizes


def test_image_metadata_and_environment(startos_package: Built) -> None:
    def cat(inner: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "s9reg", "s9pk", "inspect", str(startos_package.package),
             "cat", inner],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip

    meta = json.loads(cat("images/x86_64/s9reg.json"))
    assert meta == {
        "workdir": "/data",
        "user": "root",
        "entrypoint": None,
        "cmd": ["s9reg", "serve"],
    }
    env = cat("images/x86_64/s9reg.env")
    assert not env.endswith("\n")
    assert dict(line.split("=", 1) for line in env.split("\n"))["PYTHONPATH"] == "/opt/s9reg"
    manifest = json.loads(cat("manifest.json"))
    assert manifest["images"]["s9reg"]["arch"] == ["x86_64"]
    assert manifest["hardwareRequirements"]["arch"] == ["x86_64"]
    assert manifest["volumes"] == ["main"]
