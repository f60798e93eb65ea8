"""``s9reg pull``: restore a complete local copy of a published registry (backup and restore)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from s9reg import config
from s9reg.cli._app import config_option
from s9reg.publish.engine import open_target
from s9reg.publish.pull import pull_site


@click.command()
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@config_option("Site configuration (its storage is pulled).")
@click.option(
    "--from", "from_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Pull from this published directory instead of the configured storage.",
)  # fmt: skip
@click.option("--jobs", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def pull(dest: Path, config_path: Path, from_dir: Path | None, jobs: int, as_json: bool) -> None:
    """Copy the live published registry into DEST, every object checked by SHA-256.

    DEST must be new, empty, or an earlier copy (its unchanged files are reused). A failed pull
    leaves DEST as it was. The copy is a site that `s9reg serve` and `s9reg publish` accept.
    """
    cfg = config.load(config_path)
    settings = config.publish_settings(cfg, site=dest, target_dir=from_dir, jobs=jobs)
    target = open_target(settings)
    try:
        report = pull_site(target, dest, jobs=jobs)
    finally:
        target.close()
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(
        f"Pulled generation {report.generation} into {report.dest}: {report.objects} objects "
        f"({report.downloaded} downloaded, {report.bytes_downloaded} bytes; "
        f"{report.reused} unchanged)"
    )
