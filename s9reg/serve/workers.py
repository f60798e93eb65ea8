"""Several responder processes on one listening socket (``s9reg serve --workers N``).

The parent binds the socket, forks the workers before it starts any thread or event loop,
and then only supervises: it reports ready once every worker has loaded the site, restarts a
worker that dies (giving up after :data:`MAX_RESTARTS` within :data:`RESTART_WINDOW` seconds),
and on SIGINT or SIGTERM stops them all. The kernel spreads new connections over the workers,
so the responder uses every core; each worker loads and refreshes the site on its own. The
workers share their counters through a private temporary directory, so ``/metrics`` shows the
sums of all of them (:class:`~s9reg.serve.metrics.SharedMetrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO, cast

from s9reg.errors import S9regError
from s9reg.serve.errors import ServeError, SourceError
from s9reg.serve.http import HttpApp
from s9reg.serve.settings import ServeSettings
from s9reg.serve.sources import open_source

__all__ = ["MAX_RESTARTS", "RESTART_WINDOW", "run_workers"]

log = logging.getLogger(__name__)

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
READY_TIMEOUT = 300.0  # loading a large site from S3 can take a while
STOP_TIMEOUT = 10.0
_PIPE_BUF = 4096


class _AtomicLines:
    """A write-only text stream that never splits a line between two ``write`` calls.

    Each call writes whole lines of at most ``PIPE_BUF`` bytes at a time, which the kernel
    does not interleave with other processes' writes to the same pipe or ``O_APPEND`` file.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, text: str) -> int:
        data = text.encode()
        start = 0
        while start < len(data):
            end = start + _PIPE_BUF
            if end < len(data):
                cut = data.rfind(b"\n", start, end)
                end = cut + 1 if cut >= start else end
            view = memoryview(data)[start:end]
            while view:
                view = view[os.write(self.fd, view) :]
            start = end
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


@dataclass(slots=True)
class _Child:
    pid: int
    report: int  # read end of the pipe the worker reports its start on


def _listen(settings: ServeSettings) -> socket.socket:
    host = settings.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, settings.port), family=family, backlog=1024)
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{settings.port}: {e.strerror or e}") from e


def _worker(
    settings: ServeSettings, sock: socket.socket, report: int, access_log: bool, metrics: Path
) -> int:
    """A worker's life: load, listen on ``sock``, serve until SIGTERM/SIGINT; its exit code."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)

    def tell(message: str) -> None:
        with contextlib.suppress(OSError):
            os.write(report, message.encode()[:_PIPE_BUF])
            os.close(report)

    try:
        source = open_source(settings.site or "", settings.s3)
    except S9regError as e:
        tell(f"error {e.message}")
        return 1
    stream = cast("TextIO", _AtomicLines(sys.stderr.fileno())) if access_log else None
    app = HttpApp(settings, source, stream, metrics_dir=metrics)

    async def main() -> int:
        try:
            await app.start(sock)
        except S9regError as e:
            prefix = "cannot load the site: " if isinstance(e, SourceError) else ""
            tell(f"error {prefix}{e.message}")
            return 1
        tell("ok")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await app.stop()
        if app.shared is not None:
            app.shared.publish()  # the last counts stay in the sums
        return 0

    return asyncio.run(main())


class _Supervisor:
    def __init__(self, settings: ServeSettings, access_log: bool) -> None:
        self.settings = settings
        self.access_log = access_log
        self.sock = _listen(settings)
        self.metrics_dir = Path(tempfile.mkdtemp(prefix="s9reg-serve-metrics-"))
        self.children: dict[int, _Child] = {}
        self.restarts: list[float] = []
        self.stop_requested = threading.Event()  # set from the signal handler

    def spawn(self) -> _Child:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(read)
            code = 70
            try:
                code = _worker(self.settings, self.sock, write, self.access_log, self.metrics_dir)
            except BaseException:  # report anything, then leave without any cleanup
                logging.getLogger(__name__).exception("worker %d failed", os.getpid())
            finally:
                os._exit(code)
        os.close(write)
        child = _Child(pid, read)
        self.children[pid] = child
        return child

    def await_start(self, children: list[_Child]) -> None:
        """Wait for each child's report; raise the first failure."""
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = {c.report: c for c in children}
        while waiting:
            if self.stop_requested.is_set():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServeError("the workers did not start in time")
            ready, _, _ = select.select(list(waiting), [], [], min(left, 0.5))
            for fd in ready:
                waiting.pop(fd)
                message = os.read(fd, _PIPE_BUF).decode(errors="replace")
                os.close(fd)
                if message != "ok":
                    raise ServeError(message.removeprefix("error ") or "a worker failed to start")

    def supervise(self) -> None:
        """Restart workers that die, until a stop signal."""
        while not self.stop_requested.is_set():
            time.sleep(0.2)
            for pid, code in self._reap():
                if self.stop_requested.is_set():
                    break
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW]
                if len(self.restarts) >= MAX_RESTARTS:
                    raise ServeError(
                        f"workers keep dying (last: pid {pid}, {code}); giving up",
                        hint="see the errors above",
                    )
                self.restarts.append(now)
                log.warning("worker %d ended (%s); starting another", pid, code)
                self.await_start([self.spawn()])

    def _reap(self) -> list[tuple[int, str]]:
        ended = []
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                del self.children[pid]
                ended.append((pid, _describe(status)))
        return ended

    def stop(self) -> None:
        """SIGTERM every worker, wait, then SIGKILL what is left."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            del self.children[pid]
        self.sock.close()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def run_workers(
    settings: ServeSettings,
    *,
    ready: Callable[[str, int], None] | None = None,
    access_log: bool = True,
) -> None:
    """Serve with ``settings.workers`` processes until SIGINT or SIGTERM.

    Raises:
        ServeError: the address cannot be bound, a worker cannot load the site, or workers
            keep dying.
    """
    sup = _Supervisor(settings, access_log)

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        sup.stop_requested.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sup.await_start([sup.spawn() for _ in range(settings.workers)])
        host, port = sup.sock.getsockname()[:2]
        if ready is not None:
            ready(str(host), int(port))
        sup.supervise()
    finally:
        sup.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
