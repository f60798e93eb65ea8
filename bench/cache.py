"""Benchmark: pull a 200 MiB image directly from an upstream, and through the cache cold and warm.

A plain ``docker-registry`` on 127.0.0.1 plays the upstream (4 random 50 MiB layers); the cache
is ``s9reg cache``'s supervised proxy + writer pair. Each pull checks every blob's SHA-256.
Prints times, throughputs and the ratios to the direct pull. Needs the Debian package
``docker-registry``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The test suite's helpers start plain docker-registry instances and push synthetic images.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "cache"))
from registry_kit import PlainRegistry, compact, free_port, sha

from s9reg.imagecache.oci import OCI_MANIFEST, Manifest, RegistryClient
from s9reg.imagecache.settings import CacheSettings, Upstream
from s9reg.imagecache.supervisor import Supervisor

MIB = 1 << 20
LAYERS = 4
LAYER_SIZE = 50 * MIB


def pull(url: str, repo: str, tag: str) -> int:
    total = 0
    with RegistryClient(url, timeout=120) as c:
        m = c.get_manifest(repo, tag)
        assert m is not None
        for blob in m.blobs():
            h = hashlib.sha256()
            with c.open_blob(repo, blob.digest) as chunks:
                for chunk in chunks:
                    h.update(chunk)
                    total += len(chunk)
            assert "sha256:" + h.hexdigest() == blob.digest
    return total


_reference: list[float] = []


def timed(label: str, fn: Callable[[], int]) -> None:
    """Run one pull and print its time, throughput and ratio to the first (direct) pull."""
    t = time.perf_counter()
    n = fn()
    dt = time.perf_counter() - t
    if not _reference:
        _reference.append(dt)
    ratio = dt / _reference[0]
    print(f"{label:28} {dt:7.2f} s  {n / MIB / dt:8.1f} MiB/s  {ratio:5.2f}x direct")


def main() -> None:
    """Run the benchmark."""
    tmp = Path(tempfile.mkdtemp(prefix="s9reg-bench-"))
    up = PlainRegistry(tmp / "upstream")
    up.start()
    try:
        layers = [os.urandom(LAYER_SIZE) for _ in range(LAYERS)]
        config = compact(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        )
        with up.client() as c:
            for data in [config, *layers]:
                c.push_blob(
                    "bench/big",
                    sha(data),
                    len(data),
                    [data[i : i + MIB] for i in range(0, len(data), MIB)],
                )
            manifest = compact(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": sha(config),
                        "size": len(config),
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": sha(d),
                            "size": len(d),
                        }
                        for d in layers
                    ],
                }
            )
            c.put_manifest("bench/big", "1", Manifest.from_bytes(manifest, OCI_MANIFEST))
        settings = CacheSettings(
            data_dir=tmp / "cache",
            upstreams=(
                Upstream(
                    name="docker.io",
                    url=up.url,
                    port=free_port(),
                    writer_port=free_port(),
                    engine_port=free_port(),
                ),
            ),
            api_port=free_port(),
        )
        with Supervisor(settings):
            local = settings.upstreams[0].local_url
            timed("direct from upstream", lambda: pull(up.url, "bench/big", "1"))
            timed("through cache, cold", lambda: pull(local, "bench/big", "1"))
            time.sleep(1)  # the proxy commits the last blob after sending it
            timed("through cache, warm", lambda: pull(local, "bench/big", "1"))
            timed("through cache, warm again", lambda: pull(local, "bench/big", "1"))
    finally:
        up.stop()


if __name__ == "__main__":
    main()
