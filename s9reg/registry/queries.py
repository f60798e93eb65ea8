"""The public read methods of a registry, computed from the model (registry-protocol.md §1.4.1, §2).

Pure functions over :mod:`s9reg.registry.model` and the requests that
:mod:`s9reg.registry.requests` parses: ``package.get`` (filters, best per flavor,
``otherVersions``, device filtering and the legacy fields of old devices), ``os.version.get``
and ``os.asset.get.*``. No I/O; the JSON-RPC envelope and transport belong to
:mod:`s9reg.serve`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import cast

from s9reg._json import JSONValue
from s9reg.exver import Version, VersionRange, VersionString, compare
from s9reg.registry.model import (
    DependencyMetadata,
    FullIndex,
    GetPackageResponse,
    GetPackageResponseFull,
    Guid,
    OsIndex,
    OsVersionInfo,
    PackageIndex,
    PackageInfoShort,
    PackageVersionInfo,
    RegistryAsset,
    SignerInfo,
    packages_response_to_dict,
    specificity_desc,
)
from s9reg.registry.requests import (
    LEGACY_DEVICE_MAX,
    OS_IMAGE_KINDS,
    OTHER_VERSIONS,
    U32_MAX,
    DeviceInfo,
    ErrorKind,
    HardwareInfo,
    InvalidParamsError,
    OsAssetGetParams,
    OsVersionGetParams,
    OtherVersions,
    PackageGetParams,
    QueryError,
    form_decode,
    params_object,
    parse_version_param,
    required_str,
)
from s9reg.s9pk.commitment import Blake3Commitment
from s9reg.s9pk.metadata import Description, HardwareRequirements, LocaleString

__all__ = [
    "LEGACY_DEVICE_MAX",
    "OS_IMAGE_KINDS",
    "OTHER_VERSIONS",
    "DeviceInfo",
    "ErrorKind",
    "HardwareInfo",
    "InvalidParamsError",
    "OsAssetGetParams",
    "OsVersionGetParams",
    "OtherVersions",
    "PackageGetParams",
    "PackageGetResult",
    "QueryError",
    "best_versions",
    "for_device",
    "form_decode",
    "os_asset_get",
    "os_version_get",
    "os_version_get_json",
    "os_version_signer_list",
    "package_get",
    "package_get_json",
    "package_result_json",
    "package_signer_list",
]

# --------------------------------------------------------------------------------------------
# package.get
# --------------------------------------------------------------------------------------------

PackageResponse = GetPackageResponse | GetPackageResponseFull
PackageGetResult = PackageResponse | dict[str, PackageResponse]


def _compatible(req: HardwareRequirements, hw: HardwareInfo) -> bool:
    # Without a device list (no current header carries one) device filters are not checked.
    if req.arch is not None and hw.arch not in req.arch:
        return False
    return req.ram is None or hw.ram >= req.ram


def _no_devices_order(req: HardwareRequirements) -> tuple[int, int, int]:
    dev, arch, ram = specificity_desc(req)
    return (U32_MAX - dev, arch, ram)


def _localized(text: LocaleString, locale: str) -> LocaleString:
    return LocaleString(text.localize_for(locale))


def _localize(info: PackageVersionInfo, locale: str) -> PackageVersionInfo:
    deps = {
        k: DependencyMetadata(
            title=None if d.title is None else _localized(d.title, locale),
            icon=d.icon,
            description=None if d.description is None else _localized(d.description, locale),
            optional=d.optional,
        )
        for k, d in info.dependency_metadata.items()
    }
    description = Description(
        _localized(info.description.short, locale), _localized(info.description.long, locale)
    )
    return replace(
        info,
        dependency_metadata=deps,
        description=description,
        release_notes=_localized(info.release_notes, locale),
    )


def for_device(info: PackageVersionInfo, device: DeviceInfo) -> PackageVersionInfo | None:
    """Upstream's ``PackageVersionInfo::for_device`` (``index.rs:252-298``).

    The version is dropped unless its ``osVersion`` satisfies ``os.compat``. Only when the
    header carries hardware, incompatible variants are dropped (the version too if none is
    left), the rest sorted, and the texts localized to ``os.language``: upstream localizes
    inside the hardware branch, so a current device (no hardware) gets the texts as stored.

    Returns:
        The filtered version, or None when the device cannot use it.
    """
    if not device.os_compat.satisfied_by(info.os_version):
        return None
    hw = device.hardware
    if hw is None:
        return info
    s9pks = sorted(
        (v for v in info.s9pks if _compatible(v[0], hw)), key=lambda v: _no_devices_order(v[0])
    )
    if not s9pks:
        return None
    out = replace(info, s9pks=tuple(s9pks))
    if device.os_language is not None:
        out = _localize(out, device.os_language)
    return out


def best_versions(versions: Mapping[VersionString, object]) -> list[VersionString]:
    """Upstream's ``best`` rule (``get.rs:204-218``): the maximum of each flavor.

    Walks the versions in ascending order; a version joins ``best`` unless a best entry is
    greater, and evicts the best entries it is greater than (flavors are incomparable).
    """
    best: list[VersionString] = []
    for v in sorted(versions):
        if any(compare(b, v) == 1 for b in best):
            continue
        best = [b for b in best if compare(b, v) != -1]
        best.append(v)
    return best


def _matches(info: PackageVersionInfo, version: VersionString, params: PackageGetParams) -> bool:
    if params.target_version is not None and not params.target_version.satisfied_by(version):
        return False
    if params.source_version is None:
        return True
    accepted = info.source_version if info.source_version is not None else VersionRange.any()
    return accepted.satisfied_by(params.source_version)


def _shape(
    categories: tuple[str, ...],
    best: Mapping[VersionString, PackageVersionInfo],
    other: Mapping[VersionString, PackageVersionInfo],
    level: OtherVersions,
) -> PackageResponse:
    if level == "none":
        return GetPackageResponse(categories, best)
    if level == "short":
        short = {v: PackageInfoShort(i.release_notes) for v, i in other.items()}
        return GetPackageResponse(categories, best, short)
    return GetPackageResponseFull(categories, best, other)


def package_get(
    index: FullIndex | PackageIndex,
    params: PackageGetParams,
    device: DeviceInfo | None = None,
) -> PackageGetResult:
    """``package.get`` as upstream's ``get_package`` computes it (§2.4).

    Candidates are filtered by ``targetVersion``, then ``sourceVersion``, then
    :func:`for_device`; ``best`` keeps the greatest version of each flavor. An unknown ``id``
    gives an empty response, not an error; without ``id`` only packages with a matching
    version are listed.

    Args:
        index: the registry index (or its package part).
        params: the parsed params.
        device: the parsed device header, or None when the request had none.

    Returns:
        One response for an ``id``, else ``{package id: response}``.

    Raises:
        QueryError: never for a valid index.
    """
    packages = index.package.packages if isinstance(index, FullIndex) else index.packages
    ids = [params.id] if params.id is not None else sorted(packages)
    out: dict[str, PackageResponse] = {}
    for pid in ids:
        pkg = packages.get(pid)
        if pkg is None:
            continue
        matching: dict[VersionString, PackageVersionInfo] = {}
        for version in sorted(pkg.versions):
            info = pkg.versions[version]
            if not _matches(info, version, params):
                continue
            kept = info if device is None else for_device(info, device)
            if kept is not None:
                matching[version] = kept
        if not matching and params.id is None:
            continue
        best_keys = best_versions(matching)
        best = {v: matching[v] for v in best_keys}
        other = {v: i for v, i in matching.items() if v not in best}
        out[pid] = _shape(pkg.categories, best, other, params.level)
    if params.id is None:
        return out
    if params.id in out:
        return out[params.id]
    return _shape((), {}, {}, params.level)


def _add_legacy_fields(versions: JSONValue) -> None:
    if not isinstance(versions, dict):  # pragma: no cover - the model always gives objects
        return
    for entry in versions.values():
        if not isinstance(entry, dict):  # pragma: no cover
            continue
        s9pks = entry.get("s9pks")
        if not isinstance(s9pks, list) or not s9pks:
            continue
        first = s9pks[0]
        if not isinstance(first, list) or len(first) != 2 or not isinstance(first[1], dict):
            continue  # pragma: no cover
        asset = dict(first[1])
        urls = asset.get("urls")
        asset["url"] = urls[0] if isinstance(urls, list) and urls else None
        entry["s9pk"] = asset
        entry["hardwareRequirements"] = first[0]


def _response_json(response: PackageResponse, device: DeviceInfo | None) -> dict[str, JSONValue]:
    value = response.to_dict()
    if device is not None and device.legacy:
        _add_legacy_fields(value["best"])
        if isinstance(response, GetPackageResponseFull):
            _add_legacy_fields(value["otherVersions"])
    return value


def package_get_json(
    index: FullIndex | PackageIndex,
    params: PackageGetParams,
    device: DeviceInfo | None = None,
) -> JSONValue:
    """:func:`package_get` as the JSON ``result`` (see :func:`package_result_json`).

    Raises:
        QueryError: never for a valid index.
    """
    return package_result_json(package_get(index, params, device), device)


def package_result_json(result: PackageGetResult, device: DeviceInfo | None = None) -> JSONValue:
    """A :func:`package_get` result as JSON, with legacy fields for old devices.

    Devices at or below 0.4.0-alpha.17 also get ``s9pk`` (with ``url``) and
    ``hardwareRequirements`` from ``s9pks[0]`` (``device_info.rs:137-159``).

    Raises:
        QueryError: never.
    """
    if isinstance(result, dict):
        if device is None:
            return packages_response_to_dict(result)
        return {pid: _response_json(result[pid], device) for pid in sorted(result)}
    return _response_json(result, device)


def package_signer_list(index: FullIndex, package_id: object) -> dict[str, JSONValue]:
    """``package.signer.list {id}``: ``{Guid: [SignerInfo, VersionRange]}``.

    Raises:
        InvalidParamsError: ``id`` is missing or not a package id.
        QueryError: the package is unknown (Not Found).
    """
    pid = required_str(params_object(package_id), "id")
    pkg = index.package.packages.get(pid)
    if pkg is None:
        raise QueryError(ErrorKind.NOT_FOUND, f"package {pid} not found")
    return {
        str(g): [index.signers[g].to_dict(), str(r)]
        for g, r in sorted(pkg.authorized.items())
        if g in index.signers
    }


# --------------------------------------------------------------------------------------------
# OS
# --------------------------------------------------------------------------------------------


def os_version_get(
    index: FullIndex | OsIndex,
    params: OsVersionGetParams,
    device: DeviceInfo | None = None,
) -> dict[Version, OsVersionInfo]:
    """``os.version.get`` (``os/version/mod.rs:141-223`` and the device-info response filter).

    ``sourceVersion`` and ``platform`` default to the header's ``os.version`` and
    ``os.platform``. A version is kept when its ``squashfs`` has the platform, it satisfies
    ``targetVersion`` (default ``*``), and the source satisfies its ``sourceVersion``; with a
    header, the device's own version must also satisfy it.

    Returns:
        Matching versions in ascending order (the UI takes the last as the latest).
    """
    versions = index.os.versions if isinstance(index, FullIndex) else index.versions
    source = params.source_version
    platform = params.platform
    if device is not None:
        source = source if source is not None else device.os_version
        platform = platform if platform is not None else device.os_platform
    target = params.target_version if params.target_version is not None else VersionRange.any()
    out: dict[Version, OsVersionInfo] = {}
    for version in sorted(versions):
        info = versions[version]
        if platform is not None and platform not in info.squashfs:
            continue
        if not target.satisfied_by(version):
            continue
        if source is not None and not info.source_version.satisfied_by(source):
            continue
        if device is not None and not info.source_version.satisfied_by(device.os_version):
            continue
        out[version] = info
    return out


def os_version_get_json(
    index: FullIndex | OsIndex,
    params: OsVersionGetParams,
    device: DeviceInfo | None = None,
) -> dict[str, JSONValue]:
    """:func:`os_version_get` as the JSON ``result``, with legacy fields for old devices.

    Devices at or below 0.4.0-alpha.17 also get ``url`` (the first of ``urls``) on every asset.

    Raises:
        QueryError: never for a valid index.
    """
    out: dict[str, JSONValue] = {}
    for version, info in os_version_get(index, params, device).items():
        value = info.to_dict()
        if device is not None and device.legacy:
            for kind in OS_IMAGE_KINDS:
                assets = value[kind]
                if isinstance(assets, dict):
                    for asset in assets.values():
                        if isinstance(asset, dict):
                            urls = asset.get("urls")
                            asset["url"] = urls[0] if isinstance(urls, list) and urls else None
        out[str(version)] = value
    return out


def os_asset_get(
    index: FullIndex | OsIndex, kind: str, params: OsAssetGetParams
) -> RegistryAsset[Blake3Commitment]:
    """``os.asset.get.{iso,img,squashfs}``: one image of one version.

    Raises:
        QueryError: the version or the platform's image does not exist (Not Found).
    """
    versions = index.os.versions if isinstance(index, FullIndex) else index.versions
    info = versions.get(params.version)
    if info is None:
        raise QueryError(ErrorKind.NOT_FOUND, f"StartOS version {params.version} not found")
    assets = {"iso": info.iso, "img": info.img, "squashfs": info.squashfs}.get(kind, {})
    asset = assets.get(params.platform)
    if asset is None:
        raise QueryError(
            ErrorKind.NOT_FOUND,
            f"no {kind} for platform {params.platform} in StartOS {params.version}",
        )
    return asset


def os_version_signer_list(index: FullIndex, params: object) -> dict[str, JSONValue]:
    """``os.version.signer.list {version}``: ``{Guid: SignerInfo}`` of the authorized signers.

    Raises:
        InvalidParamsError: ``version`` is missing or not a version.
        QueryError: the version is unknown (Not Found).
    """
    version = parse_version_param("version", required_str(params_object(params), "version"))
    info = index.os.versions.get(cast("Version", version))
    if info is None:
        raise QueryError(ErrorKind.NOT_FOUND, f"StartOS version {version} not found")
    signers: dict[Guid, SignerInfo] = {
        g: index.signers[g] for g in info.authorized if g in index.signers
    }
    return {str(g): signers[g].to_dict() for g in sorted(signers)}
