"""Reading a registry as ``start-cli registry …`` reads one: its public methods and its database.

A :class:`SiteReader` answers from a site s9reg built (a directory, or the URL of a published
or served site), with the same queries ``s9reg serve`` runs; an :class:`RpcReader` asks any
StartOS registry over JSON-RPC (``POST <url>/rpc/v0``), signing with ``X-StartOS-Auth-Sig``
when given a key, as start-cli does (start-cli-compat.md §1, §2). Both return the method's JSON
``result``. Nothing here prints or changes the configuration.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from s9reg import __version__
from s9reg._json import JSONValue
from s9reg.builder.fetch import fetch_bytes
from s9reg.errors import S9regError
from s9reg.registry import FullIndex, RegistryError, dump_json
from s9reg.registry.queries import (
    OS_IMAGE_KINDS,
    ErrorKind,
    OsAssetGetParams,
    OsVersionGetParams,
    PackageGetParams,
    QueryError,
    os_asset_get,
    os_version_get_json,
    os_version_signer_list,
    package_get_json,
    package_signer_list,
)
from s9reg.s9pk.keys import PrivateKey
from s9reg.serve.auth import AUTH_HEADER, sign_request
from s9reg.site_layout import INDEX_FILE, SITE_FILE

__all__ = [
    "MIGRATIONS",
    "PUBLIC_METHODS",
    "Reader",
    "RpcReader",
    "SiteReader",
    "database",
    "open_reader",
    "resolve_pointer",
]

#: Upstream's migrations, all applied to a fresh database (``SC/registry/migrations``).
MIGRATIONS = ("PackageSignerScopeMigration", "RegistryAssetArray")
#: The read methods both readers answer (the ``index`` method needs a signer upstream).
PUBLIC_METHODS = (
    "info",
    "index",
    "package.index",
    "package.get",
    "package.category.list",
    "package.signer.list",
    "os.index",
    "os.version.get",
    "os.version.signer.list",
    *(f"os.asset.get.{kind}" for kind in OS_IMAGE_KINDS),
)
#: Largest JSON document read from a remote registry (a full index with inline icons).
MAX_JSON_BYTES = 256 << 20
TIMEOUT_S = 60.0


class Reader(Protocol):
    """Something that answers a registry's read methods."""

    @property
    def description(self) -> str:
        """Where the answers come from (for messages)."""
        ...

    def call(self, method: str, params: Mapping[str, JSONValue]) -> JSONValue:
        """The ``result`` of ``method`` with ``params``.

        Raises:
            S9regError: the registry cannot be reached or answers with an error.
        """
        ...

    def dump(self) -> dict[str, JSONValue]:
        """The database dump ``{"id": revision, "value": RegistryDatabase}``.

        Raises:
            S9regError: the registry cannot be reached or refuses.
        """
        ...


def revision_of(data: bytes) -> int:
    """A revision number for a dump: the first 52 bits of SHA-256 of the index bytes.

    Upstream counts revisions (a u64); a static site has none, so the content names it. 52
    bits stay exact in a JavaScript number (the TS binding's ``number``).
    """
    return int(hashlib.sha256(data).hexdigest()[:13], 16)


def database(index: FullIndex | Mapping[str, JSONValue], admins: list[str]) -> dict[str, JSONValue]:
    """``RegistryDatabase``: ``{migrations, admins, index}`` (``SC/registry/mod.rs:36-44``)."""
    value: JSONValue = index.to_dict() if isinstance(index, FullIndex) else dict(index)
    migrations: list[JSONValue] = list(MIGRATIONS)
    ids = list[JSONValue](sorted(set(admins)))
    return {"migrations": migrations, "admins": ids, "index": value}


