"""Fixtures of the GitHub Actions tests: SeaweedFS and a Python for the runner stand-in."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.s3server import S3Endpoint, seaweedfs_s3


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with seaweedfs_s3(tmp_path_factory.mktemp("weed")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def runner_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a new virtual environment: the `python` on the runner's PATH.

    It has s9reg's dependencies (this environment's site-packages, by a .pth file) but not
    s9reg, which the action installs from its checkout. pip runs offline (no index, no build
    isolation: hatchling is installed here), where a runner would reach PyPI.
    """
    venv = tmp_path_factory.mktemp("runner") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "s9reg-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"
