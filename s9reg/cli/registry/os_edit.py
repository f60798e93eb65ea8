"""``s9reg registry os version …`` and ``os asset add|remove|sign``: ``os:`` of site-config.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.admin import os_releases as ops
from s9reg.cli._app import DEFAULT_KEY_PATH, config_option
from s9reg.cli.registry._groups import os_asset, os_version, os_version_signer
from s9reg.cli.registry._show import (
    chosen_format,
    emit,
    format_options,
    json_option,
    signers_json,
    signers_table,
)

_KINDS = click.Choice(["iso", "img", "squashfs"])


@os_version.command("add")
@click.argument("version")
@click.argument("headline")
@click.argument("release_notes", metavar="RELEASE-NOTES")
@click.argument("source_version", metavar="SOURCE-RANGE")
@config_option()
@json_option
def version_add(  # noqa: PLR0913, PLR0917 - upstream's arguments
    version: str,
    headline: str,
    release_notes: str,
    source_version: str,
    config_path: Path,
    as_json: bool,
) -> None:
    """Add a StartOS version, or change its headline, notes and source range."""
    new = ops.add_version(config_path, version, headline, release_notes, source_version)
    emit({"version": version, "new": new}, "json" if as_json else "text",
         lambda: f"StartOS {version} " + ("added" if new else "updated"))  # fmt: skip


@os_version.command("remove")
@click.argument("version")
@config_option()
@json_option
def version_remove(version: str, config_path: Path, as_json: bool) -> None:
    """Remove a StartOS version and its images from the OS index."""
    ops.remove_version(config_path, version)
    emit({"version": version}, "json" if as_json else "text", lambda: f"removed StartOS {version}")


@os_version_signer.command("add")
@click.argument("version")
@click.argument("signer", metavar="SIGNER")
@config_option()
@json_option
def version_signer_add(version: str, signer: str, config_path: Path, as_json: bool) -> None:
    """Authorize a signer (id or name) for a StartOS version."""
    changed = ops.add_version_signer(config_path, version, signer)
    already = "" if changed else " already"
    emit({"version": version, "signer": signer, "changed": changed},
         "json" if as_json else "text",
         lambda: f"{signer} may sign StartOS {version}{already}")  # fmt: skip


@os_version_signer.command("remove")
@click.argument("version")
@click.argument("signer", metavar="SIGNER")
@config_option()
@json_option
def version_signer_remove(version: str, signer: str, config_path: Path, as_json: bool) -> None:
    """Take a signer's authorization for a StartOS version away."""
    who = ops.remove_version_signer(config_path, version, signer)
    emit({"version": version, "signer": str(who.guid)}, "json" if as_json else "text",
         lambda: f"{who.name} may no longer sign StartOS {version}")  # fmt: skip


@os_version_signer.command("list")
@click.argument("version")
@config_option()
@format_options
def version_signer_list(version: str, config_path: Path, fmt: str | None, as_json: bool) -> None:
    """The signers authorized for a StartOS version: the admins and its signers (config)."""
    signers = ops.list_version_signers(config_path, version)
    emit(signers_json(signers), chosen_format(fmt, as_json), lambda: signers_table(signers))


_platform = click.option("-p", "--platform", required=True, help="x86_64, aarch64, raspberrypi, …")
_version = click.option("-v", "--version", required=True, help="The StartOS version.")


@os_asset.command("add")
@_platform
@_version
@click.argument("source", metavar="FILE|URL")
@click.option("--kind", type=_KINDS, help="Image kind (default: from the file extension).")
@config_option()
@json_option
def asset_add(  # noqa: PLR0913, PLR0917 - one parameter per option
    platform: str, version: str, source: str, kind: str | None, config_path: Path, as_json: bool
) -> None:
    """Add an image to a StartOS version: a file (referenced where it is) or a URL (checked)."""
    a = ops.add_asset(config_path, version, platform, source, kind)
    data = {"version": str(a.version), "kind": a.kind, "platform": a.platform,
            "source": a.source, "commitment": a.commitment.to_dict()}  # fmt: skip
    emit(data, "json" if as_json else "text",
         lambda: f"StartOS {a.version} {a.kind} {a.platform}: {a.source} "
                 f"({a.commitment.size} bytes)")  # fmt: skip


@os_asset.command("remove")
@_platform
@_version
@click.option("--kind", type=_KINDS, required=True, help="Image kind.")
@config_option()
@json_option
def asset_remove(platform: str, version: str, kind: str, config_path: Path, as_json: bool) -> None:
    """Remove an image from a StartOS version."""
    source = ops.remove_asset(config_path, version, platform, kind)
    emit({"version": version, "kind": kind, "platform": platform, "source": source},
         "json" if as_json else "text",
         lambda: f"removed StartOS {version} {kind} {platform} ({source})")  # fmt: skip


@os_asset.command("sign")
@_platform
@_version
@click.option("--kind", type=_KINDS, required=True, help="Image kind.")
@click.option(
    "--key", default=str(DEFAULT_KEY_PATH), show_default=True, envvar="S9REG_KEY",
    metavar="FILE|file:PATH|env:NAME",
    help="The signing key (start-cli PKCS#8 PEM) by reference. Env S9REG_KEY.",
)  # fmt: skip
@config_option()
@json_option
def asset_sign(  # noqa: PLR0913, PLR0917 - one parameter per option
    platform: str, version: str, kind: str, key: str, config_path: Path, as_json: bool
) -> None:
    """Add a further signature of an image with another signer's key (context startos)."""
    who, commitment = ops.sign_asset(config_path, version, platform, kind, key)
    emit({"version": version, "kind": kind, "platform": platform, "signer": str(who.guid),
          "commitment": commitment.to_dict()}, "json" if as_json else "text",
         lambda: f"StartOS {version} {kind} {platform} signed by {who.name}")  # fmt: skip
