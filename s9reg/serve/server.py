"""Running the responder: in the foreground until SIGINT/SIGTERM, or in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self, TextIO

from s9reg.serve.errors import ServeError, SourceError
from s9reg.serve.http import HttpApp
from s9reg.serve.settings import ServeSettings
from s9reg.serve.sources import Source, open_source
from s9reg.serve.workers import run_workers

__all__ = ["BackgroundServer", "run"]

log = logging.getLogger(__name__)


def _source(settings: ServeSettings, source: Source | None) -> Source:
    if source is not None:
        return source
    if settings.site is None:
        raise ServeError("no site to serve", hint="pass --site DIR|s3://…|https://… or set output")
    return open_source(settings.site, settings.s3)


async def _start(app: HttpApp) -> tuple[str, int]:
    try:
        return await app.start()
    except SourceError as e:
        raise ServeError(f"cannot load the site: {e.message}", hint=e.hint) from e
    except OSError as e:
        where = f"{app.settings.host}:{app.settings.port}"
        raise ServeError(f"cannot listen on {where}: {e.strerror or e}") from e


def run(
    settings: ServeSettings,
    source: Source | None = None,
    *,
    ready: Callable[[str, int], None] | None = None,
    access_stream: TextIO | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly.

    Args:
        settings: what to serve and how.
        source: the site's source; default opened from ``settings.site``.
        ready: called with the bound host and port once listening.
        access_stream: where to write the access log directly (buffered, about once a
            second); None sends it to the ``s9reg.serve.access`` logger.

    Raises:
        ServeError: the site cannot be loaded or the address cannot be bound.
    """
    if settings.workers > 1 and source is None:
        run_workers(settings, ready=ready, access_log=access_stream is not None)
        return
    app = HttpApp(settings, _source(settings, source), access_stream)

    async def main() -> None:
        host, port = await _start(app)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready(host, port)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            log.info("stopping")
            await app.stop()

    asyncio.run(main())


class BackgroundServer:
    """The responder on its own event loop in a thread (tests, benchmarks, embedding).

    Use as a context manager; :attr:`url` is ``http://host:port``.
    """

    def __init__(self, settings: ServeSettings, source: Source | None = None) -> None:
        self.app = HttpApp(settings, _source(settings, source))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def start(self) -> Self:
        """Load the site and listen.

        Raises:
            ServeError: the site cannot be loaded or the address cannot be bound.
        """
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(_start(self.app), self._loop)
        try:
            host, port = future.result(timeout=60)
        except BaseException:
            self._halt()
            raise
        self.url = f"http://{host}:{port}"
        return self

    def refresh(self) -> bool:
        """Check the site for changes now.

        Returns:
            True when a new index was loaded.
        """
        return asyncio.run_coroutine_threadsafe(self.app.refresh_now(), self._loop).result(60)

    def stop(self) -> None:
        """Stop serving and end the thread."""
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self.app.stop(grace=0.5), self._loop).result(10)
        self._halt()

    def _halt(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
