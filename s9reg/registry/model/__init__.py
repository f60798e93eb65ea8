"""The registry's index model and its exact JSON shapes (registry-protocol.md §2, §3, §9.4).

One module per aggregate: :mod:`.signers`, :mod:`.assets`, :mod:`.package`, :mod:`.os_index`,
:mod:`.responses` and :mod:`.index`. Frozen dataclasses with snake_case attributes; ``to_dict``
emits upstream's serde JSON (camelCase keys, BTreeMap key order, ``null`` for unset options) and
``from_dict`` parses it strictly through the JSON kit (:mod:`s9reg._json`): unknown keys dropped,
upstream's serde defaults applied, every problem named by its key path. No I/O.
"""

from __future__ import annotations

from s9reg.registry.model._codec import dump_json, format_timestamp, parse_timestamp
from s9reg.registry.model.assets import RegistryAsset
from s9reg.registry.model.index import FullIndex, RegistryInfo
from s9reg.registry.model.os_index import OsIndex, OsVersionInfo
from s9reg.registry.model.package import (
    Category,
    DependencyMetadata,
    PackageIndex,
    PackageInfo,
    PackageVersionInfo,
    hardware_from_dict,
    specificity_desc,
)
from s9reg.registry.model.responses import (
    GetPackageResponse,
    GetPackageResponseFull,
    PackageInfoShort,
    packages_response_to_dict,
)
from s9reg.registry.model.signers import ContactInfo, Guid, SignerInfo

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
    "RegistryAsset",
    "RegistryInfo",
    "SignerInfo",
    "dump_json",
    "format_timestamp",
    "hardware_from_dict",
    "packages_response_to_dict",
    "parse_timestamp",
    "specificity_desc",
]
