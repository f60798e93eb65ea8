"""The image's root filesystem runs `s9reg serve` under bubblewrap (issue 20, proof 3).

The volume is a plain directory bound at /data, as StartOS mounts the volume `main`; the
server inside answers JSON-RPC on 127.0.0.1 (the network is shared with the test).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import Built, free_port, need, rpc, wait_rpc, write_volume

pytestmark = pytest.mark.slow


def bwrap(rootfs: Path, data: Path, *cmd: str) -> list[str]:
    return [
        need("bwrap", "bubblewrap"),
        "--ro-bind", str(rootfs), "/",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--bind", str(data), "/data",
        "--share-net", "--unshare-pid", "--die-with-parent", "--chdir", "/data",
        "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
        "--setenv", "LANG", "C.UTF-8",
        *cmd,
    ]  # fmt: skip


def test_serve_in_the_root_filesystem_answers_info_and_package_get(
    startos_package: Built, tmp_path: Path, running: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    data = write_volume(tmp_path / "data", port=port)
    built = subprocess.run(
        bwrap(startos_package.rootfs, data, "s9reg", "build", "--config", "/data/site-config.yaml"),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    serve = bwrap(startos_package.rootfs, data, "s9reg", "serve", "--config",
                  "/data/site-config.yaml", "--listen", f"127.0.0.1:{port}")  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(serve, stdout=log, stderr=log)
    log.close()
    running.append(proc)
    try:
        info = wait_rpc(port, "info", proc)
    except OSError:
        pytest.fail(f"s9reg serve did not answer:\n{(tmp_path / 'serve.log').read_text()}")
    assert isinstance(info, dict)
    assert info["name"] == "Box Registry"
    got = rpc(port, "package.get", {"id": "hello"})
    assert isinstance(got, dict)
    assert list(got["best"]) == ["1.0.0:0"], got
