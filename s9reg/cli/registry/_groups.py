"""The command groups of ``s9reg registry``, with upstream's names; commands attach to them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from s9reg.cli.registry._output import format_options
from s9reg.cli.registry._site import show_info, site_options

_F = TypeVar("_F", bound=Callable[..., Any])


@click.group()
def registry() -> None:
    """Administer the registry as `start-cli registry …` does, on site-config.yaml."""


def _info_options(f: _F) -> _F:
    """``registry info``'s own options (the read command; in :mod:`.read`)."""
    return site_options(format_options(table=False)(f))


@registry.group("info", invoke_without_command=True)
@_info_options
@click.pass_context
def info(ctx: click.Context, /, **options: Any) -> None:  # noqa: ANN401 - click's keyword options
    """The registry's name, icon and categories (alone: show them, as RegistryInfo)."""
    if ctx.invoked_subcommand is None:
        show_info(**options)


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
