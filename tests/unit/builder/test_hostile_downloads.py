"""Downloads against a hostile server (#16): endless, trickling, wrong magic, lying lengths.

Every case must end within seconds with one line naming the URL, leave no partial file, and
keep the previous site.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s9reg.builder import BuildError, build_site
from s9reg.builder.fetch import DownloadLimits, download, fetch_bytes
from s9reg.builder.previous import read_site_index
from s9reg.builder.settings import OsReleaseSettings
from s9reg.errors import S9regError
from s9reg.exver import Version, VersionRange

from helpers.buildkit import REGISTRY, pkg, settings, snapshot
from helpers.hostile_http import HostileServer, hostile_server

#: Small bounds so that each case takes about a second.
LIMITS = DownloadLimits(max_bytes=4 << 20, head_timeout_s=1.5, min_rate=1000, window_s=1.0)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as server:
        yield server


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("endless.s9pk", r"larger than 4\.0 MiB$", id="endless stream"),
        pytest.param("junk.s9pk", r": not an s9pk \(bad magic\)$", id="wrong magic"),
        pytest.param(
            "trickle.s9pk",
            r": too slow: \d+ B in 1 s \(at least 1000 B/s is needed\)$",
            id="trickle",
        ),
        pytest.param("slowhead.s9pk", r": no response within 1\.5 s$", id="slow head"),
        pytest.param("huge.s9pk", r": larger than 4\.0 MiB \(10\.0 GiB announced\)$", id="huge"),
    ],
)
def test_hostile_remote_source_fails_fast_and_leaves_nothing(
    tmp_path: Path, hostile: HostileServer, name: str, message: str
) -> None:
    good = pkg(tmp_path, "good.s9pk")
    cache = tmp_path / "cache"
    build_site(settings(tmp_path, [good], cache_dir=cache))
    before = snapshot(tmp_path / "site")
    url = f"{hostile.base}/{name}"
    start = time.monotonic()
    with pytest.raises(BuildError, match=message) as exc:
        build_site(
            settings(tmp_path, [good], remote_sources=(url,), cache_dir=cache, downloads=LIMITS)
        )
    assert time.monotonic() - start < 10
    assert exc.value.message.startswith(f"{url}: ")
    assert "\n" not in exc.value.message
    assert snapshot(tmp_path / "site") == before
    assert not [p for p in _files(cache / "downloads") if p.suffix == ".part"]
    assert sum(p.stat().st_size for p in _files(cache / "downloads")) <= LIMITS.max_bytes
    # Junk is refused on its first bytes, not after the cap.
    if name == "junk.s9pk":
        assert hostile.sent.get(name, 0) < LIMITS.max_bytes


def test_lying_short_content_length_is_read_no_further(
    tmp_path: Path, hostile: HostileServer
) -> None:
    """Content-Length 100 then endless bytes: 100 bytes are taken, and fail verification."""
    url = f"{hostile.base}/short.s9pk"
    got = download(url, tmp_path / "d" / "short.s9pk", limits=LIMITS, magic=(b";;\x02",))
    assert got.size == 100
    with pytest.raises(S9regError):
        build_site(settings(tmp_path, [], remote_sources=(url,), downloads=LIMITS))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("endless.iso", r"larger than 4\.0 MiB$", id="endless"),
        pytest.param("trickle.iso", r": too slow: ", id="trickle"),
    ],
)
def test_hostile_os_image_url(
    tmp_path: Path, hostile: HostileServer, name: str, message: str
) -> None:
    release = OsReleaseSettings(
        version=Version.parse("0.4.0"),
        headline="v0.4.0",
        source_version=VersionRange.parse(">=0.3.5:0"),
        images={"iso": {"x86_64": f"{hostile.base}/{name}"}},
    )
    start = time.monotonic()
    with pytest.raises(BuildError, match=message):
        build_site(
            settings(tmp_path, [], os_releases=(release,), registry_key=REGISTRY, downloads=LIMITS)
        )
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("endless.json", r"larger than 1\.0 MiB$", id="endless"),
        pytest.param("trickle.json", r": too slow: ", id="trickle"),
        pytest.param("slowhead.json", r": no response within 1\.5 s$", id="slow head"),
    ],
)
def test_hostile_previous_index(hostile: HostileServer, name: str, message: str) -> None:
    start = time.monotonic()
    with pytest.raises(BuildError, match=message):
        fetch_bytes(f"{hostile.base}/{name}", max_bytes=1 << 20, timeout=1.5, limits=LIMITS)
    assert time.monotonic() - start < 10


def test_previous_index_default_limits_refuse_a_trickle(hostile: HostileServer) -> None:
    """``--previous URL`` goes through the same watchdog (its head deadline here)."""
    with pytest.raises(BuildError, match="no response within"):
        read_site_index(f"{hostile.base}/slowhead.json", timeout=1.0)
