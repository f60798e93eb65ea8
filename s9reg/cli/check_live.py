"""``s9reg check-live [URL]``: the smoke test of a published registry through its public URL."""

from __future__ import annotations

import json
from pathlib import Path

import click

from s9reg import config
from s9reg.cli._app import config_option
from s9reg.publish import open_target
from s9reg.publish.live import check_live as run_check
from s9reg.units import human_size


@click.command("check-live")
@click.argument("url", required=False)
@config_option("Site configuration (the site, the registry URL and the storage).")
@click.option(
    "--site", type=click.Path(path_type=Path, file_okay=False),
    help="The built site that was published (default: `output` from the configuration).",
)  # fmt: skip
@click.option(
    "--generation", type=click.IntRange(1),
    help="The generation just published: the storage's pointer must name it, and its "
    "manifest this site's index.json (reads the configured storage).",
)  # fmt: skip
@click.option(
    "--wait", type=click.FloatRange(0), default=0, show_default=True,
    help="Seconds to keep retrying while the URL serves an older index or fails (a CDN's "
    "max-age is 60 s for index.json and rpc.v0/).",
)  # fmt: skip
@click.option(
    "--timeout", type=click.FloatRange(1), default=30, show_default=True,
    help="Seconds to wait for each connection and answer.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def check_live(  # noqa: PLR0913, PLR0917 - one parameter per option
    url: str | None,
    config_path: Path,
    site: Path | None,
    generation: int | None,
    wait: float,
    timeout: float,
    as_json: bool,
) -> None:
    """Check the published registry through URL (default: registry.url of the configuration).

    index.json must be the built site's byte for byte, the JSON-RPC answers of info and of
    package.get for every package must be the site's results, and for each package the file
    published last is downloaded from its first URL and verified in full (signature, every
    file body, the index's commitment and registry signatures). Any mismatch: one ERROR line,
    exit 1.
    """
    cfg = config.load(config_path)
    settings = config.publish_settings(cfg, site=site) if generation is not None else None
    target = open_target(settings) if settings is not None else None
    try:
        result = run_check(
            url or cfg.registry.url,
            site or cfg.output,
            target=target,
            generation=generation,
            wait=wait,
            timeout=timeout,
        )
    finally:
        if target is not None:
            target.close()
    if as_json:
        data = {
            "url": result.url,
            "generation": result.generation,
            "indexSha256": result.index_sha256,
            "packages": result.packages,
            "files": list(result.files),
            "fileBytes": result.file_bytes,
            "attempts": result.attempts,
        }
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    live = f"generation {result.generation}, " if result.generation is not None else ""
    click.echo(
        f"OK {result.url}: {live}index.json {result.index_sha256[:16]}…, info and package.get "
        f"of {result.packages} packages match, {len(result.files)} package files verified "
        f"({human_size(result.file_bytes)})"
    )
