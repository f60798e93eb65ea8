"""``s9reg build``: verify the configured packages and render the static registry site."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from s9reg import config
from s9reg.build import build_site
from s9reg.build.pipeline import BuildReport
from s9reg.cli._app import console_err


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
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    default="site-config.yaml", show_default=True, envvar="S9REG_CONFIG",
    help="Site configuration. Env S9REG_CONFIG.",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False),
    help="Output directory (default: `output` from the configuration).",
)  # fmt: skip
@click.option("--skip-invalid", is_flag=True, help="Leave out invalid or unauthorized packages.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def build(config_path: Path, out: Path | None, skip_invalid: bool, as_json: bool) -> None:
    """Verify every package source and render the static registry site.

    A failed build leaves the previous output untouched. SOURCE_DATE_EPOCH sets the publication
    time of versions seen for the first time.
    """
    cfg = config.load(config_path)
    settings = config.build_settings(cfg, output=out, skip_invalid=skip_invalid)
    report = build_site(settings)
    for warning in report.warnings:
        console_err(f"warning: {warning}")
    for skipped in report.skipped:
        console_err(f"skipped {skipped.path}: {skipped.message}")
    if as_json:
        click.echo(json.dumps(_summary(report), ensure_ascii=False))
        return
    click.echo(
        f"Built {report.output}: {report.packages} packages, {report.versions} versions, "
        f"{report.variants} files ({len(report.added)} added, {len(report.removed)} removed, "
        f"{len(report.changed)} changed, {len(report.unchanged)} unchanged, "
        f"{len(report.skipped)} skipped)"
    )
