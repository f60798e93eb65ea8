"""``s9reg registry package signer add|remove|list``: the ``authorized`` map of site-config.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.admin import authorized as ops
from s9reg.cli._app import config_option
from s9reg.cli.registry._groups import package_signer
from s9reg.cli.registry._show import (
    chosen_format,
    emit,
    format_options,
    json_option,
    signer_json,
    signers_table,
)


@package_signer.command("add")
@click.argument("package_id", metavar="ID")
@click.argument("signer", metavar="SIGNER")
@click.option("--versions", metavar="RANGE", help="Versions it may publish (default: *).")
@click.option("--merge", is_flag=True, help="OR the range into the signer's existing one.")
@click.option("--new", is_flag=True, help="The package has no version yet (its first one).")
@config_option()
@json_option
def signer_add(  # noqa: PLR0913, PLR0917 - one parameter per option
    package_id: str,
    signer: str,
    versions: str | None,
    merge: bool,
    new: bool,
    config_path: Path,
    as_json: bool,
) -> None:
    """Authorize a signer (id or name) to publish versions of a package."""
    scope = ops.add_package_signer(config_path, package_id, signer, versions, merge=merge, new=new)
    data = {"id": package_id, "signer": str(scope.signer.guid), "versions": str(scope.versions)}
    emit(data, "json" if as_json else "text",
         lambda: f"{scope.signer.name} may publish {package_id} {scope.versions}")  # fmt: skip


@package_signer.command("remove")
@click.argument("package_id", metavar="ID")
@click.argument("signer", metavar="SIGNER")
@config_option()
@json_option
def signer_remove(package_id: str, signer: str, config_path: Path, as_json: bool) -> None:
    """Take a signer's authorization for a package away."""
    who = ops.remove_package_signer(config_path, package_id, signer)
    emit({"id": package_id, "signer": str(who.guid)}, "json" if as_json else "text",
         lambda: f"{who.name} may no longer publish {package_id}")  # fmt: skip


@package_signer.command("list")
@click.argument("package_id", metavar="ID")
@config_option()
@format_options
def signer_list(package_id: str, config_path: Path, fmt: str | None, as_json: bool) -> None:
    """The signers authorized for a package and their ranges (from the config; admins aside)."""
    scopes = ops.list_package_signers(config_path, package_id)
    data = {str(g): [signer_json(s.signer), str(s.versions)] for g, s in scopes.items()}
    emit(data, chosen_format(fmt, as_json), lambda: signers_table(
        {g: s.signer for g, s in scopes.items()}, {g: str(s.versions) for g, s in scopes.items()}
    ))  # fmt: skip
