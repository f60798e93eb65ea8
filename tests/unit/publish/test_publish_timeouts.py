"""A storage that never answers, and one that restarts, met by ``s9reg publish`` (issue #16)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pubkit import Bucket, Recorder, site_files, write_site

from s9reg.publish import PublishSettings, S3Settings, publish_site
from s9reg.s3 import StorageUnavailableError

from helpers.cli import run_cli
from helpers.s3server import S3Endpoint


@contextlib.contextmanager
def silent_endpoint() -> Iterator[str]:
    """A server that accepts every connection and never answers a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for conn in held:
            conn.close()


def test_silent_endpoint_fails_soon_with_a_line_per_retry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    site = write_site(tmp_path / "site", site_files("a"))
    with silent_endpoint() as url:
        s3 = S3Settings(bucket="b", endpoint_url=url, path_style=True)
        settings = PublishSettings(site=site, target=s3, retries=3, timeout=1, retry_backoff=0.1)
        started = time.monotonic()
        with (
            caplog.at_level(logging.WARNING, "s9reg.s3.retry"),
            pytest.raises(StorageUnavailableError, match="Read timed out"),
        ):
            publish_site(settings)
        elapsed = time.monotonic() - started
    # 3 attempts of 1 s and two short waits: not 6 minutes of silence.
    assert elapsed < 6, elapsed
    lines = [r.getMessage() for r in caplog.records if r.name == "s9reg.s3.retry"]
    assert lines == [
        "retrying GET _s9reg/pointer.json (2/3): read timeout",
        "retrying GET _s9reg/pointer.json (3/3): read timeout",
    ]


def test_cli_timeout_option_and_retry_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert run_cli(["demo", "init", str(tmp_path / "d")], capsys)[0] == 0
    cfg = tmp_path / "d" / "site-config.yaml"
    site = write_site(tmp_path / "site", site_files("a"))
    with silent_endpoint() as url:
        cfg.write_text(
            cfg.read_text()
            + f"\npublish:\n  bucket: b\n  endpoint_url: {url}\n  path_style: true\n"
        )
        started = time.monotonic()
        code, out, err = run_cli(
            ["-v", "publish", "--config", str(cfg), "--site", str(site), "--timeout", "1"], capsys
        )
        elapsed = time.monotonic() - started
    assert code == 1
    assert out == ""
    assert "retrying GET _s9reg/pointer.json (2/5): read timeout" in err
    assert "retrying GET _s9reg/pointer.json (5/5): read timeout" in err
    assert err.rstrip().splitlines()[-2].startswith("ERROR ")
    # 5 attempts of 1 s, and waits of about 1, 2, 4 and 8 s (with jitter, at least half).
    assert elapsed < 5 + 15 + 3, elapsed


class Proxy:
    """A TCP forwarder to a storage that the test can take down for a while (a restart)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = ("127.0.0.1", int(upstream.rsplit(":", 1)[1]))
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.closed = False
        self.timer: threading.Timer | None = None
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._serve(self.server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, server: socket.socket) -> None:
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client = server.accept()[0]
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _stop_listening(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()

    def down_for(self, seconds: float) -> None:
        """Refuse connections and cut open ones for ``seconds``, then accept again."""
        self._stop_listening()
        with self.lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self.conns.clear()

        def back() -> None:
            if not self.closed:
                self.server = socket.create_server(("127.0.0.1", self.port))
                self._serve(self.server)

        self.timer = threading.Timer(seconds, back)
        self.timer.start()

    def close(self) -> None:
        self.closed = True
        self._stop_listening()
        with self.lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()


def test_publish_survives_a_storage_restart_of_seconds(seaweed: S3Endpoint, tmp_path: Path) -> None:
    bucket = Bucket(seaweed, seaweed.new_bucket("restart"))
    proxy = Proxy(seaweed.url)
    try:
        via = Bucket(S3Endpoint(proxy.url, seaweed.access_key, seaweed.secret_key), bucket.name)
        files = site_files("a")
        site = write_site(tmp_path / "site", files)
        outage: list[float] = []

        def restart(op: str, key: str, _n: int) -> None:
            if op == "PutObject" and key.endswith(".s9pk") and not outage:
                outage.append(time.monotonic())
                proxy.down_for(3.0)

        settings = via.settings(site, retries=5)  # the default attempts and backoff
        target = via.target(settings)
        Recorder(fault=restart).attach(target)
        try:
            publish_site(settings, target)
        finally:
            target.close()
        assert outage
        bucket.assert_matches(files)
    finally:
        if proxy.timer is not None:
            proxy.timer.join()
        proxy.close()
