"""The registry client against a hostile upstream (issue #16): one CacheError, never a crash.

A test HTTP server on 127.0.0.1 answers what an upstream the operator does not control may
send: non-ASCII in a token realm, a token or a redirect, and manifests that Python's JSON
decoder cannot take (a 5,000-digit number, nesting beyond the recursion limit).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from s9reg.imagecache.errors import CacheError
from s9reg.imagecache.oci import OCI_MANIFEST, RegistryClient

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture
def hostile() -> Iterator[Callable[[Callable[[str, str], Reply]], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Callable[[str, str], Reply]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def reply(self) -> None:
                status, headers, body = answer(self.command, self.path)
                # Raw UTF-8 bytes, as a hostile server may send them.
                out = f"HTTP/1.1 {status} X\r\nConnection: close\r\n".encode()
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    out += f"{k}: {v}\r\n".encode()
                out += b"\r\n" + (body if self.command != "HEAD" else b"")
                self.wfile.write(out)
                self.close_connection = True

            do_GET = do_HEAD = reply  # noqa: N815

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def manifest_reply(body: bytes) -> Reply:
    return 200, {"Content-Type": OCI_MANIFEST}, body


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param(b'{"schemaVersion": ' + b"1" * 5000 + b"}", "not JSON", id="digits"),
        pytest.param(b"[" * 200_000 + b"]" * 200_000, "not JSON", id="nesting"),
        pytest.param(b'{"schemaVersion": NaN}', "not JSON", id="nan"),
    ],
)
def test_manifest_python_cannot_decode(
    hostile: Callable[[Callable[[str, str], Reply]], str], body: bytes, words: str
) -> None:
    url = hostile(lambda _m, _p: manifest_reply(body))
    with RegistryClient(url) as c, pytest.raises(CacheError, match=words):
        c.get_manifest("library/x", "1")


@pytest.mark.parametrize(
    ("realm_path", "token"),
    [
        pytest.param("/tok\u00e9n", "t", id="realm-latin1"),
        pytest.param("/\u0661\u0662", "t", id="realm-arabic-indic"),
        pytest.param("/token", "\u0661\u0662", id="token-not-latin1"),
        pytest.param("/token", "a\r\nX-Injected: 1", id="token-crlf"),
    ],
)
def test_token_dance_with_non_ascii(
    hostile: Callable[[Callable[[str, str], Reply]], str], realm_path: str, token: str
) -> None:
    base: list[str] = []

    def answer(_method: str, path: str) -> Reply:
        if path.startswith("/v2/"):
            realm = f'Bearer realm="{base[0]}{realm_path}",service="x"'
            return 401, {"WWW-Authenticate": realm}, b"{}"
        return 200, {"Content-Type": "application/json"}, json.dumps({"token": token}).encode()

    base.append(hostile(answer))
    with RegistryClient(base[0]) as c, pytest.raises(CacheError):
        c.get_manifest("library/x", "1")


@pytest.mark.parametrize(
    "location", ["/v2/library/x/blobs/\u00e9", "http://\u0661\u0662.example/x", "/a\r\nb"]
)
def test_redirect_to_non_ascii(
    hostile: Callable[[Callable[[str, str], Reply]], str], location: str
) -> None:
    url = hostile(lambda _m, _p: (307, {"Location": location}, b""))
    with RegistryClient(url) as c, pytest.raises(CacheError):
        c.get_manifest("library/x", "1")
    with RegistryClient(url) as c, pytest.raises(CacheError):  # noqa: SIM117 - two steps
        with c.open_blob("library/x", "sha256:" + "0" * 64) as chunks:
            b"".join(chunks)


@pytest.mark.parametrize("length", ["\u0661\u0662", "12abc", "-5"])
def test_head_with_a_bad_content_length(
    hostile: Callable[[Callable[[str, str], Reply]], str], length: str
) -> None:
    headers = {
        "Content-Type": OCI_MANIFEST,
        "Docker-Content-Digest": "sha256:" + "0" * 64,
        "Content-Length": length,
    }
    url = hostile(lambda _m, _p: (200, headers, b""))
    with RegistryClient(url) as c, pytest.raises(CacheError, match="Content-Length"):
        c.head_manifest("library/x", "1")


@pytest.mark.parametrize(
    "entry",
    [
        {"digest": "sha256:../../../v2/other/manifests/latest", "size": 1},
        {"digest": "sha256:" + "\u0661" * 64, "size": 1},
        {"digest": "sha256:" + "0" * 64, "size": -1},
    ],
)
def test_manifest_entries_with_bad_digests(
    hostile: Callable[[Callable[[str, str], Reply]], str], entry: dict[str, object]
) -> None:
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": entry, "layers": []}
    url = hostile(lambda _m, _p: manifest_reply(json.dumps(doc).encode()))
    with RegistryClient(url) as c:
        manifest = c.get_manifest("library/x", "1")
    assert manifest is not None
    with pytest.raises(CacheError, match="bad digest or size"):
        manifest.blobs()


def test_bad_docker_content_digest(hostile: Callable[[Callable[[str, str], Reply]], str]) -> None:
    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:../x"}
    url = hostile(lambda _m, _p: (200, headers, b""))
    with RegistryClient(url) as c, pytest.raises(CacheError, match="Docker-Content-Digest"):
        c.head_manifest("library/x", "1")
