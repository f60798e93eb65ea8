"""Registry sources end to end (issue 21), against two kinds of second registry on 127.0.0.1.

``serve``: a site run by ``s9reg serve``. ``start-registryd``: a stand-in answering with
upstream's exact JSON shapes, including fields s9reg never writes (``helpers.upstream``); its
files are served by the first.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from s9reg.builder import BuildError, build_site
from s9reg.builder.fetch import DownloadLimits
from s9reg.builder.mirror import MirrorSettings, mirror
from s9reg.builder.regsource import RegistrySource, SourceMode
from s9reg.builder.settings import Exclusion, Mirror
from s9reg.exver import VersionRange
from s9reg.registry import FullIndex
from s9reg.s9pk.commitment import b64_encode
from s9reg.serve import BackgroundServer

from helpers.buildkit import ALICE, CDN, G_ALICE, REGISTRY, STRANGER, pkg, read_index, settings
from helpers.upstream import G_UP_STRANGER, UPSTREAM_KEY, Upstream, stand_in

KINDS = ["serve", "start-registryd"]


@contextmanager
def running(up: Upstream, kind: str) -> Iterator[tuple[str, BackgroundServer]]:
    """The registry's URL (and the ``s9reg serve`` that serves its files)."""
    with up.serving() as server:
        if kind == "serve":
            yield up.url, server
            return
        with stand_in(up.site) as url:
            yield url, server


@pytest.fixture(scope="module", params=KINDS)
def upstream(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Upstream, str]]:
    up = Upstream(tmp_path_factory.mktemp("upstream"))
    with running(up, request.param) as (url, _):
        yield up, url


def _build(
    tmp_path: Path, *sources: RegistrySource, **overrides: object
) -> tuple[FullIndex, object]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    s = settings(
        tmp_path,
        [],
        registry_sources=sources,
        registry_key=REGISTRY,
        authorized={"hello": {G_ALICE: VersionRange.any()}},
        **overrides,
    )
    report = build_site(s)
    return read_index(s.output), report


def _versions(index: FullIndex, pid: str = "hello") -> dict[str, list[tuple[str, ...] | None]]:
    info = index.package.packages[pid]
    return {str(v): [hw.arch for hw, _ in pv.s9pks] for v, pv in info.versions.items()}


