"""Bounded engine logs: ``logs/<instance>.log`` rotated in place when it grows too large.

The engines write their log to a file opened in append mode, so the supervisor can rotate it
under them by copy and truncate: the current file is copied to ``.1`` (``.1`` moves to ``.2``,
and so on), then truncated, and the engine's next line lands at its new start. A line written
between the copy and the truncation is lost; nothing else is. It does not compress, and does
not touch the supervisor's own log.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["LOG_BACKUPS", "MAX_LOG_BYTES", "bound_log"]

MAX_LOG_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 2


def bound_log(path: Path, max_bytes: int = MAX_LOG_BYTES, backups: int = LOG_BACKUPS) -> bool:
    """Rotate ``path`` if it is larger than ``max_bytes``; returns whether it was rotated.

    At most ``backups`` older generations are kept (``path.1`` the newest), so the log and
    its generations never take much more than ``(backups + 1) * max_bytes``.

    Raises:
        OSError: the log directory is not writable.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    if size <= max_bytes:
        return False
    for n in range(backups, 1, -1):
        older = path.with_name(f"{path.name}.{n - 1}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n}"))
    if backups > 0:
        tmp = path.with_name(f"{path.name}.1.tmp")
        shutil.copyfile(path, tmp)
        tmp.replace(path.with_name(f"{path.name}.1"))
    # The engine holds the file open with O_APPEND: its next write goes to the new end.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    return True
