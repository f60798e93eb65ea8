"""Build the StartOS package of s9reg (`./tasks startos-package`; docs/startos-service.md).

From Debian packages, PyPI and npm only, without Docker or start-cli: the root filesystem by
mmdebstrap (as a tar, so that it also works without root), s9reg and its dependencies installed
from wheels downloaded for the target architecture, ``images/<arch>/s9reg.{squashfs,json,env}``
by sqfstar, the procedures bundled by esbuild into ``javascript.squashfs``, then
``s9reg s9pk pack``. Slow steps are cached under ``--cache`` by a hash of their inputs. It does
not install anything: missing tools are named with the Debian package that provides them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IMAGE_ID = "s9reg"
ARCHES = ("x86_64", "aarch64")
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
SUITE = "bookworm"
PYTHON = "3.11"  # bookworm's python3
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
# Left out of the root filesystem: documentation, manuals, translations, glibc's iconv modules
# (Python has its own codecs); Python's test suite and help texts are removed after install
# (python3.11's postinst compiles them).
PATH_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
    "/usr/share/bash-completion/*",
    "/usr/lib/*/gconv/*",
)
# Essential packages nothing at run time needs: perl (pulled in by usrmerge) is a third of it.
PURGE = r"^(perl|perl-base|perl-modules-.*|libperl.*|lib.*-perl|usrmerge)$"
# Bump when the recipe changes in a way the inputs above do not show.
RECIPE = 1
# Parts of the installed wheels that s9reg never loads (tests; AWS services other than S3 and
# the credential chain's STS and SSO).
BOTOCORE_KEEP = {"s3", "sts", "sso", "sso-oidc"}
PRUNE_DIRS = ("Crypto/SelfTest", "bin")
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHONPATH": "/opt/s9reg",
    "PYTHONUNBUFFERED": "1",
    "LANG": "C.UTF-8",
}
LAUNCHER = """#!/usr/bin/python3
import sys
sys.path.insert(0, "/opt/s9reg")
from s9reg.cli import main
sys.exit(main())
"""
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1735689600"))  # 2025-01-01


class BuildError(Exception):
    """A step failed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Tools:
    """The external programs, found on PATH."""

    mmdebstrap: str
    sqfstar: str
    mksquashfs: str
    node: str

    @classmethod
    def find(cls) -> Tools:
        """Raises BuildError naming the Debian package of a missing tool."""
        found = {}
        for name, package in (
            ("mmdebstrap", "mmdebstrap"),
            ("sqfstar", "squashfs-tools"),
            ("mksquashfs", "squashfs-tools"),
            ("node", "nodejs"),
        ):
            path = shutil.which(name)
            if path is None:
                msg = f"{name} not found: apt-get install {package}"
                raise BuildError(msg)
            found[name] = path
        return cls(**found)


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(f"==> {msg}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    """Run quietly; on failure the command and its output's tail are in the error."""
    res: subprocess.CompletedProcess[bytes] = subprocess.run(  # type: ignore[call-overload]
        list(cmd), capture_output=True, check=False, **kw
    )
    if res.returncode != 0:
        tail = (res.stderr or b"").decode(errors="replace").strip().splitlines()[-15:]
        msg = f"{' '.join(cmd[:3])} … failed ({res.returncode}):\n" + "\n".join(tail)
        raise BuildError(msg)
    return res


def digest(*parts: object) -> str:
    """A short hash of a recipe: the cache key."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def host_arch() -> str:
    """This machine's architecture, in StartOS's names."""
    machine = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


# --- the Debian base ------------------------------------------------------------------------


def base_tar(arch: str, cache: Path, tools: Tools) -> Path:
    """The trimmed Debian root filesystem with python3, as a tar; built once per recipe."""
    recipe = {
        "suite": SUITE,
        "arch": DEBIAN_ARCH[arch],
        "mirrors": MIRRORS,
        "excludes": PATH_EXCLUDES,
        "purge": PURGE,
        "recipe": RECIPE,
        "epoch": EPOCH,
    }
    out = cache / f"base-{arch}-{digest(recipe)}.tar"
    if out.is_file():
        return out
    if arch != host_arch():
        check_emulation(arch)
    log(f"mmdebstrap {SUITE} {DEBIAN_ARCH[arch]} (once per recipe; cached as {out.name})")
    cache.mkdir(parents=True, exist_ok=True)
    purge = (
        'chroot "$1" sh -c \'dpkg --purge --force-remove-essential --force-depends'
        f' $(dpkg-query -W -f "\\${{Package}}\\n" | grep -E "{PURGE}")\' >/dev/null'
    )
    cmd = [
        tools.mmdebstrap,
        "--quiet",
        "--variant=essential",
        f"--architectures={DEBIAN_ARCH[arch]}",
        "--include=python3",
        "--format=tar",
        *(f"--dpkgopt=path-exclude={p}" for p in PATH_EXCLUDES),
        f"--customize-hook={purge}",
        (
            '--customize-hook=rm -rf "$1"/var/log/* "$1"/var/cache/* "$1"/var/lib/apt/lists/*'
            ' "$1"/usr/lib/python3*/test "$1"/usr/lib/python3*/pydoc_data'
        ),
        SUITE,
        str(out) + ".part",
        *MIRRORS,
    ]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    part = Path(str(out) + ".part")
    try:
        run(cmd, env=env)
    except BuildError:
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    return out


def check_emulation(arch: str) -> None:
    """A foreign architecture runs its maintainer scripts under qemu-user (binfmt_misc)."""
    entry = Path(f"/proc/sys/fs/binfmt_misc/qemu-{arch}")
    if not entry.exists() or "enabled" not in entry.read_text():
        msg = (
            f"building for {arch} on {host_arch()} needs qemu-user-static registered with "
            "binfmt_misc: apt-get install qemu-user-static binfmt-support arch-test; "
            "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; "
            f"update-binfmts --enable qemu-{arch}"
        )
        raise BuildError(msg)


# --- s9reg and its dependencies ---------------------------------------------------------------


def platform_tags(arch: str) -> list[str]:
    """The ``--platform`` options of pip; several, as older pip does not widen them."""
    return [
        f"--platform=manylinux_2_{minor}_{arch}" for minor in (36, 34, 31, 28, 26, 17, 12, 5)
    ] + [f"--platform=manylinux2014_{arch}", f"--platform=manylinux1_{arch}"]


def s9reg_wheel(work: Path) -> Path:
    """A wheel of this checkout."""
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(ROOT)])
    (wheel,) = work.glob("s9reg-*.whl")
    return wheel


def constraints() -> str:
    """The dependency versions of the environment running this: the tested ones."""
    out = run([sys.executable, "-m", "pip", "list", "--format=json", "--exclude-editable"])
    pins = sorted(f"{p['name']}=={p['version']}" for p in json.loads(out.stdout))
    return "\n".join(pins) + "\n"


def app_tree(arch: str, wheel: Path, cache: Path, work: Path) -> Path:
    """s9reg installed for ``arch`` under ``opt/s9reg`` of a staging directory, pruned."""
    pins = constraints()
    wheels = cache / f"wheels-{arch}-{digest(pins, PYTHON)}"
    pip = [sys.executable, "-m", "pip"]
    target = [f"--python-version={PYTHON}", "--implementation=cp", "--only-binary=:all:"]
    target += platform_tags(arch)
    work.mkdir(parents=True, exist_ok=True)
    (work / "constraints.txt").write_text(pins)
    if not wheels.is_dir():
        log(f"pip download: the dependencies' wheels for {arch} (cached as {wheels.name})")
        part = Path(str(wheels) + ".part")
        shutil.rmtree(part, ignore_errors=True)
        run([*pip, "download", "-q", "-d", str(part), "-c", str(work / "constraints.txt"),
             *target, str(wheel)])  # fmt: skip
        for own in part.glob("s9reg-*.whl"):
            own.unlink()
        part.replace(wheels)
    stage = work / "app"
    log(f"pip install s9reg for {arch}")
    run([*pip, "install", "-q", "--no-index", "--find-links", str(wheels), "--target",
         str(stage / "opt/s9reg"), *target, str(wheel)])  # fmt: skip
    prune(stage / "opt/s9reg")
    launcher = stage / "usr/local/bin/s9reg"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    (stage / "data").mkdir()
    return stage


def prune(site: Path) -> None:
    """Remove what s9reg never loads; see BOTOCORE_KEEP and PRUNE_DIRS."""
    for rel in PRUNE_DIRS:
        shutil.rmtree(site / rel, ignore_errors=True)
    for data in (site / "botocore/data", site / "boto3/data"):
        for service in data.iterdir() if data.is_dir() else ():
            if service.is_dir() and service.name not in BOTOCORE_KEEP:
                shutil.rmtree(service)
    for tests in [*site.glob("*/tests"), *site.glob("*/test")]:
        shutil.rmtree(tests)


# --- the image ----------------------------------------------------------------------------------


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = EPOCH
    return info


def rootfs_tar(base: Path, stage: Path, out: Path) -> Path:
    """The base tar with the staged files added (owned by root)."""
    shutil.copyfile(base, out)
    with tarfile.open(out, "a", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(stage.rglob("*")):
            tar.add(path, arcname="./" + str(path.relative_to(stage)), recursive=False,
                    filter=_root_owned)  # fmt: skip
    return out


def image_files(tar: Path, arch: str, dest: Path, tools: Tools, comp: str) -> None:
    """``images/<arch>/s9reg.{squashfs,json,env}``."""
    images = dest / "images" / arch
    images.mkdir(parents=True, exist_ok=True)
    log(f"sqfstar -comp {comp}: images/{arch}/{IMAGE_ID}.squashfs")
    squashfs = images / f"{IMAGE_ID}.squashfs"
    squashfs.unlink(missing_ok=True)
    with tar.open("rb") as f:
        run([tools.sqfstar, "-quiet", "-no-progress", "-comp", comp, "-mkfs-time", str(EPOCH),
             "-all-time", str(EPOCH), str(squashfs)], stdin=f)  # fmt: skip
    meta = {"workdir": "/data", "user": "root", "entrypoint": None, "cmd": ["s9reg", "serve"]}
    (images / f"{IMAGE_ID}.json").write_text(json.dumps(meta, separators=(",", ":")))
    (images / f"{IMAGE_ID}.env").write_text("\n".join(f"{k}={v}" for k, v in ENV.items()))


def extract(tar: Path, dest: Path) -> None:
    """Unpack a root filesystem (device nodes left out: a container gets its own /dev)."""
    dest.mkdir(parents=True)
    with tarfile.open(tar) as t:
        members = [m for m in t.getmembers() if not (m.ischr() or m.isblk())]
        t.extractall(dest, members=members, filter="fully_trusted")


# --- the procedures -----------------------------------------------------------------------------


def javascript(dest: Path, tools: Tools, work: Path) -> dict[str, object]:
    """``javascript.squashfs`` from startos/*.ts, and the manifest its bundle exports."""
    esbuild = HERE / "node_modules/.bin/esbuild"
    if not esbuild.exists():
        msg = "startos/node_modules is missing: run `npm ci --prefix startos`"
        raise BuildError(msg)
    js = work / "javascript"
    log("esbuild: the procedures → javascript/index.js")
    run([str(esbuild), str(HERE / "index.ts"), "--bundle", "--platform=node", "--format=cjs",
         "--target=node20", "--minify", "--keep-names", "--log-level=warning",
         f"--outfile={js / 'index.js'}"])  # fmt: skip
    probe = "console.log(JSON.stringify(require(process.argv[1]).manifest))"
    manifest = json.loads(run([tools.node, "-e", probe, str(js / "index.js")]).stdout)
    out = dest / "javascript.squashfs"
    out.unlink(missing_ok=True)
    run([tools.mksquashfs, str(js), str(out), "-quiet", "-no-progress", "-comp", "xz",
         "-all-root", "-mkfs-time", str(EPOCH), "-all-time", str(EPOCH)])  # fmt: skip
    return dict(manifest)


def for_arches(manifest: dict[str, object], arches: Sequence[str]) -> dict[str, object]:
    """The manifest of a package holding only these architectures' images (start-cli --arch)."""
    images = {
        image_id: {**config, "arch": [a for a in config["arch"] if a in arches]}
        for image_id, config in manifest["images"].items()  # type: ignore[attr-defined]
    }
    hardware = dict(manifest["hardwareRequirements"])  # type: ignore[call-overload]
    hardware["arch"] = [a for a in hardware.get("arch") or ARCHES if a in arches]
    return {**manifest, "images": images, "hardwareRequirements": hardware}


# --- the package --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """What a build made, with figures for the report."""

    package: Path
    sizes: dict[str, int]
    seconds: float
    phases: dict[str, float]


def build(  # noqa: PLR0913
    arches: Sequence[str],
    key: Path,
    out: Path,
    cache: Path,
    *,
    comp: str = "xz",
    rootfs_dir: Path | None = None,
) -> Built:
    """Build one package holding ``arches``' images; ``rootfs_dir`` also gets the x86_64 tree."""
    started = time.monotonic()
    phases: dict[str, float] = {}
    mark = started

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = phases.get(name, 0.0) + now - mark
        mark = now

    tools = Tools.find()
    if not key.is_file():
        msg = f"{key}: no developer key (create one with `s9reg key init --path {key}`)"
        raise BuildError(msg)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{IMAGE_ID}_{arches[0]}.s9pk" if len(arches) == 1 else f"{IMAGE_ID}.s9pk"
    with tempfile.TemporaryDirectory(prefix="s9reg-startos-") as tmp:
        work = Path(tmp)
        tree = work / "package"
        tree.mkdir()
        manifest = javascript(tree, tools, work)
        phase("javascript")
        wheel = s9reg_wheel(work / "wheel")
        phase("wheel")
        for arch in arches:
            base = base_tar(arch, cache, tools)
            phase("debian base")
            stage = app_tree(arch, wheel, cache, work / arch)
            phase("pip")
            tar = rootfs_tar(base, stage, work / arch / "rootfs.tar")
            image_files(tar, arch, tree, tools, comp)
            phase("squashfs")
            if rootfs_dir is not None and arch == arches[0]:
                shutil.rmtree(rootfs_dir, ignore_errors=True)
                extract(tar, rootfs_dir)
                phase("unpack")
            tar.unlink()
        (tree / "manifest.json").write_text(
            json.dumps(for_arches(manifest, arches), separators=(",", ":"))
        )
        for src, dst in (("icon.svg", "icon.svg"), ("LICENSE.md", "LICENSE.md"),
                         ("instructions.md", "instructions.md")):  # fmt: skip
            shutil.copyfile(HERE / src, tree / dst)
        package = out / name
        log(f"s9reg s9pk pack → {package}")
        run([sys.executable, "-m", "s9reg", "s9pk", "pack", str(tree), "-o", str(package),
             "--key", str(key)])  # fmt: skip
        phase("pack")
        sizes = {str(p.relative_to(tree)): p.stat().st_size for p in sorted(tree.rglob("*"))
                 if p.is_file()}  # fmt: skip
    sizes["package"] = package.stat().st_size
    return Built(package, sizes, time.monotonic() - started, phases)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    """``./tasks startos-package``: prints the package path and its sizes."""
    p = argparse.ArgumentParser(prog="./tasks startos-package", description=__doc__)
    p.add_argument(
        "--arch", choices=[*ARCHES, "all"], default=host_arch(),
        help="one architecture, or all in one package (default: this machine's)",
    )  # fmt: skip
    p.add_argument(
        "--key", type=Path, default=Path("~/.startos/developer.key.pem"),
        help="developer key that signs the package (start-cli's default path)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "dist/startos", help="output directory")
    p.add_argument("--cache", type=Path, default=ROOT / ".s9reg-cache/startos",
                   help="where the root filesystem and wheels are kept between builds")  # fmt: skip
    p.add_argument("--comp", default="xz", help="squashfs compression of the image (default xz)")
    args = p.parse_args(argv)
    arches = list(ARCHES) if args.arch == "all" else [args.arch]
    try:
        built = build(arches, args.key.expanduser(), args.out, args.cache, comp=args.comp)
    except BuildError as e:
        print(f"ERROR {e}", file=sys.stderr)
        return 1
    for part, size in built.sizes.items():
        print(f"{part:40} {_mib(size):>10}", file=sys.stderr)
    times = ", ".join(f"{k} {v:.0f} s" for k, v in built.phases.items())
    log(f"built {built.package} ({_mib(built.sizes['package'])}) in {built.seconds:.0f} s: {times}")
    print(built.package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
