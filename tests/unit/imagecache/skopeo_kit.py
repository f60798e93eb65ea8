"""Debian's ``skopeo`` as the OCI client of the image cache tests, and OCI layouts to push from.

Every call runs with ``--insecure-policy`` (no ``/etc/containers/policy.json`` needed), plain
HTTP, a deadline, and an empty ``registries.conf`` so the machine's settings play no part.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from registry_kit import BuiltImage, compact


@dataclass(frozen=True)
class Run:
    """A finished skopeo command."""

    code: int
    out: str
    err: str


def skopeo(tmp: Path, *args: str, timeout: float = 60.0) -> Run:
    conf = tmp / "registries.conf"
    if not conf.exists():
        conf.write_text("", encoding="utf-8")
    done = subprocess.run(
        ["skopeo", "--insecure-policy", "--registries-conf", str(conf), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def write_oci_layout(path: Path, image: BuiltImage, tag: str) -> Path:
    """An OCI image layout directory holding ``image`` under ``tag`` (``oci:PATH:TAG``)."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for digest, data in {**image.blobs, image.manifest.digest: image.manifest.data}.items():
        (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}), "utf-8")
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": image.manifest.media_type,
                "digest": image.manifest.digest,
                "size": len(image.manifest.data),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "index.json").write_bytes(compact(index))
    return path
