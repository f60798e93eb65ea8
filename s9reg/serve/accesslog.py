"""The access log of ``s9reg serve``: one line per request, buffered and formatted in batches.

A ``logging`` record costs tens of microseconds, as much as answering a cached JSON-RPC
request, so requests only append a tuple here; :meth:`AccessLog.flush` (run by the responder's
ticker at least once a second, when many lines are pending, and on stop) formats the lines and
writes them in one piece. No headers, bodies, query strings or keys are logged.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

__all__ = ["MAX_PENDING", "AccessLog"]

MAX_PENDING = 512
_LOGGER = logging.getLogger("s9reg.serve.access")

# client, HTTP method, path, status, bytes sent, milliseconds, JSON-RPC methods.
Entry = tuple[str, str, str, int, int, float, tuple[str, ...]]


def _clean(text: str) -> str:
    # Clients choose paths and method names: control characters (a forged line, a terminal
    # escape) and text that is not Unicode (a lone surrogate) are written escaped.
    if text.isascii() and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


def _line(entry: Entry) -> str:
    client, method, path, status, size, ms, rpc = entry
    methods = f" rpc={_clean(','.join(rpc)[:200])}" if rpc else ""
    return f'{client} "{_clean(method)} {_clean(path[:200])}" {status} {size} {ms:.1f}ms{methods}'


class AccessLog:
    """Collects access-log entries and emits them in batches.

    Args:
        stream: where to write the lines directly (each prefixed with the local time and
            ``INFO``, like the CLI's log format); None sends each line to the
            ``s9reg.serve.access`` logger instead, if it is enabled for INFO.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._pending: list[Entry] = []
        self._stamp: tuple[int, str] = (0, "")

    def add(self, entry: Entry) -> None:
        """Record one request; flushes once :data:`MAX_PENDING` lines are waiting."""
        pending = self._pending
        pending.append(entry)
        if len(pending) >= MAX_PENDING:
            self.flush()

    def flush(self) -> None:
        """Format and emit the pending lines."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        if self.stream is None:
            if _LOGGER.isEnabledFor(logging.INFO):
                for entry in pending:
                    _LOGGER.info("%s", _line(entry))
            return
        prefix = f"{self._now()} INFO "
        text = "".join(f"{prefix}{_line(e)}\n" for e in pending)
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not stop the server
            self.stream = None

    def _now(self) -> str:
        # The same shape as logging's default asctime ("2026-01-02 03:04:05,678").
        now = time.time()
        second = int(now)
        if self._stamp[0] != second:
            self._stamp = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)))
        return f"{self._stamp[1]},{int(now % 1 * 1000):03d}"
