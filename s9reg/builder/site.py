"""The site's JSON files: the index, per-package documents and precomputed JSON-RPC results.

Where each file goes is :mod:`s9reg.site_layout` (the contract with publish and serve, described
in ``docs/site-layout.md``); what it holds is computed here with the same queries ``s9reg
serve`` runs (registry-protocol.md §9.1, §9.3). Writing files and swapping the output directory
are not done here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from s9reg._json import JSONValue
from s9reg.builder.errors import BuildError
from s9reg.exver import VersionRange
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
from s9reg.site_layout import (
    INDEX_FILE,
    RPC_CATEGORY_LIST,
    RPC_DIR,
    RPC_INFO,
    RPC_OS_INDEX,
    RPC_PACKAGE_INDEX,
    SITE_FILE,
    os_asset_result,
    os_version_result,
    package_get_exact_result,
    package_get_result,
    package_index_path,
    signer_list_result,
)

__all__ = ["package_get", "rpc_results", "site_files"]


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
        RPC_INFO: index.info().to_dict(),
        RPC_PACKAGE_INDEX: index.package.to_dict(),
        RPC_CATEGORY_LIST: {
            k: index.package.categories[k].to_dict() for k in sorted(index.package.categories)
        },
    }
    for level in OTHER_VERSIONS:
        responses = {pid: package_get(pid, packages[pid], level) for pid in sorted(packages)}
        out[package_get_result(None, level)] = packages_response_to_dict(responses)
        for pid, response in responses.items():
            out[package_get_result(pid, level)] = response.to_dict()
    for pid in sorted(packages):
        info = packages[pid]
        for version in info.versions:
            exact = VersionRange.parse(f"={version}")
            for level in OTHER_VERSIONS:
                response = package_get(pid, info, level, exact)
                out[package_get_exact_result(pid, version, level)] = response.to_dict()
    out.update(_os_results(index))
    for pid in sorted(packages):
        signers: dict[str, JSONValue] = {
            str(g): [index.signers[g].to_dict(), str(r)]
            for g, r in sorted(packages[pid].authorized.items())
            if g in index.signers
        }
        out[signer_list_result(pid)] = signers
    return out


def _os_results(index: FullIndex) -> dict[str, JSONValue]:
    """``os.index``, ``os.version.get`` (all, and per platform) and ``os.asset.get.*``."""
    versions = index.os.versions
    all_versions = index.os.to_dict()["versions"]
    out: dict[str, JSONValue] = {
        RPC_OS_INDEX: index.os.to_dict(),
        os_version_result(None): all_versions,
    }
    platforms = sorted({p for info in versions.values() for p in info.squashfs})
    for platform in platforms:
        out[os_version_result(platform)] = {
            str(v): info.to_dict()
            for v, info in sorted(versions.items(), key=lambda kv: kv[0].sort_key)
            if platform in info.squashfs
        }
    for v, info in versions.items():
        for kind in ("iso", "img", "squashfs"):
            assets = getattr(info, kind)
            for platform in sorted(assets):
                out[os_asset_result(kind, str(v), platform)] = assets[platform].to_dict()
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
        files[package_index_path(pid)] = dump_json(info)
    for rel, value in rpc_results(index).items():
        files[f"{RPC_DIR}/{rel}"] = dump_json(value)
    return dict(sorted(files.items()))
