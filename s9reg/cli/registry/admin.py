"""``s9reg registry admin …``: signers and admins in site-config.yaml (upstream's names)."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.admin import admins as admin_ops
from s9reg.admin import signers as ops
from s9reg.cli._app import config_option
from s9reg.cli.registry._groups import admin, admin_signer
from s9reg.cli.registry._show import (
    chosen_format,
    emit,
    format_options,
    json_option,
    signer_json,
    signers_json,
    signers_table,
)
from s9reg.config import Signer


def _signer_out(s: Signer) -> dict[str, object]:
    return {"id": str(s.guid), **signer_json(s)}


@admin_signer.command("add")
@click.option("-n", "--name", required=True, help="The signer's name (unique).")
@click.option(
    "-c", "--contact", "contacts", multiple=True, metavar="CONTACT",
    help="mailto:ADDRESS, https://matrix.to/#/@USER:DOMAIN or a URL (or email:, matrix:, "
    "website: prefixes). Repeatable.",
)  # fmt: skip
@click.option(
    "--key", "keys", multiple=True, metavar="PEM|FILE",
    help="An Ed25519 public key: PEM text, or a file holding one. Repeatable.",
)  # fmt: skip
@config_option()
@json_option
def signer_add(
    name: str, contacts: tuple[str, ...], keys: tuple[str, ...], config_path: Path, as_json: bool
) -> None:
    """Register a signer and print its id (refused if a key is registered already)."""
    signer = ops.add_signer(
        config_path,
        name,
        [ops.parse_contact(c) for c in contacts],
        [ops.parse_public_key(k) for k in keys],
    )
    emit(_signer_out(signer), "json" if as_json else "text", lambda: str(signer.guid))


@admin_signer.command("edit")
@click.argument("signer", metavar="ID|NAME")
@click.option("-n", "--set-name", help="New name (the id stays).")
@click.option("-c", "--add-contact", multiple=True, metavar="CONTACT", help="Repeatable.")
@click.option("-C", "--remove-contact", multiple=True, metavar="CONTACT", help="Repeatable.")
@click.option("-k", "--add-key", multiple=True, metavar="PEM|FILE", help="Repeatable.")
@click.option("-K", "--remove-key", multiple=True, metavar="PEM|FILE", help="Repeatable.")
@config_option()
@json_option
def signer_edit(  # noqa: PLR0913, PLR0917 - one parameter per option
    signer: str,
    set_name: str | None,
    add_contact: tuple[str, ...],
    remove_contact: tuple[str, ...],
    add_key: tuple[str, ...],
    remove_key: tuple[str, ...],
    config_path: Path,
    as_json: bool,
) -> None:
    """Rename a signer, or add or remove its contacts and keys."""
    edit = ops.SignerEdit(
        set_name=set_name,
        add_contacts=tuple(ops.parse_contact(c) for c in add_contact),
        remove_contacts=tuple(ops.parse_contact(c) for c in remove_contact),
        add_keys=tuple(ops.parse_public_key(k) for k in add_key),
        remove_keys=tuple(ops.parse_public_key(k) for k in remove_key),
    )
    result = ops.edit_signer(config_path, signer, edit)
    emit(_signer_out(result), "json" if as_json else "text",
         lambda: f"signer {result.name} ({result.guid}) updated")  # fmt: skip


@admin_signer.command("remove")
@click.argument("signer", metavar="ID|NAME")
@config_option()
@json_option
def signer_remove(signer: str, config_path: Path, as_json: bool) -> None:
    """Remove a signer, and strip it from every package, StartOS version and the admins."""
    r = ops.remove_signer(config_path, signer)
    data = {"id": str(r.signer.guid), "name": r.signer.name, "packages": list(r.packages),
            "osVersions": list(r.os_versions), "wasAdmin": r.was_admin}  # fmt: skip

    def text() -> str:
        lines = [f"removed signer {r.signer.name} ({r.signer.guid})"]
        if r.packages:
            lines.append(f"  no longer authorized for: {', '.join(r.packages)}")
        if r.os_versions:
            lines.append(f"  no longer a signer of StartOS {', '.join(r.os_versions)}")
        if r.was_admin:
            lines.append("  no longer an admin")
        return "\n".join(lines)

    emit(data, "json" if as_json else "text", text)


@admin_signer.command("list")
@config_option()
@format_options
def signer_list(config_path: Path, fmt: str | None, as_json: bool) -> None:
    """List the signers: id, name, contacts and keys (fingerprints in the table)."""
    signers = ops.list_signers(config_path)
    emit(signers_json(signers), chosen_format(fmt, as_json), lambda: signers_table(signers))


@admin.command("add")
@click.argument("signer", metavar="ID|NAME")
@config_option()
@json_option
def admin_add(signer: str, config_path: Path, as_json: bool) -> None:
    """Make a signer an admin."""
    s, changed = admin_ops.add_admin(config_path, signer)
    emit({"id": str(s.guid), "name": s.name, "changed": changed}, "json" if as_json else "text",
         lambda: f"{s.name} ({s.guid}) is an admin" + ("" if changed else " already"))  # fmt: skip


@admin.command("remove")
@click.argument("signer", metavar="ID|NAME")
@config_option()
@json_option
def admin_remove(signer: str, config_path: Path, as_json: bool) -> None:
    """Take the admin role from a signer (the signer stays)."""
    s, changed = admin_ops.remove_admin(config_path, signer)
    state = "no longer" if changed else "not"
    emit({"id": str(s.guid), "name": s.name, "changed": changed}, "json" if as_json else "text",
         lambda: f"{s.name} ({s.guid}) is {state} an admin")  # fmt: skip


@admin.command("list")
@config_option()
@format_options
def admin_list(config_path: Path, fmt: str | None, as_json: bool) -> None:
    """List the admins: id, name, contacts and keys."""
    admins = admin_ops.list_admins(config_path)
    emit(signers_json(admins), chosen_format(fmt, as_json), lambda: signers_table(admins))
