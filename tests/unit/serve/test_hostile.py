"""Hostile clients of a real ``s9reg serve`` process (issue #16): one clear answer, no traceback.

Each test reproduces a finding of the hardening review against the command a registry runs,
on 127.0.0.1, and reads what it logged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from serve_client import BuiltSite, free_port, request, rpc, serve_process, stop, until


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: str = ""


@contextmanager
def serving(site: Path, cwd: Path, *extra: str) -> Iterator[Served]:
    """``s9reg serve --site SITE EXTRA…`` on a free port, answering /health."""
    port = free_port()
    args = ("--site", str(site), "--listen", f"127.0.0.1:{port}", *extra)
    with serve_process(cwd, *args) as proc:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                return request(url, "GET", "/health").status == 200
            except OSError:
                return False

        until(up, "s9reg serve answers /health")
        yield Served(url, proc)


@pytest.fixture
def served(built_site: BuiltSite, tmp_path: Path) -> Iterator[Served]:
    """``s9reg serve`` of the test registry."""
    with serving(built_site.path, tmp_path) as s:
        yield s


def site_copy(built_site: BuiltSite, where: Path) -> Path:
    """A copy of the test site (hard links: cheap) that a test may change."""
    site = where / "site"
    shutil.copytree(built_site.path, site, copy_function=os.link)
    return site


def access_lines(log: str, path: str) -> list[str]:
    return [line for line in log.splitlines() if f'"POST {path}"' in line]


# --------------------------------------------------------------------------------------------
# JSON-RPC input that is not Unicode or not JSON
# --------------------------------------------------------------------------------------------

HOSTILE_RPC = [
    pytest.param(b'{"id":"\\ud800","method":"info"}', -32600, "id: ", None, id="surrogate id"),
    pytest.param(b'{"id":1e999,"method":"info"}', -32600, "id: ", None, id="infinite id"),
    pytest.param(b'{"id":-1e999,"method":"info"}', -32600, "id: ", None, id="-infinite id"),
    pytest.param(b'{"id":7,"method":"\\udfff"}', -32600, "method: ", None, id="surrogate method"),
    pytest.param(
        b'{"id":7,"method":"package.signer.list","params":{"id":"\\ud800"}}',
        -32602,
        "id: ",
        7,
        id="signer.list id",
    ),
    pytest.param(
        b'{"id":7,"method":"package.get","params":{"id":"pkg00","otherVersions":"\\ud800"}}',
        -32602,
        "otherVersions: ",
        7,
        id="otherVersions",
    ),
    pytest.param(
        b'{"id":7,"method":"os.version.get","params":{"platform":"\\udbff"}}',
        -32602,
        "platform: ",
        7,
        id="os platform",
    ),
    pytest.param(
        b'{"id":7,"method":"package.get","params":{"x":{"y":["a","\\ud800"]}}}',
        -32602,
        "x.y[1]: ",
        7,
        id="nested unknown param",
    ),
    pytest.param(
        b'{"id":7,"method":"info","params":{"\\ud800":1}}', -32602, "params: ", 7, id="key"
    ),
    pytest.param(
        b'{"id":7,"method":"package.signer.list","params":{"id":"\xed\xa0\x80"}}',
        -32602,
        "id: ",
        7,
        id="CESU-8 bytes",
    ),
]


@pytest.mark.parametrize(("body", "code", "names", "rid"), HOSTILE_RPC)
def test_hostile_rpc_gets_its_error_and_one_log_line(
    served: Served, body: bytes, code: int, names: str, rid: object
) -> None:
    for _ in range(3):
        r = rpc(served.url, body)
        assert r.status == 200
        doc = json.loads(r.body.decode("utf-8"))  # strict UTF-8 and JSON: no Infinity
        assert doc["id"] == rid
        assert doc["error"]["code"] == code, doc
        assert doc["error"]["data"].startswith(names), doc
        assert "surrogate" in doc["error"]["data"] or "out of range" in doc["error"]["data"]
    log = stop(served.proc)
    assert "Traceback" not in log
    assert "internal error" not in log
    assert len(access_lines(log, "/rpc/v0")) == 3, log


def test_batch_with_a_hostile_member(served: Served) -> None:
    body = b'[{"id":1,"method":"info"},{"id":"\\ud800","method":"info"},{"id":1e999,"method":"x"}]'
    doc = json.loads(rpc(served.url, body).body.decode("utf-8"))
    assert "result" in doc[0]
    assert [d["error"]["code"] for d in doc[1:]] == [-32600, -32600]
    log = stop(served.proc)
    assert "Traceback" not in log


def test_access_log_escapes_what_clients_choose(served: Served) -> None:
    body = b'{"id":1,"method":"info\\n1.2.3.4 \\"GET /forged\\" 200 \\u001b[31m"}'
    assert rpc(served.url, body).json()["error"]["code"] == -32601
    log = stop(served.proc)
    assert "\x1b" not in log
    (line,) = access_lines(log, "/rpc/v0")
    assert re.search(r"rpc=info\\n1\.2\.3\.4 \"GET /forged\" 200 \\x1b\[31m$", line), line
    assert not any(line.startswith('1.2.3.4 "GET /forged"') for line in log.splitlines())


# --------------------------------------------------------------------------------------------
# Files: links out of the site, the publisher's state, /health
# --------------------------------------------------------------------------------------------

SECRET = b"root:x:0:0:secret outside the site\n"


def test_links_out_of_the_site_are_not_followed(built_site: BuiltSite, tmp_path: Path) -> None:
    site = site_copy(built_site, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_bytes(SECRET)
    (outside / "info.json").write_bytes(b'{"name":"' + SECRET.strip() + b'"}')
    (site / "hello").mkdir()
    (site / "hello" / "x.json").symlink_to(outside / "passwd")
    (site / "etc").symlink_to(outside)
    (site / "relative.json").symlink_to(Path("..") / "outside" / "passwd")
    (site / "inside.json").symlink_to("index.json")  # a link within the site is fine
    info = site / "rpc.v0" / "info.json"
    info.unlink()
    info.symlink_to(outside / "info.json")  # a precomputed answer linked out: computed instead
    with serving(site, tmp_path) as s:
        for path in ("/hello/x.json", "/etc/passwd", "/relative.json", "/etc/"):
            r = request(s.url, "GET", path)
            assert (r.status, r.body) == (404, b"not found\n"), path
        inside = request(s.url, "GET", "/inside.json")
        assert inside.status == 200
        assert inside.body == (site / "index.json").read_bytes()
        got = rpc(s.url, {"id": 1, "method": "info"})
        assert SECRET.strip() not in got.body
        assert got.json()["result"]["name"] == "Serve Test Registry"
        log = stop(s.proc)
    assert "Traceback" not in log


def test_publisher_state_is_not_served(built_site: BuiltSite, tmp_path: Path) -> None:
    site = site_copy(built_site, tmp_path)
    state = site / "_s9reg"
    (state / "manifests").mkdir(parents=True)
    (state / "pointer.json").write_text('{"lease":{"holder":"build-host:4242"}}')
    (state / "manifests" / "g1.json").write_text("{}")
    with serving(site, tmp_path) as s:
        for path in (
            "/_s9reg/pointer.json",
            "/_s9reg/manifests/g1.json",
            "/_s9reg/",
            "/_s9reg",
            "/%5Fs9reg/pointer.json",
            "/_s9reg/manifests/",
        ):
            for method in ("GET", "HEAD"):
                r = request(s.url, method, path)
                assert r.status == 404, (method, path)
                assert b"build-host" not in r.body
        health = request(s.url, "GET", "/health")
        assert health.json()["source"] == "local"
        assert str(tmp_path) not in health.body.decode()
        assert request(s.url, "GET", "/index.json").status == 200


def test_svg_gets_a_sandbox_policy_and_no_file_is_sniffed(
    served: Served, built_site: BuiltSite
) -> None:
    svg = min(built_site.path.rglob("*.svg")).relative_to(built_site.path).as_posix()
    r = request(served.url, "GET", f"/{svg}")
    assert r.status == 200
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.headers["x-content-type-options"] == "nosniff"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert csp.split(";")[-1].strip() == "sandbox"
    index = request(served.url, "GET", "/index.json")
    assert index.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in index.headers
