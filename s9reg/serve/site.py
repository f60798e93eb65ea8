"""A loaded site: the index, the precomputed ``rpc.v0/`` results, and their refresh.

A :class:`Snapshot` is immutable; :class:`SiteLoader` builds a new one when ``index.json``
changes (conditional request) and keeps the last good one when the source fails, so answers
always come from one consistent build (docs/site-layout.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from s9reg.registry import FullIndex, RegistryError, dump_json
from s9reg.registry.queries import OTHER_VERSIONS
from s9reg.serve.errors import SourceError, SourceNotFoundError
from s9reg.serve.sources import Source
from s9reg.site_layout import (
    INDEX_FILE,
    RPC_CATEGORY_LIST,
    RPC_DIR,
    RPC_INFO,
    RPC_PACKAGE_INDEX,
    SITE_FILE,
    package_get_result,
    signer_list_result,
)

__all__ = ["INDEX_FILE", "RPC_DIR", "SITE_FILE", "SiteLoader", "Snapshot", "rpc_file_names"]

_FETCH_THREADS = 8
log = logging.getLogger(__name__)


def rpc_file_names(index: FullIndex) -> list[str]:
    """The ``rpc.v0/`` files a build writes for ``index`` (docs/site-layout.md)."""
    names = [RPC_INFO, RPC_PACKAGE_INDEX, RPC_CATEGORY_LIST]
    for pid in (None, *sorted(index.package.packages)):
        names.extend(package_get_result(pid, level) for level in OTHER_VERSIONS)
    names.extend(signer_list_result(pid) for pid in sorted(index.package.packages))
    return names


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent view of the site.

    Attributes:
        revision: SHA-256 (hex, 16 digits) of ``index.json``.
        index: the parsed index.
        index_bytes: ``index.json`` without its trailing newline (the ``index`` result).
        results: precomputed result bytes by name under ``rpc.v0/`` (no trailing newline).
        os_index: the ``os.index`` result bytes.
        api_host: host name of the site's ``apiUrl`` (``s9reg-site.json``), or None.
        loaded_at: UNIX time the snapshot was loaded.
    """

    revision: str
    index: FullIndex
    index_bytes: bytes
    results: Mapping[str, bytes] = field(default_factory=dict)
    os_index: bytes = b'{"versions":{}}'
    api_host: str | None = None
    loaded_at: float = 0.0


class SiteLoader:
    """Loads a site from a source and refreshes it when its ``index.json`` changes.

    Thread-safe: :meth:`refresh` may run in a worker thread while requests read
    :attr:`snapshot`.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.snapshot: Snapshot | None = None
        self.last_error: str | None = None
        self.last_check: float = 0.0
        self.failures = 0
        self._etag: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Check the site and load it again if ``index.json`` changed.

        On failure the previous snapshot stays in place and :attr:`last_error` says why.

        Returns:
            True when a new snapshot was installed.

        Raises:
            SourceError: the site could not be loaded (the old snapshot is kept).
        """
        with self._lock:
            self.last_check = time.time()
            try:
                changed = self._refresh()
            except SourceError as e:
                self.failures += 1
                self.last_error = e.message
                raise
            self.last_error = None
            return changed

    def _refresh(self) -> bool:
        etag = self._etag if self.snapshot is not None else None
        got = self.source.fetch(INDEX_FILE, etag)
        if got is None:
            return False
        digest = hashlib.sha256(got.data).hexdigest()[:16]
        if self.snapshot is not None and self.snapshot.revision == digest:
            self._etag = got.etag
            return False
        try:
            index = FullIndex.from_dict(json.loads(got.data))
        except (ValueError, RecursionError) as e:
            raise SourceError(f"{self.source.description}{INDEX_FILE}: not JSON: {e}") from e
        except RegistryError as e:
            raise SourceError(f"{self.source.description}{INDEX_FILE}: {e.message}") from e
        results = self._results(index)
        api_host = self._api_host()
        self.snapshot = Snapshot(
            revision=digest,
            index=index,
            index_bytes=got.data.rstrip(b"\n"),
            results=results,
            os_index=dump_json(index.os).rstrip(b"\n"),
            api_host=api_host,
            loaded_at=time.time(),
        )
        self._etag = got.etag
        log.info("loaded site %s revision %s", self.source.description, digest)
        return True

    def _fetch_optional(self, rel: str) -> bytes | None:
        try:
            got = self.source.fetch(rel)
        except SourceNotFoundError:
            return None
        return None if got is None else got.data

    def _results(self, index: FullIndex) -> dict[str, bytes]:
        # A missing precomputed file is not fatal: the responder computes that answer instead.
        names = rpc_file_names(index)
        with ThreadPoolExecutor(_FETCH_THREADS) as pool:
            datas = list(pool.map(lambda n: self._fetch_optional(f"{RPC_DIR}/{n}"), names))
        return {n: d.rstrip(b"\n") for n, d in zip(names, datas, strict=True) if d is not None}

    def _api_host(self) -> str | None:
        data = self._fetch_optional(SITE_FILE)
        if data is None:
            return None
        try:
            meta = json.loads(data)
        except (ValueError, RecursionError):
            return None
        url = meta.get("apiUrl") if isinstance(meta, dict) else None
        return urlsplit(url).hostname if isinstance(url, str) else None
