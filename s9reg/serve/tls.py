"""TLS for ``s9reg serve --tls-cert FILE --tls-key FILE``, with certificates renewed in place.

StartOS devices reach a remote registry over HTTPS only. The responder can terminate TLS itself
(TLS 1.2 or newer, HTTP/1.1 by ALPN), so a small registry needs no proxy in front. The files are
checked again with every site refresh; when either changed (a certbot renewal), the context
loads them again and new connections get the new certificate, while a pair that does not load
(half written, mismatched) keeps the old one and logs a warning.
"""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

from s9reg.serve.errors import ServeError

__all__ = ["TlsFiles"]

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int, int], tuple[int, int, int]]


def _stamp(cert: Path, key: Path) -> _Stamp:
    a, b = cert.stat(), key.stat()
    return (a.st_ino, a.st_size, a.st_mtime_ns), (b.st_ino, b.st_size, b.st_mtime_ns)


class TlsFiles:
    """A server ``SSLContext`` over a certificate chain file and its key file.

    Raises:
        ServeError: the files cannot be read or do not form a certificate and its key.
    """

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_alpn_protocols(["http/1.1"])
        try:
            self._stamp = _stamp(cert, key)
            self.context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            raise ServeError(
                f"cannot use the TLS certificate {cert} with key {key}: {_reason(e)}",
                hint="--tls-cert takes the PEM chain (certificate first), --tls-key its key",
            ) from None

    def reload_if_changed(self) -> bool:
        """Load the files again if either changed since the last load; True if reloaded."""
        try:
            stamp = _stamp(self.cert, self.key)
        except OSError as e:
            log.warning("TLS files unreadable, keeping the current certificate: %s", _reason(e))
            return False
        if stamp == self._stamp:
            return False
        try:
            self.context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as e:
            log.warning("new TLS files do not load, keeping the current one: %s", _reason(e))
            return False
        self._stamp = stamp
        log.info("loaded the renewed TLS certificate %s", os.fspath(self.cert))
        return True


def _reason(e: OSError | ssl.SSLError) -> str:
    if isinstance(e, ssl.SSLError):
        return e.reason or str(e)
    return e.strerror or str(e)
