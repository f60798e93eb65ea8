"""The long-running shim: supervisor, state file and management API in one process.

``s9reg cache up --foreground`` runs :func:`run_daemon`; without ``--foreground``,
:func:`start_daemon` starts that same command detached and waits for :func:`read_state` to report
it ready. Printing is the CLI's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s9reg.imagecache.api import ManagementApi, serve_api
from s9reg.imagecache.engine import Layout, Role, instances
from s9reg.imagecache.errors import CacheError, EngineError
from s9reg.imagecache.events import log_event
from s9reg.imagecache.settings import CacheSettings
from s9reg.imagecache.supervisor import Supervisor, process_alive, read_state

__all__ = [
    "Started",
    "api_token",
    "engine_for_storage",
    "require_running",
    "run_daemon",
    "start_daemon",
    "stop_daemon",
]

STOP_WAIT = 30.0
UP_TIMEOUT = 60.0


def api_token(settings: CacheSettings, *, create: bool = False) -> str | None:
    """The management API's bearer token: ``image_cache.api_token``, else the generated one.

    The first ``s9reg cache up`` generates it (``run/api-token``, mode 0600) when none is
    configured; the CLI reads it from there.

    Raises:
        CacheError: the generated token's file cannot be read or is damaged.
    """
    if settings.api_token is not None:
        return settings.api_token
    return Layout(settings.data_dir).api_token(create=create)


def require_running(settings: CacheSettings) -> dict[str, Any]:
    """The state of the running cache.

    Raises:
        CacheError: the cache is not running.
    """
    state = read_state(settings)
    if state is None or not state.get("ready"):
        raise CacheError("the image cache is not running", hint="start it with: s9reg cache up")
    return state


@contextlib.contextmanager
def engine_for_storage(settings: CacheSettings) -> Iterator[Supervisor | None]:
    """Make the writers reachable for a storage command.

    Yields None when the cache runs (its writers serve), or a temporary writers-only
    :class:`Supervisor` that is stopped afterwards.

    Raises:
        EngineError: a writer did not start.
    """
    if read_state(settings) is not None:
        yield None
        return
    with Supervisor(settings, roles=(Role.WRITER,)) as sup:
        yield sup


def _write_json(path: Path, doc: object) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def run_daemon(settings: CacheSettings, stop: threading.Event | None = None) -> None:
    """Run the cache until SIGTERM/SIGINT (or ``stop`` is set): engines, state and API.

    Raises:
        CacheError: another supervisor already runs on this data directory.
        EngineError: an instance or the API did not start (everything started is stopped).
    """
    layout = Layout(settings.data_dir)
    existing = read_state(settings)
    if existing is not None:
        raise CacheError(
            f"the image cache already runs (pid {existing.get('pid')})",
            hint="stop it first: s9reg cache down",
        )
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    started = time.time()
    ready = False
    sup: Supervisor

    def write_state() -> None:
        _write_json(
            layout.state_file,
            {
                "pid": os.getpid(),
                "ready": ready,
                "started_at": started,
                "api_url": settings.api_url,
                "instances": sup.state(),
                "upstreams": sup.upstream_state(),
                "quota": sup.quota_state(),
            },
        )

    token = api_token(settings, create=True)
    assert token is not None  # noqa: S101 - created above
    sup = Supervisor(settings, on_change=write_state)
    layout.supervisor_pid.write_text(f"{os.getpid()}\n", encoding="ascii")
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
    server = None
    try:
        sup.start()
        try:
            api = ManagementApi(settings, sup, token)
            server = serve_api(api, settings.api_host, settings.api_port)
        except OSError as e:
            raise EngineError(
                f"management API: cannot listen on {settings.api_host}:{settings.api_port}: {e}"
            ) from e
        ready = True
        write_state()
        log_event(settings.data_dir, f"image cache up (supervisor pid {os.getpid()})")
        sup.run(stop)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        sup.stop()
        layout.state_file.unlink(missing_ok=True)
        layout.supervisor_pid.unlink(missing_ok=True)
        if ready:
            log_event(settings.data_dir, "image cache down")


@dataclass(frozen=True, slots=True)
class Started:
    """The running cache after :func:`start_daemon`.

    Attributes:
        pid: the supervisor's process id.
        state: its state file (``api_url``, ``instances``, …).
        started: False when it was already running.
    """

    pid: int
    state: dict[str, Any]
    started: bool


def start_daemon(
    settings: CacheSettings, config_path: Path, timeout: float = UP_TIMEOUT
) -> Started:
    """Start ``s9reg cache up --foreground`` detached and wait until it reports ready.

    Its output goes to ``supervisor.log`` in the log directory.

    Raises:
        EngineError: it exited or did not get ready within ``timeout`` (the log's last
            ``ERROR`` line in the message, its tail in ``details``).
    """
    state = read_state(settings)
    if state is not None:
        return Started(int(state.get("pid", 0)), state, started=False)
    layout = Layout(settings.data_dir)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = layout.log_dir / "supervisor.log"
    argv = [sys.executable, "-m", "s9reg", "cache", "up", "--foreground"]
    argv += ["--config", str(config_path.resolve())]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(config_path.resolve().parent),
        )
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(settings)
        if state is not None and state.get("ready") and state.get("pid") == proc.pid:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            error = next((ln for ln in reversed(tail) if ln.startswith("ERROR ")), None)
            raise EngineError(
                f"the image cache did not start ({error or 'see ' + str(log_path)})",
                hint=f"log: {log_path}",
                details="\n".join(tail),
            )
        time.sleep(0.05)
    # Reap the daemon if it exits while this process still runs (only in tests or scripts).
    threading.Thread(target=proc.wait, daemon=True).start()
    return Started(proc.pid, state, started=True)


def stop_daemon(settings: CacheSettings, timeout: float = STOP_WAIT) -> int | None:
    """Stop the running cache: SIGTERM to the supervisor, which stops its instances.

    Leftover instances of a supervisor that was killed are stopped too (by their pid files,
    only if the process still runs this cache's config). Returns the supervisor pid, or None
    if it was not running.

    Raises:
        EngineError: the supervisor did not exit in time.
    """
    layout = Layout(settings.data_dir)
    state = read_state(settings)
    pid = int(state["pid"]) if state is not None else None
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid):
            if time.monotonic() > deadline:
                raise EngineError(f"the image cache supervisor (pid {pid}) did not stop")
            time.sleep(0.05)
    for spec in instances(settings):
        _stop_orphan(spec.pid_path, spec.config_path)
    layout.state_file.unlink(missing_ok=True)
    return pid


def _stop_orphan(pid_path: Path, config_path: Path) -> None:
    try:
        pid = int(pid_path.read_text(encoding="ascii").strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        pid_path.unlink(missing_ok=True)
        return
    if os.fsencode(str(config_path)) in cmdline:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    pid_path.unlink(missing_ok=True)