@dataclass(frozen=True, slots=True)
class SiteReader:
    """A site s9reg built: its ``index.json`` answers every read method.

    Attributes:
        index: the parsed index.
        admins: Guids of the admins (``s9reg-site.json``; empty for older sites).
        revision: the dump's ``id``.
        description: the directory or URL.
    """

    index: FullIndex
    admins: tuple[str, ...] = ()
    revision: int = 0
    description: str = ""
    meta: Mapping[str, JSONValue] = field(default_factory=dict)

    @classmethod
    def open(cls, location: str | Path) -> SiteReader:
        """Read the site at a directory or ``http(s)`` URL.

        Raises:
            RegistryError: it is not a site s9reg built, or its index is invalid.
            BuildError: a URL cannot be fetched.
        """
        text = str(location)
        if urlsplit(text).scheme in {"http", "https"}:
            base = text.rstrip("/") + "/"
            meta_bytes: bytes | None = fetch_bytes(base + SITE_FILE, max_bytes=1 << 20)
            data = fetch_bytes(base + INDEX_FILE, max_bytes=MAX_JSON_BYTES)
            where = base
        else:
            root = Path(location)
            if not root.is_dir():
                raise RegistryError(f"{root}: no such site directory (build it: s9reg build)")
            where = f"{root}/"
            try:
                meta_bytes = (root / SITE_FILE).read_bytes()
                data = (root / INDEX_FILE).read_bytes()
            except FileNotFoundError as e:
                msg = f"{root}: not a site s9reg built (no {Path(str(e.filename)).name})"
                raise RegistryError(msg, hint="build it first: s9reg build") from None
            except OSError as e:
                raise RegistryError(f"{root}: cannot read the site: {e.strerror or e}") from None
        try:
            index = FullIndex.from_bytes(data, path=INDEX_FILE)
        except RegistryError as e:
            raise RegistryError(f"{where}{INDEX_FILE}: {e.message}") from None
        meta = _meta(meta_bytes)
        raw_admins = meta.get("admins")
        admins = (
            [a for a in raw_admins if isinstance(a, str)] if isinstance(raw_admins, list) else []
        )
        return cls(
            index=index,
            admins=tuple(sorted(admins)),
            revision=revision_of(data.rstrip(b"\n")),
            description=where,
            meta=meta,
        )

    def call(self, method: str, params: Mapping[str, JSONValue]) -> JSONValue:  # noqa: PLR0911 - one per method
        """Answer ``method`` from the index as ``s9reg serve`` does (no device header).

        Raises:
            QueryError: unknown method, or Not Found (an OS version or asset).
            InvalidParamsError: a parameter does not parse.
        """
        index = self.index
        if method == "info":
            return index.info().to_dict()
        if method == "index":
            return index.to_dict()
        if method == "package.index":
            return index.package.to_dict()
        if method == "package.category.list":
            return index.package.to_dict()["categories"]
        if method == "package.get":
            return package_get_json(index, PackageGetParams.from_json(dict(params)))
        if method == "package.signer.list":
            return package_signer_list(index, dict(params))
        if method == "os.index":
            return index.os.to_dict()
        if method == "os.version.get":
            return os_version_get_json(index, OsVersionGetParams.from_json(dict(params)))
        if method == "os.version.signer.list":
            return os_version_signer_list(index, dict(params))
        kind = method.removeprefix("os.asset.get.")
        if kind in OS_IMAGE_KINDS and method.startswith("os.asset.get."):
            return os_asset_get(index, kind, OsAssetGetParams.from_json(dict(params))).to_dict()
        raise QueryError(ErrorKind.NOT_FOUND, f"Method not found: {method}")

    def dump(self) -> dict[str, JSONValue]:
        """``{"id": revision, "value": RegistryDatabase}`` of this site."""
        return {"id": self.revision, "value": database(self.index, list(self.admins))}


