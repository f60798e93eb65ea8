"""Where everything lives in a built site: the contract between build, publish and serve.

``docs/site-layout.md`` describes it for people; this module is the one place code reads it from.
The builder writes what these names say, ``publish`` orders and labels uploads by them, and
``serve`` finds precomputed answers by them. Only names and paths are here: what goes into the
files is the builder's, and nothing here reads or writes a file.
"""

from __future__ import annotations

from urllib.parse import quote

from s9reg.exver import VersionString
from s9reg.registry.queries import OTHER_VERSIONS

__all__ = [
    "ALL_PACKAGES",
    "EXACT_VERSION_DIR",
    "IMMUTABLE_PREFIXES",
    "INDEX_FILE",
    "OTHER_VERSIONS",
    "PACKAGE_INDEX_FILE",
    "ROOT_DOCUMENTS",
    "RPC_CATEGORY_LIST",
    "RPC_DIR",
    "RPC_INFO",
    "RPC_OS_INDEX",
    "RPC_PACKAGE_INDEX",
    "SITE_FILE",
    "SITE_FORMAT",
    "STATE_DIR",
    "asset_path",
    "asset_urls",
    "os_asset_result",
    "os_version_result",
    "package_get_exact_result",
    "package_get_result",
    "package_index_path",
    "signer_list_result",
    "version_dir",
]

SITE_FILE = "s9reg-site.json"
"""The marker of a site s9reg built, with its metadata (format, API URL, …)."""
SITE_FORMAT = 1
INDEX_FILE = "index.json"
"""The full index (``FullIndex``) at the top of the site."""
PACKAGE_INDEX_FILE = "index.json"
"""One package's ``PackageInfo``, in the package's directory."""
RPC_DIR = "rpc.v0"
"""Precomputed JSON-RPC results; the names below are relative to it."""
ALL_PACKAGES = "_all"
EXACT_VERSION_DIR = "version"
RPC_INFO = "info.json"
RPC_PACKAGE_INDEX = "package.index.json"
RPC_CATEGORY_LIST = "package.category.list.json"
RPC_OS_INDEX = "os.index.json"
ROOT_DOCUMENTS = (INDEX_FILE, "index.html", SITE_FILE)
"""The top-level entry points that name everything else (published last)."""
IMMUTABLE_PREFIXES = ("_icons/",)
# The publisher's state next to the site in its storage (lease, manifests): never served.
STATE_DIR = "_s9reg"
"""Folders whose files are named by their content and never change."""
# RFC 3986 pchar minus '%' and '/': what may stay unescaped in one path segment.
_PCHAR_SAFE = "-._~!$&'()*+,;=:@"


def version_dir(version: VersionString) -> str:
    """The directory name of a version: its text without a leading ``#``."""
    return str(version).removeprefix("#")


def asset_path(package_id: str, version: VersionString, file_name: str) -> str:
    """Relative path of a package file: ``<id>/<version without leading #>/<file name>``.

    Raises:
        ValueError: the file name cannot be stored as one path segment.
    """
    if file_name in {"", ".", ".."} or "/" in file_name or "\0" in file_name:
        raise ValueError(f"{file_name!r}: not usable as a file name in the site")
    return f"{package_id}/{version_dir(version)}/{file_name}"


def asset_urls(file_urls: tuple[str, ...], rel_path: str) -> tuple[str, ...]:
    """Every base URL joined with the percent-encoded ``rel_path``, in the bases' order."""
    quoted = "/".join(quote(seg, safe=_PCHAR_SAFE) for seg in rel_path.split("/"))
    return tuple(f"{base.rstrip('/')}/{quoted}" for base in file_urls)


def package_index_path(package_id: str) -> str:
    """The package's ``PackageInfo`` file, relative to the site."""
    return f"{package_id}/{PACKAGE_INDEX_FILE}"


def package_get_result(package_id: str | None, level: str) -> str:
    """``package.get {id, otherVersions: level}`` without a device header; None: every package."""
    return f"package.get/{package_id if package_id is not None else ALL_PACKAGES}/{level}.json"


def package_get_exact_result(package_id: str, version: VersionString, level: str) -> str:
    """``package.get {id, targetVersion: "=<version>", otherVersions: level}``."""
    return f"package.get/{package_id}/{EXACT_VERSION_DIR}/{version_dir(version)}.{level}.json"


def signer_list_result(package_id: str) -> str:
    """``package.signer.list {id}``."""
    return f"package.signer.list/{package_id}.json"


def os_version_result(platform: str | None) -> str:
    """``os.version.get {platform}`` without a device header; None: every version."""
    return f"os.version.get/{platform if platform is not None else ALL_PACKAGES}.json"


def os_asset_result(kind: str, version: str, platform: str) -> str:
    """``os.asset.get.<kind> {version, platform}``."""
    return f"os.asset.get.{kind}/{version}/{platform}.json"
