"""``check`` while the proxy commits a blob: the writer's 500 for it means "not stored yet".

distribution 2.8 answers a writer's ``HEAD`` of a blob with 500 while the proxy beside it
commits that blob (seen right after a pull-through, under load). The stand-in writer here
serves a real image's manifest and answers 500 for one blob, 404 for another.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from registry_kit import BuiltImage, build_image, make_settings

from s9reg.imagecache.errors import RegistryHttpError
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.store import check_image


class _Writer(BaseHTTPRequestHandler):
    image: ClassVar[BuiltImage]
    blob_status: ClassVar[dict[str, int]] = {}

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        manifest = self.image.manifest
        if self.path == "/v2/library/busy/manifests/1.0":
            self.send_response(200)
            self.send_header("Content-Type", manifest.media_type)
            self.send_header("Docker-Content-Digest", manifest.digest)
            self.send_header("Content-Length", str(len(manifest.data)))
            self.end_headers()
            self.wfile.write(manifest.data)
            return
        self._empty(404)

    def do_HEAD(self) -> None:
        digest = self.path.rpartition("/")[2]
        status = self.blob_status.get(digest, 200 if digest in self.image.blobs else 404)
        self._empty(status)

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[CacheSettings]:
    _Writer.image = build_image(b"busy")
    _Writer.blob_status = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Writer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    settings = make_settings(tmp_path, "http://127.0.0.1:9")
    up = dataclasses.replace(settings.upstreams[0], writer_port=httpd.server_address[1])
    try:
        yield dataclasses.replace(settings, upstreams=(up,))
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_blob_the_writer_cannot_serve_yet_is_missing(writer: CacheSettings) -> None:
    ref = ImageRef.parse("busy:1.0")
    assert check_image(writer, ref).complete
    busy, *_ = sorted(_Writer.image.blobs)
    _Writer.blob_status = {busy: 500}
    found = check_image(writer, ref)
    assert found.present
    assert not found.complete
    assert found.missing == (busy,)


def test_other_errors_of_the_writer_still_fail(writer: CacheSettings) -> None:
    busy, *_ = sorted(_Writer.image.blobs)
    _Writer.blob_status = {busy: 401}
    with pytest.raises(RegistryHttpError, match="HTTP 401"):
        check_image(writer, ImageRef.parse("busy:1.0"))
