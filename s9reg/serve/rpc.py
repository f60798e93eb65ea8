"""JSON-RPC 2.0 over a loaded site, as upstream's registry speaks it (registry-protocol.md §1.2).

:class:`RpcHandler` turns a request body (single or batch) into a response body; it does no I/O.
Answers without ``X-StartOS-Device-Info`` come from the precomputed ``rpc.v0/`` bytes, wrapped in
the envelope without parsing them; filtered answers are computed by
:mod:`s9reg.registry.queries` and kept in a small cache per index revision.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from s9reg._json import JSONValue
from s9reg.exver import VersionString
from s9reg.registry import dump_json
from s9reg.registry.errors import RegistryError
from s9reg.registry.model import GetPackageResponse, GetPackageResponseFull
from s9reg.registry.queries import (
    OS_IMAGE_KINDS,
    DeviceInfo,
    ErrorKind,
    InvalidParamsError,
    OsAssetGetParams,
    OsVersionGetParams,
    PackageGetParams,
    QueryError,
    os_asset_get,
    os_version_get_json,
    os_version_signer_list,
    package_get,
    package_get_json,
    package_result_json,
    package_signer_list,
)
from s9reg.serve.auth import verify_request
from s9reg.serve.metrics import Metrics
from s9reg.serve.settings import ServeSettings
from s9reg.serve.site import Snapshot
from s9reg.site_layout import (
    RPC_CATEGORY_LIST,
    RPC_INFO,
    RPC_PACKAGE_INDEX,
    package_get_result,
    signer_list_result,
)

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "PUBLIC_METHODS",
    "WRITE_METHODS",
    "Count",
    "RequestInfo",
    "RpcAnswer",
    "RpcHandler",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
_MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
}
PUBLIC_METHODS = frozenset(
    {
        "info",
        "index",
        "package.index",
        "package.get",
        "package.category.list",
        "package.signer.list",
        "os.index",
        "os.version.get",
        "os.version.signer.list",
        *(f"os.asset.get.{k}" for k in OS_IMAGE_KINDS),
    }
)
# Upstream's authenticated write methods (registry-protocol.md §1.6); a static registry has none.
WRITE_METHODS = frozenset(
    {
        "package.add",
        "package.add-mirror",
        "package.remove",
        "package.remove-mirror",
        "package.signer.add",
        "package.signer.remove",
        "package.category.add",
        "package.category.remove",
        "package.category.add-package",
        "package.category.remove-package",
        "os.version.add",
        "os.version.remove",
        "os.version.signer.add",
        "os.version.signer.remove",
        "info.set-name",
        "info.set-icon",
        "db.dump",
        "db.apply",
        *(f"os.asset.{op}.{k}" for op in ("add", "remove", "sign") for k in OS_IMAGE_KINDS),
    }
)
_WRITE_PREFIXES = ("admin.", "metrics.")
_READ_ONLY = (
    "this registry is static (s9reg): it cannot be changed through the API; "
    "rebuild it with `s9reg build` and upload it with `s9reg publish`"
)
_CACHE_ENTRIES = 512
_CACHE_BYTES = 64 * 1024 * 1024
# Platforms StartOS builds for (.github/workflows/startos-iso.yaml); others count as "other".
_PLATFORMS = frozenset(
    {
        "x86_64",
        "x86_64-nonfree",
        "x86_64-nvidia",
        "aarch64",
        "aarch64-nonfree",
        "raspberrypi",
        "riscv64",
    }
)


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the handler needs from the HTTP request besides the body.

    Attributes:
        device_info: the ``X-StartOS-Device-Info`` value, or None.
        auth_sig: the ``X-StartOS-Auth-Sig`` value, or None.
        host: the host name the client addressed (``Host`` without port), or None.
    """

    device_info: str | None = None
    auth_sig: str | None = None
    host: str | None = None


