"""The command groups of ``s9reg registry``, with upstream's names; commands attach to them."""

from __future__ import annotations

import click


@click.group()
def registry() -> None:
    """Administer the registry as `start-cli registry …` does, on site-config.yaml."""


@registry.group("info", invoke_without_command=True)
@click.pass_context
def info(ctx: click.Context) -> None:
    """The registry's name and icon (alone: show them)."""
    if ctx.invoked_subcommand is None:  # pragma: no cover - the read command is not built yet
        raise click.UsageError("not implemented yet: registry info")


@registry.group("admin")
def admin() -> None:
    """Admins and signers."""


@admin.group("signer")
def admin_signer() -> None:
    """Signers: the keys that may sign packages and OS releases."""


@registry.group("package")
def package() -> None:
    """Packages: add, remove, mirrors, who may sign them, categories."""


@package.group("signer")
def package_signer() -> None:
    """Which signers may publish which versions of a package."""


@package.group("category")
def package_category() -> None:
    """Categories and their packages."""


@registry.group("os")
def os_() -> None:
    """StartOS releases: versions, their signers and assets."""


@os_.group("version")
def os_version() -> None:
    """StartOS versions."""


@os_version.group("signer")
def os_version_signer() -> None:
    """Which signers may sign StartOS versions."""


@os_.group("asset")
def os_asset() -> None:
    """StartOS images (iso, img, squashfs) of a version and platform."""


@registry.group("db")
def db() -> None:
    """The registry database: dump, apply a jq expression, import from start-registryd."""
