"""The read commands of ``s9reg registry`` under ``index``, ``package`` and ``os``.

``index``, ``package index|get|download``, ``os index``, ``os version get``, ``os asset get``
answer from the built site (the configuration's ``output``) or from ``--site DIR|URL``: a
site s9reg built or published, or any StartOS registry answering JSON-RPC. Parameters are
upstream's, sent (or answered) as start-cli sends them; output is start-cli's (tables where it
draws them, pretty JSON elsewhere).
"""

from __future__ import annotations

from pathlib import Path

import click

from s9reg._json import JSONValue
from s9reg.admin.download import download_os_asset, download_package
from s9reg.cli.registry._groups import os_, os_asset, os_version, package, registry
from s9reg.cli.registry._output import Table, emit, format_options
from s9reg.cli.registry._site import open_site, site_options
from s9reg.exver import ExtendedVersion, Version, VersionRange, VersionString, compare
from s9reg.registry.requests import OS_IMAGE_KINDS, InvalidParamsError
from s9reg.s9pk.manifest import is_id
from s9reg.s9pk.metadata import LocaleString

__all__ = [
    "index_cmd",
    "os_asset_get",
    "os_index",
    "os_version_get",
    "package_download",
    "package_get",
    "package_index",
]

_LANG = "en_US"


def _localized(value: JSONValue) -> str:
    if value is None:
        return ""
    return LocaleString.from_json(value).localize_for(_LANG)


def _wrap(text: str, width: int = 80) -> str:
    import textwrap  # noqa: PLC0415 - only tables wrap

    return "\n".join(textwrap.wrap(text, width))


def _version_table(version: str, info: JSONValue) -> Table:
    """``PackageVersionInfo::table`` (``package/index.rs:224-246``)."""
    i = info if isinstance(info, dict) else {}
    description = i.get("description")
    d = description if isinstance(description, dict) else {}
    t = Table()
    t.add_row([str(i.get("title", ""))], "center")
    rows = [
        ("VERSION", version),
        ("RELEASE NOTES", _localized(i.get("releaseNotes"))),
        ("ABOUT", _wrap(_localized(d.get("short")))),
        ("DESCRIPTION", _wrap(_localized(d.get("long")))),
        ("GIT HASH", str(i.get("gitHash") or "N/A")),
        ("LICENSE", str(i.get("license", ""))),
        ("PACKAGE REPO", str(i.get("packageRepo", ""))),
        ("SERVICE REPO", str(i.get("upstreamRepo", ""))),
        ("WEBSITE", str(i.get("marketingUrl") or "N/A")),
    ]
    for label, text in rows:
        t.add_row([label, text], first="right")
    return t


def _sorted_versions(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda v: VersionString.parse(v).sort_key)


def _response_tables(response: JSONValue, *, full: bool) -> list[Table]:
    """``GetPackageResponse(Full)::tables`` (``package/get.rs:86-145``)."""
    r = response if isinstance(response, dict) else {}
    best = r.get("best")
    best = best if isinstance(best, dict) else {}
    other = r.get("otherVersions")
    other = other if isinstance(other, dict) else {}
    if full:
        merged = {**best, **other}
        return [_version_table(v, merged[v]) for v in _sorted_versions(list(merged))]
    tables = []
    for version in _sorted_versions(list(best)):
        t = _version_table(version, best[version])
        this = VersionString.parse(version)
        lesser = [
            v for v in _sorted_versions(list(other)) if compare(VersionString.parse(v), this) == -1
        ]
        if lesser:
            t.add_row(["OLDER VERSIONS"], "center")
            t.add_row(["VERSION", "RELEASE NOTES"], "center")
            for v in lesser:
                short = other[v]
                notes = short.get("releaseNotes") if isinstance(short, dict) else None
                t.add_row([v, _localized(notes)])
        tables.append(t)
    return tables


