"""``s9reg cache``: the offline-first Docker image cache (``docs/image-cache.md``)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from s9reg import config
from s9reg.cli._app import config_option as shared_config_option
from s9reg.cli._app import console_err, is_tty
from s9reg.errors import S9regError
from s9reg.imagecache import (
    CacheError,
    CacheSettings,
    CopyResult,
    CopyStatus,
    ImageRef,
    check_image,
    cleanup,
    daemon_json,
    delete_image,
    ensure_image,
    garbage_collect,
    list_images,
    rewrite_compose,
)
from s9reg.imagecache import preload as preloading
from s9reg.imagecache.daemon import (
    api_token,
    engine_for_storage,
    require_running,
    run_daemon,
    start_daemon,
    stop_daemon,
)
from s9reg.imagecache.engine import Layout
from s9reg.imagecache.events import log_event
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.offline import ManualOffline
from s9reg.imagecache.settings import Upstream, resolve_upstream
from s9reg.imagecache.store import disk_usage
from s9reg.imagecache.supervisor import process_alive, read_state, upstream_online
from s9reg.units import human_size

config_option = shared_config_option("Site configuration (section image_cache).")

# Exit statuses scripts can test (docs/image-cache.md, "Exit statuses"); errors exit 1.
EXIT_NOT_RUNNING = 3  # status: the cache is not running (as LSB init scripts' status)
EXIT_DEGRADED = 4  # status: it runs, but an instance is down, crashed or restarting
EXIT_OFFLINE = 3  # online: an upstream does not answer
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _settings(config_path: Path) -> CacheSettings:
    return config.cache_settings(config.load_cache(config_path))


def _echo_json(doc: object) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _parse(text: str) -> ImageRef:
    return ImageRef.parse(text)


@click.group()
def cache() -> None:
    """Run, fill, inspect and clean the offline-first Docker image cache."""


# --- lifecycle ----------------------------------------------------------------------------------


@cache.command()
@config_option
@click.option("--foreground", is_flag=True, help="Run in this process until SIGTERM or Ctrl-C.")
def up(config_path: Path, foreground: bool) -> None:
    """Start the engine instances, the supervisor and the management API.

    Without --foreground the supervisor is started in the background and the command returns
    once every instance answers.
    """
    settings = _settings(config_path)
    if foreground:
        run_daemon(settings)
        return
    started = start_daemon(settings, config_path)
    state = started.state
    if not started.started:
        click.echo(f"The image cache already runs (pid {started.pid}).")
        return
    click.echo(f"Image cache running (pid {started.pid}); management API on {state['api_url']}.")
    if settings.api_token is None:
        token_file = Layout(settings.data_dir).api_token_file
        click.echo(f"  API token (Authorization: Bearer …): {token_file}")
    for inst in state["instances"]:
        click.echo(f"  {inst['name']}: {inst['url']} ({inst['mode']})")


@cache.command()
@config_option
def down(config_path: Path) -> None:
    """Stop the image cache (the supervisor stops its instances)."""
    pid = stop_daemon(_settings(config_path))
    click.echo("Image cache stopped." if pid is not None else "The image cache was not running.")


@cache.command()
@config_option
@json_option
def status(config_path: Path, as_json: bool) -> None:
    """Show whether the cache runs, and each instance's mode, pid and restarts.

    Exits 0 when every instance runs, 3 when the cache is not running, 4 when it is degraded
    (an instance down, crashed or restarting).
    """
    settings = _settings(config_path)
    state = read_state(settings)
    down = _down_instances(state) if state is not None else []
    if as_json:
        _echo_json({"running": state is not None, "degraded": bool(down), **(state or {})})
    elif state is None:
        click.echo("The image cache is not running.")
    else:
        click.echo(f"Image cache running (pid {state['pid']}); API {state['api_url']}")
        rows = [["INSTANCE", "URL", "MODE", "PID", "RESTARTS", "STATE"]]
        for i in state["instances"]:
            run = "running" if i["running"] else ("paused" if i["paused"] else "down")
            rows.append(
                [i["name"], i["url"], i["mode"], str(i["pid"] or "-"), str(i["restarts"]), run]
            )
        _table(rows)
        _print_modes(state)
        if down:
            click.echo(f"Degraded: {', '.join(down)} not running.")
    if state is None:
        sys.exit(EXIT_NOT_RUNNING)
    if down:
        sys.exit(EXIT_DEGRADED)


def _down_instances(state: dict[str, Any]) -> list[str]:
    """Instances that should run but do not (paused ones are under maintenance, not down)."""
    out = []
    for i in state.get("instances") or []:
        pid = i.get("pid")
        alive = bool(i.get("running")) and isinstance(pid, int) and process_alive(pid)
        if not alive and not i.get("paused"):
            out.append(str(i.get("name")))
    return out


def _pulls_through(state: dict[str, Any], up: Upstream) -> bool:
    """Whether the running cache uses ``up`` now (its mode is ``proxy``): reachable, not off."""
    for u in state.get("upstreams") or []:
        if u.get("name") == up.name:
            return bool(u.get("mode") == "proxy")
    return upstream_online(up)


def _print_modes(state: dict[str, Any]) -> None:
    """The upstreams' modes (and why offline), then the disk quota, under ``status``."""
    ups = state.get("upstreams") or []
    if ups:
        click.echo("")
        rows = [["UPSTREAM", "MODE", "SINCE", "WHY"]]
        rows += [[u["name"], u["mode"], _when(u.get("since")), u.get("reason") or "-"] for u in ups]
        _table(rows)
    quota = state.get("quota") or {}
    if quota.get("max_size"):
        used, max_size = int(quota.get("used") or 0), int(quota["max_size"])
        over = " (over: evicting least recently used cached tags)" if used > max_size else ""
        click.echo(f"\nDisk quota: {human_size(used)} of {human_size(max_size)} used{over}.")


