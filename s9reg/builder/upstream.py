"""A client of another StartOS registry: the public read methods a device uses (issue 21).

:class:`RegistryClient` asks ``info``, ``package.index``, ``package.get``, ``package.signer.list``
and ``os.index`` (registry-protocol.md §2) as JSON-RPC ``POST <url>/rpc/v0``, which upstream's
``start-registryd`` and ``s9reg serve`` answer; a server that does not speak JSON-RPC there (a
static s9reg site on a CDN) is read from its precomputed ``rpc.v0/`` results instead
(``docs/site-layout.md``). Answers are parsed by :mod:`s9reg.registry.model`, which ignores the
fields it does not know. Listings are kept in a cache directory with their ``ETag``, so an
unchanged listing costs one conditional request. Every request goes through
:mod:`s9reg.builder.fetch` (size, time and redirect limits); nothing here opens a socket, and
nothing here decides what to take from the answers.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import DownloadLimits, fetch_document, url_key
from s9reg.errors import S9regError
from s9reg.exver import VersionRange
from s9reg.registry.model import (
    GetPackageResponseFull,
    Guid,
    OsIndex,
    PackageIndex,
    RegistryInfo,
    SignerInfo,
)
from s9reg.site_layout import (
    RPC_DIR,
    RPC_INFO,
    RPC_OS_INDEX,
    RPC_PACKAGE_INDEX,
    package_get_result,
    signer_list_result,
)

__all__ = ["MAX_LISTING_BYTES", "RegistryClient"]

#: The largest JSON answer accepted (a whole ``package.index`` with its inlined icons).
MAX_LISTING_BYTES = 256 << 20
T = TypeVar("T")

_STATIC: dict[str, Callable[[dict[str, object]], str]] = {
    "info": lambda _p: RPC_INFO,
    "package.index": lambda _p: RPC_PACKAGE_INDEX,
    "os.index": lambda _p: RPC_OS_INDEX,
    "package.get": lambda p: package_get_result(str(p["id"]), str(p["otherVersions"])),
    "package.signer.list": lambda p: signer_list_result(str(p["id"])),
}


@dataclass(slots=True)
class RegistryClient:
    """The read side of one registry at ``url`` (its root, as a device is given it).

    Attributes:
        url: the registry's URL.
        limits: bounds of every request.
        cache_dir: where answers are kept with their ETag, or None.
        static: None until the first answer tells whether the server speaks JSON-RPC (False)
            or is a static site (True).
    """

    url: str
    limits: DownloadLimits = field(default_factory=DownloadLimits)
    cache_dir: Path | None = None
    static: bool | None = None

    # --- methods ------------------------------------------------------------------------------

    def info(self) -> RegistryInfo:
        """``info``."""
        return self._parsed("info", {}, RegistryInfo.from_dict)

    def package_index(self) -> PackageIndex:
        """``package.index``: every package and version, unfiltered."""
        return self._parsed("package.index", {}, PackageIndex.from_dict)

    def package_get(self, package_id: str) -> GetPackageResponseFull:
        """``package.get {id, otherVersions: "full"}`` without a device header: every version."""
        params: dict[str, object] = {"id": package_id, "otherVersions": "full"}
        return self._parsed("package.get", params, GetPackageResponseFull.from_dict)

    def signer_list(self, package_id: str) -> dict[Guid, tuple[SignerInfo, VersionRange]]:
        """``package.signer.list {id}``: the signers the source authorizes for ``package_id``."""

        def parse(data: object) -> dict[Guid, tuple[SignerInfo, VersionRange]]:
            if not isinstance(data, dict):
                raise BuildError("expected an object of signer id to [signer, range]")
            out: dict[Guid, tuple[SignerInfo, VersionRange]] = {}
            for guid, pair in data.items():
                if not isinstance(pair, list) or len(pair) != 2:
                    raise BuildError(f"{guid}: expected [signer, range]")
                out[Guid.parse(guid, guid)] = (
                    SignerInfo.from_dict(pair[0], path=guid),
                    VersionRange.parse(str(pair[1])),
                )
            return out

        return self._parsed("package.signer.list", {"id": package_id}, parse)

    def os_index(self) -> OsIndex:
        """``os.index``: every StartOS release."""
        return self._parsed("os.index", {}, OsIndex.from_dict)

    # --- transport ----------------------------------------------------------------------------

    def _parsed(self, method: str, params: dict[str, object], parse: Callable[[object], T]) -> T:
        result = self.call(method, params)
        try:
            return parse(result)
        except (S9regError, ValueError, TypeError, KeyError) as e:
            text = e.message if isinstance(e, S9regError) else str(e)
            raise BuildError(f"{self.url}: {method}: unexpected answer: {text}") from None

    def call(self, method: str, params: dict[str, object]) -> object:
        """The ``result`` of ``method``.

        Raises:
            BuildError: the server cannot be reached, answers an error, or does not answer as
                a registry does.
        """
        if self.static is None:
            try:
                result = self._rpc(method, params)
            except _NotRpcError as e:
                try:
                    result = self._static(method, params)
                except BuildError:
                    raise BuildError(
                        f"{self.url}: not a StartOS registry ({e}; no rpc.v0/ results either)"
                    ) from None
                self.static = True
            else:
                self.static = False
            return result
        if self.static:
            return self._static(method, params)
        try:
            return self._rpc(method, params)
        except _NotRpcError as e:
            raise BuildError(f"{self.url}: {method}: {e}") from None

    def _rpc_url(self) -> str:
        return self.url.rstrip("/") + "/rpc/v0"

    def _rpc(self, method: str, params: dict[str, object]) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        key = f"rpc-{method}-{json.dumps(params, sort_keys=True)}"
        cached = self._load(key)
        doc = fetch_document(
            self._rpc_url(),
            data=body,
            etag=cached[0] if cached else None,
            max_bytes=MAX_LISTING_BYTES,
            limits=self.limits,
        )
        if doc.status == 304 and cached is not None:
            return cached[1]
        if not doc.ok or doc.body is None:
            raise _NotRpcError(f"POST /rpc/v0 answered HTTP {doc.status}")
        try:
            answer = json.loads(doc.body)
        except ValueError:
            raise _NotRpcError("POST /rpc/v0 did not answer JSON") from None
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise _NotRpcError("POST /rpc/v0 did not answer JSON-RPC")
        if "error" in answer:
            error = answer["error"]
            text = error.get("message") if isinstance(error, dict) else error
            raise BuildError(f"{self.url}: {method}: the registry answered: {str(text)[:200]}")
        self._store(key, doc.etag, answer["result"])
        return answer["result"]

    def _static(self, method: str, params: dict[str, object]) -> object:
        name = _STATIC.get(method)
        if name is None:  # pragma: no cover - only the methods above are asked
            raise BuildError(f"{self.url}: {method} has no precomputed result")
        url = f"{self.url.rstrip('/')}/{RPC_DIR}/{name(params)}"
        cached = self._load(url)
        doc = fetch_document(
            url, etag=cached[0] if cached else None, max_bytes=MAX_LISTING_BYTES, limits=self.limits
        )
        if doc.status == 304 and cached is not None:
            return cached[1]
        if doc.status == 404 and method in {"package.get", "package.signer.list"}:
            # An unknown id: upstream answers an empty result, a static site has no file.
            empty: dict[str, object] = {"categories": [], "best": {}, "otherVersions": {}}
            return {} if method == "package.signer.list" else empty
        if not doc.ok or doc.body is None:
            raise BuildError(f"{url}: the server answered HTTP {doc.status}")
        try:
            result = json.loads(doc.body)
        except ValueError:
            raise BuildError(f"{url}: not JSON") from None
        self._store(url, doc.etag, result)
        return result

    # --- the answer cache -------------------------------------------------------------------

    def _path(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / "registries" / url_key(self.url) / f"{url_key(key)}.json"

    def _load(self, key: str) -> tuple[str, object] | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            data = json.loads(path.read_bytes())
            etag, result = data["etag"], data["result"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return (etag, result) if isinstance(etag, str) and etag else None

    def _store(self, key: str, etag: str | None, result: object) -> None:
        path = self._path(key)
        if path is None or not etag:
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"etag": etag, "result": result}), encoding="utf-8")
            tmp.replace(path)


class _NotRpcError(Exception):
    """The server did not answer JSON-RPC at ``/rpc/v0`` (perhaps a static site)."""