def _meta(data: bytes | None) -> dict[str, JSONValue]:
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class RpcReader:
    """Any StartOS registry answering JSON-RPC at ``<url>/rpc/v0`` (start-registryd, s9reg serve).

    Attributes:
        url: the registry's URL (``/rpc/v0`` is appended, as start-cli does).
        key: the developer key that signs every request, or None (public methods only).
        hostname: the signature context; default the URL's host (start-cli's default).
    """

    url: str
    key: PrivateKey | None = None
    hostname: str | None = None
    timeout: float = TIMEOUT_S

    @property
    def description(self) -> str:
        """The registry's URL."""
        return self.url

    @property
    def endpoint(self) -> str:
        """``<url>/rpc/v0``."""
        return self.url.rstrip("/") + "/rpc/v0"

    def call(self, method: str, params: Mapping[str, JSONValue]) -> JSONValue:
        """POST ``{"id":0,"method":…,"params":…}`` and return the ``result``.

        Raises:
            RegistryError: the registry cannot be reached, does not answer JSON-RPC, or
                answers with an error (its message and details).
        """
        body = json.dumps(
            {"id": 0, "method": method, "params": dict(params)},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"s9reg/{__version__}",
        }
        if self.key is not None:
            context = self.hostname or urlsplit(self.url).hostname or ""
            headers[AUTH_HEADER] = sign_request(self.key, body, context, nonce=secrets.randbits(64))
        request = urllib.request.Request(self.endpoint, data=body, headers=headers)  # noqa: S310
        if urlsplit(self.url).scheme not in {"http", "https"}:
            raise RegistryError(f"{self.url}: only http and https registries can be asked")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = response.read(MAX_JSON_BYTES + 1)
        except urllib.error.HTTPError as e:
            e.close()  # it holds the response: its socket would linger until collected
            raise RegistryError(f"{self.endpoint}: HTTP {e.code} {e.reason}") from None
        except (OSError, ValueError) as e:
            reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
            raise RegistryError(f"{self.endpoint}: cannot reach the registry: {reason}") from None
        if len(data) > MAX_JSON_BYTES:
            raise RegistryError(f"{self.endpoint}: answer larger than {MAX_JSON_BYTES} bytes")
        try:
            answer = json.loads(data)
        except (ValueError, RecursionError):
            raise RegistryError(f"{self.endpoint}: the answer is not JSON") from None
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise RegistryError(f"{self.endpoint}: not a JSON-RPC answer")
        if "error" in answer:
            raise _rpc_error(self.endpoint, method, answer["error"])
        result: JSONValue = answer["result"]
        return result

    def dump(self) -> dict[str, JSONValue]:
        """``db.dump`` when the key is an admin's, else the signed ``index`` with no admins.

        Raises:
            RegistryError: neither answers (``index`` needs a registered signer's key).
        """
        if self.key is not None:
            try:
                value = self.call("db.dump", {"pointer": None})
            except RemoteError:
                pass  # not an admin, or a registry without db.dump (s9reg serve): the index
            else:
                if isinstance(value, dict) and "value" in value:
                    return value
        index = self.call("index", {"format": None})
        if not isinstance(index, dict):
            raise RegistryError(f"{self.endpoint}: index: not a JSON object")
        parsed = FullIndex.from_dict(index, path="index")
        return {
            "id": revision_of(dump_json(parsed).rstrip(b"\n")),
            "value": database(parsed, []),
        }


class RemoteError(RegistryError):
    """A JSON-RPC error answered by a remote registry (``rpc_code`` is its code)."""

    code = "REMOTE"

    def __init__(self, message: str, rpc_code: int | None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rpc_code = rpc_code


def _rpc_error(endpoint: str, method: str, error: object) -> RemoteError:
    if not isinstance(error, dict):
        return RemoteError(f"{endpoint}: {method}: malformed error answer", None)
    code = error.get("code")
    message = str(error.get("message") or "error")
    data = error.get("data")
    details = data.get("details") if isinstance(data, dict) else data
    text = f"{message}: {details}" if isinstance(details, str) and details != message else message
    hint = None
    if code == int(ErrorKind.AUTHORIZATION):
        hint = "this method needs a registered signer's key (admin for db.dump): --key FILE"
    return RemoteError(
        f"{endpoint}: {method}: {text}", code if isinstance(code, int) else None, hint=hint
    )


def open_reader(location: str | Path, *, key: PrivateKey | None = None) -> Reader:
    """The reader of ``location``: a site directory, a site URL, or a JSON-RPC registry URL.

    A URL whose ``s9reg-site.json`` can be fetched is read as a site; any other URL is asked
    over JSON-RPC (signed with ``key`` if given).

    Raises:
        RegistryError: a directory is not a site, or its index is invalid.
    """
    text = str(location)
    if urlsplit(text).scheme not in {"http", "https"}:
        return SiteReader.open(Path(location))
    base = text.rstrip("/") + "/"
    try:
        fetch_bytes(base + SITE_FILE, max_bytes=1 << 20, timeout=TIMEOUT_S)
    except S9regError:
        return RpcReader(text, key)
    return SiteReader.open(text)


def resolve_pointer(value: JSONValue, pointer: str | None) -> JSONValue:
    """The value at an RFC 6901 JSON pointer (``""`` or None: the whole value).

    Raises:
        RegistryError: the pointer does not parse or names nothing.
    """
    if not pointer:
        return value
    if not pointer.startswith("/"):
        raise RegistryError(f"JSON pointer {pointer!r}: must start with '/'")
    node = value
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise RegistryError(f"JSON pointer {pointer!r}: nothing at {token!r}")
    return node
