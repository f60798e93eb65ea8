"""``s9reg publish``: build if needed, then sync the site to its storage (docs/publish.md).

With ``FILE.s9pk…`` it adds those packages to the published registry instead, without the
sources (``s9reg.publish.publish_files``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    Progress,
    TaskID,
)
from rich.table import Table

from s9reg import config
from s9reg.builder import build_site
from s9reg.cli._app import App, config_option, console_err, is_tty
from s9reg.cli._ci import CiResult, append_github_output, append_summary
from s9reg.cli._progress import transfer_bar
from s9reg.cli._published import live_source
from s9reg.cli._signals import terminate_as_interrupt
from s9reg.publish import (
    PublishError,
    PublishProgress,
    PublishReport,
    PublishSettings,
    audit_published,
    check_target,
    open_target,
    publish_files,
    publish_site,
    read_live_index,
    read_published_index,
    stale_reason,
)
from s9reg.publish.changes import index_changes
from s9reg.publish.engine import SITE_MARKER
from s9reg.publish.settings import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_JOBS,
    DEFAULT_KEEP_GENERATIONS,
    DEFAULT_MAX_DELETE,
    DEFAULT_TIMEOUT,
)
from s9reg.registry.model.index import FullIndex
from s9reg.s3.client import RETRY_LOG
from s9reg.site_layout import INDEX_FILE
from s9reg.units import human_size


class _BarProgress:
    """One rich bar per phase, with bytes and rate, on stderr."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None
        self.lock = threading.Lock()

    def phase(self, label: str, objects: int, nbytes: int) -> None:
        with self.lock:
            if self.task is not None:
                self.bar.update(self.task, visible=False)
            self.task = self.bar.add_task(f"{label} ({objects} objects)", total=nbytes or None)

    def advance(self, nbytes: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, nbytes)


@contextmanager
def _progress(enabled: bool) -> Iterator[PublishProgress | None]:
    if not enabled:
        yield None
        return
    with transfer_bar(time_remaining=False) as bar:
        yield _BarProgress(bar)


