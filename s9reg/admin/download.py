"""Downloads of ``package download`` and ``os asset get``, verified as a device verifies them.

The asset is chosen from the registry's answer, its signatures are checked over its
commitment, then its URLs are tried in order (upstream's ``MirrorRetry``): a package is read and
verified in full (header signature, merkle root against the commitment, every file's hash), an
OS image is checked against its BLAKE3 and size. The file is written in a temporary directory
beside the destination and renamed into place only once verified. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import blake3

from s9reg._json import JSONValue
from s9reg.admin.reader import Reader
from s9reg.builder.fetch import download
from s9reg.errors import S9regError
from s9reg.registry import RegistryAsset, RegistryError, hardware_from_dict
from s9reg.registry.queries import ErrorKind, QueryError
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.reader import MAGIC_V2, read_archive

__all__ = ["Downloaded", "download_os_asset", "download_package"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A verified download: where it is, which version, and the URL that served it."""

    path: Path
    version: str
    url: str
    size: int


def _variant_label(hw: Mapping[str, JSONValue]) -> str:
    """How upstream's prompt names a hardware variant (``Architecture: x86_64; RAM >=…``)."""
    parts = []
    arch = hw.get("arch")
    if isinstance(arch, list):
        label = "Architecture" if len(arch) == 1 else "Architectures"
        parts.append(f"{label}: {', '.join(str(a) for a in arch)}")
    devices = hw.get("device")
    if isinstance(devices, list) and devices:
        label = "Device" if len(devices) == 1 else "Devices"
        names = ", ".join(str(d.get("description")) for d in devices if isinstance(d, dict))
        parts.append(f"{label}: {names}")
    ram = hw.get("ram")
    if isinstance(ram, int):
        parts.append(f"RAM >={ram / (1 << 30):.2f}GiB")
    return "; ".join(parts) or "any hardware"


def download_package(
    reader: Reader,
    package_id: str,
    *,
    target: str | None = None,
    dest: Path | None = None,
    arch: str | None = None,
) -> Downloaded:
    """``package download ID [-v RANGE] [-d DEST] [-a ARCH]`` (``get.rs:432-609``).

    Upstream asks which flavor or variant when several match; here that is a refusal naming
    them, so the command can be repeated with ``-v`` or ``-a``.

    Raises:
        QueryError: no version or variant matches (Not Found).
        RegistryError: several flavors or variants match, or a signature is invalid.
        S9regError: no URL gives a file that verifies (the last problem).
    """
    result = reader.call("package.get", {"id": package_id, "targetVersion": target})
    best = result.get("best") if isinstance(result, dict) else None
    if not isinstance(best, dict) or not best:
        where = target or "*"
        raise QueryError(ErrorKind.NOT_FOUND, f"no version of {package_id} satisfies {where}")
    if len(best) > 1:
        choices = ", ".join(best)
        raise RegistryError(
            f"several flavors of {package_id} match: {choices}",
            hint="choose one with -v, e.g. -v '=" + next(iter(best)) + "'",
        )
    ((version, info),) = best.items()
    variants = info.get("s9pks") if isinstance(info, dict) else None
    candidates = []
    for entry in variants if isinstance(variants, list) else []:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], dict)):
            raise RegistryError(f"{package_id} {version}: malformed s9pks entry")
        hw = hardware_from_dict(entry[0])
        if arch is None or hw.arch is None or arch in hw.arch:
            candidates.append(entry)
    if not candidates:
        raise QueryError(
            ErrorKind.NOT_FOUND, f"{package_id} {version}: no variant for architecture {arch}"
        )
    if len(candidates) > 1:
        labels = " | ".join(_variant_label(cast("dict[str, JSONValue]", c[0])) for c in candidates)
        raise RegistryError(
            f"{package_id} {version}: several variants match ({labels})",
            hint="choose one with -a ARCH",
        )
    asset = RegistryAsset.from_dict(
        candidates[0][1], MerkleArchiveCommitment, path=f"best.{version}.s9pks"
    )
    asset.verify()
    target_path = dest if dest is not None else Path(f"{package_id}.s9pk")
    commitment = asset.commitment

    def check(path: Path) -> None:
        with path.open("rb") as f:
            read_archive(f, commitment=commitment).verify_all()

    url, size = _fetch_verified(asset.urls, target_path, check, magic=(MAGIC_V2,), what="an s9pk")
    return Downloaded(path=target_path, version=str(version), url=url, size=size)


def download_os_asset(  # noqa: PLR0913 - upstream's arguments and options
    reader: Reader,
    kind: str,
    version: str,
    platform: str,
    *,
    directory: Path,
    reverify: bool = False,
) -> tuple[Downloaded, dict[str, JSONValue]]:
    """``os asset get KIND VERSION PLATFORM [-d DIR] [-r]`` (``os/asset/get.rs:120-211``).

    The file is ``DIR/startos-<version>_<platform>.<kind>``; ``reverify`` hashes it again from
    the disk once written.

    Returns:
        The download and the asset as the registry gave it.

    Raises:
        QueryError: the version or image does not exist (Not Found).
        RegistryError: a signature is invalid.
        S9regError: no URL gives the committed bytes (the last problem).
    """
    value = reader.call(f"os.asset.get.{kind}", {"version": version, "platform": platform})
    asset = RegistryAsset.from_dict(value, Blake3Commitment, path=f"os.asset.get.{kind}")
    asset.verify()
    commitment = asset.commitment
    dest = directory / f"startos-{version}_{platform}.{kind}"

    def check(path: Path) -> None:
        if not reverify:
            return
        hasher = blake3.blake3()
        size = 0
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        if size != commitment.size or hasher.digest() != commitment.hash:
            raise RegistryError(f"{path}: the file on disk does not match the commitment")

    url, size = _fetch_verified(
        asset.urls, dest, check, expect=(commitment.hash.hex(), commitment.size)
    )
    return Downloaded(path=dest, version=version, url=url, size=size), cast(
        "dict[str, JSONValue]", value
    )


def _fetch_verified(  # noqa: PLR0913 - the URLs, the destination, and how to check the file
    urls: tuple[str, ...],
    dest: Path,
    check: Callable[[Path], None],
    *,
    magic: tuple[bytes, ...] = (),
    what: str = "the expected file",
    expect: tuple[str, int] | None = None,
) -> tuple[str, int]:
    """Try ``urls`` in order; the first whose file passes ``check`` is renamed to ``dest``."""
    if not urls:
        raise RegistryError(f"{dest.name}: the asset lists no URL")
    dest = dest.absolute()
    if dest.is_dir():
        raise RegistryError(f"{dest}: is a directory (give a file name with -d)")
    if not dest.parent.is_dir():
        raise RegistryError(f"{dest.parent}: no such directory")
    problems: list[str] = []
    last: S9regError | None = None
    scratch = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        for url in urls:
            part = scratch / "download"
            try:
                got = download(url, part, magic=magic, what=what)
                if expect is not None and (got.blake3, got.size) != expect:
                    raise RegistryError(f"{url}: the file does not match the signed commitment")
                check(part)
            except S9regError as e:
                problems.append(e.message)
                last = e
                with contextlib.suppress(OSError):
                    part.unlink()
                continue
            part.replace(dest)
            return url, got.size
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert last is not None  # noqa: S101 - at least one URL was tried
    more = f" (and {len(problems) - 1} more URLs failed)" if len(problems) > 1 else ""
    error = RegistryError(f"{dest.name}: no URL gave a verified file: {last.message}{more}")
    error.details = "\n".join(problems)
    raise error from last
