"""The registry's data model, JSON codecs and publish authorization (registry-protocol.md §2, §3).

Imports only :mod:`s9reg.s9pk`, :mod:`s9reg.exver`, the JSON kit :mod:`s9reg._json` and
:mod:`s9reg.errors`; no I/O.
"""

from __future__ import annotations

from s9reg.registry.authz import PublishRules, check_publish, signer_guid
from s9reg.registry.errors import RegistryError, UnauthorizedSignerError
from s9reg.registry.model import (
    Category,
    ContactInfo,
    DependencyMetadata,
    FullIndex,
    GetPackageResponse,
    GetPackageResponseFull,
    Guid,
    OsIndex,
    OsVersionInfo,
    PackageIndex,
    PackageInfo,
    PackageInfoShort,
    PackageVersionInfo,
    RegistryAsset,
    RegistryInfo,
    SignerInfo,
    dump_json,
    format_timestamp,
    hardware_from_dict,
    packages_response_to_dict,
    parse_timestamp,
    specificity_desc,
)

__all__ = [
    "Category",
    "ContactInfo",
    "DependencyMetadata",
    "FullIndex",
    "GetPackageResponse",
    "GetPackageResponseFull",
    "Guid",
    "OsIndex",
    "OsVersionInfo",
    "PackageIndex",
    "PackageInfo",
    "PackageInfoShort",
    "PackageVersionInfo",
    "PublishRules",
    "RegistryAsset",
    "RegistryError",
    "RegistryInfo",
    "SignerInfo",
    "UnauthorizedSignerError",
    "check_publish",
    "dump_json",
    "format_timestamp",
    "hardware_from_dict",
    "packages_response_to_dict",
    "parse_timestamp",
    "signer_guid",
    "specificity_desc",
]
