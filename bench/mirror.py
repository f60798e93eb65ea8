"""Benchmark: ``s9reg mirror`` of a local ``s9reg serve`` against plain copies of the same files.

Builds a registry of ``--packages`` packages (small valid packages from ``s9reg.s9pk.demo`` plus
a random ``payload.bin`` of ``--payload`` bytes each), serves it with ``s9reg serve``
(:class:`s9reg.serve.BackgroundServer`, in this process, on 127.0.0.1), and times, each into a
new directory:

* **s9reg mirror**: the command (a child process, Python start-up included) with ``--jobs``:
  listing, downloads, full verification of every file, the site's JSON;
* **wget**: ``wget -x -i URLS`` over the same file URLs (what ``wget --mirror`` does once it
  knows the links; a registry API has no HTML to crawl): one connection, no verification;
* **parallel copy**: ``--jobs`` threads doing plain GETs of the same URLs into files, as
  ``aws s3 sync`` does (10 concurrent requests by default): no verification, no index;

then the second run of each over its own finished copy: ``s9reg mirror`` again (nothing to
fetch), and ``wget -N`` (one conditional request per file). Usage and figures:
``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3

from s9reg.builder import BuildSettings, build_site
from s9reg.registry.model import FullIndex, Guid, SignerInfo
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.tree import Directory, File
from s9reg.s9pk.writer import write_archive_file
from s9reg.serve import BackgroundServer, ServeSettings

REPO = Path(__file__).resolve().parents[1]
MIB = 1 << 20
DEV_KEY = PrivateKey(bytes(range(32, 64)))  # throwaway keys, for this benchmark only
REGISTRY_KEY = PrivateKey(bytes(range(96, 128)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generate(root: Path, packages: int, payload: int, base: str) -> Path:
    """Write the packages and build the upstream site at ``base``; its directory."""
    src = root / "packages"
    src.mkdir(parents=True, exist_ok=True)
    for n in range(packages):
        dest = src / f"pkg{n:05d}.s9pk"
        if dest.exists():
            continue
        entries = dict(demo_package_tree(f"pkg{n:05d}", "1.0.0:0", arches=("x86_64",)).entries)
        entries["payload.bin"] = File.from_bytes(blake3.blake3(str(n).encode()).digest(payload))
        write_archive_file(dest, Directory.of(entries), DEV_KEY)
    guid = Guid.generate(b"bench")
    site = root / "site"
    build_site(
        BuildSettings(
            name="bench upstream",
            api_url=base + "/",
            file_urls=(base + "/",),
            signers={guid: SignerInfo("Bench", (), (DEV_KEY.public_key.to_pem(),))},
            admins=frozenset({guid}),
            sources=tuple(sorted(src.glob("*.s9pk"))),
            registry_key=REGISTRY_KEY,
            output=site,
            source_date_epoch=1_700_000_000,
        )
    )
    return site


def file_urls(site: Path) -> list[str]:
    index = FullIndex.from_dict(json.loads((site / "index.json").read_bytes()))
    return [
        asset.urls[0]
        for info in index.package.packages.values()
        for pv in info.versions.values()
        for _, asset in pv.s9pks
    ]


def timed(cmd: list[str]) -> tuple[float, bytes]:
    """Wall time of one run of ``cmd`` (which must succeed), and its output."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0, done.stdout


def parallel_copy(urls: list[str], dest: Path, jobs: int) -> float:
    """Plain GETs of every URL into ``dest`` with ``jobs`` threads (no verification)."""

    def one(url: str) -> None:
        path = dest / url.split("/", 3)[3]
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as r, path.open("wb") as f:
            shutil.copyfileobj(r, f, 1 << 20)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, urls))
    return time.perf_counter() - t0


def main() -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", type=int, default=200)
    ap.add_argument("--payload", type=int, default=1 << 20, help="bytes of payload per package")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--keep", type=Path, help="work here and keep the upstream for later runs")
    args = ap.parse_args()
    if shutil.which("wget") is None:
        print("wget not found (Debian package wget)", file=sys.stderr)
        return 2
    base_dir = args.keep or Path(tempfile.mkdtemp(prefix="s9reg-bench-mirror-"))
    root = base_dir / f"p{args.packages}-b{args.payload}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        shutil.rmtree(root / "site", ignore_errors=True)
        site = generate(root, args.packages, args.payload, base)
        urls = file_urls(site)
        total = sum(p.stat().st_size for p in site.rglob("*.s9pk"))
        print(f"upstream: {len(urls)} files, {total / MIB:.1f} MiB, served by s9reg serve")
        (root / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
        for d in ("m", "w", "p"):
            shutil.rmtree(root / d, ignore_errors=True)
        s9reg = str(Path(sys.executable).with_name("s9reg"))
        mirror = [s9reg, "mirror", "--from", base, str(root / "m"), "--jobs", str(args.jobs),
                  "--url", "http://127.0.0.1:5959/", "--json"]  # fmt: skip
        wget = ["wget", "-q", "-x", "-nH", "-P", str(root / "w"), "-i", str(root / "urls.txt")]
        settings = ServeSettings(
            site=str(site), port=port, client_timeout=30, refresh_interval=3600
        )
        with BackgroundServer(settings):
            t_mirror, out = timed(mirror)
            t_wget, _ = timed(wget)
            t_copy = parallel_copy(urls, root / "p", args.jobs)
            t_mirror2, out2 = timed(mirror)
            t_wget2, _ = timed([*wget, "-N"])
        first, second = json.loads(out), json.loads(out2)
        assert first["files"] == len(urls), first
        assert (second["present"], second["downloaded"]) == (len(urls), 0), second
        mib = total / MIB
        rows = [
            (f"s9reg mirror --jobs {args.jobs} (verified, indexed)", t_mirror),
            ("wget -i (one connection, unverified)", t_wget),
            (f"parallel GET x{args.jobs} (s3-sync-like, unverified)", t_copy),
        ]
        for label, t in rows:
            print(f"{label:52} {t:7.2f} s  ({mib / t:7.1f} MiB/s)")
        print(
            f"second run: s9reg mirror {t_mirror2:.2f} s (nothing fetched), wget -N {t_wget2:.2f} s"
        )
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
