"""Remote package sources and StartOS releases, against a real local HTTP server."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import blake3
import pytest

from s9reg.builder import BuildError, build_site
from s9reg.builder.settings import OsReleaseSettings
from s9reg.errors import ConfigError
from s9reg.exver import Version, VersionRange
from s9reg.s9pk.commitment import Blake3Commitment
from s9reg.s9pk.keys import PublicKey, Signature

from helpers.buildkit import ADMIN, CDN, ORIGIN, REGISTRY, pkg, read_index, settings, snapshot


class _Handler(SimpleHTTPRequestHandler):
    statuses: list[int]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet."""

    def send_response(self, code: int, message: str | None = None) -> None:
        self.statuses.append(code)
        super().send_response(code, message)


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[str, Path, list[int]]]:
    """A static HTTP server on 127.0.0.1: base URL, served directory, response statuses."""
    root = tmp_path / "www"
    root.mkdir()
    statuses: list[int] = []
    handler = type("H", (_Handler,), {"statuses": statuses})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, statuses
    finally:
        server.shutdown()
        server.server_close()


def _later(path: Path) -> None:
    """Move the mtime on: Last-Modified has one-second resolution, and tests are fast."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 * 10**9))


# --- remote package sources -------------------------------------------------------------------


def test_remote_source_downloaded_verified_and_kept_as_mirror(
    tmp_path: Path, http: tuple[str, Path, list[int]]
) -> None:
    base, root, statuses = http
    pkg(root, "hello.s9pk")
    url = f"{base}/hello.s9pk"
    s = settings(tmp_path, [], remote_sources=(url,), cache_dir=tmp_path / "cache")
    build_site(s)
    pv = next(iter(read_index(s.output).package.packages["hello"].versions.values()))
    urls = pv.s9pks[0][1].urls
    assert urls == (f"{CDN}hello/1.0.0:0/hello.s9pk", f"{ORIGIN}/hello/1.0.0:0/hello.s9pk", url)
    assert (s.output / "hello/1.0.0:0/hello.s9pk").read_bytes() == (
        root / "hello.s9pk"
    ).read_bytes()
    assert statuses == [200]
    report = build_site(s)
    assert report.up_to_date
    assert statuses == [200, 304]  # asked again, conditionally: nothing transferred


def test_remote_source_changed_upstream_is_downloaded_again(
    tmp_path: Path, http: tuple[str, Path, list[int]]
) -> None:
    base, root, _ = http
    pkg(root, "hello.s9pk")
    s = settings(tmp_path, [], remote_sources=(f"{base}/hello.s9pk",), cache_dir=tmp_path / "c")
    build_site(s)
    _later(pkg(root, "hello.s9pk", version="1.1.0:0"))
    report = build_site(s)
    assert not report.up_to_date
    assert [str(v) for v in read_index(s.output).package.packages["hello"].versions] == ["1.1.0:0"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("missing.s9pk", None, "HTTP 404", id="not found"),
        pytest.param("corrupt.s9pk", b"not a package", "corrupt.s9pk", id="not a package"),
    ],
)
def test_bad_remote_source_fails_and_keeps_the_previous_site(
    tmp_path: Path,
    http: tuple[str, Path, list[int]],
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    base, root, _ = http
    good = pkg(tmp_path, "good.s9pk")
    build_site(settings(tmp_path, [good]))
    before = snapshot(tmp_path / "site")
    if content is not None:
        (root / name).write_bytes(content)
    with pytest.raises(Exception, match=message):
        build_site(settings(tmp_path, [good], remote_sources=(f"{base}/{name}",)))
    assert snapshot(tmp_path / "site") == before


# --- StartOS releases --------------------------------------------------------------------------


def _release(images: dict[str, dict[str, Path | str]]) -> OsReleaseSettings:
    return OsReleaseSettings(
        version=Version.parse("0.4.0-beta.1"),
        headline="v0.4.0-beta.1",
        release_notes="Notes",
        source_version=VersionRange.parse(">=0.3.5:0 <=0.4.0-beta.1:0"),
        images=images,
    )


def _check_asset(asset: object, data: bytes) -> None:
    assert isinstance(asset.commitment, Blake3Commitment)  # type: ignore[attr-defined]
    c: Blake3Commitment = asset.commitment  # type: ignore[attr-defined]
    assert c.hash == blake3.blake3(data).digest()
    assert c.size == len(data)
    ((pem, sig),) = asset.signatures.items()  # type: ignore[attr-defined]
    assert pem == REGISTRY.public_key.to_pem()
    c.verify(PublicKey.from_pem(pem), Signature.from_pem(sig))  # context "startos"


def test_os_release_from_file_and_url(tmp_path: Path, http: tuple[str, Path, list[int]]) -> None:
    base, root, _ = http
    iso = tmp_path / "startos-0.4.0-beta.1_x86_64.iso"
    iso.write_bytes(b"iso image " * 1000)
    (root / "rpi.squashfs").write_bytes(b"squashfs for the pi " * 500)
    (root / "x86.squashfs").write_bytes(b"squashfs for x86 " * 700)
    release = _release(
        {
            "iso": {"x86_64": iso},
            "squashfs": {
                "raspberrypi": f"{base}/rpi.squashfs",
                "x86_64": f"{base}/x86.squashfs",
            },
        }
    )
    s = settings(tmp_path, [], os_releases=(release,), registry_key=REGISTRY)
    build_site(s)
    info = read_index(s.output).os.versions[Version.parse("0.4.0-beta.1")]
    assert info.authorized == tuple(sorted(s.admins))
    rel = "_startos/0.4.0-beta.1/startos-0.4.0-beta.1_x86_64.iso"
    assert info.iso["x86_64"].urls == (f"{CDN}{rel}", f"{ORIGIN}/{rel}")
    assert (s.output / rel).read_bytes() == iso.read_bytes()
    _check_asset(info.iso["x86_64"], iso.read_bytes())
    assert info.squashfs["raspberrypi"].urls == (f"{base}/rpi.squashfs",)
    _check_asset(info.squashfs["raspberrypi"], (root / "rpi.squashfs").read_bytes())
    rpc = s.output / "rpc.v0"
    per_platform = json.loads((rpc / "os.version.get/raspberrypi.json").read_bytes())
    assert list(per_platform) == ["0.4.0-beta.1"]
    asset = json.loads((rpc / "os.asset.get.iso/0.4.0-beta.1/x86_64.json").read_bytes())
    assert asset == info.iso["x86_64"].to_dict()


def test_url_image_that_changed_after_publication_fails_the_build(
    tmp_path: Path, http: tuple[str, Path, list[int]]
) -> None:
    base, root, _ = http
    (root / "x86.squashfs").write_bytes(b"original bytes")
    release = _release({"squashfs": {"x86_64": f"{base}/x86.squashfs"}})
    s = settings(
        tmp_path, [], os_releases=(release,), registry_key=REGISTRY, cache_dir=tmp_path / "c"
    )
    build_site(s)
    before = snapshot(s.output)
    (root / "x86.squashfs").write_bytes(b"replaced bytes!")
    _later(root / "x86.squashfs")
    with pytest.raises(BuildError, match="does not match the commitment published before"):
        build_site(s)
    assert snapshot(s.output) == before


def test_os_release_published_at_kept(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"iso")
    s = settings(
        tmp_path, [], os_releases=(_release({"iso": {"x86_64": iso}}),), registry_key=REGISTRY
    )
    build_site(s)
    first = read_index(s.output).os.versions[Version.parse("0.4.0-beta.1")].iso["x86_64"]
    build_site(settings(tmp_path, [], os_releases=s.os_releases, registry_key=REGISTRY,
                        source_date_epoch=1_800_000_000))  # fmt: skip
    again = read_index(s.output).os.versions[Version.parse("0.4.0-beta.1")].iso["x86_64"]
    assert again.published_at == first.published_at


def test_os_releases_need_a_registry_key(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"iso")
    with pytest.raises(ConfigError, match="registry signing key"):
        settings(tmp_path, [], os_releases=(_release({"iso": {"x86_64": iso}}),))


def test_admin_signed_packages_and_os_in_one_site(tmp_path: Path) -> None:
    iso = tmp_path / "a.iso"
    iso.write_bytes(b"iso")
    a = pkg(tmp_path, "a.s9pk", ADMIN, id_="other", version="2.0.0:0")
    s = settings(
        tmp_path, [a], os_releases=(_release({"iso": {"x86_64": iso}}),), registry_key=REGISTRY
    )
    build_site(s)
    index = read_index(s.output)
    assert list(index.package.packages) == ["other"]
    assert [str(v) for v in index.os.versions] == ["0.4.0-beta.1"]
