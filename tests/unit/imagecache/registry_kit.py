"""Helpers for the image cache tests: real ``docker-registry`` instances on 127.0.0.1, no internet.

A plain registry filled by the test stands in for docker.io; images are built in memory
(spec ``image-cache.md`` §1.4, "Minimal test image").
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from s9reg.imagecache.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Manifest, RegistryClient
from s9reg.imagecache.settings import CacheSettings, Upstream

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass
class BuiltImage:
    """A single-platform image: its blobs and manifest."""

    manifest: Manifest
    blobs: dict[str, bytes]
    arch: str

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.blobs.values())


def build_image(content: bytes, *, arch: str = "amd64", docker: bool = False) -> BuiltImage:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = compact(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha(raw.getvalue())]},
            "config": {"Cmd": ["/bin/true"]},
        }
    )
    kind, ckind, lkind = (
        (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        if docker
        else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    )
    manifest = compact(
        {
            "schemaVersion": 2,
            "mediaType": kind,
            "config": {"mediaType": ckind, "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": lkind, "digest": sha(layer), "size": len(layer)}],
        }
    )
    return BuiltImage(
        Manifest.from_bytes(manifest, kind), {sha(config): config, sha(layer): layer}, arch
    )


@dataclass
class BuiltIndex:
    manifest: Manifest
    images: list[BuiltImage]


def build_index(content: bytes, arches: tuple[str, ...] = ("amd64", "arm64")) -> BuiltIndex:
    images = [build_image(content + arch.encode(), arch=arch) for arch in arches]
    index = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": i.manifest.digest,
                    "size": len(i.manifest.data),
                    "platform": {"architecture": i.arch, "os": "linux"},
                }
                for i in images
            ],
        }
    )
    return BuiltIndex(Manifest.from_bytes(index, OCI_INDEX), images)


def push_image(client: RegistryClient, repo: str, tag: str, image: BuiltImage) -> str:
    for digest, data in image.blobs.items():
        if not client.has_blob(repo, digest):
            client.push_blob(repo, digest, len(data), [data])
    return client.put_manifest(repo, tag, image.manifest)


def push_index(client: RegistryClient, repo: str, tag: str, index: BuiltIndex) -> str:
    for image in index.images:
        push_image(client, repo, image.manifest.digest, image)
    return client.put_manifest(repo, tag, index.manifest)


@dataclass
class PlainRegistry:
    """A plain (non-proxy) docker-registry on a free port, with its own storage root."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> RegistryClient:
        return RegistryClient(self.url)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root.parent / f"{self.root.name}.yml"
        config.write_text(
            json.dumps(
                {
                    "version": "0.1",
                    "log": {"level": "warn"},
                    "storage": {
                        "filesystem": {"rootdirectory": str(self.root)},
                        "delete": {"enabled": True},
                    },
                    "http": {"addr": f"127.0.0.1:{self.port}", "secret": "test"},
                }
            ),
            encoding="utf-8",
        )
        log = (self.root.parent / f"{self.root.name}.log").open("ab")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 10
        while not RegistryClient(self.url).ping(0.5):
            assert self.proc.poll() is None, "upstream registry exited"
            assert time.monotonic() < deadline, "upstream registry did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def make_settings(tmp_path: Path, upstream_url: str, **kw: object) -> CacheSettings:
    ports = [free_port() for _ in range(4)]
    up = Upstream(
        name="docker.io",
        url=upstream_url,
        port=ports[0],
        writer_port=ports[1],
        engine_port=ports[3],
    )
    args: dict[str, object] = {
        "data_dir": tmp_path / "cache",
        "upstreams": (up,),
        "api_port": ports[2],
        "recheck_seconds": 0.3,
    }
    args.update(kw)
    return CacheSettings(**args)  # type: ignore[arg-type]
