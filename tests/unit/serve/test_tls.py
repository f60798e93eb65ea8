"""``s9reg serve --tls-cert/--tls-key``: HTTPS served directly, certificates renewed in place."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
from pathlib import Path

import pytest
from serve_client import BuiltSite, free_port, serve_process, stop, until

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.serve import BackgroundServer, ServeError, ServeSettings

from helpers.tls import self_signed


def _https(
    port: int, cert: Path, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes, bytes]:
    """Status, body and the DER certificate the server presented."""
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        assert conn.sock is not None
        der = conn.sock.getpeercert(binary_form=True)
        assert der is not None
        return r.status, data, der
    finally:
        conn.close()


def _der(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text(encoding="ascii"))


def test_https_answers_rpc_and_files_and_renews(built_site: BuiltSite, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = ServeSettings(site=str(built_site.path), port=0, tls_cert=cert, tls_key=key)
    with BackgroundServer(settings) as s:
        port = int(s.url.rsplit(":", 1)[1])
        status, body, der = _https(port, cert, "POST", "/rpc/v0", b'{"id":1,"method":"info"}')
        assert status == 200
        assert json.loads(body)["result"]["name"] == "Serve Test Registry"
        first = _der(cert)
        assert der == first
        # Files go out through the TLS transport too (no sendfile there).
        status, body, _ = _https(port, cert, "GET", "/index.json")
        assert status == 200
        assert body == (built_site.path / "index.json").read_bytes()
        # Plain HTTP on the TLS port gets no HTTP answer.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not raw.recv(100).startswith(b"HTTP/1.1 200")

        # A half-written renewal keeps the old certificate ...
        old = cert.read_bytes()
        cert.write_bytes(old[: len(old) // 2])
        s.refresh()
        cert.write_bytes(old)
        assert _https(port, cert, "GET", "/health")[2] == first
        # ... a complete one is served to new connections after the next refresh.
        new_cert, new_key = self_signed(tmp_path, "new-")
        shutil.copyfile(new_key, key)
        shutil.copyfile(new_cert, cert)
        s.refresh()
        status, _, der = _https(port, cert, "GET", "/health")
        assert status == 200
        assert der == _der(new_cert) != first


def test_bad_certificate_fails_the_start(built_site: BuiltSite, tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    _, other_key = self_signed(tmp_path, "other-")
    settings = ServeSettings(site=str(built_site.path), port=0, tls_cert=cert, tls_key=other_key)
    with pytest.raises(ServeError, match="cannot use the TLS certificate"):
        BackgroundServer(settings).start()


def test_tls_settings() -> None:
    with pytest.raises(ConfigError, match="both a certificate and its key"):
        ServeSettings(tls_cert=Path("c.pem"))


def test_tls_from_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "site-config.yaml"
    base = "registry:\n  name: T\n  url: https://r.example.org/\n"
    path.write_text(base + "serve:\n  tls: {cert: tls/c.pem, key: tls/k.pem}\n", encoding="utf-8")
    settings = config.serve_settings(config.load(path))
    assert (settings.tls_cert, settings.tls_key) == (tmp_path / "tls/c.pem", tmp_path / "tls/k.pem")
    path.write_text(base + "serve:\n  tls: {cert: c.pem}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="key"):
        config.load(path)


def test_cli_with_workers_over_tls(built_site: BuiltSite, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    args = ["--site", str(built_site.path), "--listen", f"127.0.0.1:{port}", "--workers", "2"]
    with serve_process(tmp_path, *args, "--tls-cert", str(cert), "--tls-key", str(key)) as proc:
        answers: list[tuple[int, bytes, bytes]] = []

        def answered() -> bool:
            assert proc.poll() is None
            try:
                answers.append(_https(port, cert, "POST", "/rpc/v0", b'{"method":"info"}'))
            except OSError:
                return False
            return True

        until(answered, "an HTTPS answer", timeout=30)
        status, body, _ = answers[-1]
        assert status == 200
        assert json.loads(body)["result"]["name"]
        err = stop(proc)
    assert proc.returncode == 0
    assert f"at https://127.0.0.1:{port}/ with 2 workers" in err