# A counter increment: metric name and label values.
Count = tuple[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class RpcAnswer:
    """The answer to one HTTP request body, with what it counted.

    Attributes:
        body: the response body (a JSON-RPC response or batch).
        methods: the methods called, for the access log.
        counts: the counter increments made, as (metric name, labels), so that a cached
            answer can count again.
        cacheable: the same body and headers always get this answer while the snapshot is
            the same (false for ``index``, whose signature check depends on the clock).
    """

    body: bytes
    methods: tuple[str, ...]
    counts: tuple[Count, ...]
    cacheable: bool


@dataclass(frozen=True, slots=True)
class _Call:
    """One HTTP request being answered: its headers and body, and what it called and counted."""

    request: RequestInfo
    body: bytes
    methods: list[str]
    counts: list[Count]


class _RpcError(Exception):
    def __init__(self, code: int, data: JSONValue = None, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.data = data
        self.message = message or _MESSAGES.get(code, "Error")


def _app_error(kind: ErrorKind, details: str) -> _RpcError:
    data: JSONValue = {"details": details, "debug": details, "info": None}
    return _RpcError(int(kind), data, kind.title)


def _error_body(error: _RpcError, id_json: bytes) -> bytes:
    err: dict[str, JSONValue] = {"code": error.code, "message": error.message}
    if error.data is not None:
        err["data"] = error.data
    try:
        text = json.dumps(err, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = text.encode()
    except (UnicodeEncodeError, ValueError):
        # A message quoting text that is not Unicode (a lone surrogate) or a number that is
        # not JSON: escaped, or left out, so that the answer is always JSON.
        try:
            data = json.dumps(err, separators=(",", ":"), allow_nan=False).encode()
        except ValueError:
            err.pop("data", None)
            data = json.dumps(err, separators=(",", ":")).encode()
    return b'{"jsonrpc":"2.0","error":' + data + b',"id":' + id_json + b"}"


def _result_body(result: bytes, id_json: bytes) -> bytes:
    # Upstream's key order: jsonrpc, result, id (yajrc RpcResponse::serialize).
    return b'{"jsonrpc":"2.0","result":' + result + b',"id":' + id_json + b"}"


def _no_constant(name: str) -> object:
    # NaN and Infinity are not JSON; echoing them back as an id would break the response.
    raise ValueError(f"{name} is not valid JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unpaired(text: str) -> str | None:
    r"""The first lone surrogate of ``text`` as an escape (``\ud800``), or None."""
    m = _SURROGATE.search(text)
    return None if m is None else f"\\u{ord(m.group()):04x}"


def _not_unicode(where: str, escape: str) -> str:
    return f"{where}: not valid Unicode (a lone surrogate {escape})"


def _check_text(params: object) -> None:
    r"""Refuse params holding a string (or key) that is not Unicode, naming where it is.

    JSON text can escape half of a UTF-16 pair (``"\ud800"``); such a string cannot be
    encoded as UTF-8, so it would fail wherever it is quoted or logged.

    Raises:
        InvalidParamsError: the path of the first such string (``otherVersions``, ``a.b[2]``).
    """
    stack: list[tuple[str, object]] = [("params", params)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            bad = _unpaired(value)
            if bad is not None:
                raise InvalidParamsError(_not_unicode(where, bad))
        elif isinstance(value, dict):
            for key, item in value.items():
                bad = _unpaired(key)
                if bad is not None:
                    problem = f"a key is not valid Unicode (a lone surrogate {bad})"
                    raise InvalidParamsError(f"{where}: {problem}")
                stack.append((key if where == "params" else f"{where}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def _envelope(message: object) -> tuple[bytes, str, object]:
    """The id (as JSON), method and params of one request; ``jsonrpc`` is ignored, as upstream."""
    if not isinstance(message, dict):
        raise _RpcError(INVALID_REQUEST, "expected a JSON-RPC request object")
    rid = message.get("id")
    if isinstance(rid, bool) or not isinstance(rid, int | float | str | None):
        raise _RpcError(INVALID_REQUEST, "id: expected a number, a string or null")
    if isinstance(rid, float) and not math.isfinite(rid):
        # 1e999 parses as infinity, which JSON cannot write back.
        raise _RpcError(INVALID_REQUEST, "id: a number out of range (not a finite double)")
    if isinstance(rid, str) and (bad := _unpaired(rid)) is not None:
        raise _RpcError(INVALID_REQUEST, _not_unicode("id", bad))
    id_json = json.dumps(rid, ensure_ascii=False).encode()
    method = message.get("method")
    if not isinstance(method, str):
        raise _RpcError(INVALID_REQUEST, "method: expected a string")
    if (bad := _unpaired(method)) is not None:
        raise _RpcError(INVALID_REQUEST, _not_unicode("method", bad))
    return id_json, method, message.get("params")


def _compact(value: JSONValue) -> bytes:
    return dump_json(value).rstrip(b"\n")


class _Cache:
    """An LRU of computed result bytes, bounded in entries and total bytes."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> bytes | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def computed(self, key: tuple[str, ...], compute: Callable[[], JSONValue]) -> bytes:
        """The compact JSON bytes cached under ``key``, computed and kept on a miss."""
        value = self.get(key)
        if value is None:
            value = _compact(compute())
            self.put(key, value)
        return value

    def put(self, key: tuple[str, ...], value: bytes) -> None:
        if len(value) > _CACHE_BYTES // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._items[key] = value
            self._bytes += len(value)
            while len(self._items) > _CACHE_ENTRIES or self._bytes > _CACHE_BYTES:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)


class RpcHandler:
    """Answers JSON-RPC request bodies from the current snapshot.

    Args:
        snapshot: returns the snapshot to answer from (None until a site is loaded).
        settings: limits, auth contexts and the default language.
        metrics: where request counters go.
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot | None],
        settings: ServeSettings,
        metrics: Metrics | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._settings = settings
        self.metrics = metrics or Metrics()
        self._cache = _Cache()
        # Devices of one fleet send few distinct headers; parsing ranges is the costly part.
        language = settings.language
        self._parse_device = functools.lru_cache(maxsize=1024)(
            lambda header: DeviceInfo.parse(header, default_language=language)
        )

    def handle(self, body: bytes, request: RequestInfo) -> tuple[bytes, list[str]]:
        """Answer one HTTP request body (see :meth:`answer`).

        Returns:
            The response body (always a JSON-RPC response or batch) and the methods called,
            for the access log.
        """
        answer = self.answer(body, request)
        return answer.body, list(answer.methods)

    def answer(self, body: bytes, request: RequestInfo) -> RpcAnswer:
        """Answer one HTTP request body and count it in :attr:`metrics`."""
        counts: list[Count] = []
        methods: list[str] = []
        out = self._answer(body, request, methods, counts)
        for name, labels in counts:
            self.metrics.inc(name, *labels)
        return RpcAnswer(out, tuple(methods), tuple(counts), "index" not in methods)

    def _answer(
        self, body: bytes, request: RequestInfo, methods: list[str], counts: list[Count]
    ) -> bytes:
        call = _Call(request, body, methods, counts)
        try:
            message = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as e:
            return _error_body(_RpcError(PARSE_ERROR, str(e)), b"null")
        snap = self._snapshot()
        if isinstance(message, list):
            if not message:
                return _error_body(_RpcError(INVALID_REQUEST, "empty batch"), b"null")
            if len(message) > self._settings.max_batch:
                error = _RpcError(INVALID_REQUEST, f"batch of more than {self._settings.max_batch}")
                return _error_body(error, b"null")
            parts = [self._single(m, snap, call) for m in message]
            return b"[" + b",".join(parts) + b"]"
        return self._single(message, snap, call)

    def _single(self, message: object, snap: Snapshot | None, call: _Call) -> bytes:
        id_json = b"null"
        try:
            id_json, method, params = _envelope(message)
            call.methods.append(method)
            known = method in PUBLIC_METHODS or method in WRITE_METHODS
            call.counts.append(("s9reg_rpc_requests_total", (method if known else "other",)))
            return _result_body(self._call(method, params, snap, call), id_json)
        except _RpcError as e:
            return _error_body(e, id_json)
        except InvalidParamsError as e:
            return _error_body(_RpcError(INVALID_PARAMS, e.message), id_json)
        except QueryError as e:
            return _error_body(_app_error(e.kind, e.message), id_json)
        except RegistryError as e:  # pragma: no cover - a valid index never raises these
            return _error_body(_RpcError(INTERNAL_ERROR, e.message), id_json)

    def _call(self, method: str, params: object, snap: Snapshot | None, call: _Call) -> bytes:
        request, counts = call.request, call.counts
        if method in WRITE_METHODS or method.startswith(_WRITE_PREFIXES):
            raise _app_error(ErrorKind.INVALID_REQUEST, _READ_ONLY)
        if method not in PUBLIC_METHODS:
            raise _RpcError(METHOD_NOT_FOUND)
        if params is not None and not isinstance(params, dict):
            raise InvalidParamsError("params: expected an object")
        _check_text(params)
        if snap is None:
            raise _RpcError(INTERNAL_ERROR, "the registry's site is not loaded yet")
        if method == "package.get":
            return self._package_get(params, snap, request, counts)
        if method == "os.version.get":
            return self._os_version_get(params, snap, request, counts)
        if method == "index":
            contexts = self._settings.hostnames or tuple(
                h for h in (snap.api_host, request.host) if h
            )
            verify_request(
                request.auth_sig, call.body, snap.index, contexts, window=self._settings.auth_window
            )
            return snap.index_bytes
        return _static_call(method, params, snap)

    def _device(self, request: RequestInfo) -> DeviceInfo | None:
        if request.device_info is None:
            return None
        return self._parse_device(request.device_info)

    def _package_get(
        self, params: object, snap: Snapshot, request: RequestInfo, counts: list[Count]
    ) -> bytes:
        parsed = PackageGetParams.from_json(params)
        device = self._device(request)
        if parsed.id is not None and parsed.target_version is not None:
            return self._install_get(parsed, snap, device, counts)
        if device is None and parsed.target_version is None and parsed.source_version is None:
            pre = snap.results.get(package_get_result(parsed.id, parsed.level))
            if pre is not None:
                return pre
        key = (
            snap.revision,
            "package.get",
            str(parsed.id),
            str(parsed.target_version),
            str(parsed.source_version),
            parsed.level,
            request.device_info or "",
        )
        return self._cache.computed(key, lambda: package_get_json(snap.index, parsed, device))

    def _install_get(
        self,
        params: PackageGetParams,
        snap: Snapshot,
        device: DeviceInfo | None,
        counts: list[Count],
    ) -> bytes:
        # Upstream records (id, last best version) for every package.get with id and target.
        result = package_get(snap.index, params, device)
        pid = params.id
        if pid is not None and pid in snap.index.package.packages:
            version = "none"
            if isinstance(result, GetPackageResponse | GetPackageResponseFull) and result.best:
                version = str(max(result.best, key=_sort_key))
            counts.append(("s9reg_package_install_requests_total", (pid, version)))
        return _compact(package_result_json(result, device))

    def _os_version_get(
        self, params: object, snap: Snapshot, request: RequestInfo, counts: list[Count]
    ) -> bytes:
        parsed = OsVersionGetParams.from_json(params)
        device = self._device(request)
        platform = parsed.platform or (device.os_platform if device else None)
        if platform is not None:
            source = parsed.source_version or (device.os_version if device else None)
            known = platform in _PLATFORMS or any(
                platform in v.squashfs for v in snap.index.os.versions.values()
            )
            version = str(source) if source is not None else "unknown"
            counts.append(
                ("s9reg_os_update_checks_total", (platform if known else "other", version))
            )
        key = (
            snap.revision,
            "os.version.get",
            str(parsed.source_version),
            str(parsed.target_version),
            str(parsed.platform),
            request.device_info or "",
        )
        return self._cache.computed(key, lambda: os_version_get_json(snap.index, parsed, device))


def _sort_key(v: VersionString) -> tuple[object, ...]:
    return v.sort_key


_PRECOMPUTED = {
    "info": RPC_INFO,
    "package.index": RPC_PACKAGE_INDEX,
    "package.category.list": RPC_CATEGORY_LIST,
}


def _static_call(method: str, params: object, snap: Snapshot) -> bytes:  # noqa: PLR0911 - one per method
    """The methods whose answer never depends on the device header."""
    index = snap.index
    if method == "os.index":
        return snap.os_index
    if method.startswith("os.asset.get."):
        kind = method.rsplit(".", 1)[1]
        return _compact(os_asset_get(index, kind, OsAssetGetParams.from_json(params)).to_dict())
    if method == "os.version.signer.list":
        return _compact(os_version_signer_list(index, params))
    if method == "package.signer.list":
        pid = params.get("id") if isinstance(params, dict) else None
        pre = snap.results.get(signer_list_result(pid)) if isinstance(pid, str) else None
        return pre if pre is not None else _compact(package_signer_list(index, params))
    pre = snap.results.get(_PRECOMPUTED[method])
    if pre is not None:
        return pre
    info = index.info().to_dict()
    if method == "info":
        return _compact(info)
    if method == "package.index":
        return _compact(index.package.to_dict())
    return _compact(info["categories"])
