"""Hostile local input to ``s9reg build`` (#16): FIFOs, devices and symlink loops.

Each is refused by its ``stat`` (never opened), with one line and exit 1. The build runs in a
real subprocess with a timeout: before the fix, a FIFO hung it for ever.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _build(cfg: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run(
        [sys.executable, "-m", "s9reg", "build", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "s9reg", "demo", "init", str(tmp_path / "d")],
        check=True,
        capture_output=True,
        env=env,
    )
    return tmp_path / "d"


def _one_error(result: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ERROR "), lines
    for part in parts:
        assert part in lines[0], lines


def test_fifo_in_a_source_directory(demo: Path) -> None:
    fifo = demo / "packages" / "evil.s9pk"
    os.mkfifo(fifo)
    _one_error(_build(demo / "site-config.yaml"), str(fifo), "is a FIFO, not a regular file")
    assert not (demo / "_site").exists()


def test_symlink_loop_in_a_source_directory(demo: Path) -> None:
    loop = demo / "packages" / "loop.s9pk"
    loop.symlink_to(loop.name)
    _one_error(_build(demo / "site-config.yaml"), str(loop), "symlink loop")


def test_device_named_as_a_source(demo: Path) -> None:
    cfg = demo / "site-config.yaml"
    cfg.write_text(cfg.read_text().replace("    - packages/\n", "    - /dev/zero\n"))
    _one_error(_build(cfg), "/dev/zero: source is a character device")


def test_fifo_as_registry_icon(demo: Path) -> None:
    os.mkfifo(demo / "icon.png")
    cfg = demo / "site-config.yaml"
    cfg.write_text(
        cfg.read_text().replace("  name: s9reg demo\n", "  name: s9reg demo\n  icon: icon.png\n")
    )
    _one_error(_build(cfg), "icon.png: registry icon is a FIFO")


def test_device_as_registry_icon_is_not_read_without_end(demo: Path) -> None:
    (demo / "icon.png").symlink_to("/dev/zero")
    cfg = demo / "site-config.yaml"
    cfg.write_text(
        cfg.read_text().replace("  name: s9reg demo\n", "  name: s9reg demo\n  icon: icon.png\n")
    )
    _one_error(_build(cfg), "icon.png: registry icon is a character device")


def test_oversized_registry_icon(demo: Path) -> None:
    (demo / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (300 << 10))
    cfg = demo / "site-config.yaml"
    cfg.write_text(
        cfg.read_text().replace("  name: s9reg demo\n", "  name: s9reg demo\n  icon: icon.png\n")
    )
    _one_error(_build(cfg), "icon.png: the registry icon is larger than 262144 bytes")


def test_fifo_as_os_image(demo: Path) -> None:
    os.mkfifo(demo / "startos.iso")
    cfg = demo / "site-config.yaml"
    os_block = (
        'os:\n  - version: "0.4.0"\n    headline: StartOS 0.4.0\n'
        '    source_version: ">=0.3.5:0"\n    iso:\n      x86_64: startos.iso\n'
    )
    cfg.write_text(cfg.read_text() + os_block)
    _one_error(_build(cfg), "startos.iso: StartOS image is a FIFO")


@pytest.mark.parametrize("kind", ["fifo", "loop"])
def test_bad_file_in_template_dir(demo: Path, kind: str) -> None:
    templates = demo / "templates"
    templates.mkdir()
    bad = templates / "base.html"
    if kind == "fifo":
        os.mkfifo(bad)
    else:
        bad.symlink_to(bad.name)
    cfg = demo / "site-config.yaml"
    cfg.write_text(cfg.read_text() + "catalogue:\n  template_dir: templates\n")
    expected = "is a FIFO" if kind == "fifo" else "symlink loop"
    _one_error(_build(cfg), str(bad), expected)