def test_copy_takes_a_range_and_an_arch_keeps_signatures_and_dates(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    up, url = upstream
    source = RegistrySource(
        url=url,
        packages={"hello": VersionRange.parse(">=1.1.0:0")},
        arches=("x86_64",),
    )
    index, _report = _build(tmp_path, source)
    assert _versions(index) == {"1.1.0:0": [("x86_64",)], "2.0.0:0": [("x86_64",)]}
    upstream_index = read_index(up.site)
    for v, pv in index.package.packages["hello"].versions.items():
        _, asset = pv.s9pks[0]
        _, theirs = next(
            (hw, a)
            for hw, a in upstream_index.package.packages["hello"].versions[v].s9pks
            if hw.arch == ("x86_64",)
        )
        # Ours first (published from this site), upstream's after as fallbacks.
        assert asset.urls[0].startswith(CDN)
        assert asset.urls[-1] == theirs.urls[0]
        rel = asset.urls[0].removeprefix(CDN)
        assert (tmp_path / "site" / rel).is_file()
        # Upstream's signatures (developer + upstream registry) kept, ours added.
        keys = set(asset.signatures)
        assert {
            ALICE.public_key.to_pem(),
            UPSTREAM_KEY.public_key.to_pem(),
            REGISTRY.public_key.to_pem(),
        } <= keys
        asset.commitment.verify_pems(asset.signatures)
        # The stand-in dates with nanoseconds (kept to the microsecond).
        assert asset.published_at.replace(microsecond=0) == theirs.published_at
    assert "other" not in index.package.packages


def test_reference_with_a_flavor_lists_upstream_urls_only(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    up, url = upstream
    source = RegistrySource(
        url=url,
        mode=SourceMode.REFERENCE,
        flavor="knots",
        exclude=frozenset({"other"}),
    )
    index, _ = _build(tmp_path, source)
    assert _versions(index) == {"#knots:1.5.0:0": [("aarch64",), ("x86_64",)]} or _versions(
        index
    ) == {"#knots:1.5.0:0": [("x86_64",), ("aarch64",)]}
    for _, asset in (
        index.package.packages["hello"]
        .versions[next(iter(index.package.packages["hello"].versions))]
        .s9pks
    ):
        assert all(u.startswith(up.url) for u in asset.urls)
        assert REGISTRY.public_key.to_pem() in asset.signatures
        asset.commitment.verify_pems(asset.signatures)
    assert not list((tmp_path / "site").rglob("*.s9pk"))


def test_exclude_and_mirrors_apply_to_referenced_variants(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, url = upstream
    source = RegistrySource(url=url, mode=SourceMode.REFERENCE, flavor="knots")
    index, _ = _build(tmp_path / "all", source)
    (version, pv), *_ = index.package.packages["hello"].versions.items()
    (_, dropped), (_, kept) = pv.s9pks
    mirror_url = "https://mirror.example.org/hello-knots.s9pk"
    index, _ = _build(
        tmp_path / "edited",
        source,
        exclude=(
            Exclusion(
                id="hello", version=version, sighash=b64_encode(dropped.commitment.root_sighash)
            ),
        ),
        mirrors=(
            Mirror(
                id="hello",
                version=version,
                sighash=b64_encode(kept.commitment.root_sighash),
                url=mirror_url,
            ),
        ),
    )
    ((_, asset),) = index.package.packages["hello"].versions[version].s9pks
    assert asset.commitment == kept.commitment
    assert asset.urls == (*kept.urls, mirror_url)


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_upstream_release_is_taken_by_the_next_build(tmp_path: Path, kind: str) -> None:
    up = Upstream(tmp_path / "up")
    with running(up, kind) as (url, server):
        source = RegistrySource(url=url, packages={"hello": VersionRange.parse(">=2.0.0:0")})
        index, _ = _build(tmp_path, source, cache_dir=tmp_path / "cache")
        assert set(_versions(index)) == {"2.0.0:0"}
        _, again = _build(tmp_path, source, cache_dir=tmp_path / "cache")
        assert again.up_to_date  # type: ignore[attr-defined]
        up.release("2.1.0:0")
        server.refresh()
        index, report = _build(tmp_path, source, cache_dir=tmp_path / "cache")
    assert set(_versions(index)) == {"2.0.0:0", "2.1.0:0"}
    assert not report.up_to_date  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", KINDS)
def test_a_tampered_upstream_file_is_refused_and_reported(tmp_path: Path, kind: str) -> None:
    up = Upstream(tmp_path / "up")
    # 1.1.0 x86_64: a body byte changed in place (a copy verifies every byte).
    body = up.file("1.1.0:0", "x86_64")
    data = bytearray(body.read_bytes())
    data[-100] ^= 0xFF
    body.write_bytes(bytes(data))
    # 1.0.0 aarch64: another valid package under the listed name (the header shows it).
    swapped = up.file("1.0.0:0", "aarch64")
    other = pkg(tmp_path, "x.s9pk", ALICE, version="1.0.0:0", arches=("aarch64",), title="Evil")
    swapped.write_bytes(other.read_bytes())
    selection = {"hello": VersionRange.parse("<2.0.0:0")}
    with running(up, kind) as (url, _):
        index, report = _build(tmp_path / "c", RegistrySource(url=url, packages=selection))
        ref_index, ref_report = _build(
            tmp_path / "r",
            RegistrySource(url=url, packages=selection, mode=SourceMode.REFERENCE),
        )
    copied = _versions(index)
    assert copied["1.1.0:0"] == [("aarch64",)]
    assert copied["1.0.0:0"] == [("x86_64",)]
    warnings = "\n".join(report.warnings)  # type: ignore[attr-defined]
    assert "refused hello 1.1.0:0" in warnings
    assert "refused hello 1.0.0:0" in warnings
    assert {s.path.name for s in report.skipped} == {  # type: ignore[attr-defined]
        "hello_1.1.0_0_x86_64.s9pk",
        "hello_1.0.0_0_aarch64.s9pk",
    }
    # By reference, only the header is read: the swapped file is refused, the body change is not
    # seen (a device verifies every byte when it installs).
    assert _versions(ref_index)["1.0.0:0"] == [("x86_64",)]
    assert "refused hello 1.0.0:0" in "\n".join(ref_report.warnings)  # type: ignore[attr-defined]


def test_an_upstream_signer_not_authorized_here_is_refused_unless_trusted(
    upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    _, url = upstream
    source = RegistrySource(url=url, packages={"other": VersionRange.any()})
    index, report = _build(tmp_path / "a", source)
    assert "other" not in index.package.packages
    assert any("refused other 1.0.0:0" in w for w in report.warnings)  # type: ignore[attr-defined]
    trusted = RegistrySource(
        url=url, packages={"other": VersionRange.any()}, trust_upstream_signers=True
    )
    index, _ = _build(tmp_path / "b", trusted)
    assert set(_versions(index, "other")) == {"1.0.0:0"}
    assert index.signers[G_UP_STRANGER].keys == (STRANGER.public_key.to_pem(),)
    assert index.package.packages["other"].authorized == {G_UP_STRANGER: VersionRange.any()}
    trust_page = (tmp_path / "b" / "site" / "_catalogue" / "trust.html").read_text()
    assert "Stranger" in trust_page
    assert f"trusted as {url} lists it" in trust_page


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet."""


@pytest.fixture
def static_site(upstream: tuple[Upstream, str]) -> Iterator[str]:
    """The upstream's site behind a plain file server (POST answers 501): a static s9reg site."""
    up, _ = upstream
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=up.site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_static_site_is_read_from_its_precomputed_results(
    static_site: str, tmp_path: Path
) -> None:
    source = RegistrySource(
        url=static_site,
        packages={"hello": VersionRange.parse("=1.0.0:0")},
        mode=SourceMode.REFERENCE,
    )
    index, _ = _build(tmp_path, source)
    assert set(_versions(index)) == {"1.0.0:0"}


def test_a_garbage_source_fails_alone_not_the_build(
    upstream: tuple[Upstream, str], static_site: str, tmp_path: Path
) -> None:
    _, url = upstream
    garbage = RegistrySource(url=static_site + "hello/")  # a directory listing, not a registry
    good = RegistrySource(url=url, packages={"hello": VersionRange.parse("=1.0.0:0")})
    index, report = _build(tmp_path / "a", garbage, good)
    assert set(_versions(index)) == {"1.0.0:0"}
    (warning,) = [w for w in report.warnings if w.startswith("registry source")]  # type: ignore[attr-defined]
    assert "not a StartOS registry" in warning
    assert "\n" not in warning
    with pytest.raises(BuildError, match="not a StartOS registry"):
        _build(tmp_path / "b", garbage)


class _ETagHandler(_Quiet):
    """A static file server with ETags (as a CDN): ``If-None-Match`` answers 304; POST 501."""

    statuses: list[tuple[str, int]]

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if path.is_file():
            st = path.stat()
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            if self.headers.get("If-None-Match") == etag:
                self.statuses.append((self.path, 304))
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.statuses.append((self.path, 200))
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()


def test_a_listing_is_asked_again_with_its_etag(tmp_path: Path) -> None:
    up = Upstream(tmp_path / "up")
    statuses: list[tuple[str, int]] = []
    handler = functools.partial(
        type("H", (_ETagHandler,), {"statuses": statuses}), directory=up.site
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        source = RegistrySource(url=url, packages={"hello": VersionRange.parse("=1.0.0:0")})
        with up.serving():
            _build(tmp_path / "a", source, cache_dir=tmp_path / "cache")
            first = [s for p, s in statuses if p.startswith("/rpc.v0/")]
            statuses.clear()
            _build(tmp_path / "a", source, cache_dir=tmp_path / "cache")
    finally:
        server.shutdown()
        server.server_close()
    again = [s for p, s in statuses if p.startswith("/rpc.v0/")]
    assert first
    assert set(first) == {200}
    assert again
    assert set(again) == {304}  # the cached listing, not a new transfer


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_over_the_size_limit_fails_the_source(tmp_path: Path, kind: str) -> None:
    up = Upstream(tmp_path / "up")
    with running(up, kind) as (url, _):
        source = RegistrySource(url=url, packages={"hello": VersionRange.any()})
        local = RegistrySource(url=url, packages={"nothing": VersionRange.any()})
        _, report = _build(tmp_path / "a", source, local, downloads=DownloadLimits(max_bytes=4096))
    (warning,) = [w for w in report.warnings if "larger than" in w]  # type: ignore[attr-defined]
    assert warning.startswith(f"registry source {url}")


def test_variants_sharing_a_file_name_upstream_are_kept_apart(tmp_path: Path) -> None:
    """Upstream keeps each arch in its own folder under one file name; both are copied."""
    up = Upstream(tmp_path / "up")
    arm = up.file("1.0.0:0", "aarch64")
    moved = arm.parent / "arm" / up.file("1.0.0:0", "x86_64").name
    moved.parent.mkdir()
    moved.write_bytes(arm.read_bytes())
    index = json.loads((up.site / "index.json").read_bytes())
    for _, asset in index["package"]["packages"]["hello"]["versions"]["1.0.0:0"]["s9pks"]:
        asset["urls"] = [u.replace(arm.name, f"arm/{moved.name}") for u in asset["urls"]]
    alt = tmp_path / "alt"
    alt.mkdir()
    (alt / "index.json").write_text(json.dumps(index))
    with up.serving(), stand_in(alt) as url:
        built, _ = _build(
            tmp_path / "b",
            RegistrySource(url=url, packages={"hello": VersionRange.parse("=1.0.0:0")}),
        )
        mirrored = mirror(
            MirrorSettings(
                source=url,
                dest=tmp_path / "m",
                file_urls=("http://127.0.0.1:1/",),
                packages={"hello": VersionRange.parse("=1.0.0:0")},
            )
        )
    assert mirrored.files == 2
    for site in (tmp_path / "b" / "site", tmp_path / "m"):
        files = sorted(p.name for p in site.rglob("*.s9pk"))
        assert len(files) == 2
        assert files[0] != files[1]
    (pv,) = built.package.packages["hello"].versions.values()
    assert len(pv.s9pks) == 2
