"""SIGTERM handled like Ctrl-C: an exception in the main thread, so every cleanup runs.

Without it a CI cancel or ``systemctl stop`` kills the process where it stands, leaving a
build directory and partial downloads behind (#16). Nothing here prints.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["EXIT_TERMINATED", "Terminated", "handle_terminate", "terminate_as_interrupt"]

#: 128 + SIGTERM, the shell's convention for a process ended by the signal.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised in the main thread where a Ctrl-C would be."""


def _raise(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - signal API
    raise Terminated


def handle_terminate() -> None:
    """From now until the process ends, SIGTERM raises :class:`Terminated` (main thread only).

    For a command that ends the process: a signal that arrives while it prints its result is
    still one ``Terminated.`` line and exit 143, never the default silent death.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
