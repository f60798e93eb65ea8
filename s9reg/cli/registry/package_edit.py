"""``s9reg registry package add|remove|add-mirror|remove-mirror``: packages in site-config.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.admin import packages as ops
from s9reg.cli._app import config_option
from s9reg.cli.registry._groups import package
from s9reg.cli.registry._show import emit, json_option


@package.command("add")
@click.argument("source", metavar="FILE.s9pk|URL")
@config_option()
@json_option
def package_add(source: str, config_path: Path, as_json: bool) -> None:
    """Add a package, verified in full and authorized exactly as the build would.

    A file is copied into the first source directory of packages.sources; a URL is added to
    packages.sources (the build downloads it and lists it as a fallback mirror). A version or
    package removed before (packages.exclude) comes back with this file.
    """
    placed = ops.add_package(config_path, source)
    p = placed.package
    data = {"id": p.package_id, "version": str(p.version), "sighash": p.sighash,
            "location": placed.location}  # fmt: skip
    emit(data, "json" if as_json else "text",
         lambda: f"added {p.package_id} {p.version} ({p.sighash}): {placed.location}")  # fmt: skip


@package.command("remove")
@click.argument("package_id", metavar="ID")
@click.argument("version", required=False)
@click.option("--sighash", help="Only the variant with this root sighash (base64).")
@click.option("--force", is_flag=True, help="Remove a whole package that has versions.")
@config_option()
@json_option
def package_remove(  # noqa: PLR0913, PLR0917 - one parameter per option
    package_id: str,
    version: str | None,
    sighash: str | None,
    force: bool,
    config_path: Path,
    as_json: bool,
) -> None:
    """Leave a package, one of its versions, or one variant out of the registry.

    Declarative: an entry of packages.exclude; no file is deleted. Removing a whole package
    (needs --force when it has versions) also drops its authorized signers, category
    memberships and mirrors, as upstream.
    """
    r = ops.remove_package(config_path, package_id, version, sighash, force=force)
    what = " ".join(x for x in (r.package_id, str(r.version or ""), r.sighash or "") if x)
    data = {"id": r.package_id, "version": None if r.version is None else str(r.version),
            "sighash": r.sighash, "files": [str(v.url or v.path) for v in r.variants]}  # fmt: skip
    emit(data, "json" if as_json else "text", lambda: f"removed {what}")


@package.command("add-mirror")
@click.argument("package_id", metavar="ID")
@click.argument("version")
@click.argument("url")
@config_option()
@json_option
def package_add_mirror(
    package_id: str, version: str, url: str, config_path: Path, as_json: bool
) -> None:
    """List one more URL for a package file, once it is found to serve the same package."""
    changed = ops.add_mirror(config_path, package_id, version, url)
    emit({"id": package_id, "version": version, "url": url, "changed": changed},
         "json" if as_json else "text",
         lambda: f"mirror {url} " + ("added" if changed else "listed already"))  # fmt: skip


@package.command("remove-mirror")
@click.argument("package_id", metavar="ID")
@click.argument("version")
@click.argument("url", required=False)
@click.option("--url", "url_option", metavar="URL", help="The mirror (upstream's spelling).")
@config_option()
@json_option
def package_remove_mirror(  # noqa: PLR0913, PLR0917 - one parameter per option
    package_id: str,
    version: str,
    url: str | None,
    url_option: str | None,
    config_path: Path,
    as_json: bool,
) -> None:
    """Stop listing a mirror of a package version (never its last URL)."""
    if (url is None) == (url_option is None):
        raise click.UsageError("give the mirror's URL once: URL or --url URL")
    target = url if url is not None else str(url_option)
    n = ops.remove_mirror(config_path, package_id, version, target)
    emit({"id": package_id, "version": version, "url": target, "variants": n},
         "json" if as_json else "text", lambda: f"mirror {target} removed")  # fmt: skip
