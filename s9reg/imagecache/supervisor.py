"""Runs the engine instances as supervised child processes (``image-cache.md`` §1.3, §1.6).

Pid files, one log per instance (rotated when large), clean shutdown (SIGTERM, then SIGKILL),
restart on crash with back-off, and the offline switch: a proxy whose upstream is unreachable
runs without its ``proxy:`` section and is restarted with it once the upstream answers again.
Each proxy's client-facing address is served by its read-only front, started first and stopped
first.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from s9reg.errors import ToolMissingError
from s9reg.imagecache.bucket import check_bucket
from s9reg.imagecache.engine import (
    InstanceSpec,
    Layout,
    Mode,
    Role,
    child_environment,
    instances,
    write_config,
)
from s9reg.imagecache.errors import EngineError
from s9reg.imagecache.front import Front
from s9reg.imagecache.logs import LOG_BACKUPS, MAX_LOG_BYTES, bound_log
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.settings import CacheSettings, Upstream

__all__ = [
    "Supervisor",
    "load_pins",
    "process_alive",
    "prune_schedule",
    "read_state",
    "save_pins",
    "upstream_online",
]

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
MAX_BACKOFF = 30.0
# A child that ran this long before crashing starts again without delay.
STABLE_AFTER = 30.0
LOG_TAIL_LINES = 15


def upstream_online(upstream: Upstream, timeout: float = 3.0) -> bool:
    """Whether the upstream answers ``GET /v2/`` (200 or 401), as the engine needs at start."""
    return RegistryClient(upstream.url, timeout=timeout).ping(timeout)


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def read_state(settings: CacheSettings) -> dict[str, Any] | None:
    """The running supervisor's state, or None if none is running.

    The state file is only trusted while the supervisor pid it names is alive.
    """
    layout = Layout(settings.data_dir)
    try:
        state = json.loads(layout.state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = int(state.get("pid", 0)) if isinstance(state, dict) else 0
    if not pid or not process_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b"s9reg"
    # A supervisor killed with SIGKILL leaves its state behind, and its pid may be reused.
    if b"s9reg" not in cmdline and pid != os.getpid():
        return None
    return dict(state)


def load_pins(settings: CacheSettings) -> dict[str, set[str]]:
    """Curated digests per upstream name (``pins.json``); missing or unreadable gives ``{}``."""
    try:
        doc = json.loads(Layout(settings.data_dir).pins_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): {str(d) for d in v} for k, v in doc.items() if isinstance(v, list)}


def save_pins(settings: CacheSettings, pins: dict[str, set[str]]) -> None:
    """Write ``pins.json`` atomically."""
    path = Layout(settings.data_dir).pins_file
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps({k: sorted(v) for k, v in sorted(pins.items())}, indent=2) + "\n",
        encoding="utf-8",
    )
    tmp.replace(path)


def prune_schedule(root: Path, digests: set[str]) -> int:
    """Drop the expiry entries of pinned digests from a stopped proxy's ``scheduler-state.json``.

    2.8 deletes what its proxy downloaded 7 days later, even content a preload has since made
    curated; the schedule is only read at start, so this runs before each proxy start.
    Returns the number of entries removed.
    """
    path = root / "scheduler-state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(state, dict) or not digests:
        return 0
    keep = {k: v for k, v in state.items() if k.rpartition("@")[2] not in digests}
    removed = len(state) - len(keep)
    if removed:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(keep), encoding="utf-8")
        tmp.replace(path)
    return removed


@dataclass(slots=True)
class _Child:
    spec: InstanceSpec
    mode: Mode = Mode.WRITER
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    restart_at: float | None = None
    paused: bool = False
    checked_at: float = 0.0
    log: Any = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class Supervisor:
    """Starts, watches and stops the engine instances of one cache.

    Args:
        settings: the cache settings.
        roles: which instances to run (both by default; writers only for maintenance).
        environ: the environment passed to the children (``os.environ`` by default).
        on_change: called after every state change (the daemon rewrites its state file).
    """

    def __init__(
        self,
        settings: CacheSettings,
        *,
        roles: Iterable[Role] = (Role.WRITER, Role.PROXY),
        environ: dict[str, str] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.layout = Layout(settings.data_dir)
        wanted = set(roles)
        self._children = [_Child(s) for s in instances(settings) if s.role in wanted]
        self._env = dict(os.environ if environ is None else environ)
        self._lock = threading.RLock()
        self._on_change = on_change
        self._pins_mtime = self._pins_stamp()
        self._fronts = self._make_fronts()
        self._logs_checked = -math.inf

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Write the configs and start every instance, waiting until each answers.

        Raises:
            ToolMissingError: the engine binary is not installed.
            StorageError: (S3 storage) the bucket cannot be reached or used; the endpoint
                is named when it is unreachable.
            EngineError: an instance did not start (its log tail is in ``details``);
                the instances already started are stopped again.
        """
        self._check_binary()
        if self.settings.s3 is not None:
            check_bucket(self.settings.s3, self._env)
        for d in (self.layout.run_dir, self.layout.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        try:
            self._start_fronts()
            with self._lock:
                for child in self._children:
                    self._launch(child, wait=True)
        except BaseException:
            self.stop()
            raise
        self._changed()

    def stop(self) -> None:
        """Stop every instance (SIGTERM, SIGKILL after a timeout) and remove the pid files."""
        self._stop_fronts()
        with self._lock:
            for child in reversed(self._children):
                self._terminate(child)
        self._changed()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        """Watch the children until ``stop`` is set, then stop them."""
        try:
            while not stop.wait(interval):
                self.poll()
                self.bound_logs()
        finally:
            self.stop()

    def poll(self) -> None:
        """One supervision step: restart crashed children, switch proxies back online."""
        now = time.monotonic()
        changed = False
        with self._lock:
            pins_changed = self._pins_stamp() != self._pins_mtime
            self._pins_mtime = self._pins_stamp()
            for child in self._children:
                if child.paused:
                    continue
                changed |= self._check(child, now, pins_changed=pins_changed)
        if changed:
            self._changed()

    def _check(self, child: _Child, now: float, *, pins_changed: bool) -> bool:
        proc = child.process
        if proc is not None and proc.poll() is not None:
            child.last_exit = proc.returncode
            child.process = None
            child.restarts += 1
            ran = now - child.started_at
            delay = (
                0.0 if ran > STABLE_AFTER else min(MAX_BACKOFF, 0.25 * 2 ** min(child.restarts, 8))
            )
            child.restart_at = now + delay
            self._close_log(child)
            return True
        if child.process is None and child.restart_at is not None and now >= child.restart_at:
            child.restart_at = None
            try:
                self._launch(child, wait=True)
            except EngineError:
                child.restarts += 1
                child.restart_at = now + min(MAX_BACKOFF, 0.25 * 2 ** min(child.restarts, 8))
            return True
        if child.spec.role is not Role.PROXY or child.process is None:
            return False
        if child.mode is Mode.OFFLINE and now - child.checked_at >= self.settings.recheck_seconds:
            child.checked_at = now
            if upstream_online(child.spec.upstream):
                self._restart(child)
                return True
        elif pins_changed and self._has_pinned_schedule(child):
            self._restart(child)
            return True
        return False

    def _restart(self, child: _Child) -> None:
        self._terminate(child)
        try:
            self._launch(child, wait=True)
        except EngineError:
            child.restart_at = time.monotonic() + 1.0

    @contextlib.contextmanager
    def paused(
        self, upstreams: Iterable[Upstream] | None = None, *, readonly: bool = False
    ) -> Iterator[None]:
        """Stop the instances of some upstreams (all by default) for maintenance, then restart.

        With ``readonly``, writers are restarted in read-only mode instead of stopped, so pulls
        keep working while the storage must not change.

        Raises:
            EngineError: an instance did not come back (the others are running).
        """
        names = {u.name for u in upstreams} if upstreams is not None else None
        with self._lock:
            chosen = [c for c in self._children if names is None or c.spec.upstream.name in names]
            for child in chosen:
                child.paused = True
                self._terminate(child)
            self._changed()
            try:
                if readonly:
                    for child in chosen:
                        if child.spec.role is Role.WRITER:
                            self._launch(child, wait=True, readonly=True)
                yield
            finally:
                for child in chosen:
                    self._terminate(child)
                errors = []
                for child in chosen:
                    child.paused = False
                    try:
                        self._launch(child, wait=True)
                    except EngineError as e:
                        errors.append(e)
                        child.restart_at = time.monotonic() + 1.0
                self._changed()
                if errors:
                    raise errors[0]

    # --- state ---------------------------------------------------------------------------

    def state(self) -> list[dict[str, Any]]:
        """One entry per instance: name, role, upstream, url, mode, pid, restarts, last exit."""
        with self._lock:
            return [
                {
                    "name": c.spec.name,
                    "role": c.spec.role.value,
                    "upstream": c.spec.upstream.name,
                    "url": c.spec.url,
                    "mode": c.mode.value,
                    "pid": c.pid,
                    "running": c.process is not None and c.process.poll() is None,
                    "paused": c.paused,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                    "started_at": c.started_at and time.time() - (time.monotonic() - c.started_at),
                }
                for c in self._children
            ]

    def mode(self, upstream: Upstream) -> Mode | None:
        """The mode of an upstream's proxy instance, or None if it is not supervised."""
        for c in self._children:
            if c.spec.role is Role.PROXY and c.spec.upstream.name == upstream.name:
                return c.mode
        return None

    # --- logs ----------------------------------------------------------------------------

    # Each engine log is rotated beyond this size, keeping this many older generations.
    log_max_bytes = MAX_LOG_BYTES
    log_backups = LOG_BACKUPS
    log_check_seconds = 10.0

    def bound_logs(self, *, now: float | None = None) -> list[Path]:
        """Rotate the engine logs grown beyond :attr:`log_max_bytes`; returns those rotated.

        Checks at most every :attr:`log_check_seconds` (``run`` calls it on every step).
        """
        now = time.monotonic() if now is None else now
        if now - self._logs_checked < self.log_check_seconds:
            return []
        self._logs_checked = now
        rotated = []
        for child in self._children:
            try:
                if bound_log(child.spec.log_path, self.log_max_bytes, self.log_backups):
                    rotated.append(child.spec.log_path)
            except OSError:
                continue  # a full or read-only disk: the engine keeps logging as before
        return rotated

    # --- fronts --------------------------------------------------------------------------

    def _make_fronts(self) -> list[Front]:
        """The read-only fronts on the client-facing addresses, one per supervised proxy."""
        return [
            Front(c.spec.upstream, functools.partial(self.mode, c.spec.upstream))
            for c in self._children
            if c.spec.role is Role.PROXY
        ]

    def _start_fronts(self) -> None:
        for front in self._fronts:
            front.bind()
        for front in self._fronts:
            front.start()

    def _stop_fronts(self) -> None:
        for front in self._fronts:
            front.stop()

    # --- internals -----------------------------------------------------------------------

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _check_binary(self) -> None:
        binary = self.settings.binary
        found = shutil.which(binary) is not None
        if not found:
            raise ToolMissingError(
                f"{binary}: the image cache engine is not installed",
                hint="apt-get install docker-registry (Debian 12 ships distribution 2.8.2)",
            )

    def _pins_stamp(self) -> float:
        try:
            return self.layout.pins_file.stat().st_mtime
        except OSError:
            return 0.0

    def _has_pinned_schedule(self, child: _Child) -> bool:
        if self.settings.s3 is not None:
            return False
        digests = load_pins(self.settings).get(child.spec.upstream.name, set())
        path = self.layout.storage_root(child.spec.upstream) / "scheduler-state.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(state, dict) and any(k.rpartition("@")[2] in digests for k in state)

    def _launch(self, child: _Child, *, wait: bool, readonly: bool = False) -> None:
        spec = child.spec
        if spec.role is Role.WRITER:
            mode = Mode.WRITER
        else:
            mode = Mode.PROXY if upstream_online(spec.upstream) else Mode.OFFLINE
            child.checked_at = time.monotonic()
            if self.settings.s3 is None:
                pins = load_pins(self.settings).get(spec.upstream.name, set())
                prune_schedule(self.layout.storage_root(spec.upstream), pins)
        _check_port(spec)
        write_config(self.settings, spec, mode=mode, readonly=readonly)
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log(child)
        child.log = spec.log_path.open("ab")
        try:
            # A session of its own: a terminal's Ctrl-C reaches only the supervisor, which
            # then stops the children in order.
            child.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [self.settings.binary, "serve", str(spec.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=child.log,
                stderr=subprocess.STDOUT,
                env=child_environment(spec, mode=mode, base=self._env),
                start_new_session=True,
            )
        except OSError as e:
            self._close_log(child)
            raise EngineError(f"{spec.name}: cannot start {self.settings.binary}: {e}") from e
        child.mode = mode
        child.started_at = time.monotonic()
        spec.pid_path.write_text(f"{child.process.pid}\n", encoding="ascii")
        if wait:
            self._wait_ready(child)

    def _wait_ready(self, child: _Child) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        client = RegistryClient(child.spec.engine_url, timeout=2.0)
        proc = child.process
        while proc is not None:
            if proc.poll() is not None:
                child.last_exit = proc.returncode
                child.process = None
                self._close_log(child)
                raise EngineError(
                    f"{child.spec.name}: docker-registry exited with status {proc.returncode} "
                    f"at start (log: {child.spec.log_path})",
                    hint="run with -v to see the end of the log",
                    details=_tail(child.spec.log_path),
                )
            if client.ping(timeout=1.0):
                return
            if time.monotonic() > deadline:
                self._terminate(child)
                raise EngineError(
                    f"{child.spec.name}: no answer on {child.spec.engine_url} "
                    f"after {READY_TIMEOUT:.0f} s",
                    hint="is the port used by another program?",
                    details=_tail(child.spec.log_path),
                )
            time.sleep(0.02)

    def _terminate(self, child: _Child) -> None:
        proc = child.process
        child.process = None
        child.restart_at = None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close_log(child)
        child.spec.pid_path.unlink(missing_ok=True)

    def _close_log(self, child: _Child) -> None:
        if child.log is not None:
            child.log.close()
            child.log = None


def _check_port(spec: InstanceSpec) -> None:
    # Readiness is a GET /v2/ on the port: another registry there would pass for ours.
    family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((spec.host, spec.port))
        except OSError as e:
            raise EngineError(
                f"{spec.name}: cannot listen on {spec.host}:{spec.port}: {e.strerror}",
                hint="another program uses it (instances of a killed cache: s9reg cache down), "
                "or change image_cache.listen / writer_port",
            ) from e


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
