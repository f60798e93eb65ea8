"""The supervisor log (``logs/supervisor.log``): restarts, mode switches, preloads, cleanups.

Lines are ``2026-12-07T06:40:00Z <event>`` in UTC, appended by whichever process did the thing
(the supervisor, or a CLI command); the file is rotated to ``supervisor.log.1`` past 4 MiB. It
never holds credentials: events name upstreams and images, not URLs with user information.
Printing is the CLI's; this only appends to the file.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

__all__ = ["MAX_LOG_BYTES", "log_event", "supervisor_log"]

MAX_LOG_BYTES = 4 * 1024 * 1024
_LOCK = threading.Lock()


def supervisor_log(data_dir: Path) -> Path:
    """Where the supervisor log of the cache in ``data_dir`` is."""
    return data_dir / "logs" / "supervisor.log"


def log_event(data_dir: Path, message: str) -> None:
    """Append one event line; a log that cannot be written is skipped (never an error)."""
    path = supervisor_log(data_dir)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = f"{stamp} {' '.join(message.split())}\n"
    with _LOCK:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if path.stat().st_size > MAX_LOG_BYTES:
                    path.replace(path.with_name(path.name + ".1"))
            except FileNotFoundError:
                pass
            with path.open("a", encoding="utf-8") as f:
                f.write(line)
        except OSError:
            return