@cache.command(name="offline")
@config_option
@json_option
@click.argument("switch", type=click.Choice(["on", "off"]))
@click.argument("upstream", required=False)
def offline_cmd(config_path: Path, as_json: bool, switch: str, upstream: str | None) -> None:
    """Switch UPSTREAM (every upstream without one) offline by hand, or back on.

    Offline, the cache never contacts the upstream and serves what it holds; kept across
    restarts. Back on, the upstream is used again as soon as it answers.
    """
    settings = _settings(config_path)
    before = ManualOffline.load(settings.data_dir)
    after = before.switched(settings, offline=switch == "on", name=upstream)
    after.save(settings.data_dir)
    log_event(
        settings.data_dir,
        f"manual offline {switch} for {upstream or 'every upstream'}: now offline by hand: "
        + (", ".join(u.name for u in settings.upstreams if after.covers(u.name)) or "none"),
    )
    modes = {u.name: after.covers(u.name) for u in settings.upstreams}
    if read_state(settings) is not None:
        # The supervisor applies the file within a fraction of a second.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            state = read_state(settings) or {}
            seen = {u["name"]: u["manual"] for u in state.get("upstreams") or []}
            if all(seen.get(n, m) == m for n, m in modes.items()):
                break
            time.sleep(0.05)
    if as_json:
        _echo_json([{"name": n, "manual_offline": m} for n, m in modes.items()])
        return
    for name, manual in modes.items():
        click.echo(f"{name}: {'offline (by hand)' if manual else 'on (used whenever it answers)'}")


# --- filling ------------------------------------------------------------------------------------


class _Bars(preloading.Progress):
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.tasks: dict[ImageRef, TaskID] = {}

    def start(self, ref: ImageRef, total_bytes: int) -> None:
        if self.progress is not None:
            self.tasks[ref] = self.progress.add_task(str(ref), total=total_bytes or 1)

    def advance(self, ref: ImageRef, n: int) -> None:
        if self.progress is not None and ref in self.tasks:
            self.progress.advance(self.tasks[ref], n)

    def finish(self, result: CopyResult) -> None:
        if self.progress is not None and result.ref in self.tasks:
            self.progress.remove_task(self.tasks.pop(result.ref))
        line = f"{result.status.value:8} {result.ref}"
        if result.status is CopyStatus.COPIED:
            line += f" ({human_size(result.bytes_copied)}, {result.blobs_copied} blobs)"
        if result.platforms:
            line += f" [{', '.join(result.platforms)}]"
        if result.error:
            line += f": {result.error}"
        if self.progress is not None:
            # Image references and platform lists contain brackets: no markup.
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            console_err(line)


