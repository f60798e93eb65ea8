"""Ctrl-C and SIGTERM during a large ``s9reg build``, and builds killed outright (#16).

Real subprocesses and real signals: an interrupt must end the build with one line and exit
130 (SIGINT) or 143 (SIGTERM), leaving no build directory; one killed with SIGKILL leaves its
directory, which the next build removes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s9reg import _fs
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.tree import Directory, File
from s9reg.s9pk.writer import write_archive_file

REPO = Path(__file__).resolve().parents[3]
BIG = 192 << 20
COPIES = 8


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture(scope="module")
def big_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo registry with COPIES packages, each holding a BIG-byte file."""
    root = tmp_path_factory.mktemp("signals")
    subprocess.run(
        [sys.executable, "-m", "s9reg", "demo", "init", str(root / "d")],
        check=True,
        capture_output=True,
        env=_env(),
    )
    demo = root / "d"
    blob = root / "blob"
    with blob.open("wb") as f:
        f.truncate(BIG)
    admin = PrivateKey.from_pem((demo / "admin.key.pem").read_text())
    # Distinct versions: every package is verified in full (identical ones would be skipped),
    # so the build spends seconds hashing wherever the signal finds it.
    for n in range(COPIES):
        tree = demo_package_tree("wiki", f"9.0.{n}:0")
        tree = Directory.of({**tree.entries, "assets.squashfs": File.from_path(blob)})
        write_archive_file(demo / "packages" / f"big{n}.s9pk", tree, admin)
    blob.unlink()
    return demo


def _leftovers(demo: Path) -> list[str]:
    return sorted(p.name for p in demo.iterdir() if p.name.startswith("._site."))


def _start(demo: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "s9reg", "build", "--no-cache", "--config",
         str(demo / "site-config.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip


def _wait_for_staging(demo: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not any(n.startswith("._site.build-") for n in _leftovers(demo)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.02)
    time.sleep(0.05)  # into the verification of the large packages
    assert proc.poll() is None, "the build ended before the signal; make the packages larger"


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [
        pytest.param(signal.SIGINT, 130, "Aborted.", id="SIGINT"),
        pytest.param(signal.SIGTERM, 143, "Terminated.", id="SIGTERM"),
    ],
)
def test_interrupted_build_says_so_and_leaves_nothing(
    big_demo: Path, sig: signal.Signals, code: int, line: str
) -> None:
    for _ in range(3):  # several points of the verification
        proc = _start(big_demo)
        _wait_for_staging(big_demo, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert err.strip().splitlines()[-1] == line, err
        assert "internal error" not in err
        assert "Traceback" not in err
        assert out == ""
        assert _leftovers(big_demo) == []
        assert not (big_demo / "_site").exists()


def test_killed_build_directory_removed_by_the_next_build(big_demo: Path, tmp_path: Path) -> None:
    proc = _start(big_demo)
    _wait_for_staging(big_demo, proc)
    proc.kill()
    proc.communicate(timeout=30)
    stale = _leftovers(big_demo)
    assert len(stale) == 1  # what SIGKILL leaves: nothing can clean up
    assert stale[0].startswith(f"._site.build-{proc.pid}@")
    # The next build (small packages only, to be quick) removes it.
    moved = tmp_path / "big"
    moved.mkdir()
    for p in sorted((big_demo / "packages").glob("big*.s9pk")):
        p.rename(moved / p.name)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "s9reg", "build", "--config", str(big_demo / "site-config.yaml")],
            capture_output=True, text=True, env=_env(), timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _leftovers(big_demo) == []
    finally:
        for p in sorted(moved.iterdir()):
            p.rename(big_demo / "packages" / p.name)
        shutil.rmtree(big_demo / "_site", ignore_errors=True)


def test_live_build_directory_is_kept(big_demo: Path) -> None:
    """A directory whose process is alive (another build running now) is not touched."""
    live = big_demo / f"._site.build-{os.getpid()}@{_fs._host()}-abcdefgh"
    live.mkdir()
    try:
        assert _fs.remove_stale_dirs(big_demo / "_site") == []
        assert live.exists()
    finally:
        live.rmdir()
