"""``s9reg build`` against a hostile HTTP server, through the real command (#16).

One ``ERROR`` line per bad URL; Ctrl-C or SIGTERM in the middle of an endless download leaves
no ``.part`` file; on a terminal a line names the URL being downloaded.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.hostile_http import HostileServer, hostile_server, wait_for

REPO = Path(__file__).resolve().parents[3]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1700000000"}


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as server:
        yield server


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "s9reg", "demo", "init", str(tmp_path / "d")],
        check=True,
        capture_output=True,
        env=_env(),
    )
    return tmp_path / "d"


def _with_source(demo: Path, url: str) -> Path:
    cfg = demo / "site-config.yaml"
    cfg.write_text(cfg.read_text().replace("    - packages/\n", f"    - packages/\n    - {url}\n"))
    return cfg


def _cmd(cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "s9reg", "build", "--config", str(cfg), *extra]


def _parts(demo: Path) -> list[Path]:
    return sorted((demo / ".s9reg-cache").rglob("*.part"))


def test_wrong_magic_one_line(demo: Path, hostile: HostileServer) -> None:
    url = f"{hostile.base}/junk.s9pk"
    done = subprocess.run(
        _cmd(_with_source(demo, url)), capture_output=True, text=True, env=_env(), timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"ERROR {url}: not an s9pk (bad magic)\n"
    assert _parts(demo) == []


def test_endless_source_capped(demo: Path, hostile: HostileServer) -> None:
    url = f"{hostile.base}/endless.s9pk"
    done = subprocess.run(
        _cmd(_with_source(demo, url), "--max-download-mb", "8"),
        capture_output=True, text=True, env=_env(), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"ERROR {url}: larger than 8.0 MiB\n"
    assert _parts(demo) == []


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [
        pytest.param(signal.SIGINT, 130, "Aborted.", id="SIGINT"),
        pytest.param(signal.SIGTERM, 143, "Terminated.", id="SIGTERM"),
    ],
)
def test_interrupted_download_leaves_no_part(
    demo: Path, hostile: HostileServer, sig: signal.Signals, code: int, line: str
) -> None:
    cfg = _with_source(demo, f"{hostile.base}/endless.s9pk")
    proc = subprocess.Popen(
        _cmd(cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        wait_for(lambda: any(p.exists() and p.stat().st_size > 4 << 20 for p in _parts(demo)))
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == line
    assert "internal error" not in err
    assert _parts(demo) == []
    assert not [p for p in demo.iterdir() if p.name.startswith("._site.")]


def test_terminal_shows_the_url_being_downloaded(demo: Path, hostile: HostileServer) -> None:
    url = f"{hostile.base}/trickle.s9pk"
    cfg = _with_source(demo, url)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        _cmd(cfg), stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=_env(),
        close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while not (b"downloading" in seen and url.encode() in seen) and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(primary, 65536)
                except OSError:
                    break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        os.close(primary)
    assert b"downloading" in seen
    assert url.encode() in seen
    assert proc.returncode == 130
