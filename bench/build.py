"""Benchmark: ``s9reg build`` over many packages, full and no-op, against ``b3sum``.

Generates ``--packages`` package ids x ``--versions`` versions (small valid packages from
``s9reg.s9pk.demo`` plus a random ``payload.bin`` of ``--payload`` bytes each), then measures
on a warm page cache:

* **b3sum**: one ``b3sum`` run over the same ``.s9pk`` files (the floor for any verifier);
* **full build**: ``build_site`` into a new output with an empty verification cache (every
  body read and hashed), in this process; its **verification** phase (stage, verify in full
  and index every source: ``BuildReport.timings["sources"]``) is what is compared with
  ``b3sum`` over the same bytes, and the whole build is printed beside it;
* **no-op rebuild**: ``build_site`` again with nothing changed (in this process), and the whole
  ``s9reg build`` command in a child process (Python start-up included; one untimed run
  first, since the command's settings differ from the in-process ones).

Targets (issue 3): no-op rebuild under 2 s; full-build verification throughput within 1.5x of
``b3sum``. The exit code is 0 when both are met. Usage and figures: ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import blake3

from s9reg.builder import BuildSettings, build_site
from s9reg.registry.model import Guid, SignerInfo
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey, write_private_key
from s9reg.s9pk.tree import Directory, File
from s9reg.s9pk.writer import write_archive_file

REPO = Path(__file__).resolve().parents[1]
MIB = 1 << 20
TARGET_NOOP_S = 2.0
TARGET_RATIO = 1.5
DEV_KEY = PrivateKey(bytes(range(32, 64)))  # throwaway keys, for this benchmark only
REGISTRY_KEY = PrivateKey(bytes(range(96, 128)))


def _package_id(n: int) -> str:
    return f"pkg{n:05d}"


def _make_one(args: tuple[Path, int, int, int]) -> None:
    root, n, v, payload = args
    pid, version = _package_id(n), f"1.{v}.0:0"
    dest = root / "packages" / f"{pid}-{v}.s9pk"
    if dest.exists():
        return
    tree = demo_package_tree(pid, version, arches=("x86_64",))
    entries = dict(tree.entries)
    # Incompressible, reproducible and fast to make at any size: BLAKE3's extendable output.
    entries["payload.bin"] = File.from_bytes(blake3.blake3(f"{n}/{v}".encode()).digest(payload))
    write_archive_file(dest, Directory.of(entries), DEV_KEY)


def generate(root: Path, packages: int, versions: int, payload: int) -> list[Path]:
    """Write the packages (kept between runs with the same parameters); return their paths."""
    (root / "packages").mkdir(parents=True, exist_ok=True)
    jobs = [(root, n, v, payload) for n in range(packages) for v in range(versions)]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(_make_one, jobs, chunksize=16))
    return sorted((root / "packages").glob("*.s9pk"))


def settings(sources: list[Path], out: Path, cache: Path) -> BuildSettings:
    """Build settings: one admin signer (the developer key), a registry co-signing key."""
    guid = Guid.generate(b"bench")
    signer = SignerInfo(name="Bench", contact=(), keys=frozenset({DEV_KEY.public_key.to_pem()}))
    return BuildSettings(
        name="bench registry",
        api_url="https://registry.example/",
        file_urls=("https://cdn.example/", "https://mirror.example/"),
        signers={guid: signer},
        admins=frozenset({guid}),
        sources=tuple(sources),
        registry_key=REGISTRY_KEY,
        output=out,
        cache_dir=cache,
        source_date_epoch=1_700_000_000,
    )


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _config_file(root: Path, out: Path) -> Path:
    key = root / "registry.key.pem"
    if not key.exists():
        write_private_key(key, REGISTRY_KEY)
    cfg = root / "site-config.yaml"
    cfg.write_text(
        "registry:\n  name: bench registry\n  url: https://registry.example/\n"
        "  file_urls: [https://cdn.example/, https://mirror.example/]\n"
        f"  signing_key: file:{key}\n"
        "signers:\n  - name: Bench\n    admin: true\n"
        f"    keys: [{json.dumps(DEV_KEY.public_key.to_pem())}]\n"
        "packages:\n  sources: [packages/]\n"
        f"output: {out}\n",
        encoding="utf-8",
    )
    return cfg


def main() -> int:
    """Run the benchmark and print the figures; 0 when both targets are met."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=2)
    ap.add_argument("--payload", type=int, default=256 * 1024, help="bytes of payload per file")
    ap.add_argument("--keep", type=Path, help="work here and keep the packages for later runs")
    ap.add_argument("--repeat", type=int, default=3, help="no-op rebuild rounds (best kept)")
    args = ap.parse_args()
    if shutil.which("b3sum") is None:
        print("b3sum not found (Debian package b3sum; ./tasks bench installs it)", file=sys.stderr)
        return 2
    base = args.keep or Path(tempfile.mkdtemp(prefix="s9reg-bench-build-"))
    root = base / f"p{args.packages}-v{args.versions}-b{args.payload}"
    try:
        t = timed(lambda: generate(root, args.packages, args.versions, args.payload))
        sources = sorted((root / "packages").glob("*.s9pk"))
        total = sum(p.stat().st_size for p in sources)
        print(f"packages: {len(sources)} files, {total / MIB:.1f} MiB (generated in {t:.1f} s)")
        out, cache = root / "_site", root / ".s9reg-cache"
        for p in (out, cache):
            shutil.rmtree(p, ignore_errors=True)
        b3 = [str(p) for p in sources]
        subprocess.run(["b3sum", *b3], check=True, capture_output=True)  # warm the page cache
        t_b3 = min(
            timed(lambda: subprocess.run(["b3sum", *b3], check=True, capture_output=True))
            for _ in range(3)
        )
        t0 = time.perf_counter()
        report = build_site(settings(sources, out, cache))
        t_full = time.perf_counter() - t0
        t_verify = report.timings["sources"]
        assert report.verified == len(sources), report  # the cache was empty
        t_noop = min(
            timed(lambda: build_site(settings(sources, out, cache))) for _ in range(args.repeat)
        )
        cfg = _config_file(root, out)
        cmd = [str(Path(sys.executable).with_name("s9reg")), "build", "--config", str(cfg)]
        subprocess.run(cmd, check=True, capture_output=True)  # its own settings: one real build
        t_cli = min(
            timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
            for _ in range(args.repeat)
        )
        ratio = t_verify / t_b3
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in report.timings.items())
        print(f"b3sum over all files:          {t_b3:7.3f} s  ({total / MIB / t_b3:7.1f} MiB/s)")
        print(
            f"full build, verification:     {t_verify:7.3f} s  ({total / MIB / t_verify:7.1f} "
            f"MiB/s) = {ratio:.2f}x b3sum (target <= {TARGET_RATIO}x)"
        )
        print(
            f"full build, whole:             {t_full:7.3f} s  = {t_full / t_b3:.2f}x b3sum "
            f"({phases}; {(t_verify / len(sources)) * 1000:.2f} ms per file verified)"
        )
        print(f"no-op rebuild (in process):    {t_noop:7.3f} s  (target < {TARGET_NOOP_S} s)")
        print(f"no-op `s9reg build` (process): {t_cli:7.3f} s  (target < {TARGET_NOOP_S} s)")
        ok = ratio <= TARGET_RATIO and max(t_noop, t_cli) < TARGET_NOOP_S
        print("targets met" if ok else "targets NOT met")
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
