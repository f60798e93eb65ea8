"""``s9reg mirror``: a complete local copy of another StartOS registry, for an offline box."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Self

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
)

from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import DownloadLimits
from s9reg.builder.mirror import MirrorReport, MirrorSettings, mirror
from s9reg.cli._network import tor_proxy_option
from s9reg.errors import S9regError
from s9reg.exver import VersionRange

_SELECTION = re.compile(r"([a-z0-9]+(?:-[a-z0-9]+)*)(.*)")


def _selection(values: tuple[str, ...]) -> dict[str, VersionRange] | None:
    """``ID`` or ``ID<RANGE>`` (``bitcoind>=28.0.0:0``, ``hello=1.0.0:0``); none: every package."""
    if not values:
        return None
    out: dict[str, VersionRange] = {}
    for value in values:
        m = _SELECTION.fullmatch(value.strip())
        if m is None:
            raise click.BadParameter(
                f"{value!r}: expected ID or ID<RANGE>", param_hint="--packages"
            )
        try:
            rng = VersionRange.parse(m[2].strip()) if m[2].strip() else VersionRange.any()
        except S9regError as e:
            raise click.BadParameter(f"{value!r}: {e.message}", param_hint="--packages") from None
        out[m[1]] = VersionRange.or_(out[m[1]], rng) if m[1] in out else rng
    return out


class _Bar:
    """Files done of planned, bytes and the outcome counts; drawn only on a terminal."""

    def __init__(self, *, enabled: bool) -> None:
        self._lock = threading.Lock()
        self._bar = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                DownloadColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            if enabled
            else None
        )
        self._files: TaskID | None = None
        self._bytes: TaskID | None = None
        self.bytes = 0

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def planned(self, files: int) -> None:
        if self._bar is not None:
            self._files = self._bar.add_task("files", total=files)
            self._bytes = self._bar.add_task("bytes", total=None)

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.bytes += nbytes
        if self._bar is not None and self._bytes is not None:
            self._bar.update(self._bytes, completed=self.bytes)

    def finished(self, rel: str, outcome: str) -> None:
        if self._bar is not None and self._files is not None:
            self._bar.advance(self._files)
            if outcome == "failed":
                self._bar.console.print(f"failed: {rel}")


def _summary(report: MirrorReport, seconds: float) -> str:
    mib = report.bytes / (1 << 20)
    return (
        f"Mirrored {report.packages} packages ({report.versions} versions, {report.files} files, "
        f"{mib:.1f} MiB) and {report.os_versions} StartOS releases in {seconds:.1f} s: "
        f"{report.downloaded} downloaded, {report.resumed} resumed, {report.present} already "
        f"there, {len(report.failed)} failed"
    )


@click.command()
@click.option("--from", "source", required=True, metavar="URL", help="The registry to copy.")
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--packages", multiple=True, metavar="SEL",
    help="ID or ID<RANGE> (bitcoind>=28.0.0:0); repeat; default every package.",
)  # fmt: skip
@click.option("--os", "with_os", is_flag=True, help="Also copy the StartOS images.")
@click.option("--jobs", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--url", "file_url", default="http://127.0.0.1:5959/", show_default=True, metavar="URL",
    help="Where `s9reg serve` will serve the copy (listed first in every asset's URLs).",
)  # fmt: skip
@click.option(
    "--max-download-mb", type=click.IntRange(min=1), default=4096, show_default=True,
    envvar="S9REG_MAX_DOWNLOAD_MB", help="Largest file accepted.",
)  # fmt: skip
@tor_proxy_option()
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def mirror_cmd(  # noqa: PLR0913, PLR0917 - one argument per option
    source: str,
    dest: Path,
    packages: tuple[str, ...],
    with_os: bool,
    jobs: int,
    file_url: str,
    max_download_mb: int,
    tor_proxy: tuple[str, int] | None,
    as_json: bool,
) -> None:
    """Copy every package (and with --os every StartOS image) of the registry at URL into DEST.

    Each file is verified against the commitment and signatures the registry lists; one that
    fails is reported and left out. DEST becomes an s9reg site that `s9reg serve --site DEST`
    serves, with its own URLs first and the registry's kept as fallbacks. Run it again to
    resume an interrupted copy or to take new releases: finished files are not fetched again.
    """
    if not file_url.startswith(("http://", "https://")):
        raise click.BadParameter("expected an http(s) URL", param_hint="--url")
    settings = MirrorSettings(
        source=source,
        dest=dest,
        file_urls=(file_url,),
        packages=_selection(packages),
        os=with_os,
        jobs=jobs,
        limits=DownloadLimits(max_bytes=max_download_mb << 20, tor_proxy=tor_proxy),
    )
    started = time.monotonic()
    with _Bar(enabled=sys.stderr.isatty() and not as_json) as bar:
        report = mirror(settings, bar)
    for rel, why in report.failed:
        click.echo(f"WARNING {rel}: {why}", err=True)
    for warning in report.warnings:
        click.echo(f"WARNING {warning}", err=True)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "packages": report.packages,
                    "versions": report.versions,
                    "osVersions": report.os_versions,
                    "files": report.files,
                    "bytes": report.bytes,
                    "downloaded": report.downloaded,
                    "resumed": report.resumed,
                    "present": report.present,
                    "failed": [list(f) for f in report.failed],
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
        )
    else:
        click.echo(_summary(report, time.monotonic() - started))
    if report.failed and not report.files:
        raise BuildError(f"no file could be mirrored; {dest} was left as it was")


mirror_cmd.name = "mirror"