def _package_tables(result: JSONValue, *, one: bool, full: bool) -> str:
    responses = [result] if one else list(result.values()) if isinstance(result, dict) else []
    return "".join(
        t.render() + "\n" for response in responses for t in _response_tables(response, full=full)
    )


def _os_versions_table(result: JSONValue) -> str:
    """``display_version_info`` (``os/version/mod.rs:225-257``)."""
    t = Table()
    t.add_row(
        ["VERSION", "HEADLINE", "RELEASE NOTES", "ISO PLATFORMS", "IMG PLATFORMS",
         "SQUASHFS PLATFORMS"],
        "center",
    )  # fmt: skip
    versions = result if isinstance(result, dict) else {}
    for version in sorted(versions, key=lambda v: Version.parse(v).sort_key):
        info = versions[version]
        i = info if isinstance(info, dict) else {}

        def platforms(kind: str, i: dict[str, JSONValue] = i) -> str:
            assets = i.get(kind)
            return ", ".join(sorted(assets)) if isinstance(assets, dict) else ""

        t.add_row([
            version, str(i.get("headline", "")), str(i.get("releaseNotes", "")),
            platforms("iso"), platforms("img"), platforms("squashfs"),
        ])  # fmt: skip
    return t.render()


def _range(text: str | None) -> str | None:
    """Check a range as start-cli's argument parser does; send it as written."""
    if text is None:
        return None
    VersionRange.parse(text)  # VersionError: one line naming the position
    return text


def _package_id(text: str) -> str:
    if not is_id(text):
        raise InvalidParamsError(f"{text!r} is not a package id (lowercase words joined by -)")
    return text


# --------------------------------------------------------------------------------------------
# registry info / index
# --------------------------------------------------------------------------------------------


