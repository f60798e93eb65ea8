"""The static site's layout, its precomputed JSON-RPC results, and the atomic directory swap.

``docs/site-layout.md`` is the contract this module implements (registry-protocol.md §9.1, §9.3).
Package ids match ``[a-z0-9]+(-[a-z0-9]+)*``, so every name s9reg adds at the top level holds a
``.`` and can never collide with a package directory.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import quote

from s9reg._json import JSONValue
from s9reg.errors import S9regError
from s9reg.exver import VersionRange, VersionString
from s9reg.registry import queries
from s9reg.registry.model import (
    FullIndex,
    PackageIndex,
    PackageInfo,
    dump_json,
    packages_response_to_dict,
)
from s9reg.registry.queries import (
    OTHER_VERSIONS,
    OtherVersions,
    PackageGetParams,
    PackageResponse,
)

__all__ = [
    "INDEX_FILE",
    "OTHER_VERSIONS",
    "RPC_DIR",
    "SITE_FILE",
    "SITE_FORMAT",
    "BuildError",
    "asset_path",
    "asset_urls",
    "package_get",
    "replace_dir",
    "rpc_results",
    "site_files",
    "staging_dir",
]

SITE_FILE = "s9reg-site.json"
SITE_FORMAT = 1
INDEX_FILE = "index.json"
PACKAGE_INDEX_FILE = "index.json"
RPC_DIR = "rpc.v0"
ALL_PACKAGES = "_all"
EXACT_VERSION_DIR = "version"
# RFC 3986 pchar minus '%' and '/': what may stay unescaped in one path segment.
_PCHAR_SAFE = "-._~!$&'()*+,;=:@"


class BuildError(S9regError):
    """The build cannot produce a consistent site (conflicting variants, output problems)."""

    code = "BUILD"


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def asset_path(package_id: str, version: VersionString, file_name: str) -> str:
    """Relative path of a package file: ``<id>/<version without leading #>/<file name>``.

    Raises:
        BuildError: the file name cannot be stored as one path segment.
    """
    if file_name in {"", ".", ".."} or "/" in file_name or "\0" in file_name:
        raise BuildError(f"{file_name!r}: not usable as a file name in the site")
    return f"{package_id}/{str(version).removeprefix('#')}/{file_name}"


def asset_urls(file_urls: tuple[str, ...], rel_path: str) -> tuple[str, ...]:
    """Every base URL joined with the percent-encoded ``rel_path``, in the bases' order."""
    quoted = "/".join(quote(seg, safe=_PCHAR_SAFE) for seg in rel_path.split("/"))
    return tuple(f"{base.rstrip('/')}/{quoted}" for base in file_urls)


# --------------------------------------------------------------------------------------------
# Precomputed results (registry-protocol.md §2)
# --------------------------------------------------------------------------------------------


def package_get(
    package_id: str, info: PackageInfo, other_versions: str, target: VersionRange | None = None
) -> PackageResponse:
    """``package.get {id, otherVersions[, targetVersion]}`` without a device header.

    Computed by :func:`s9reg.registry.queries.package_get`, the same code that ``s9reg serve``
    runs for requests the precomputed files do not cover.

    Raises:
        BuildError: ``other_versions`` is not one of :data:`OTHER_VERSIONS`.
    """
    if other_versions not in OTHER_VERSIONS:
        raise BuildError(f"otherVersions {other_versions!r}: expected one of {OTHER_VERSIONS}")
    params = PackageGetParams(
        id=package_id,
        target_version=target,
        other_versions=cast("OtherVersions", other_versions),
    )
    result = queries.package_get(PackageIndex(packages={package_id: info}), params)
    assert not isinstance(result, dict)  # noqa: S101 - one id asked, one response
    return result


