"""Typed settings of ``s9reg serve`` (registry-protocol.md §1, §9.3): what the responder consumes.

``s9reg.config`` builds these from the ``serve:`` section and the command line; nothing here reads
files or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s9reg.errors import ConfigError
from s9reg.s3 import S3Options

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServeSettings"]

DEFAULT_HOST = "127.0.0.1"
# Upstream's registry listens on 5959 (start-core registry/context.rs).
DEFAULT_PORT = 5959
MAX_WORKERS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeSettings:
    """Everything :func:`s9reg.serve.run` needs.

    Attributes:
        host: address to listen on.
        port: TCP port (0 picks a free one).
        site: the built site: a directory, ``s3://bucket/prefix`` or an ``http(s)://`` base
            URL; None until the CLI fills in the configuration's ``output``.
        s3: how to reach an ``s3://`` site's bucket (endpoint, region, addressing, checksum
            mode), from ``serve.s3`` or the publish target of the same bucket; None leaves
            it to the AWS chain.
        max_body: largest accepted request body, in bytes.
        client_timeout: seconds a client may take to send a whole request head (counted from
            the connection's opening or the previous answer), a whole body, and the idle time
            allowed between requests on one connection (slow clients are cut off).
        refresh_interval: seconds between checks of the site's ``index.json`` for changes.
        hostnames: registry host names accepted as the signature context of
            ``X-StartOS-Auth-Sig``; empty means the host of the site's ``apiUrl`` and the
            request's ``Host``.
        auth_window: largest accepted clock difference of a signed request, in seconds.
        language: locale assumed for devices older than 0.4.0-alpha.18 that send none.
        max_connections: simultaneous connections; at the cap a new client takes the place of
            the oldest connection that has not sent a whole request yet (else of the oldest
            idle one).
        max_connections_per_client: simultaneous connections from one address (one IPv6
            /64); more are closed at once. Behind a reverse proxy every client has the proxy's
            address: raise it to ``max_connections`` there.
        max_batch: largest JSON-RPC batch answered.
        workers: processes answering on the one listening socket (each loads the site
            itself); 1 answers in this process.
        tls_cert: PEM certificate chain to terminate TLS with (with ``tls_key``), or None for
            plain HTTP; checked again at every site refresh, so a renewal applies by itself.
        tls_key: the certificate's PEM private key.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    site: str | None = None
    s3: S3Options | None = None
    max_body: int = 1024 * 1024
    client_timeout: float = 10.0
    refresh_interval: float = 30.0
    hostnames: tuple[str, ...] = ()
    auth_window: int = 30
    language: str = "en_US"
    max_connections: int = 512
    max_connections_per_client: int = 64
    max_batch: int = 32
    workers: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0 <= self.port <= 65535:
            problems.append(f"port {self.port} is not between 0 and 65535")
        if self.max_body < 1024:
            problems.append("max_body must be at least 1024 bytes")
        if self.client_timeout <= 0:
            problems.append("client_timeout must be positive")
        if self.refresh_interval <= 0:
            problems.append("refresh_interval must be positive")
        if (
            min(self.max_connections, self.max_connections_per_client, self.max_batch) < 1
            or self.auth_window < 1
        ):
            problems.append(
                "max_connections, max_connections_per_client, max_batch and auth_window "
                "must be at least 1"
            )
        if not 1 <= self.workers <= MAX_WORKERS:
            problems.append(f"workers must be from 1 to {MAX_WORKERS}")
        if (self.tls_cert is None) != (self.tls_key is None):
            problems.append("TLS needs both a certificate and its key")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ConfigError(f"serve settings: {problems[0]}{more}", details="\n".join(problems))
