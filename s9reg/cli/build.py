"""``s9reg build``: verify the configured packages and render the static registry site."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import click

from s9reg import config
from s9reg.builder import build_site
from s9reg.builder.fetch import DEFAULT_MAX_DOWNLOAD_BYTES
from s9reg.builder.report import BuildReport
from s9reg.cli._app import config_option, console_err
from s9reg.cli._network import tor_proxy_option
from s9reg.cli._progress import BuildBar
from s9reg.cli._published import published_source
from s9reg.cli._signals import handle_terminate
from s9reg.units import human_size


def _summary(report: BuildReport) -> dict[str, object]:
    data = asdict(report)
    data["output"] = str(report.output)
    for key in ("added", "removed", "changed", "unchanged"):
        data[key] = [str(ref) for ref in getattr(report, key)]
    data["skipped"] = [
        {"file": str(s.path), "code": s.code, "error": s.message} for s in report.skipped
    ]
    return data


@click.command()
@config_option("Site configuration.")
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False),
    help="Output directory (default: `output` from the configuration).",
)  # fmt: skip
@click.option("--skip-invalid", is_flag=True, help="Leave out invalid or unauthorized packages.")
@click.option("--force", is_flag=True, help="Rebuild even if nothing changed.")
@click.option("--no-cache", is_flag=True, help="Verify every package body (ignore .s9reg-cache).")
@click.option(
    "--previous", metavar="URL|DIR",
    help="Take publication dates the output lacks from this published site's index.json "
    "(default: the configured storage's live index).",
)  # fmt: skip
@click.option(
    "--no-previous", is_flag=True,
    help="Read no published index: versions the output lacks are new.",
)  # fmt: skip
@click.option(
    "--max-download-mb", type=click.IntRange(min=1), envvar="S9REG_MAX_DOWNLOAD_MB",
    default=DEFAULT_MAX_DOWNLOAD_BYTES >> 20, show_default=True,
    help="Largest remote source or StartOS image downloaded, in MiB (env S9REG_MAX_DOWNLOAD_MB).",
)  # fmt: skip
@tor_proxy_option()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def build(  # noqa: PLR0913, PLR0917 - one parameter per option
    config_path: Path,
    out: Path | None,
    skip_invalid: bool,
    force: bool,
    no_cache: bool,
    previous: str | None,
    no_previous: bool,
    max_download_mb: int,
    tor_proxy: tuple[str, int] | None,
    as_json: bool,
) -> None:
    """Verify every package source and render the static registry site.

    A failed build leaves the previous output untouched. Verification results are cached in
    .s9reg-cache/ beside the configuration: unchanged packages are not read again, and a build
    with nothing changed does nothing.

    A version keeps the publication date (publishedAt) it has in the previous output, else the
    one it has in the published registry: the live index of the configured storage, read with
    its credentials only when the output is missing or lacks a version, or --previous. A
    version in neither is dated SOURCE_DATE_EPOCH, or now.

    Ctrl-C or SIGTERM stops the build with nothing left behind (exit 130 or 143); build
    directories left by a killed build are removed by the next one.
    """
    if previous is not None and no_previous:
        raise click.UsageError("--previous and --no-previous exclude each other")
    handle_terminate()
    _build(config_path, out, skip_invalid=skip_invalid, force=force, no_cache=no_cache,
           previous=previous, no_previous=no_previous, max_download_mb=max_download_mb,
           tor_proxy=tor_proxy, as_json=as_json)  # fmt: skip


def _build(  # noqa: PLR0913 - one parameter per option
    config_path: Path,
    out: Path | None,
    *,
    skip_invalid: bool,
    force: bool,
    no_cache: bool,
    previous: str | None,
    no_previous: bool,
    max_download_mb: int,
    tor_proxy: tuple[str, int] | None = None,
    as_json: bool,
) -> None:
    cfg = config.load(config_path)
    settings = config.build_settings(
        cfg, output=out, skip_invalid=skip_invalid, use_cache=not no_cache
    )
    settings = replace(
        settings,
        published=published_source(cfg, previous, no_previous=no_previous),
        downloads=replace(
            settings.downloads,
            max_bytes=max_download_mb << 20,
            tor_proxy=tor_proxy or settings.downloads.tor_proxy,
        ),
    )
    total = 0
    for src in settings.sources:
        with contextlib.suppress(OSError):
            total += src.stat().st_size
    tty = not as_json and sys.stderr.isatty()
    downloads = bool(settings.remote_sources or settings.os_releases or settings.registry_sources)
    with BuildBar(total, len(settings.sources), enabled=tty, downloads=downloads) as bar:
        report = build_site(settings, bar, force=force)
    for warning in report.warnings:
        console_err(f"warning: {warning}")
    for skipped in report.skipped:
        console_err(f"skipped {skipped.path}: {skipped.message}")
    if as_json:
        click.echo(json.dumps(_summary(report), ensure_ascii=False))
        return
    if report.up_to_date:
        click.echo(
            f"Up to date: {report.output} ({report.packages} packages, {report.versions} "
            f"versions, {report.variants} files; nothing changed since the last build)"
        )
        return
    # Added, removed, changed and unchanged count versions, skipped and verified count files.
    click.echo(
        f"Built {report.output}: {report.packages} packages, {report.versions} versions "
        f"({len(report.added)} added, {len(report.removed)} removed, {len(report.changed)} "
        f"changed, {len(report.unchanged)} unchanged), {report.variants} files "
        f"({report.verified} verified, {report.from_cache} from the verification cache, "
        f"{len(report.skipped)} skipped)"
    )
    t = report.timings
    if t:
        click.echo(
            f"Took {sum(t.values()):.1f} s: sources {t.get('sources', 0):.1f} s "
            f"({human_size(report.verified_bytes)} verified), OS releases "
            f"{t.get('os', 0):.1f} s, render {t.get('render', 0):.1f} s, "
            f"write {t.get('write', 0):.1f} s"
        )
