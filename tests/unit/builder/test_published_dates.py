"""publishedAt from the published index when the previous output lacks it (issue 14, item 4)."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from s9reg.builder import BuildError, build_site
from s9reg.builder.fetch import fetch_bytes
from s9reg.builder.previous import read_site_index
from s9reg.builder.settings import OsReleaseSettings
from s9reg.exver import Version, VersionRange
from s9reg.registry import FullIndex, format_timestamp

from helpers.buildkit import ADMIN, REGISTRY, pkg, read_index, settings, snapshot

V040 = Version.parse("0.4.0")


def dates(out: Path) -> dict[str, str]:
    index = read_index(out)
    got = {
        f"{pid}@{v}#{n}": format_timestamp(a.published_at)
        for pid, info in index.package.packages.items()
        for v, pv in info.versions.items()
        for n, (_, a) in enumerate(pv.s9pks)
    }
    for version, info in index.os.versions.items():
        for platform, asset in info.iso.items():
            got[f"os {version} iso {platform}"] = format_timestamp(asset.published_at)
    return got


class Counting:
    """An ``IndexSource`` over a site directory that counts its calls."""

    def __init__(self, site: Path | None) -> None:
        self.site = site
        self.calls = 0

    def __call__(self) -> FullIndex | None:
        self.calls += 1
        return None if self.site is None else read_index(self.site)


def test_fresh_output_keeps_published_dates_byte_for_byte(tmp_path: Path, src: Path) -> None:
    sources = [pkg(src, "a.s9pk"), pkg(src, "b.s9pk", ADMIN, id_="other", version="2.0.0:0")]
    published = tmp_path / "published"
    first = build_site(settings(tmp_path, sources, output=published, source_date_epoch=1000))
    assert len(first.added) == 2
    # A fresh checkout a day later: no previous output, another SOURCE_DATE_EPOCH.
    fresh = tmp_path / "fresh"
    source = Counting(published)
    report = build_site(
        settings(tmp_path, sources, output=fresh, source_date_epoch=90000, published=source)
    )
    assert source.calls == 1
    assert snapshot(fresh) == snapshot(published)  # index, feeds, pages: nothing re-dated
    assert report.added == ()
    assert [str(r) for r in report.unchanged] == ["hello@1.0.0:0", "other@2.0.0:0"]
    # Without the published index every date (and the catalogue's "last release") moves.
    build_site(settings(tmp_path, sources, output=tmp_path / "blind", source_date_epoch=90000))
    assert set(dates(tmp_path / "blind").values()) == {"1970-01-02T01:00:00Z"}


def test_new_version_gets_the_new_date(tmp_path: Path, src: Path) -> None:
    v1 = pkg(src, "v1.s9pk")
    build_site(settings(tmp_path, [v1], output=tmp_path / "published", source_date_epoch=1000))
    v2 = pkg(src, "v2.s9pk", version="1.1.0:0")
    report = build_site(
        settings(tmp_path, [v1, v2], source_date_epoch=2000,
                 published=Counting(tmp_path / "published"))
    )  # fmt: skip
    assert [str(r) for r in report.added] == ["hello@1.1.0:0"]
    assert dates(tmp_path / "site") == {
        "hello@1.0.0:0#0": "1970-01-01T00:16:40Z",
        "hello@1.1.0:0#0": "1970-01-01T00:33:20Z",
    }


def test_published_index_is_read_only_when_the_output_lacks_an_asset(
    tmp_path: Path, src: Path
) -> None:
    v1 = pkg(src, "v1.s9pk")
    build_site(settings(tmp_path, [v1], source_date_epoch=1000))
    untouched = Counting(None)
    build_site(settings(tmp_path, [v1], source_date_epoch=2000, published=untouched), force=True)
    assert untouched.calls == 0
    more = [v1, pkg(src, "v2.s9pk", version="1.1.0:0"), pkg(src, "v3.s9pk", version="1.2.0:0")]
    once = Counting(None)  # nothing published yet
    build_site(settings(tmp_path, more, source_date_epoch=3000, published=once))
    assert once.calls == 1
    assert sorted(set(dates(tmp_path / "site").values())) == [
        "1970-01-01T00:16:40Z",
        "1970-01-01T00:50:00Z",
    ]


def test_the_previous_output_wins_over_the_published_index(tmp_path: Path, src: Path) -> None:
    v1 = pkg(src, "v1.s9pk")
    build_site(settings(tmp_path, [v1], output=tmp_path / "published", source_date_epoch=5000))
    build_site(settings(tmp_path, [v1], source_date_epoch=1000))
    v2 = pkg(src, "v2.s9pk", version="1.1.0:0")
    build_site(
        settings(tmp_path, [v1, v2], source_date_epoch=2000,
                 published=Counting(tmp_path / "published"))
    )  # fmt: skip
    assert dates(tmp_path / "site")["hello@1.0.0:0#0"] == "1970-01-01T00:16:40Z"


def test_an_unreadable_published_index_fails_the_build_and_keeps_the_output(
    tmp_path: Path, src: Path
) -> None:
    v1 = pkg(src, "v1.s9pk")
    build_site(settings(tmp_path, [v1], source_date_epoch=1000))
    before = snapshot(tmp_path / "site")

    def broken() -> FullIndex | None:
        raise BuildError("https://r.example/index.json: the server answered HTTP 503")

    v2 = pkg(src, "v2.s9pk", version="1.1.0:0")
    with pytest.raises(BuildError, match="HTTP 503"):
        build_site(settings(tmp_path, [v1, v2], published=broken))
    assert snapshot(tmp_path / "site") == before
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging left


def _release(iso: Path) -> OsReleaseSettings:
    return OsReleaseSettings(
        version=V040,
        headline="0.4.0",
        source_version=VersionRange.parse(">=0.3.5:0"),
        images={"iso": {"x86_64": iso}},
    )


def test_os_image_keeps_its_published_date_and_commitment(tmp_path: Path) -> None:
    iso = tmp_path / "startos.iso"
    iso.write_bytes(b"iso image " * 100)
    os_ = (_release(iso),)
    published = tmp_path / "published"
    build_site(settings(tmp_path, [], output=published, registry_key=REGISTRY,
                        os_releases=os_, source_date_epoch=1000))  # fmt: skip
    build_site(settings(tmp_path, [], registry_key=REGISTRY, os_releases=os_,
                        source_date_epoch=2000, published=Counting(published)))  # fmt: skip
    assert dates(tmp_path / "site") == {"os 0.4.0 iso x86_64": "1970-01-01T00:16:40Z"}
    shutil.rmtree(tmp_path / "site")
    iso.write_bytes(b"other bytes under the same version")
    with pytest.raises(BuildError, match="does not match the commitment published before"):
        build_site(settings(tmp_path, [], registry_key=REGISTRY, os_releases=os_,
                            published=Counting(published)))  # fmt: skip


# --- --previous URL|DIR -----------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet."""


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on 127.0.0.1 serving a directory."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_read_site_index_from_a_directory_and_a_url(
    tmp_path: Path, src: Path, http: tuple[str, Path]
) -> None:
    base, root = http
    build_site(settings(tmp_path, [pkg(src, "a.s9pk")], output=root / "reg"))
    expected = read_index(root / "reg")
    assert read_site_index(str(root / "reg")) == expected
    assert read_site_index(f"{base}/reg") == expected
    assert read_site_index(f"{base}/reg/") == expected
    assert read_site_index(f"{base}/reg/index.json") == expected


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param(None, "cannot read", id="no index.json"),
        pytest.param(b"{not json", "not a registry index", id="not JSON"),
        pytest.param(b'{"package": 1}', "not a registry index", id="not an index"),
        pytest.param(b"\xff\xfe", "not a registry index", id="not UTF-8"),
    ],
)
def test_read_site_index_bad_directory(tmp_path: Path, content: bytes | None, match: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    if content is not None:
        (site / "index.json").write_bytes(content)
    with pytest.raises(BuildError, match=match):
        read_site_index(str(site))


def test_read_site_index_bad_locations(tmp_path: Path, http: tuple[str, Path]) -> None:
    base, root = http
    with pytest.raises(BuildError, match="not a directory"):
        read_site_index(str(tmp_path / "missing"))
    with pytest.raises(BuildError, match="HTTP 404"):
        read_site_index(f"{base}/nothing-here")
    (root / "big.json").write_bytes(b" " * 2000)
    with pytest.raises(BuildError, match="larger than 1000 B"):
        fetch_bytes(f"{base}/big.json", max_bytes=1000)
    assert fetch_bytes(f"{base}/big.json", max_bytes=2000) == b" " * 2000
    with pytest.raises(BuildError, match="only http and https"):
        fetch_bytes("ftp://127.0.0.1/index.json", max_bytes=1000)
    with pytest.raises(BuildError, match="cannot download"):
        fetch_bytes("http://127.0.0.1:9/index.json", max_bytes=1000, timeout=5)


def test_published_first_wins_over_the_previous_output(tmp_path: Path, src: Path) -> None:
    # What s9reg publish builds with: the live dates win over a local output's.
    path = pkg(src, "hello.s9pk")
    live = tmp_path / "live"
    build_site(settings(tmp_path, [path], output=live, source_date_epoch=1000))
    local = settings(tmp_path, [path], source_date_epoch=2000)
    build_site(local)  # a local output dated otherwise
    source = Counting(live)
    build_site(replace(local, source_date_epoch=3000, published=source))
    assert set(dates(local.output).values()) == {
        format_timestamp(datetime.fromtimestamp(2000, UTC))
    }
    assert source.calls == 0  # a plain build: the local output first, nothing read
    build_site(replace(local, source_date_epoch=3000, published=source, published_first=True))
    assert dates(local.output) == dates(live)
    assert source.calls == 1
