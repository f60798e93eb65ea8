"""A small commented site config, and running ``s9reg registry …`` on it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from helpers.admin_site import ADMIN, CONFIG, DEV, OTHER, Run
from helpers.cli import run_cli


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """``site-config.yaml`` in a fresh directory, its public keys in ``keys/``."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "s9pk").mkdir()
    for name, key in (("admin", ADMIN), ("dev", DEV), ("other", OTHER)):
        (tmp_path / "keys" / f"{name}.pub").write_text(key.public_key.to_pem())
    path = tmp_path / "site-config.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], site: Path) -> Run:
    """``s9reg registry ARGS… --config SITE``: exit code, stdout, stderr."""

    def go(*args: str, config: Path | None = None) -> tuple[int, str, str]:
        return run_cli(["registry", *args, "--config", str(config or site)], capsys)

    return go


@pytest.fixture
def refused(run: Run, site: Path) -> Callable[..., str]:
    """Run a command that must be refused: exit 1, one ERROR line, the file byte-identical."""

    def go(*args: str) -> str:
        before = site.read_bytes()
        code, out, err = run(*args)
        assert code == 1, (out, err)
        assert out == ""
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("ERROR "), err
        assert site.read_bytes() == before
        return lines[0]

    return go


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet."""


@pytest.fixture
def http(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on 127.0.0.1: its base URL and the directory it serves."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
