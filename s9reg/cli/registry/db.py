"""``s9reg registry db dump|apply|import``: the registry database, as start-cli's ``db`` sees it."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg._json import JSONValue
from s9reg.admin.db_apply import apply_expression
from s9reg.admin.db_import import DEFAULT_URL, IMPORTED_DIR, import_dump
from s9reg.admin.reader import SiteReader, resolve_pointer
from s9reg.cli._app import config_option
from s9reg.cli.registry._groups import db
from s9reg.cli.registry._output import emit, format_options
from s9reg.cli.registry._site import open_site, site_options
from s9reg.errors import ConfigError

__all__ = ["apply", "dump", "import_"]


@db.command("dump")
@click.option("-p", "--pointer", metavar="JSON-POINTER", help="Only this part (RFC 6901).")
@site_options
@format_options(table=False)
def dump(  # noqa: PLR0913, PLR0917 - upstream's pointer plus the site and format options
    pointer: str | None,
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """Print the database: {"id": revision, "value": RegistryDatabase}.

    RegistryDatabase is {migrations, admins, index}. From a site s9reg built, the revision is
    a number derived from its index.json. From a start-registryd URL, an admin's --key gets
    upstream's own db.dump; any other registered signer's gets the index, with no admins.
    """
    reader = open_site(config_path, site, key_path)
    document = reader.dump()
    emit(
        {"id": document["id"], "value": resolve_pointer(document["value"], pointer)},
        fmt,
        as_json=as_json,
    )


@db.command("apply")
@click.argument("expr")
@click.option("--dry-run", is_flag=True, help="Print the changes; write nothing.")
@config_option("Site configuration to edit (its built `output` is the database).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def apply(expr: str, dry_run: bool, config_path: Path, as_json: bool) -> None:
    """Run the jq expression EXPR over the database and write the result into the config.

    As upstream, EXPR sees the whole RegistryDatabase ({migrations, admins, index}) and must
    give one that deserializes. The difference is written as edits of site-config.yaml
    (comments and layout kept): name, icon, signers, admins, authorized ranges, categories,
    StartOS release texts. What the file cannot hold (package versions, images, signatures)
    is refused and nothing is written. Build the site first: the database is its dump.

    Example: s9reg registry db apply '.index.name = "My Registry"'
    """
    from s9reg import config  # noqa: PLC0415 - the output directory of the config

    cfg = config.load(config_path)
    site = SiteReader.open(cfg.output)
    if not site.meta.get("admins") and cfg.admins:
        raise ConfigError(
            f"{cfg.output}: built before admins were recorded in its s9reg-site.json",
            hint="run s9reg build first",
        )
    result = apply_expression(config_path, expr, site, dry_run=dry_run)
    if as_json:
        changes = list[JSONValue](result.changes)
        emit({"changes": changes, "written": result.written}, "json")
        return
    if not result.changes:
        click.echo("No change.")
        return
    for line in result.changes:
        click.echo(line)
    done = "not written (--dry-run)" if dry_run else f"written to {config_path}"
    click.echo(f"{len(result.changes)} changes {done}; rebuild with: s9reg build")


@db.command("import")
@click.argument("dump_file", metavar="DUMP.json", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=Path(),
    show_default=True, help="Directory of the new site-config.yaml (it must not have one).",
)  # fmt: skip
@click.option("--url", default=DEFAULT_URL, show_default=True, help="The new registry's URL.")
@click.option("--name", default=None, help="Registry name when the dump has none.")
@click.option(
    "--signing-key", metavar="env:NAME|file:PATH", default=None,
    help="Registry key reference; it signs the StartOS images at build (needed for releases).",
)  # fmt: skip
@click.option("--skip-os", is_flag=True, help="Leave the StartOS releases out.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_(  # noqa: PLR0913, PLR0917 - the dump, the output and the choices for the new file
    dump_file: Path,
    out: Path,
    url: str,
    name: str | None,
    signing_key: str | None,
    skip_os: bool,
    as_json: bool,
) -> None:
    """Turn a start-registryd database dump into a site-config.yaml (migration).

    DUMP.json is `start-cli registry db dump` output (or `s9reg registry db dump`). Signers
    keep their ids; package sources are the dump's package URLs; the dump's index is kept in
    OUT/imported/ so that `s9reg build --previous imported` keeps every publication date.
    """
    result = import_dump(
        dump_file, out, url=url, name=name, signing_key=signing_key, skip_os=skip_os
    )
    summary: dict[str, JSONValue] = {
        "config": str(result.config),
        "previous": str(result.previous),
        "signers": result.signers,
        "packages": result.packages,
        "sources": result.sources,
        "osVersions": result.os_versions,
        "notes": list[JSONValue](result.notes),
    }
    if as_json:
        emit(summary, "json")
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"Wrote {result.config}: {result.signers} signers, {result.packages} packages "
        f"({result.sources} sources), {result.os_versions} StartOS releases. Next: "
        f"cd {out} && s9reg build --previous {IMPORTED_DIR}"
    )