@cache.command()
@config_option
@json_option
@click.argument("images", nargs=-1)
def preload(config_path: Path, as_json: bool, images: tuple[str, ...]) -> None:
    """Copy the curated images (or IMAGES) from their upstreams into the cache.

    All platforms of multi-platform images are copied and digests are kept; images already
    present are skipped. Works whether the cache runs or not.
    """
    settings = _settings(config_path)
    refs = [_parse(i) for i in images] if images else None
    bars = None
    if is_tty() and not as_json:
        bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
    with engine_for_storage(settings):
        if bars is not None:
            with bars:
                results = preloading.preload_images(settings, refs, progress=_Bars(bars))
        else:
            results = preloading.preload_images(settings, refs, progress=_Bars(None))
    counts = {s: [r for r in results if r.status is s] for s in CopyStatus}
    copied = sum(r.bytes_copied for r in counts[CopyStatus.COPIED])
    if as_json:
        _echo_json(
            [
                {
                    "image": str(r.ref),
                    "status": r.status.value,
                    "digest": r.digest,
                    "platforms": r.platforms,
                    "bytes_copied": r.bytes_copied,
                    "error": r.error,
                }
                for r in results
            ]
        )
    else:
        click.echo(
            f"Preloaded {len(results)} images: {len(counts[CopyStatus.COPIED])} copied "
            f"({human_size(copied)}), {len(counts[CopyStatus.PRESENT])} already present, "
            f"{len(counts[CopyStatus.FAILED])} failed."
        )
    failed = counts[CopyStatus.FAILED]
    if failed:
        raise CacheError(
            f"{len(failed)} of {len(results)} images could not be preloaded "
            f"(first: {failed[0].ref}: {failed[0].error})",
            details="\n".join(f"{r.ref}: {r.error}" for r in failed),
        )


@cache.command()
@config_option
@json_option
@click.argument("image")
def ensure(config_path: Path, as_json: bool, image: str) -> None:
    """Succeed if IMAGE is cached or can be pulled through now.

    Offline and not cached, it fails with the code OFFLINE_IMAGE_UNAVAILABLE.
    """
    settings = _settings(config_path)
    try:
        ref = _parse(image)
        state = require_running(settings)
        up = resolve_upstream(settings, ref)
        result = ensure_image(settings, ref, online=_pulls_through(state, up))
    except S9regError as e:
        if as_json:
            _echo_json({"ok": False, "code": e.code, "message": e.message, "hint": e.hint})
        else:
            console_err(f"ERROR {e.code}: {e.message}")
            if e.hint:
                console_err(f"hint: {e.hint}")
        sys.exit(e.exit_code)
    if as_json:
        _echo_json(
            {"ok": True, "image": str(ref), "source": result.source, "digest": result.digest}
        )
    else:
        click.echo(f"{ref}: available ({result.source}) {result.digest}")


# --- inspecting ---------------------------------------------------------------------------------


@cache.command()
@config_option
@json_option
def images(config_path: Path, as_json: bool) -> None:
    """List cached repositories and tags: size, curated or cached, last pulled."""
    settings = _settings(config_path)
    with engine_for_storage(settings):
        found = list_images(settings)
        used = disk_usage(settings)
    if as_json:
        _echo_json(
            {
                "disk_usage": {"bytes": used, "human": human_size(used)},
                "images": [
                    {
                        "name": i.name,
                        "size": i.size,
                        "curated": i.curated,
                        "last_used": i.last_used,
                        "tags": [
                            {
                                "tag": t.tag,
                                "digest": t.digest,
                                "size": t.size,
                                "curated": t.curated,
                                "last_used": t.last_used,
                                "platforms": list(t.platforms),
                            }
                            for t in i.tags
                        ],
                    }
                    for i in found
                ],
            }
        )
        return
    rows = [["IMAGE", "TAG", "SIZE", "KIND", "LAST PULLED", "DIGEST"]]
    for i in found:
        for t in i.tags:
            kind = "curated" if t.curated else "cached"
            rows.append(
                [i.name, t.tag, human_size(t.size), kind, _when(t.last_used), t.digest[:19]]
            )
    _table(rows)
    click.echo(f"{len(found)} repositories, {human_size(used)} on disk.")