@registry.command("index")
@site_options
@format_options(table=False)
def index_cmd(
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """The full index: packages, StartOS releases and signers (their Guid ids and names).

    Upstream answers `index` only to a registered signer: give --key when --site is a
    start-registryd URL.
    """
    reader = open_site(config_path, site, key_path)
    emit(reader.call("index", {"format": None}), fmt, as_json=as_json)


# --------------------------------------------------------------------------------------------
# registry package index / get / download
# --------------------------------------------------------------------------------------------


@package.command("index")
@site_options
@format_options(table=False)
def package_index(
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Every package, version and category (PackageIndex)."""
    reader = open_site(config_path, site, key_path)
    emit(reader.call("package.index", {"format": None}), fmt, as_json=as_json)


@package.command("get")
@click.argument("package_id", metavar="[ID]", required=False)
@click.argument(
    "other_versions", metavar="[OTHER_VERSIONS]", type=click.Choice(["none", "short", "full"]),
    default="none",
)  # fmt: skip
@click.option("-v", "--target-version", metavar="RANGE", help="Only versions in this range.")
@click.option(
    "--source-version", metavar="VERSION",
    help="Only versions that can update from this installed version.",
)  # fmt: skip
@site_options
@format_options(table=True)
def package_get(  # noqa: PLR0913, PLR0917 - upstream's parameters plus the site and format options
    package_id: str | None,
    other_versions: str,
    target_version: str | None,
    source_version: str | None,
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """The best version of a package (of every package without ID), as a device asks.

    OTHER_VERSIONS is none (default), short (release notes of the older versions) or full.
    """
    if package_id is not None:
        _package_id(package_id)
    if source_version is not None:
        ExtendedVersion.parse(source_version)
    params: dict[str, JSONValue] = {
        "format": None,
        "id": package_id,
        "targetVersion": _range(target_version),
        "sourceVersion": source_version,
        "otherVersions": other_versions,
    }
    reader = open_site(config_path, site, key_path)
    result = reader.call("package.get", params)
    full = other_versions == "full"
    one = package_id is not None
    emit(result, fmt, as_json=as_json, table=lambda r: _package_tables(r, one=one, full=full))


@package.command("download")
@click.argument("package_id", metavar="ID")
@click.option("-v", "--target-version", metavar="RANGE", help="The version (range) to download.")
@click.option(
    "-d", "--dest", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Where to write the package (default: ./ID.s9pk).",
)  # fmt: skip
@click.option("-a", "--arch", default=None, help="The variant for this architecture.")
@site_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def package_download(  # noqa: PLR0913, PLR0917 - upstream's parameters plus the site options
    package_id: str,
    target_version: str | None,
    dest: Path | None,
    arch: str | None,
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    as_json: bool,
) -> None:
    """Download a package from its URLs (in order) and verify it in full.

    The registry's signatures are checked over the commitment, then the file's header
    signature, merkle root and every file's hash. The file appears only once verified.
    """
    _package_id(package_id)
    reader = open_site(config_path, site, key_path)
    got = download_package(reader, package_id, target=_range(target_version), dest=dest, arch=arch)
    if as_json:
        summary: dict[str, JSONValue] = {
            "path": str(got.path),
            "version": got.version,
            "url": got.url,
            "size": got.size,
        }
        emit(summary, "json")
        return
    click.echo(f"Download Complete: {got.path} ({package_id} {got.version}, from {got.url})")


# --------------------------------------------------------------------------------------------
# registry os index / version get / asset get
# --------------------------------------------------------------------------------------------


@os_.command("index")
@site_options
@format_options(table=False)
def os_index(
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Every StartOS release and its images (OsIndex)."""
    reader = open_site(config_path, site, key_path)
    emit(reader.call("os.index", {"format": None}), fmt, as_json=as_json)


@os_version.command("get")
@click.option("--src", "source_version", metavar="VERSION", help="Only updates from this version.")
@click.option("--target-version", metavar="RANGE", help="Only versions in this range.")
@click.option("--id", "server_id", metavar="SERVERID", help="Server id (metrics upstream).")
@click.option("--platform", metavar="PLATFORM", help="Only versions with a squashfs for it.")
@site_options
@format_options(table=True)
def os_version_get(  # noqa: PLR0913, PLR0917 - upstream's parameters plus the site and format options
    source_version: str | None,
    target_version: str | None,
    server_id: str | None,
    platform: str | None,
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """StartOS versions a device could update to, oldest first."""
    if source_version is not None:
        Version.parse(source_version)
    params: dict[str, JSONValue] = {
        "format": None,
        "sourceVersion": source_version,
        "targetVersion": _range(target_version),
        "serverId": server_id,
        "platform": platform,
    }
    reader = open_site(config_path, site, key_path)
    emit(reader.call("os.version.get", params), fmt, as_json=as_json, table=_os_versions_table)


@os_asset.command("get")
@click.argument("kind", type=click.Choice(OS_IMAGE_KINDS))
@click.argument("version")
@click.argument("platform")
@click.option(
    "-d", "--download", "directory", type=click.Path(path_type=Path, file_okay=False),
    default=Path(), show_default=True, help="Directory to download into.",
)  # fmt: skip
@click.option("-r", "--reverify", is_flag=True, help="Hash the file again once written.")
@site_options
@format_options(table=False)
def os_asset_get(  # noqa: PLR0913, PLR0917 - upstream's parameters plus the site and format options
    kind: str,
    version: str,
    platform: str,
    directory: Path,
    reverify: bool,
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Download a StartOS image to DIR/startos-VERSION_PLATFORM.KIND.

    The file is checked against its signed BLAKE3 and size. --json or --format prints the
    asset (urls, commitment, signatures).
    """
    Version.parse(version)
    reader = open_site(config_path, site, key_path)
    got, asset = download_os_asset(
        reader, kind, version, platform, directory=directory, reverify=reverify
    )
    if fmt is None and not as_json:  # start-cli prints nothing but its progress
        click.echo(f"Downloaded {got.path} ({got.size} bytes, from {got.url})")
        return
    emit(asset, fmt, as_json=as_json)
