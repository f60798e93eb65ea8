"""``s9reg serve``: the read-only StartOS registry API over a built site (registry-protocol §9.3).

Answers JSON-RPC ``POST /rpc/*`` as upstream's registry does, and serves the site's files,
``/health`` and ``/metrics``, from a directory, S3 or an HTTP(S) site. Example::

    from s9reg.serve import BackgroundServer, ServeSettings

    with BackgroundServer(ServeSettings(site="_site", port=0)) as server:
        print(server.url)  # POST {"method": "info", "params": {}} to server.url + "/rpc/v0"
"""

from __future__ import annotations

from s9reg.serve.errors import ServeError, SourceError, SourceNotFoundError
from s9reg.serve.http import HttpApp
from s9reg.serve.server import BackgroundServer, run
from s9reg.serve.settings import DEFAULT_HOST, DEFAULT_PORT, ServeSettings
from s9reg.serve.sources import HttpSource, LocalSource, S3Source, open_source

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "BackgroundServer",
    "HttpApp",
    "HttpSource",
    "LocalSource",
    "S3Source",
    "ServeError",
    "ServeSettings",
    "SourceError",
    "SourceNotFoundError",
    "open_source",
    "run",
]