@cache.command()
@config_option
@json_option
@click.argument("image")
def check(config_path: Path, as_json: bool, image: str) -> None:
    """Show whether IMAGE[:TAG] is stored completely (every platform, every blob)."""
    settings = _settings(config_path)
    ref = _parse(image)
    with engine_for_storage(settings):
        result = check_image(settings, ref)
    if as_json:
        _echo_json(
            {
                "image": str(ref),
                "present": result.present,
                "complete": result.complete,
                "digest": result.digest,
                "size": result.size,
                "curated": result.curated,
                "platforms": list(result.platforms),
                "missing": list(result.missing),
                "last_used": result.last_used,
                "pinned": result.pinned,
                "moved": result.moved,
            }
        )
    elif not result.present:
        click.echo(f"{ref}: not cached")
    else:
        state = "complete" if result.complete else f"incomplete ({len(result.missing)} missing)"
        platforms = f" [{', '.join(result.platforms)}]" if result.platforms else ""
        kind = "curated" if result.curated else "cached"
        click.echo(f"{ref}: {state}, {kind}, {human_size(result.size)}{platforms}, {result.digest}")
        if result.moved:
            click.echo(
                f"{ref}: MOVED: the curated tag points at {result.digest}, pinned "
                f"{result.pinned} (the running cache puts it back on its pin)"
            )
    if not result.complete or result.moved:
        sys.exit(1)


@cache.command()
@config_option
@json_option
def online(config_path: Path, as_json: bool) -> None:
    """Show whether each upstream is reachable; exits 3 if any is not."""
    settings = _settings(config_path)
    found = [(u, upstream_online(u)) for u in settings.upstreams]
    if as_json:
        _echo_json([{"name": u.name, "url": u.url, "online": ok} for u, ok in found])
    else:
        _table([[u.name, u.url, "online" if ok else "OFFLINE"] for u, ok in found])
    if not all(ok for _, ok in found):
        sys.exit(EXIT_OFFLINE)


# --- cleaning -----------------------------------------------------------------------------------


@cache.command()
@config_option
@click.option(
    "--force", is_flag=True,
    help="Delete even when curated tags share the digest (they go too).",
)  # fmt: skip
@click.argument("image")
def delete(config_path: Path, image: str, force: bool) -> None:
    """Delete IMAGE:TAG (every tag on the same digest goes with it).

    Curated tags are never deleted without --force, whether IMAGE is one or only shares its
    digest. Space is freed by the next `s9reg cache cleanup` or `s9reg cache gc`.
    """
    settings = _settings(config_path)
    ref = _parse(image)
    with engine_for_storage(settings):
        result = delete_image(settings, ref, force=force)
    tags = ", ".join(result.tags) or "-"
    more = f" and {len(result.children)} platform manifests" if result.children else ""
    click.echo(f"Deleted {ref.name}@{result.digest}{more} (tags: {tags}).")
    if result.curated:
        console_err(
            f"warning: curated tags deleted: {', '.join(result.curated)} "
            "(s9reg cache preload restores them)"
        )


