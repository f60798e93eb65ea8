"""A second registry for registry-source and mirror tests: a site built and run by ``s9reg serve``.

:class:`Upstream` builds a site from packages it writes itself (signed by the test keys, with the
upstream's own registry key co-signing), serves it with :class:`s9reg.serve.BackgroundServer`
on 127.0.0.1 (files included), and can publish a new release or tamper with a file in place.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from s9reg.builder import BuildSettings, build_site
from s9reg.exver import VersionRange
from s9reg.registry import Guid, SignerInfo
from s9reg.s9pk.keys import PrivateKey
from s9reg.serve import BackgroundServer, ServeSettings

from helpers.buildkit import ADMIN, ALICE, EPOCH, STRANGER, pkg

UPSTREAM_KEY = PrivateKey(b"\x21" * 32)
G_UP_ALICE = Guid.generate(b"upstream-alice")
G_UP_STRANGER = Guid.generate(b"upstream-stranger")
G_UP_ADMIN = Guid.generate(b"upstream-admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Upstream:
    """Packages ``hello`` 1.0.0, 1.1.0, 2.0.0 and ``#knots:1.5.0`` (Alice, two arches each),
    and ``other`` 1.0.0 signed by a stranger that only this upstream authorizes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.src = root / "src"
        self.src.mkdir(parents=True)
        self.site = root / "site"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for version in ("1.0.0:0", "1.1.0:0", "2.0.0:0", "#knots:1.5.0:0"):
            name = version.replace("#", "").replace(":", "_")
            for arch in ("x86_64", "aarch64"):
                pkg(self.src, f"hello_{name}_{arch}.s9pk", ALICE, version=version, arches=(arch,))
        pkg(self.src, "other_1.0.0.s9pk", STRANGER, id_="other")
        self.build()

    def settings(self) -> BuildSettings:
        return BuildSettings(
            name="Upstream",
            api_url=self.url + "/",
            file_urls=(self.url + "/",),
            signers={
                G_UP_ADMIN: SignerInfo("Up Admin", (), (ADMIN.public_key.to_pem(),)),
                G_UP_ALICE: SignerInfo("Alice", (), (ALICE.public_key.to_pem(),)),
                G_UP_STRANGER: SignerInfo("Stranger", (), (STRANGER.public_key.to_pem(),)),
            },
            admins=frozenset({G_UP_ADMIN}),
            authorized={
                "hello": {G_UP_ALICE: VersionRange.any()},
                "other": {G_UP_STRANGER: VersionRange.any()},
            },
            sources=tuple(sorted(self.src.glob("*.s9pk"))),
            registry_key=UPSTREAM_KEY,
            output=self.site,
            source_date_epoch=EPOCH - 1000,
        )

    def build(self, **overrides: object) -> None:
        build_site(replace(self.settings(), **overrides))  # type: ignore[arg-type]

    def release(self, version: str) -> None:
        """Publish a new version of ``hello`` (both arches) and rebuild."""
        name = version.replace("#", "").replace(":", "_")
        for arch in ("x86_64", "aarch64"):
            pkg(self.src, f"hello_{name}_{arch}.s9pk", ALICE, version=version, arches=(arch,))
        self.build(source_date_epoch=EPOCH + 1000)

    def file(self, version: str, arch: str) -> Path:
        name = version.replace("#", "").replace(":", "_")
        return self.site / "hello" / version.removeprefix("#") / f"hello_{name}_{arch}.s9pk"

    @contextmanager
    def serving(self) -> Iterator[BackgroundServer]:
        settings = ServeSettings(site=str(self.site), port=self.port, client_timeout=5)
        with BackgroundServer(settings) as server:
            yield server
