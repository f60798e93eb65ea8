"""Runs the engine instances as supervised child processes (``image-cache.md`` §1.3, §1.6).

Pid files, one log per instance (rotated when large), clean shutdown (SIGTERM, then SIGKILL),
restart on crash with back-off, and the modes: each proxy engine pulls through a
:class:`~s9reg.imagecache.relay.Relay` whose :class:`~s9reg.imagecache.relay.Gate` the supervisor
sets from short probes of the upstream (and from the manual switch, ``offline.json``). Switching
between ``proxy`` and ``offline`` needs no engine restart. Each proxy's client-facing address is
served by its read-only front (:mod:`~s9reg.imagecache.front`), started first and stopped first.
It also replaces the engine's 7-day expiry by s9reg's retention (see
:mod:`~s9reg.imagecache.pins`), puts moved curated tags back on their pins, and keeps the disk
quota. Restarts, mode switches and evictions go to ``logs/supervisor.log``.
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
from s9reg.imagecache.cleanup import evict_to_quota
from s9reg.imagecache.engine import (
    InstanceSpec,
    Layout,
    Mode,
    Role,
    child_environment,
    instances,
    write_config,
)
from s9reg.imagecache.errors import CacheError, EngineError
from s9reg.imagecache.events import log_event
from s9reg.imagecache.front import Front
from s9reg.imagecache.logs import LOG_BACKUPS, MAX_LOG_BYTES, bound_log
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.offline import ManualOffline, offline_file
from s9reg.imagecache.pins import (
    clear_schedule,
    earliest_expiry,
    load_pins,
    prune_schedule,
    repin_curated,
    save_pins,
)
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.relay import Gate, GateState, Relay, probe
from s9reg.imagecache.settings import CacheSettings, Upstream
from s9reg.imagecache.store import complete_image, disk_usage, tag_link
from s9reg.imagecache.usage import DigestPulls, tags_of_digest

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
# A proxy is restarted (its expiry schedule emptied) when an entry comes due within this.
EXPIRY_MARGIN = 86400.0
# How often the expiry schedules, the curated pins and the quota are looked at.
HOUSEKEEPING_SECONDS = 30.0
# Recently pulled tags remembered between two housekeeping rounds.
MAX_RECENT = 10_000


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
    restart_requested: str | None = None
    # (proxies) the engine started while the upstream's token challenge was unknown
    without_challenge: bool = False
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

    Attributes:
        expiry_margin: seconds before an engine expiry entry comes due that its proxy is
            restarted with the schedule emptied.
        housekeeping_seconds: how often expiry, pins and the quota are looked at.
        maintenance_lock: held by cleanups and quota evictions (one at a time).
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
        self._gates = {
            c.spec.upstream.name: Gate(c.spec.upstream)
            for c in self._children
            if c.spec.role is Role.PROXY
        }
        self._relays: dict[str, Relay] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._offline_stamp = -1.0
        self.expiry_margin = EXPIRY_MARGIN
        self.housekeeping_seconds = HOUSEKEEPING_SECONDS
        self.maintenance_lock = threading.Lock()
        self._quota: dict[str, Any] = {}
        # Set by a mode switch (a relay or probe thread); the next poll writes the state.
        self._dirty = threading.Event()
        # Tags pulled since the last housekeeping, checked for parts the proxy failed to store.
        self._recent: set[ImageRef] = set()
        self._recent_lock = threading.Lock()
        self._digest_pulls = DigestPulls(
            {
                c.spec.upstream.name: c.spec.log_path
                for c in self._children
                if c.spec.role is Role.PROXY
            }
        )
        self._fronts = self._make_fronts()
        self._logs_checked = -math.inf

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Write the configs and start every instance, waiting until each answers.

        Raises:
            ToolMissingError: the engine binary is not installed.
            StorageError: (S3 storage) the bucket cannot be reached or used; the endpoint
                is named when it is unreachable.
            EngineError: an instance did not start (its log tail in ``details``);
                the instances already started are stopped again.
        """
        self._check_binary()
        if self.settings.s3 is not None:
            check_bucket(self.settings.s3, self._env)
        for d in (self.layout.run_dir, self.layout.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._stopping = threading.Event()
        try:
            self._open_gates()
            self._start_fronts()
            with self._lock:
                for child in self._children:
                    self._launch(child, wait=True)
        except BaseException:
            self.stop()
            raise
        if self.settings.max_size is not None:
            with contextlib.suppress(CacheError, OSError):
                self._measure_quota(self.settings.max_size)  # shown by status at once
        self._start_threads()
        self._changed()

    def stop(self) -> None:
        """Stop every instance (SIGTERM, SIGKILL after a timeout) and remove the pid files."""
        self._stop_fronts()
        self._stopping.set()
        for t in self._threads:
            t.join(timeout=STOP_TIMEOUT)
        self._threads = []
        with self._lock:
            for child in reversed(self._children):
                self._terminate(child)
        for relay in self._relays.values():
            relay.close()
        self._relays = {}
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
        """One supervision step: restart crashed children, apply the manual offline switch."""
        now = time.monotonic()
        changed = self._apply_manual() or self._dirty.is_set()
        self._dirty.clear()
        with self._lock:
            for child in self._children:
                if child.paused:
                    continue
                changed |= self._check(child, now)
        if changed:
            self._changed()

    def _check(self, child: _Child, now: float) -> bool:
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
            self._event(
                f"{child.spec.name} exited with status {proc.returncode} after {ran:.0f} s; "
                f"restart {child.restarts} in {delay:g} s"
            )
            return True
        if child.process is None and child.restart_at is not None and now >= child.restart_at:
            child.restart_at = None
            try:
                self._launch(child, wait=True)
            except EngineError as e:
                child.restarts += 1
                child.restart_at = now + min(MAX_BACKOFF, 0.25 * 2 ** min(child.restarts, 8))
                self._event(f"{child.spec.name} did not restart: {e.message}")
            return True
        if child.restart_requested is not None and child.process is not None:
            why, child.restart_requested = child.restart_requested, None
            self._event(f"restarting {child.spec.name}: {why}")
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
                    "mode": self._mode_of(c).value,
                    "pid": c.pid,
                    "running": c.process is not None and c.process.poll() is None,
                    "paused": c.paused,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                    "started_at": c.started_at and time.time() - (time.monotonic() - c.started_at),
                }
                for c in self._children
            ]

    def upstream_state(self) -> list[dict[str, Any]]:
        """One entry per proxied upstream: mode, reachable, manual, reason, since, checked_at."""
        return [g.state().to_dict() for g in self._gates.values()]

    def gate_state(self, upstream: Upstream) -> GateState | None:
        """The mode of an upstream as its relay applies it, or None if it is not proxied."""
        gate = self._gates.get(upstream.name)
        return gate.state() if gate is not None else None

    def quota_state(self) -> dict[str, Any]:
        """``max_size``, ``used`` (bytes, at the last look) and ``checked_at``; {} without quota."""
        return dict(self._quota)

    def mode(self, upstream: Upstream) -> Mode | None:
        """The mode of an upstream's proxy instance, or None if it is not supervised."""
        gate = self._gates.get(upstream.name)
        return gate.mode if gate is not None else None

    def reachable(self, upstream: Upstream) -> bool:
        """Whether the upstream is online for deletes: reachable and not switched off."""
        gate = self._gates.get(upstream.name)
        if gate is None:
            return upstream_online(upstream, self.settings.probe_timeout)
        return gate.mode is Mode.PROXY

    def _mode_of(self, child: _Child) -> Mode:
        if child.spec.role is Role.WRITER:
            return Mode.WRITER
        gate = self._gates.get(child.spec.upstream.name)
        return gate.mode if gate is not None else child.mode

    # --- modes ---------------------------------------------------------------------------

    def _open_gates(self) -> None:
        """Probe every upstream (in parallel), apply the manual switch, start the relays."""
        if not self._gates:
            return
        fresh = not self._relays  # a (re)start: the modes are found anew
        if fresh:
            self._gates = {name: Gate(g.upstream) for name, g in self._gates.items()}
        threads = [
            threading.Thread(target=self._probe_once, args=(g,), daemon=True)
            for g in self._gates.values()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._offline_stamp = -1.0
        self._apply_manual()
        if fresh:
            for gate in self._gates.values():
                st = gate.state()
                self._event(f"mode {st.name}: {st.mode.value} at start" + _why_text(st))
                gate.watch(self._switched)
        for name, gate in self._gates.items():
            if name in self._relays:
                continue
            up = gate.upstream
            self._relays[name] = Relay(
                gate,
                timeout=self.settings.probe_timeout,
                curated=frozenset(
                    (i.repository, i.tag_or_latest)
                    for i in self.settings.images
                    if i.registry == name
                ),
                stored=functools.partial(self._stored, up),
                on_use=functools.partial(self._used, up),
            )

    def _probe_once(self, gate: Gate) -> None:
        ok, challenge, why = probe(gate.upstream.url, self.settings.probe_timeout)
        gate.observe(ok, why, challenge)

    def _probe_loop(self, gate: Gate) -> None:
        while True:
            delay = (
                self.settings.probe_interval
                if gate.state().reachable
                else self.settings.recheck_seconds
            )
            if self._stopping.wait(delay):
                return
            self._probe_once(gate)

    def _apply_manual(self) -> bool:
        try:
            stamp = offline_file(self.settings.data_dir).stat().st_mtime_ns
        except OSError:
            stamp = 0
        if stamp == self._offline_stamp:
            return False
        self._offline_stamp = stamp
        manual = ManualOffline.load(self.settings.data_dir)
        for name, gate in self._gates.items():
            gate.set_manual(manual.covers(name))
        return True

    def _switched(self, before: GateState, after: GateState) -> None:
        self._event(
            f"mode {after.name}: {before.mode.value} -> {after.mode.value}" + _why_text(after)
        )
        if after.mode is Mode.PROXY:
            for child in self._children:
                if (
                    child.spec.role is Role.PROXY
                    and child.spec.upstream.name == after.name
                    and child.without_challenge
                    and child.spec.upstream.username is not None
                ):
                    # 2.8 sets up upstream credentials only from the challenge seen at start.
                    child.restart_requested = "credentials need the upstream's challenge"
        # Not _changed() here: this runs in relay and probe threads, which must never wait for
        # the supervisor's lock (held through a garbage collection).
        self._dirty.set()

    def _stored(self, up: Upstream, repo: str, tag: str) -> bool:
        if self.settings.s3 is None:
            return tag_link(self.settings, up, repo, tag).is_file()
        try:
            with RegistryClient(up.writer_url, timeout=2.0) as writer:
                return writer.head_manifest(repo, tag) is not None
        except CacheError:
            return False

    def _used(self, up: Upstream, repo: str, tag: str) -> None:
        """A pull by tag, online or offline: its link's time is the tag's last use."""
        with self._recent_lock:
            if len(self._recent) < MAX_RECENT:
                self._recent.add(ImageRef(up.name, repo, tag))
        if self.settings.s3 is not None:
            return
        link = tag_link(self.settings, up, repo, tag)
        with contextlib.suppress(OSError, ValueError):
            os.utime(link)

    # --- housekeeping --------------------------------------------------------------------

    def _start_threads(self) -> None:
        if self._threads:
            return
        for gate in self._gates.values():
            self._threads.append(
                threading.Thread(
                    target=self._probe_loop,
                    args=(gate,),
                    name=f"s9reg-probe-{gate.upstream.name}",
                    daemon=True,
                )
            )
        if any(c.spec.role is Role.PROXY for c in self._children):
            self._threads.append(
                threading.Thread(target=self._housekeeping_loop, name="s9reg-house", daemon=True)
            )
        for t in self._threads:
            t.start()

    def _housekeeping_loop(self) -> None:
        while not self._stopping.wait(self.housekeeping_seconds):
            with contextlib.suppress(CacheError, OSError):
                self.housekeeping()

    def housekeeping(self) -> None:
        """Empty due expiry schedules, re-pin moved curated tags, complete pulls, keep the quota.

        A pull the proxy stored only in part is completed while its upstream answers.

        Raises:
            CacheError: a writer is unreachable (the next round tries again).
        """
        self._watch_expiry()
        for ref, moved, pinned in repin_curated(self.settings):
            self._event(f"re-pinned curated {ref}: it pointed at {moved}, pinned {pinned}")
        self._complete_recent()
        self._count_digest_pulls()
        self._keep_quota()

    def _count_digest_pulls(self) -> None:
        """Pulls by digest alone (from the proxies' access logs) as use of their tags."""
        if self.settings.s3 is not None:
            return
        for name, pulls in self._digest_pulls.new_pulls().items():
            up = self.settings.upstream(name)
            if up is None:
                continue
            for repo, digest in sorted(pulls):
                for link in tags_of_digest(self.settings, up, repo, digest):
                    with contextlib.suppress(OSError):
                        os.utime(link)

    def _complete_recent(self) -> None:
        """Fetch what the proxy failed to store of recently pulled tags (upstream online)."""
        with self._recent_lock:
            recent, self._recent = self._recent, set()
        later = set()
        for ref in sorted(recent, key=str):
            gate = self._gates.get(ref.registry)
            if gate is None or gate.offline:
                later.add(ref)
                continue
            try:
                fetched = complete_image(self.settings, ref)
            except CacheError as e:
                self._event(f"could not complete partly stored {ref}: {e.message}")
                later.add(ref)
                continue
            if fetched:
                self._event(f"completed partly stored {ref}: fetched {fetched} missing parts")
        with self._recent_lock:
            self._recent |= later

    def _watch_expiry(self) -> None:
        if self.settings.s3 is not None:
            return
        now = time.time()
        with self._lock:
            for child in self._children:
                if child.spec.role is not Role.PROXY or child.process is None or child.paused:
                    continue
                due = earliest_expiry(self.layout.storage_root(child.spec.upstream))
                if due is not None and due < now + self.expiry_margin:
                    child.restart_requested = (
                        "an engine expiry comes due (s9reg's retention replaces it)"
                    )

    def _keep_quota(self) -> None:
        max_size = self.settings.max_size
        if max_size is None:
            return
        used = self._measure_quota(max_size)
        if used <= max_size:
            return
        with self.maintenance_lock:
            result = evict_to_quota(
                self.settings, pause=self.paused, reachable=self.reachable, max_size=max_size
            )
        if result.deleted:
            self._event(
                f"quota: {used} bytes over max_size {max_size}: evicted "
                f"{', '.join(str(r) for r in result.deleted)}, freed {result.deleted_bytes} bytes"
            )
        if result.skipped:
            self._event(
                f"quota: over max_size, nothing evicted for {', '.join(result.skipped)} "
                "(offline: it could not be fetched again)"
            )
        self._quota["used"] = disk_usage(self.settings)
        self._changed()

    def _measure_quota(self, max_size: int) -> int:
        used = disk_usage(self.settings)
        self._quota = {"max_size": max_size, "used": used, "checked_at": time.time()}
        return used

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

    def _event(self, message: str) -> None:
        log_event(self.settings.data_dir, message)

    def _changed(self) -> None:
        if self._on_change is not None:
            with self._lock:
                self._on_change()

    def _check_binary(self) -> None:
        binary = self.settings.binary
        found = shutil.which(binary) is not None
        if not found:
            raise ToolMissingError(
                f"{binary}: the image cache engine is not installed",
                hint="apt-get install docker-registry (Debian 12 ships distribution 2.8.2)",
            )

    def _launch(self, child: _Child, *, wait: bool, readonly: bool = False) -> None:
        spec = child.spec
        remote_url = None
        if spec.role is Role.WRITER:
            mode = Mode.WRITER
        else:
            relay = self._relays.get(spec.upstream.name)
            if relay is None:
                self._open_gates()
                relay = self._relays[spec.upstream.name]
            # The engine always pulls through its relay, which answers for the upstream
            # while it is offline: 2.8 would panic at start without an answer.
            mode, remote_url = Mode.PROXY, relay.url
            child.without_challenge = relay.gate.challenge is None
            if self.settings.s3 is None:
                dropped = clear_schedule(self.layout.storage_root(spec.upstream))
                if dropped:
                    self._event(
                        f"{spec.name}: dropped {dropped} engine expiry entries "
                        "(s9reg's retention replaces the engine's 7-day expiry)"
                    )
        _check_port(spec)
        write_config(self.settings, spec, mode=mode, readonly=readonly, remote_url=remote_url)
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
        if child.restarts:
            self._event(f"{spec.name} started again (pid {child.process.pid})")
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


def _why_text(state: GateState) -> str:
    return f" ({state.reason})" if state.reason else ""


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