def _post(url: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
    base, _, path = url.partition("/api/")
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with RegistryClient(base, timeout=3600.0) as client:
        r = client.request("POST", f"/api/{path}", headers=headers, body=json.dumps(body).encode())
    try:
        doc = json.loads(r.body or b"{}")
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise CacheError(f"{url}: the management API did not answer JSON (HTTP {r.status})")
    if r.status != 200:
        err = doc.get("error") or {}
        raise CacheError(str(err.get("message") or f"HTTP {r.status}"), hint=err.get("hint"))
    return dict(doc)


@cache.command(name="cleanup")
@config_option
@json_option
@click.option("--keep-tags", type=click.IntRange(min=0), help="Tags to keep per repository.")
@click.option(
    "--older-than", "older_than", type=click.FloatRange(min=0), metavar="DAYS",
    help="Delete only tags not pulled for this many days.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option(
    "--force", is_flag=True, help="Delete even the content of upstreams that are offline."
)
def cleanup_cmd(  # noqa: PLR0913, PLR0917 - one parameter per option
    config_path: Path,
    as_json: bool,
    keep_tags: int | None,
    older_than: float | None,
    dry_run: bool,
    force: bool,
) -> None:
    """Delete old cached tags (never curated ones), then garbage-collect safely.

    The content of an upstream that is offline (unreachable or switched off) is left alone,
    since it could not be fetched again, unless --force. The collection runs with the store's
    instances stopped and never deletes untagged manifests, which would break multi-platform
    images on distribution 2.8.
    """
    if keep_tags is None and older_than is None:
        raise CacheError("cleanup needs --keep-tags or --older-than (or both)")
    settings = _settings(config_path)
    state = read_state(settings)
    if state is not None:
        doc = _post(
            f"{state['api_url']}/api/v1/registry/cleanup",
            {
                "keep_tags": keep_tags,
                "older_than_days": older_than,
                "dry_run": dry_run,
                "force": force,
            },
            api_token(settings),
        )
    else:
        with engine_for_storage(settings) as sup:
            assert sup is not None  # noqa: S101 - not running, so a temporary one
            result = cleanup(
                settings,
                keep_tags=keep_tags,
                older_than_days=older_than,
                pause=sup.paused,
                dry_run=dry_run,
                reachable=lambda u: (
                    upstream_online(u, settings.probe_timeout)
                    and not ManualOffline.load(settings.data_dir).covers(u.name)
                ),
                force=force,
            )
        doc = {
            "deleted_bytes": result.deleted_bytes,
            "deleted_count": result.deleted_count,
            "deleted": [str(r) for r in result.deleted],
            "dry_run": result.dry_run,
            "skipped_offline": result.skipped,
        }
    if as_json:
        _echo_json(doc)
        return
    for name in doc["deleted"]:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {name}")
    for name in doc.get("skipped_offline") or []:
        console_err(
            f"{name}: offline, its content was left alone (it could not be fetched again); "
            "--force deletes it anyway"
        )
    if not dry_run:
        click.echo(
            f"Deleted {doc['deleted_count']} manifests, freed {human_size(doc['deleted_bytes'])}."
        )


@cache.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def gc(config_path: Path, dry_run: bool) -> None:
    """Garbage-collect unreferenced blobs (the cache must be stopped)."""
    settings = _settings(config_path)
    if read_state(settings) is not None:
        raise CacheError(
            "garbage collection needs the cache stopped",
            hint="use `s9reg cache cleanup` (it pauses the cache), or `s9reg cache down` first",
        )
    before = disk_usage(settings)
    for up in settings.upstreams:
        result = garbage_collect(settings, up, dry_run=dry_run)
        click.echo(
            f"{up.name}: {result.marked} blobs in use, {result.eligible} "
            + ("eligible for deletion" if dry_run else "deleted")
        )
    if not dry_run:
        click.echo(f"Freed {human_size(max(0, before - disk_usage(settings)))}.")


# --- clients ------------------------------------------------------------------------------------


@cache.command(name="rewrite-compose")
@config_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--exclude", multiple=True, metavar="PREFIX", help="Leave these images alone.")
@click.option("--host", help="Host name of the cache (default: image_cache.public_host).")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print instead of rewriting FILE.")
def rewrite_compose_cmd(
    config_path: Path, file: Path, exclude: tuple[str, ...], host: str | None, to_stdout: bool
) -> None:
    """Point every service image of a compose FILE at the cache; the rest stays as it is.

    Services with a build: section keep their image name; line endings are kept; a symlinked
    FILE is edited where it points.
    """
    settings = _settings(config_path)
    try:
        # newline="": CRLF stays CRLF.
        with file.open(encoding="utf-8", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CacheError(f"{file}: cannot read: {e}") from e
    new, report = rewrite_compose(text, settings, exclude=exclude, host=host)
    if to_stdout:
        click.echo(new, nl=False)
    elif new != text:
        _replace_text(file, new)
    for r in report:
        change = f"{r.old} -> {r.new}" if r.new != r.old else f"{r.old} (kept: {r.reason})"
        console_err(f"{file}:{r.line}: {r.service}: {change}")


def _replace_text(file: Path, text: str) -> None:
    """Replace a file's content atomically, keeping its mode; a symlink's target is edited."""
    target = Path(os.path.realpath(file))
    tmp = target.with_name(f".{target.name}.s9reg-tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            f.write(text)
        tmp.chmod(target.stat().st_mode & 0o7777)
        tmp.replace(target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CacheError(f"{file}: cannot write: {e}") from e


@cache.command(name="daemon-json")
@config_option
@click.option("--host", help="Host name of the cache (default: image_cache.public_host).")
def daemon_json_cmd(config_path: Path, host: str | None) -> None:
    """Print Docker daemon settings (registry-mirrors, insecure-registries) for the cache."""
    _echo_json(daemon_json(_settings(config_path), host))
