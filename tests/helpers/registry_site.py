"""A built registry served by a real ``s9reg serve`` on 127.0.0.1, for the ``s9reg registry`` tests.

Packages with hardware variants, two versions and a flavor, one StartOS release (iso and
squashfs), a registry key: every read command and every download has something to read. The
file URLs point at the server, so downloads go over real HTTP.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from s9reg.builder import build_site
from s9reg.builder.settings import OsReleaseSettings
from s9reg.exver import Version, VersionRange
from s9reg.serve import BackgroundServer, ServeSettings

from helpers.buildkit import ADMIN, REGISTRY, pkg, settings

OS_VERSION = "0.4.0-beta.1"
ISO_BYTES = b"startos iso " * 300


@dataclass(frozen=True)
class ServedSite:
    path: Path
    url: str
    sources: dict[str, Path]
    iso: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_registry(root: Path, base: str) -> tuple[Path, dict[str, Path], Path]:
    """Build the test registry into ``root/site`` with every file URL under ``base``."""
    src = root / "src"
    src.mkdir(parents=True)
    sources = {
        "hello_x86": pkg(src, "hello_x86.s9pk", id_="hello", arches=("x86_64",)),
        "hello_arm": pkg(src, "hello_arm.s9pk", id_="hello", arches=("aarch64",)),
        "hello_new": pkg(src, "hello_new.s9pk", id_="hello", version="1.1.0:0"),
        "bitcoind": pkg(src, "bitcoind.s9pk", ADMIN, id_="bitcoind", version="27.0.0:0"),
        "knots": pkg(src, "knots.s9pk", ADMIN, id_="bitcoind", version="#knots:27.1.0:0"),
    }
    iso = root / "startos.iso"
    iso.write_bytes(ISO_BYTES)
    release = OsReleaseSettings(
        version=Version.parse(OS_VERSION),
        headline="v" + OS_VERSION,
        release_notes="Faster updates.",
        source_version=VersionRange.parse(">=0.3.5:0"),
        images={"iso": {"x86_64": iso}, "squashfs": {"x86_64": iso}},
    )
    s = settings(
        root,
        list(sources.values()),
        api_url=base,
        file_urls=(base,),
        registry_key=REGISTRY,
        os_releases=(release,),
    )
    build_site(s)
    return s.output, sources, iso


@contextmanager
def served_registry(root: Path) -> Iterator[ServedSite]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    site, sources, iso = build_registry(root, base)
    with BackgroundServer(ServeSettings(site=str(site), port=port, client_timeout=5)) as server:
        assert server.url.rstrip("/") == base.rstrip("/")
        yield ServedSite(site, base, sources, iso)
