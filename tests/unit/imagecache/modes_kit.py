"""Helpers for the tests of the modes (issue 17): a switchable upstream, skopeo pulls, waits."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from registry_kit import PlainRegistry, make_settings

from s9reg.imagecache.engine import Mode
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.store import check_image
from s9reg.imagecache.supervisor import Supervisor

CURATED = ImageRef.parse("docker.io/library/alpine:3.19")


class SwitchableUpstream:
    """The fake docker.io, switchable between up, refused and black-holed on its one port."""

    def __init__(self, registry: PlainRegistry) -> None:
        self.registry = registry
        self.hole: socket.socket | None = None

    def up(self) -> None:
        self._close_hole()
        if self.registry.proc is None:
            self.registry.start()

    def refuse(self) -> None:
        self._close_hole()
        self.registry.stop()

    def black_hole(self) -> None:
        self.registry.stop()
        if self.hole is None:
            hole = socket.socket()
            hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hole.bind(("127.0.0.1", self.registry.port))
            hole.listen(1024)  # the kernel accepts; nobody ever reads or answers
            self.hole = hole

    def _close_hole(self) -> None:
        if self.hole is not None:
            self.hole.close()
            self.hole = None


def skopeo_pull(settings: CacheSettings, ref: str, dest: Path, timeout: float = 30.0) -> float:
    """Pull every platform and blob of ``ref`` from the cache like a client; returns seconds."""
    port = settings.upstreams[0].port
    start = time.monotonic()
    done = subprocess.run(
        [
            "skopeo",
            "copy",
            "--all",
            "--src-tls-verify=false",
            f"docker://127.0.0.1:{port}/{ref}",
            f"oci:{dest}:pulled",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    took = time.monotonic() - start
    assert done.returncode == 0, f"skopeo pull of {ref} failed after {took:.1f} s: {done.stderr}"
    return took


def settle(settings: CacheSettings, *refs: str) -> None:
    """Wait until the proxy has stored what it sent (it commits blobs after the response)."""
    deadline = time.monotonic() + 10
    for ref in refs:
        while not check_image(settings, ImageRef.parse(ref)).complete:
            assert time.monotonic() < deadline, f"{ref} not stored"
            time.sleep(0.05)


def wait_mode(sup: Supervisor, settings: CacheSettings, mode: Mode, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sup.mode(settings.upstreams[0]) is not mode:
        assert time.monotonic() < deadline, f"no switch to {mode.value}"
        sup.poll()
        time.sleep(0.05)


def supervisor_log(settings: CacheSettings) -> str:
    return (settings.data_dir / "logs" / "supervisor.log").read_text(encoding="utf-8")


def fast_settings(tmp_path: Path, url: str, **kw: object) -> CacheSettings:
    args: dict[str, object] = {
        "images": (CURATED,),
        "probe_interval": 1.0,
        "probe_timeout": 2.0,
        "recheck_seconds": 1.0,
    }
    args.update(kw)
    return make_settings(tmp_path, url, **args)