def rpc_results(index: FullIndex) -> dict[str, JSONValue]:
    """Precomputed ``result`` values of the public read methods, by path under :data:`RPC_DIR`.

    Raises:
        BuildError: never for a valid index.
    """
    packages = index.package.packages
    out: dict[str, JSONValue] = {
        "info.json": index.info().to_dict(),
        "package.index.json": index.package.to_dict(),
        "package.category.list.json": {
            k: index.package.categories[k].to_dict() for k in sorted(index.package.categories)
        },
    }
    for level in OTHER_VERSIONS:
        responses = {pid: package_get(pid, packages[pid], level) for pid in sorted(packages)}
        out[f"package.get/{ALL_PACKAGES}/{level}.json"] = packages_response_to_dict(responses)
        for pid, response in responses.items():
            out[f"package.get/{pid}/{level}.json"] = response.to_dict()
    for pid in sorted(packages):
        info = packages[pid]
        for version in info.versions:
            exact = VersionRange.parse(f"={version}")
            base = f"package.get/{pid}/{EXACT_VERSION_DIR}/{str(version).removeprefix('#')}"
            for level in OTHER_VERSIONS:
                out[f"{base}.{level}.json"] = package_get(pid, info, level, exact).to_dict()
    out.update(_os_results(index))
    for pid in sorted(packages):
        signers: dict[str, JSONValue] = {
            str(g): [index.signers[g].to_dict(), str(r)]
            for g, r in sorted(packages[pid].authorized.items())
            if g in index.signers
        }
        out[f"package.signer.list/{pid}.json"] = signers
    return out


def _os_results(index: FullIndex) -> dict[str, JSONValue]:
    """``os.index``, ``os.version.get`` (all, and per platform) and ``os.asset.get.*``."""
    versions = index.os.versions
    all_versions = index.os.to_dict()["versions"]
    out: dict[str, JSONValue] = {
        "os.index.json": index.os.to_dict(),
        f"os.version.get/{ALL_PACKAGES}.json": all_versions,
    }
    platforms = sorted({p for info in versions.values() for p in info.squashfs})
    for platform in platforms:
        out[f"os.version.get/{platform}.json"] = {
            str(v): info.to_dict()
            for v, info in sorted(versions.items(), key=lambda kv: kv[0].sort_key)
            if platform in info.squashfs
        }
    for v, info in versions.items():
        for kind in ("iso", "img", "squashfs"):
            assets = getattr(info, kind)
            for platform in sorted(assets):
                out[f"os.asset.get.{kind}/{v}/{platform}.json"] = assets[platform].to_dict()
    return out


def site_files(index: FullIndex, site_meta: Mapping[str, JSONValue]) -> dict[str, bytes]:
    """Every JSON file of the site, by relative path, as deterministic bytes.

    Raises:
        RegistryError: a value is not serializable (never for a valid index).
    """
    files = {
        SITE_FILE: dump_json(dict(site_meta)),
        INDEX_FILE: dump_json(index),
    }
    for pid, info in index.package.packages.items():
        files[f"{pid}/{PACKAGE_INDEX_FILE}"] = dump_json(info)
    for rel, value in rpc_results(index).items():
        files[f"{RPC_DIR}/{rel}"] = dump_json(value)
    return dict(sorted(files.items()))


# --------------------------------------------------------------------------------------------
# Atomic replacement of the output directory
# --------------------------------------------------------------------------------------------


def _check_output(output: Path) -> None:
    if not output.parent.is_dir():
        raise BuildError(f"{output.parent}: the output's parent directory does not exist")
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise BuildError(f"{output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not (output / SITE_FILE).is_file():
        raise BuildError(
            f"{output}: not empty and not a site built by s9reg (no {SITE_FILE})",
            hint="choose an empty or new output directory",
        )


@contextmanager
def staging_dir(output: Path) -> Iterator[Path]:
    """A new empty directory beside ``output``, removed on leaving unless it was swapped in.

    Raises:
        BuildError: ``output`` cannot be (re)built: missing parent, not a directory, or a
            non-empty directory that s9reg did not build.
    """
    _check_output(output)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.build-", dir=output.parent))
    except OSError as e:
        raise BuildError(f"{output.parent}: cannot create a build directory: {e}") from e
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(staged: Path, output: Path) -> None:
    """Put ``staged`` in place of ``output``; the old tree is deleted afterwards.

    Two renames in the same directory: readers see either the old or the new tree, except
    for the instant between them, when ``output`` is absent. If the second rename fails the
    old tree is put back.

    Raises:
        BuildError: a rename failed (the previous output is then still in place).
    """
    staged.chmod(0o755)
    old: Path | None = None
    try:
        if output.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
            output.replace(old)
        staged.replace(output)
    except OSError as e:
        if old is not None and not output.exists():
            with contextlib.suppress(OSError):
                old.replace(output)
        raise BuildError(f"{output}: cannot replace the site: {e}") from e
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
