"""``.onion`` registries (issue 21): every .onion request through the SOCKS5 proxy, no other."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from s9reg.builder import BuildError, build_site
from s9reg.builder.fetch import DownloadLimits
from s9reg.builder.mirror import MirrorSettings, mirror
from s9reg.builder.regsource import RegistrySource, SourceMode
from s9reg.exver import VersionRange

from helpers.buildkit import G_ALICE, REGISTRY, read_index, settings
from helpers.socks5 import Socks5Proxy
from helpers.upstream import Upstream, free_port

ONION = "s9regtestxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"


@pytest.fixture(scope="module")
def onion_upstream(tmp_path_factory: pytest.TempPathFactory) -> Upstream:
    """An upstream whose API and files are listed at a .onion address."""
    up = Upstream(tmp_path_factory.mktemp("up"))
    up.url = f"http://{ONION}:{up.port}"
    up.build()
    return up


def _settings(tmp_path: Path, *sources: RegistrySource, proxy: tuple[str, int] | None) -> object:
    return settings(
        tmp_path,
        [],
        registry_sources=sources,
        registry_key=REGISTRY,
        authorized={"hello": {G_ALICE: VersionRange.any()}},
        downloads=DownloadLimits(tor_proxy=proxy),
    )


def test_onion_requests_go_through_the_proxy(onion_upstream: Upstream, tmp_path: Path) -> None:
    up = onion_upstream
    source = RegistrySource(url=up.url, packages={"hello": VersionRange.parse("=1.0.0:0")})
    with Socks5Proxy({ONION: "127.0.0.1"}) as proxy, up.serving():
        s = _settings(tmp_path, source, proxy=("127.0.0.1", proxy.port))
        build_site(s)  # type: ignore[arg-type]
        # The JSON-RPC calls and both file downloads, all by name through the proxy.
        assert len(proxy.requests) >= 3
        assert {name for name, _ in proxy.requests} == {ONION}
        mirrored = mirror(
            MirrorSettings(
                source=up.url,
                dest=tmp_path / "mirror",
                file_urls=("http://127.0.0.1:1/",),
                packages={"other": VersionRange.any()},
                limits=DownloadLimits(tor_proxy=("127.0.0.1", proxy.port)),
            )
        )
    assert mirrored.files == 1
    index = read_index(tmp_path / "site")
    (pv,) = index.package.packages["hello"].versions.values()
    assert all(asset.urls[-1].startswith(up.url) for _, asset in pv.s9pks)


def test_other_requests_never_use_the_proxy(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    dead = ("127.0.0.1", free_port())  # nothing listens there
    source = RegistrySource(
        url=up.url, packages={"hello": VersionRange.parse("=1.0.0:0")}, mode=SourceMode.REFERENCE
    )
    with up.serving():
        build_site(_settings(tmp_path, source, proxy=dead))  # type: ignore[arg-type]
    assert "hello" in read_index(tmp_path / "site").package.packages


def test_an_onion_url_without_a_proxy_is_one_line(onion_upstream: Upstream, tmp_path: Path) -> None:
    source = RegistrySource(url=onion_upstream.url)
    s = _settings(tmp_path, source, proxy=None)
    with pytest.raises(BuildError, match=r"is a Tor onion service: set network\.tor_proxy"):
        build_site(s)  # type: ignore[arg-type]
    # Beside another source, it is left out with one warning.
    local = Upstream(tmp_path / "local")
    with local.serving():
        other = RegistrySource(url=local.url, packages={"hello": VersionRange.parse("=1.0.0:0")})
        report = build_site(replace(s, registry_sources=(source, other)))  # type: ignore[type-var]
    assert any("Tor onion service" in w for w in report.warnings)
