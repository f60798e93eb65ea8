"""Helpers of the publish tests: synthetic sites, a request recorder, a bucket with invariant checks."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse

from s9reg.publish import PublishConflictError, PublishSettings, S3Settings
from s9reg.publish.s3 import SHA256_METADATA, S3Target
from s9reg.publish.state import POINTER_KEY, Manifest, Pointer, manifest_key

from helpers.s3server import S3Endpoint

MIB = 1 << 20
_SESSION_LOCK = threading.Lock()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def site_files(tag: str, packages: tuple[str, ...] = ("hello", "notes")) -> dict[str, bytes]:
    """A site shaped like a real one; ``index.json`` lists every package file and icon by SHA-256."""
    files: dict[str, bytes] = {}
    refs: dict[str, str] = {}
    for pid in packages:
        blob = f"{pid} package bytes {tag}\n".encode() * 50
        icon = f"PNG {pid}".encode()
        files[f"{pid}/1.0:0/{pid}_{tag}.s9pk"] = blob
        files[f"_icons/{sha(icon)[:16]}.png"] = icon
        files[f"{pid}/index.json"] = json.dumps({"id": pid, "tag": tag}).encode()
        files[f"{pid}/index.html"] = f"<h1>{pid} {tag}</h1>".encode()
        files[f"rpc.v0/package.get/{pid}/full.json"] = json.dumps({"pid": pid, "t": tag}).encode()
        refs[f"{pid}/1.0:0/{pid}_{tag}.s9pk"] = sha(blob)
        refs[f"_icons/{sha(icon)[:16]}.png"] = sha(icon)
    files["rpc.v0/info.json"] = json.dumps({"name": "test", "tag": tag}).encode()
    files["feed.atom"] = f"<feed>{tag}</feed>".encode()
    files["index.json"] = json.dumps({"files": refs}, sort_keys=True).encode()
    files["index.html"] = f"<html>{tag}</html>".encode()
    files["s9reg-site.json"] = b'{"format":1}\n'
    return files


def write_site(root: Path, files: dict[str, bytes]) -> Path:
    """Replace ``root`` with exactly ``files`` (fresh mtimes, as a CI checkout)."""
    shutil.rmtree(root, ignore_errors=True)
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@dataclass
class Recorder:
    """Records every S3 request of one client (operation, key) and can inject faults."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    fault: Callable[[str, str, int], Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, target: S3Target) -> Recorder:
        for client in (target.client, target.state_client):
            client.meta.events.register("before-send.s3", self._on_send)
        return self

    def _on_send(self, request: Any, event_name: str, **_: Any) -> Any:
        op = event_name.rsplit(".", 1)[-1]
        parts = unquote(urlsplit(request.url).path).split("/", 2)
        key = parts[2] if len(parts) > 2 else ""
        with self.lock:
            self.calls.append((op, key))
            n = len(self.calls)
        return self.fault(op, key, n) if self.fault is not None else None

    def ops(self, *names: str) -> list[tuple[str, str]]:
        with self.lock:
            return [c for c in self.calls if not names or c[0] in names]

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def error_response(status: int, code: str) -> AWSResponse:
    """A canned S3 error response, as a server under load would send."""
    body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
    return AWSResponse("http://x", status, {"Content-Type": "application/xml"}, _Raw(body))


@dataclass
class Bucket:
    """One test bucket on an S3 server, with helpers to publish into it and inspect it."""

    endpoint: S3Endpoint
    name: str
    prefix: str = "reg"

    @cached_property
    def client(self) -> Any:
        return self.endpoint.client()

    def s3(self) -> S3Settings:
        return S3Settings(
            bucket=self.name,
            endpoint_url=self.endpoint.url,
            prefix=self.prefix,
            path_style=True,
            checksum_mode="when_required",
        )

    def settings(self, site: Path, **kw: Any) -> PublishSettings:
        kw.setdefault("retries", 2)
        return PublishSettings(site=site, target=self.s3(), **kw)

    @cached_property
    def session(self) -> Any:
        # One session: loading the service model again for every target costs 0.1 s.
        return self.endpoint.session()

    def target(self, settings: PublishSettings) -> S3Target:
        with _SESSION_LOCK:  # boto3 sessions may not create clients from two threads at once
            return S3Target(self.s3(), settings, self.session)

    def key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def get(self, key: str) -> bytes | None:
        client = self.client
        try:
            return bytes(client.get_object(Bucket=self.name, Key=self.key(key))["Body"].read())
        except client.exceptions.NoSuchKey:
            return None

    def stored(self) -> set[str]:
        client = self.client
        out: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=self.key("")
        ):
            out.update(o["Key"][len(self.key("")) :] for o in page.get("Contents", []))
        return out

    def pointer(self) -> Pointer:
        raw = self.get(POINTER_KEY)
        assert raw is not None
        return Pointer.from_json(raw, "pointer")

    def manifest(self, generation: int | None = None) -> Manifest:
        gen = self.pointer().generation if generation is None else generation
        raw = self.get(manifest_key(gen))
        assert raw is not None
        return Manifest.from_json(raw, "manifest")

    def head(self, key: str) -> dict[str, Any]:
        return dict(self.client.head_object(Bucket=self.name, Key=self.key(key)))

    def assert_live_index_complete(self) -> dict[str, str]:
        """Every file the live ``index.json`` lists exists with its SHA-256 (the reader's view)."""
        raw = self.get("index.json")
        assert raw is not None
        refs: dict[str, str] = json.loads(raw)["files"]
        for key, digest in refs.items():
            body = self.get(key)
            assert body is not None, f"live index references missing {key}"
            assert sha(body) == digest, f"live index references {key} with other bytes"
        return refs

    def assert_matches(self, files: dict[str, bytes]) -> None:
        """The live generation is exactly ``files``, stored with the right bytes and metadata."""
        manifest = self.manifest()
        assert set(manifest.objects) == set(files)
        for key, data in files.items():
            assert manifest.objects[key].sha256 == sha(data)
            assert self.get(key) == data, key
        assert self.pointer().lease is None
        assert self.head("index.json")["Metadata"][SHA256_METADATA] == sha(files["index.json"])


def race(publish: Callable[..., Any], bucket: Bucket, sites: list[Path]) -> list[Any]:
    """Run two publishers at once; both read the pointer before either writes it."""
    barrier = threading.Barrier(2, timeout=20)
    results: list[Any] = [None, None]

    def run(n: int) -> None:
        waited: list[bool] = []

        def hold(op: str, key: str, _n: int) -> None:
            if op == "PutObject" and key.endswith(POINTER_KEY) and not waited:
                waited.append(True)
                barrier.wait()

        try:
            results[n] = publish(bucket, sites[n], Recorder(fault=hold))
        except PublishConflictError as e:
            results[n] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
