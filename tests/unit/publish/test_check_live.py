"""``s9reg check-live``: the smoke test through a real `s9reg serve` of a built site (#18).

Each case serves a site on 127.0.0.1 and checks it against the built site that was "published":
the same one passes; another build, a damaged package file, a generation that is not the live
one, and an API that answers errors fail with one line naming the URL and what differs.
"""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from s9reg.builder import build_site
from s9reg.publish import DirSettings, DirTarget, PublishSettings, publish_site
from s9reg.publish.live import LiveCheckError, check_live
from s9reg.serve import BackgroundServer, ServeSettings

from helpers.buildkit import ADMIN, pkg, settings
from helpers.cli import run_cli
from helpers.s3server import free_ports


def _build(root: Path, url: str, packages: list[tuple[str, str]]) -> Path:
    src = root / "src"
    src.mkdir(parents=True)
    files = [
        pkg(src, f"{id_}-{version.replace(':', '_')}.s9pk", ADMIN, id_=id_, version=version)
        for id_, version in packages
    ]
    built = settings(root, files, api_url=url, file_urls=(url,), output=root / "site")
    build_site(built)
    return root / "site"


class _Served:
    def __init__(self, site: Path, port: int) -> None:
        self.site = site
        self.url = f"http://127.0.0.1:{port}/"
        self.port = port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Served]:
    port = free_ports(1)[0]
    root = tmp_path_factory.mktemp("live")
    site = _build(root, f"http://127.0.0.1:{port}/", [("hello", "1.0.0:0"), ("wiki", "3.0.0:0")])
    served_copy = root / "served"
    shutil.copytree(site, served_copy)
    with BackgroundServer(ServeSettings(site=str(served_copy), port=port, client_timeout=5)):
        yield _Served(site, port)


def test_the_published_site_passes(served: _Served) -> None:
    result = check_live(served.url, served.site)
    assert result.packages == 2
    assert sorted(result.files) == [
        f"{served.url}hello/1.0.0:0/hello-1.0.0_0.s9pk",
        f"{served.url}wiki/3.0.0:0/wiki-3.0.0_0.s9pk",
    ]
    assert result.file_bytes > 0
    assert (
        result.index_sha256 == hashlib.sha256((served.site / "index.json").read_bytes()).hexdigest()
    )
    assert result.attempts == 1


def test_the_cli_prints_one_ok_line(served: _Served, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = served.site.parent / "site-config.yaml"
    cfg.write_text(f"registry:\n  name: t\n  url: {served.url}\noutput: site\n", encoding="utf-8")
    code, out, err = run_cli(["check-live", "--config", str(cfg)], capsys)
    assert code == 0, err
    assert out.startswith(f"OK {served.url.rstrip('/')}: index.json ")
    assert "info and package.get of 2 packages match, 2 package files verified (" in out
    assert out.count("\n") == 1


def test_another_build_is_one_line(
    served: _Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = _build(tmp_path, served.url, [("hello", "1.0.0:0")])
    with pytest.raises(LiveCheckError) as e:
        check_live(served.url, other)
    assert e.value.message.startswith(f"{served.url}index.json: sha256 ")
    assert "not the published" in e.value.message
    cfg = tmp_path / "site-config.yaml"
    cfg.write_text(f"registry:\n  name: t\n  url: {served.url}\noutput: site\n", encoding="utf-8")
    code, out, err = run_cli(["check-live", "--config", str(cfg)], capsys)
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert err.startswith(f"ERROR {served.url}index.json: sha256 ")


def test_stale_answers_are_retried_until_the_deadline(served: _Served, tmp_path: Path) -> None:
    other = _build(tmp_path, served.url, [("hello", "1.0.0:0")])
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with pytest.raises(LiveCheckError):
        check_live(served.url, other, wait=12, clock=lambda: now[0], sleep=sleep)
    assert waits == [5.0, 5.0, 2.0]


def test_a_damaged_package_file_is_named(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}/"
    site = _build(tmp_path, url, [("hello", "1.0.0:0")])
    damaged = tmp_path / "served"
    shutil.copytree(site, damaged)
    path = damaged / "hello" / "1.0.0:0" / "hello-1.0.0_0.s9pk"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with (
        BackgroundServer(ServeSettings(site=str(damaged), port=port, client_timeout=5)),
        pytest.raises(LiveCheckError) as e,
    ):
        check_live(url, site)
    assert e.value.message.startswith(f"{url}hello/1.0.0:0/hello-1.0.0_0.s9pk: ")
    assert "\n" not in e.value.message


def test_the_live_generation_must_be_the_one_published(served: _Served, tmp_path: Path) -> None:
    target_dir = tmp_path / "published"
    publish = PublishSettings(site=served.site, target=DirSettings(path=target_dir))
    assert publish_site(publish).generation == 1
    target = DirTarget(target_dir)
    assert check_live(served.url, served.site, target=target, generation=1).generation == 1
    with pytest.raises(LiveCheckError) as e:
        check_live(served.url, served.site, target=target, generation=2)
    assert e.value.message.endswith("the live generation is 1, not 2")
    # Another site published since: the live generation's manifest names another index.
    other = _build(tmp_path / "other", served.url, [("hello", "1.0.0:0")])
    publish_site(PublishSettings(site=other, target=DirSettings(path=target_dir)))
    with pytest.raises(LiveCheckError) as e:
        check_live(served.url, served.site, target=target, generation=2)
    assert "generation 2 did not publish this site's index.json" in e.value.message


class _StaticOnly(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_a_static_host_without_the_api_fails(served: _Served) -> None:
    handler = lambda *a: _StaticOnly(*a, directory=str(served.site))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        with pytest.raises(LiveCheckError) as e:
            check_live(url, served.site)
        assert e.value.message == f"{url}rpc/v0: HTTP 501 Unsupported method ('POST')"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
