"""``s9reg registry package promote`` and ``s9reg registry os promote`` (upstream's names)."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg import config
from s9reg.admin.promote import Promotion, promote_os, promote_package
from s9reg.builder.fetch import DownloadLimits
from s9reg.cli._app import config_option
from s9reg.cli._network import tor_proxy_option
from s9reg.cli.registry._groups import os_, package


def _show(result: Promotion, config_path: Path, *, dry_run: bool) -> None:
    if result.diff:
        click.echo(result.diff, nl=False)
    for note in result.notes:
        click.echo(note, err=True)
    if not result.diff:
        click.echo(f"{config_path}: nothing to change", err=True)
    elif dry_run:
        click.echo(f"{config_path}: not written (--dry-run)", err=True)
    else:
        click.echo(f"{config_path}: written; run s9reg build (or publish) to carry it", err=True)


def _limits(config_path: Path, tor_proxy: tuple[str, int] | None) -> DownloadLimits:
    """The request limits: ``--tor-proxy``, else the configuration's ``network.tor_proxy``."""
    return DownloadLimits(tor_proxy=tor_proxy or config.load(config_path).tor_proxy)


_FROM = click.option(
    "--from", "source", required=True, metavar="URL", help="The registry to promote from."
)
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Show the difference, write nothing.")


@package.command("promote")
@_FROM
@click.argument("package_id", metavar="ID")
@click.argument("version")
@_DRY_RUN
@tor_proxy_option()
@config_option()
def package_promote(  # noqa: PLR0913, PLR0917 - one argument per option
    source: str,
    package_id: str,
    version: str,
    dry_run: bool,
    tor_proxy: tuple[str, int] | None,
    config_path: Path,
) -> None:
    """Pin the release ID VERSION of the registry at URL into site-config.yaml.

    The release becomes an exact pin in a registry source of URL (copy mode: the next build
    downloads, verifies and publishes it, the source's URLs kept as fallback mirrors); its
    categories are created or joined. Comments and layout of the file are kept.
    """
    limits = _limits(config_path, tor_proxy)
    result = promote_package(
        config_path, source, package_id, version, dry_run=dry_run, limits=limits
    )
    _show(result, config_path, dry_run=dry_run)


@os_.command("promote")
@_FROM
@click.argument("version")
@_DRY_RUN
@tor_proxy_option()
@config_option()
def os_promote(
    source: str, version: str, dry_run: bool, tor_proxy: tuple[str, int] | None, config_path: Path
) -> None:
    """Add the StartOS release VERSION of the registry at URL to site-config.yaml's os: list."""
    result = promote_os(
        config_path, source, version, dry_run=dry_run, limits=_limits(config_path, tor_proxy)
    )
    _show(result, config_path, dry_run=dry_run)