def _plan_table(report: PublishReport) -> Table:
    table = Table(title=f"Plan for {report.target}", show_lines=False)
    for name, justify in (("action", "left"), ("phase", "left"), ("key", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("size", justify="right")
    table.add_column("reason")
    for item in (*report.uploads, *report.header_updates, *report.deletions):
        phase = item.phase.label if item.phase is not None else "cleanup"
        table.add_row(str(item.action), phase, item.key, human_size(item.size), item.reason)
    return table


def _summary(report: PublishReport) -> str:
    counts = (
        f"{len(report.uploads)} uploaded ({human_size(report.upload_bytes)}), "
        f"{len(report.header_updates)} header updates, {len(report.deletions)} deleted, "
        f"{report.unchanged} unchanged"
    )
    if report.kept:
        counts += f", {report.kept} kept as published"
    if report.resumed:
        counts += f", {report.resumed} already there"
    if report.deferred_deletions:
        counts += f", {report.deferred_deletions} deletions deferred"
    if report.dry_run:
        return (
            f"Dry run for {report.target}: would publish generation {report.generation}: {counts}"
        )
    if report.generation == report.previous_generation and not report.deletions:
        if report.uploads or report.header_updates:
            return f"Restored generation {report.generation} in {report.target}: {counts}"
        return f"{report.target} is up to date (generation {report.generation}): {counts}"
    return f"Published generation {report.generation} to {report.target}: {counts}"


@click.command()
@config_option("Site configuration.")
@click.option(
    "--site", type=click.Path(path_type=Path, file_okay=False),
    help="Built site to publish (default: `output` from the configuration).",
)  # fmt: skip
@click.option(
    "--to", "target_dir", type=click.Path(path_type=Path, file_okay=False),
    help="Publish into this directory instead of the configured storage.",
)  # fmt: skip
@click.option(
    "--build/--no-build", "build_mode", default=None,
    help="Always / never build first (default: build when the site is missing or stale).",
)  # fmt: skip
@click.option(
    "--jobs", type=click.IntRange(1, 256), default=DEFAULT_JOBS, show_default=True,
    help="Objects and multipart parts transferred at once.",
)  # fmt: skip
@click.option(
    "--max-delete", type=click.IntRange(0), default=DEFAULT_MAX_DELETE, show_default=True,
    help="Delete nothing when more objects than this are due.",
)  # fmt: skip
@click.option(
    "--keep-generations", type=click.IntRange(1), default=DEFAULT_KEEP_GENERATIONS,
    show_default=True, help="Keep every object the last N generations reference.",
)  # fmt: skip
@click.option(
    "--grace-hours", type=click.FloatRange(0), default=DEFAULT_GRACE_SECONDS / 3600,
    show_default=True, help="Keep objects of generations retired less than this long ago.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Print the plan as a table; change nothing.")
@click.option(
    "--verify",
    is_flag=True,
    help="Publish nothing: check that storage holds every object of the live generation as "
    "its manifest records (size, SHA-256 metadata, headers). Exit 1 if not.",
)
@click.option(
    "--content", is_flag=True, help="With --verify: download every object and hash it too."
)
@click.option(
    "--repair", is_flag=True,
    help="With --verify: upload damaged objects again from the built site where its file is "
    "the recorded one.",
)  # fmt: skip
@click.option("--break-lock", is_flag=True, help="Take over the lease of a publish that died.")
@click.option(
    "--timeout", type=click.FloatRange(1), default=DEFAULT_TIMEOUT, show_default=True,
    help="Seconds to wait for a connection and for storage to answer about its state objects "
    "(pointer, manifests); a storage that never answers fails within about six times this.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the summary (and plan) as JSON.")
@click.option(
    "--github-output", type=click.Path(path_type=Path, dir_okay=False),
    help="Append the outputs generation, previous-generation, changed (versions added and "
    "removed, JSON), index-sha256 and dry-run to this file (GitHub Actions: $GITHUB_OUTPUT).",
)  # fmt: skip
@click.option(
    "--summary", "summary_path", type=click.Path(path_type=Path, dir_okay=False),
    help="Append a short Markdown summary (counts, changed versions, links; never the plan) "
    "to this file (GitHub Actions: $GITHUB_STEP_SUMMARY).",
)  # fmt: skip
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_obj
def publish(  # noqa: PLR0913, PLR0917 - one parameter per option
    app: App,
    config_path: Path,
    site: Path | None,
    target_dir: Path | None,
    build_mode: bool | None,
    jobs: int,
    max_delete: int,
    keep_generations: int,
    grace_hours: float,
    dry_run: bool,
    verify: bool,
    content: bool,
    repair: bool,
    break_lock: bool,
    timeout: float,
    as_json: bool,
    github_output: Path | None,
    summary_path: Path | None,
    files: tuple[Path, ...],
) -> None:
    """Publish the built site to the configured storage (S3 or a directory).

    Uploads only what changed (by SHA-256, from the published manifest), package files first
    and the index last, then moves the pointer with a conditional write and deletes old
    objects only after their grace period. Credentials come from the AWS environment or
    profile. A publish that failed or was killed can simply be run again.

    With FILES, adds those .s9pk files to the published registry without the sources: the
    published index is read, the files are verified and authorized with the configuration's
    signers, and only they and the documents and pages they change are uploaded.
    """
    if (content or repair) and not verify:
        raise click.UsageError("--content and --repair go with --verify")
    if verify and (files or dry_run or build_mode is not None):
        raise click.UsageError("--verify publishes nothing: no FILE, --dry-run or --build")
    if files and (site is not None or build_mode is not None):
        msg = "--site and --build/--no-build do not apply to publishing FILE.s9pk…"
        raise click.UsageError(msg)
    ci = _CiFiles(github_output, summary_path)
    if ci.wanted and (verify or (files and dry_run)):
        msg = "--github-output and --summary report a publish (not --verify, nor FILE… --dry-run)"
        raise click.UsageError(msg)
    cfg = config.load(config_path)
    settings = config.publish_settings(
        cfg,
        site=site,
        target_dir=target_dir,
        jobs=jobs,
        max_delete=max_delete,
        keep_generations=keep_generations,
        grace_seconds=round(grace_hours * 3600),
        break_lock=break_lock,
        dry_run=dry_run,
        timeout=timeout,
    )
    _show_retries(enabled=is_tty() or app.verbose > 0)
    if verify:
        _verify(settings, content=content, repair=repair, as_json=as_json)
        return
    if files:
        _publish_files(cfg, settings, files, ci, as_json=as_json)
        return
    if site is not None and not (site / SITE_MARKER).is_file():
        # The library's hint ("run s9reg build first") does not fit a path the user chose.
        msg = f"{site}: not a built site (no {SITE_MARKER})"
        raise PublishError(msg, hint="--site must name a directory s9reg build wrote")
    if site is None and build_mode is not False:
        _build_first(cfg, settings, always=bool(build_mode))
    # What devices saw before, for the versions added and removed (CI outputs only).
    before = read_live_index(settings) if ci.wanted else None
    with terminate_as_interrupt(), _progress(is_tty() and not as_json) as progress:
        report = publish_site(settings, progress=progress)
    _finish(report, as_json=as_json, dry_run=dry_run)
    if ci.wanted:
        raw = (settings.site / INDEX_FILE).read_bytes()
        after = FullIndex.from_bytes(raw, path=INDEX_FILE)
        ci.write(cfg, report, before, after, hashlib.sha256(raw).hexdigest())


def _build_first(cfg: config.SiteConfig, settings: PublishSettings, *, always: bool) -> None:
    check_target(settings)  # a wrong --to or storage fails now, not after a long build
    # Dates come from this target's live index first (docs/publish.md): what is live is
    # what devices were told, whatever a local output says.
    build_settings = replace(
        config.build_settings(cfg), published=live_source(settings), published_first=True
    )
    reason = "--build" if always else stale_reason(build_settings, cfg.path)
    if reason is not None:
        console_err(f"building first: {reason}")
        built = build_site(build_settings)
        for warning in built.warnings:
            console_err(f"warning: {warning}")


def _publish_files(
    cfg: config.SiteConfig,
    settings: PublishSettings,
    files: tuple[Path, ...],
    ci: _CiFiles,
    *,
    as_json: bool,
) -> None:
    before = read_live_index(settings) if ci.wanted else None
    with terminate_as_interrupt(), _progress(is_tty() and not as_json) as progress:
        overlay = publish_files(config.build_settings(cfg), settings, files, progress=progress)
    if overlay.interrupted:
        console_err(
            "warning: finishing over the index of an interrupted publish; "
            "package files it listed that were never published are left out"
        )
    for warning in overlay.build.warnings:
        console_err(f"warning: {warning}")
    _finish(overlay.publish, as_json=as_json, dry_run=settings.dry_run)
    if ci.wanted:
        target = open_target(settings)
        try:
            live = read_published_index(target)
        finally:
            target.close()
        sha = live.manifest.objects[INDEX_FILE].sha256
        ci.write(cfg, overlay.publish, before, live.index, sha)


@dataclass(frozen=True, slots=True)
class _CiFiles:
    github_output: Path | None
    summary: Path | None

    @property
    def wanted(self) -> bool:
        return self.github_output is not None or self.summary is not None

    def write(
        self,
        cfg: config.SiteConfig,
        report: PublishReport,
        before: FullIndex | None,
        after: FullIndex,
        index_sha256: str,
    ) -> None:
        url = cfg.registry.url
        files = cfg.registry.file_urls[0] if cfg.registry.file_urls else url
        result = CiResult(
            report=report,
            changes=index_changes(before, after),
            index_sha256=index_sha256,
            packages=len(after.package.packages),
            versions=sum(len(p.versions) for p in after.package.packages.values()),
            links=(("registry URL (add it in StartOS)", url), ("catalogue", files)),
        )
        if self.github_output is not None:
            append_github_output(self.github_output, result)
        if self.summary is not None:
            append_summary(self.summary, result)


class _RetryLines(logging.Handler):
    def __init__(self, *, enabled: bool) -> None:
        super().__init__(logging.WARNING)
        self.enabled = enabled

    def emit(self, record: logging.LogRecord) -> None:
        if self.enabled:
            console_err(record.getMessage())


def _show_retries(*, enabled: bool) -> None:
    """One line per retried storage request on stderr (on a terminal, or with ``-v``)."""
    log = logging.getLogger(RETRY_LOG.name)
    for handler in [h for h in log.handlers if isinstance(h, _RetryLines)]:
        log.removeHandler(handler)
    # Not propagated: without a handler, Python would print warnings anyway (lastResort).
    log.addHandler(_RetryLines(enabled=enabled))
    log.propagate = False


def _verify(settings: PublishSettings, *, content: bool, repair: bool, as_json: bool) -> None:
    target = open_target(settings)
    try:
        report = audit_published(
            target,
            content=content,
            repair_from=settings.site if repair else None,
            jobs=settings.jobs,
            lease_seconds=settings.lease_seconds,
            break_lock=settings.break_lock,
        )
    finally:
        target.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        if not report.ok:
            raise SystemExit(1)
        return
    for p in report.problems:
        mark = "repaired" if p.repaired else "DAMAGED"
        click.echo(f"{mark:8} {p.kind:10} {p.key}  ({p.detail})")
    how = (
        "sizes, SHA-256 metadata, headers and contents"
        if content
        else ("sizes, SHA-256 metadata and headers")
    )
    size = f"{report.bytes / 2**20:.1f} MiB"
    click.echo(f"Generation {report.generation}: {report.objects} objects ({size}); checked {how}.")
    for o in report.orphans:
        click.echo(
            f"{'orphan':8} {'unlisted':10} {o.key}  ({human_size(o.size)}, stored {o.modified})"
        )
    if report.orphans:
        total = human_size(sum(o.size for o in report.orphans))
        click.echo(
            f"{len(report.orphans)} objects ({total}) are listed by no retained generation: "
            "a publish deletes them once they are older than the grace time."
        )
    if report.interrupted:
        click.echo(f"Note: {report.interrupted}.")
    damaged = [p for p in report.problems if not p.repaired]
    if report.problems and not damaged:
        click.echo(f"All {len(report.problems)} damaged objects were uploaded again.")
    elif not report.problems:
        click.echo("Every object is stored as recorded.")
    if damaged:
        raise PublishError(
            f"{len(damaged)} of {report.objects} objects are not stored as the manifest records",
            hint="run again with --repair after building the same site, or publish again",
        )


def _finish(report: PublishReport, *, as_json: bool, dry_run: bool) -> None:
    for warning in report.warnings:
        console_err(f"warning: {warning}")
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    if dry_run:
        Console(soft_wrap=True).print(_plan_table(report))
    click.echo(_summary(report))
