"""``site-config.yaml``: read once, validated against its schema, turned into frozen settings.

The only module that imports :mod:`yaml`. Upstream's own registry config is described in
``shared/spec/registry-protocol.md`` §6; this file describes a static registry (§9) instead.
Every problem is reported as ``file:line: key.path: what was expected``; see
``docs/configuration.md`` for the keys.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from s9reg.builder import BuildSettings, CategorySettings
from s9reg.builder.settings import IncompleteArches, OsReleaseSettings
from s9reg.errors import ConfigError, S9regError
from s9reg.exver import Version, VersionRange
from s9reg.imagecache import (
    DEFAULT_CURATED,
    DEFAULT_UPSTREAMS,
    CacheSettings,
    ImageRef,
    S3Storage,
    UploadPurging,
    Upstream,
)
from s9reg.publish import settings as publishing
from s9reg.publish.settings import S3Settings
from s9reg.registry import ContactInfo, Guid, SignerInfo
from s9reg.s3 import CHECKSUM_MODES, ChecksumMode, S3Location, S3Options
from s9reg.s9pk.keys import PrivateKey, PublicKey
from s9reg.s9pk.manifest import LocaleString, data_url, file_extension, is_id, mime
from s9reg.serve.settings import ServeSettings

__all__ = [
    "CacheUpstream",
    "Category",
    "Contact",
    "ImageCacheSettings",
    "LocalSource",
    "OsRelease",
    "PackageSource",
    "PublishSettings",
    "RegistrySettings",
    "RemoteSource",
    "SecretRef",
    "ServeSettings",
    "Signer",
    "SiteConfig",
    "StorageSettings",
    "cache_settings",
    "load",
    "loads",
    "serve_settings",
]

MAX_NAME_LENGTH = 32
CACHE_DIR = ".s9reg-cache"
DEFAULT_LANGUAGE = "en_US"
_LOCALE_RE = re.compile(r"[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")
# A site config is a few kilobytes; the cap keeps a wrong path (an ISO) from being parsed.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
DEFAULT_SERVE_LISTEN = ("127.0.0.1", 5959)
DEFAULT_CACHE_LISTEN = ("127.0.0.1", 5000)
DEFAULT_CACHE_API_LISTEN = ("127.0.0.1", 5080)
OS_IMAGE_KINDS = ("iso", "img", "squashfs")
CONTACT_KINDS = ("email", "matrix", "website")

_TAG_STR = "tag:yaml.org,2002:str"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"
_YAML_TYPE_NAMES = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    _TAG_BOOL: "a boolean",
    _TAG_NULL: "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLATFORM_RE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_DATA_URL_RE = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,([A-Za-z0-9+/=\s]*)")
_LISTEN_RE = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})"
)
# Leading characters that YAML reads as syntax, so a plain range such as ``>=1`` never parses.
_QUOTE_HINT = "quote values that start with *, >, <, !, &, | or % (e.g. '>=1.0' or '*')"


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SecretRef:
    """Where a secret comes from: ``env:NAME`` or ``file:PATH``; never the secret itself.

    Attributes:
        scheme: ``"env"`` or ``"file"``.
        name: the environment variable (``env``), or the path as written (``file``).
        path: for ``file``, the path resolved against the config file's directory.
    """

    scheme: Literal["env", "file"]
    name: str
    path: Path | None = None

    def __repr__(self) -> str:
        return f"SecretRef({self.reference!r})"

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        """The reference as written in the config, e.g. ``env:S9REG_REGISTRY_KEY``."""
        return f"{self.scheme}:{self.name}"

    def read(self, environ: Mapping[str, str] | None = None, *, what: str = "the key") -> str:
        """The secret's text: the variable's value, or the file's contents.

        Args:
            environ: environment to read ``env:`` references from; defaults to ``os.environ``.
            what: what the secret is, for the hint when it is missing.

        Raises:
            ConfigError: the variable is unset or empty, or the file is unreadable.
        """
        if self.scheme == "env":
            env = os.environ if environ is None else environ
            text = env.get(self.name)
            if not text:
                raise ConfigError(
                    f"{self.reference}: environment variable {self.name} is not set",
                    hint=f"export {self.name} with {what}",
                )
            return text
        target = self.path if self.path is not None else Path(self.name).expanduser()
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{self.reference}: cannot read {target}: {e}") from e

    def resolve(self, environ: Mapping[str, str] | None = None) -> PrivateKey:
        """Read the PEM the reference points to and parse it as an Ed25519 private key.

        Args:
            environ: environment to read ``env:`` references from; defaults to ``os.environ``.

        Raises:
            ConfigError: the variable is unset, the file is unreadable, or it holds no
                Ed25519 private key. The message never contains key material.
        """
        text = self.read(environ, what="the PEM of the key")
        try:
            return PrivateKey.from_pem(text)
        except S9regError as e:
            raise ConfigError(f"{self.reference}: {e.message}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """One way to reach a signer (upstream ``ContactInfo``): email, matrix or website."""

    kind: Literal["email", "matrix", "website"]
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """A person or team whose keys may sign packages; ``admin`` signers manage the registry."""

    name: str
    contacts: tuple[Contact, ...] = ()
    keys: tuple[PublicKey, ...] = ()
    admin: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySettings:
    """The ``registry:`` section.

    Attributes:
        name: display name, at most 32 characters.
        icon: a file (resolved path), a ``data:image/…;base64,…`` URL, or None.
        url: public URL of the registry API.
        file_urls: base URLs where files are served, CDN first.
        mirrors: extra base URLs listed after ``file_urls``.
        signing_key: where the registry co-signing key comes from, or None.
    """

    name: str
    icon: Path | str | None = None
    url: str
    file_urls: tuple[str, ...]
    mirrors: tuple[str, ...] = ()
    signing_key: SecretRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    """A package category: localizable name and member package ids."""

    id: str
    name: LocaleString
    packages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSource:
    """Local ``.s9pk`` files: a directory or glob pattern, resolved against the config's dir."""

    pattern: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteSource:
    """A remote ``.s9pk`` URL: downloaded, verified, and kept as a fallback mirror."""

    url: str


PackageSource = LocalSource | RemoteSource


@dataclass(frozen=True, slots=True, kw_only=True)
class OsRelease:
    """One StartOS release (upstream ``OsVersionInfo``).

    Image maps go from platform (``x86_64``, ``x86_64-nonfree``, ``raspberrypi``…) to a
    resolved file path or an ``http(s)`` URL (a ``str``).
    """

    version: Version
    headline: str
    release_notes: str = ""
    source_version: VersionRange
    iso: Mapping[str, Path | str] = field(default_factory=dict)
    img: Mapping[str, Path | str] = field(default_factory=dict)
    squashfs: Mapping[str, Path | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageSettings:
    """Where ``publish`` puts the built site: a local directory, or S3 (``publish:`` section)."""

    kind: Literal["file", "s3"]
    path: Path | None = None


# The ``publish:`` section is the S3 target itself (credentials come from the AWS chain).
PublishSettings = S3Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheUpstream:
    """One entry of ``image_cache.upstreams``; credentials stay references until resolved.

    Attributes:
        name: registry host as written in image references (``docker.io``).
        url: the registry API endpoint.
        listen: listen address of its pull-through instance, or None for the next free one
            after ``image_cache.listen``.
        writer_port: port of its writer instance (127.0.0.1), or None for ``port + 100``.
        username: a user name, or ``env:NAME``.
        password: ``env:NAME`` (a password is never written in the file).
    """

    name: str
    url: str
    listen: tuple[str, int] | None = None
    writer_port: int | None = None
    username: str | None = None
    password: str | None = None


_DEFAULT_CACHE_UPSTREAMS = tuple(CacheUpstream(name=n, url=u) for n, u in DEFAULT_UPSTREAMS)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageCacheSettings:
    """The ``image_cache:`` section (``s9reg cache``; built by :func:`cache_settings`).

    ``images`` holds the references as written (``REF`` or ``REF@DIGEST``).
    """

    data_dir: Path
    host: str = DEFAULT_CACHE_LISTEN[0]
    port: int = DEFAULT_CACHE_LISTEN[1]
    api_host: str = DEFAULT_CACHE_API_LISTEN[0]
    api_port: int = DEFAULT_CACHE_API_LISTEN[1]
    upstreams: tuple[CacheUpstream, ...] = _DEFAULT_CACHE_UPSTREAMS
    images: tuple[str, ...] = DEFAULT_CURATED
    upload_purging: UploadPurging = field(default_factory=UploadPurging)
    s3: S3Storage | None = None
    recheck_seconds: int = 30
    public_host: str = "localhost"
    api_token: SecretRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueSettings:
    """The ``catalogue:`` section: language of the texts, and an optional template override."""

    language: str = DEFAULT_LANGUAGE
    template_dir: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteConfig:
    """The whole validated site configuration.

    Attributes:
        path: the config file it was loaded from (resolved).
        authorized: package id → signer name → version range that signer may publish.
        output: directory the build writes (resolved).
        storage: publish target, or None.
        publish: S3 settings, or None.
        image_cache: image cache settings, or None.
        catalogue: the HTML catalogue's language and templates.
    """

    path: Path
    registry: RegistrySettings
    signers: tuple[Signer, ...] = ()
    authorized: Mapping[str, Mapping[str, VersionRange]] = field(default_factory=dict)
    categories: tuple[Category, ...] = ()
    sources: tuple[PackageSource, ...] = ()
    incomplete_arches: IncompleteArches = IncompleteArches.WARN
    os_releases: tuple[OsRelease, ...] = ()
    output: Path
    storage: StorageSettings | None = None
    serve: ServeSettings = field(default_factory=ServeSettings)
    publish: PublishSettings | None = None
    image_cache: ImageCacheSettings | None = None
    catalogue: CatalogueSettings = field(default_factory=CatalogueSettings)

    @property
    def admins(self) -> tuple[Signer, ...]:
        """The signers marked ``admin: true``."""
        return tuple(s for s in self.signers if s.admin)


# --------------------------------------------------------------------------------------------
# YAML reading
# --------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses aliases: a config never needs them (billion laughs)."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


_T = TypeVar("_T")
_Key = str | int


class _Checker:
    """Collects problems with their line and key path while walking the node tree."""

    def __init__(self, display: str, base: Path) -> None:
        self.display = display
        self.base = base
        self.problems: list[tuple[int, str]] = []
        self._path: list[_Key] = []

    @contextmanager
    def at(self, *keys: _Key) -> Iterator[None]:
        self._path.extend(keys)
        try:
            yield
        finally:
            del self._path[len(self._path) - len(keys) :]

    def key_path(self) -> str:
        out = ""
        for k in self._path:
            out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
        return out

    def add(self, node: Node | None, problem: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        key = self.key_path()
        where = f"{key}: " if key else ""
        self.problems.append((line, f"{self.display}:{line}: {where}{problem}"))

    # --- shapes ---------------------------------------------------------------------------

    def mapping(
        self, node: Node, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.add(node, f"expected a mapping, got {_describe(node)}")
            return None
        allowed = (*required, *optional)
        out: dict[str, Node] = {}
        for k, key_node, v in self.keyed(node):
            if k not in allowed:
                with self.at(k):
                    close = difflib.get_close_matches(k, allowed, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    self.add(key_node, f"unknown key (expected one of {', '.join(allowed)}){hint}")
                continue
            out[k] = v
        for k in required:
            if k not in out:
                self.add(node, f"missing required key {k!r}")
        return out

    def pairs(self, node: MappingNode) -> Iterator[tuple[str, Node]]:
        """Key/value pairs with string keys; duplicates and non-string keys are reported."""
        for key, _, value in self.keyed(node):
            yield key, value

    def keyed(self, node: MappingNode) -> Iterator[tuple[str, Node, Node]]:
        """As :meth:`pairs`, with the key's own node (for its line)."""
        seen: set[str] = set()
        for key_node, value in node.value:
            if not (isinstance(key_node, ScalarNode) and key_node.tag == _TAG_STR):
                self.add(key_node, f"keys must be strings, got {_describe(key_node)}")
                continue
            key = str(key_node.value)
            if key in seen:
                with self.at(key):
                    self.add(key_node, "duplicate key")
                continue
            seen.add(key)
            yield key, key_node, value

    def sequence(self, node: Node) -> list[Node]:
        if isinstance(node, SequenceNode):
            return list(node.value)
        self.add(node, f"expected a list, got {_describe(node)}")
        return []

    def each(self, node: Node, parse: Callable[[Node], _T | None]) -> tuple[_T, ...]:
        out: list[_T] = []
        for i, item in enumerate(self.sequence(node)):
            with self.at(i):
                value = parse(item)
            if value is not None:
                out.append(value)
        return tuple(out)

    # --- scalars --------------------------------------------------------------------------

    def string(self, node: Node, what: str = "a string") -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _TAG_STR:
            return str(node.value)
        if isinstance(node, ScalarNode) and node.tag in _YAML_TYPE_NAMES and node.tag != _TAG_NULL:
            self.add(
                node,
                f"expected {what}, got {_describe(node)}; "
                f'quote it to keep it as text: "{node.value}"',
            )
        else:
            self.add(node, f"expected {what}, got {_describe(node)}")
        return None

    def nonempty(self, node: Node, what: str = "a non-empty string") -> str | None:
        text = self.string(node, what)
        if text is not None and not text.strip():
            self.add(node, f"expected {what}, got an empty string")
            return None
        return text

    def boolean(self, node: Node) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == _TAG_BOOL:
            if node.value in ("true", "false"):
                return bool(node.value == "true")
            self.add(node, f"write true or false, not {node.value!r}")
            return None
        self.add(node, f"expected true or false, got {_describe(node)}")
        return None

    def url(self, node: Node, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
        text = self.string(node, "a URL")
        if text is None:
            return None
        try:
            parts = urlsplit(text)
        except ValueError as e:
            self.add(node, f"not a valid URL: {e}")
            return None
        if parts.scheme.lower() not in schemes or not parts.netloc:
            self.add(node, f"expected an absolute {'/'.join(schemes)} URL, got {text!r}")
            return None
        return text

    def path(self, node: Node) -> Path | None:
        text = self.nonempty(node, "a path")
        return None if text is None else self.resolve(node, text)

    def resolve(self, node: Node, text: str) -> Path | None:
        if "\0" in text:
            self.add(node, "a path cannot contain a NUL character")
            return None
        try:
            p = Path(text).expanduser()
        except RuntimeError:
            self.add(node, f"cannot expand ~ in {text!r}: no such user or home directory")
            return None
        return p if p.is_absolute() else self.base / p

    def file_or_url(self, node: Node) -> Path | str | None:
        text = self.nonempty(node, "a file path or URL")
        if text is None:
            return None
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text):
            return self.url(node)
        return self.resolve(node, text)

    def package_id(self, node: Node) -> str | None:
        text = self.string(node, "a package id")
        if text is not None and not is_id(text):
            self.add(node, f"not a valid package id: {text!r} (lowercase letters, digits, '-')")
            return None
        return text

    def version_range(self, node: Node) -> VersionRange | None:
        text = self.string(node, "a version range")
        if text is None:
            return None
        try:
            return VersionRange.parse(text, strict=True)
        except S9regError as e:
            self.add(node, e.message)
            return None

    def listen(self, node: Node) -> tuple[str, int] | None:
        text = self.string(node, "a listen address HOST:PORT")
        if text is None:
            return None
        m = _LISTEN_RE.fullmatch(text)
        port = int(m["port"]) if m else 0
        if m is None or not 0 < port < 65536:
            self.add(node, f"expected a listen address HOST:PORT, got {text!r}")
            return None
        return (m["v6"] or m["host"], port)


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _TAG_STR:
        return f"the string {str(node.value)[:40]!r}"
    name = _YAML_TYPE_NAMES.get(node.tag)
    if name is None:
        return f"a value tagged {node.tag}"
    return name if node.tag == _TAG_NULL else f"{name} ({node.value})"


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG_NULL


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

_TOP_REQUIRED = ("registry",)
_TOP_OPTIONAL = (
    "signers",
    "authorized",
    "categories",
    "packages",
    "os",
    "output",
    "storage",
    "serve",
    "publish",
    "image_cache",
    "catalogue",
)


def load(path: str | os.PathLike[str]) -> SiteConfig:
    """Read and validate a site configuration file.

    Args:
        path: the YAML file. Relative paths inside it resolve against its directory.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or breaks the schema. The message
            is the first problem (``file:line: key: problem``) plus a count of the others;
            ``details`` lists them all.
    """
    file = Path(path)
    display = os.fspath(path)
    try:
        with file.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{display}: cannot read the config: {e}") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{display}: the config is larger than {MAX_CONFIG_BYTES} bytes")
    return loads(text, path=file, display=display)


def loads(text: str, *, path: Path, display: str | None = None) -> SiteConfig:
    """Validate config ``text`` as if read from ``path`` (which anchors relative paths).

    Raises:
        ConfigError: as :func:`load`.
    """
    display = os.fspath(path) if display is None else display
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(f"{display}:{line}: invalid YAML: {problem}", hint=_QUOTE_HINT) from None
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError(f"{display}: invalid YAML: {e}") from None
    if root is None:
        raise ConfigError(f"{display}: the config is empty")
    checker = _Checker(display, path.resolve().parent)
    try:
        config = _site(checker, root, path.resolve())
    except RecursionError:
        raise ConfigError(f"{display}: the config is nested too deeply") from None
    if config is None and not checker.problems:
        raise ConfigError(f"{display}: the config is invalid")
    if checker.problems or config is None:
        lines = [p for _, p in sorted(checker.problems, key=lambda p: p[0])]
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise ConfigError(lines[0] + more, details="\n".join(lines))
    return config


def _section(
    c: _Checker, top: Mapping[str, Node], key: str, parse: Callable[[Node], _T | None]
) -> _T | None:
    """Parse ``top[key]`` under its breadcrumb; absent or null gives None."""
    node = top.get(key)
    if node is None or _is_null(node):
        return None
    with c.at(key):
        return parse(node)


def _site(c: _Checker, root: Node, path: Path) -> SiteConfig | None:
    top = c.mapping(root, _TOP_REQUIRED, _TOP_OPTIONAL)
    if top is None:
        return None
    registry = None
    if "registry" in top:
        with c.at("registry"):
            registry = _registry(c, top["registry"])
    signers = _section(c, top, "signers", lambda n: _signers(c, n)) or ()
    names = {s.name for s in signers}
    authorized = _section(c, top, "authorized", lambda n: _authorized(c, n, names)) or {}
    categories = _section(c, top, "categories", lambda n: _categories(c, n)) or ()
    sources, incomplete_arches = _section(c, top, "packages", lambda n: _packages(c, n)) or (
        (),
        IncompleteArches.WARN,
    )
    releases = _section(c, top, "os", lambda n: c.each(n, lambda r: _os_release(c, r))) or ()
    output = _section(c, top, "output", c.path) or c.base / "_site"
    storage = _section(c, top, "storage", lambda n: _storage(c, n))
    serve = _section(c, top, "serve", lambda n: _serve(c, n)) or ServeSettings()
    publish = _section(c, top, "publish", lambda n: _publish(c, n))
    if storage is not None and storage.kind == "s3" and publish is None:
        with c.at("storage"):
            c.add(top["storage"], "storage 's3' needs a 'publish:' section with the bucket")
    cache = _section(c, top, "image_cache", lambda n: _image_cache(c, n))
    catalogue = _section(c, top, "catalogue", lambda n: _catalogue(c, n)) or CatalogueSettings()
    if registry is None:
        return None
    return SiteConfig(
        path=path,
        registry=registry,
        signers=signers,
        authorized=authorized,
        categories=categories,
        sources=sources,
        incomplete_arches=incomplete_arches,
        os_releases=releases,
        output=output,
        storage=storage,
        serve=serve,
        publish=publish,
        image_cache=cache,
        catalogue=catalogue,
    )


def _signers(c: _Checker, node: Node) -> tuple[Signer, ...]:
    signers = c.each(node, lambda n: _signer(c, n))
    _unique_names(c, node, signers)
    return signers


def _registry(c: _Checker, node: Node) -> RegistrySettings | None:
    m = c.mapping(node, ("name", "url"), ("icon", "file_urls", "mirrors", "signing_key"))
    if m is None:
        return None
    name = url = None
    if "name" in m:
        with c.at("name"):
            name = c.nonempty(m["name"])
            if name is not None and len(name) > MAX_NAME_LENGTH:
                c.add(m["name"], f"at most {MAX_NAME_LENGTH} characters, got {len(name)}")
                name = None
    if "url" in m:
        with c.at("url"):
            url = c.url(m["url"])
    icon: Path | str | None = None
    if "icon" in m and not _is_null(m["icon"]):
        with c.at("icon"):
            icon = _icon(c, m["icon"])
    file_urls: tuple[str, ...] = ()
    if "file_urls" in m:
        with c.at("file_urls"):
            file_urls = c.each(m["file_urls"], c.url)
            if not file_urls and isinstance(m["file_urls"], SequenceNode):
                c.add(m["file_urls"], "expected at least one URL")
    mirrors: tuple[str, ...] = ()
    if "mirrors" in m:
        with c.at("mirrors"):
            mirrors = c.each(m["mirrors"], c.url)
    key = None
    if "signing_key" in m and not _is_null(m["signing_key"]):
        with c.at("signing_key"):
            key = _secret(c, m["signing_key"])
    if name is None or url is None:
        return None
    return RegistrySettings(
        name=name,
        icon=icon,
        url=url,
        file_urls=file_urls or (url,),
        mirrors=mirrors,
        signing_key=key,
    )


def _catalogue(c: _Checker, node: Node) -> CatalogueSettings | None:
    m = c.mapping(node, (), ("language", "template_dir"))
    if m is None:
        return None
    language = DEFAULT_LANGUAGE
    template_dir = None
    if "language" in m:
        with c.at("language"):
            text = c.nonempty(m["language"], "a locale such as en_US or de_DE")
            if text is not None and not _LOCALE_RE.fullmatch(text):
                c.add(m["language"], f"expected a locale such as en_US or de_DE, got {text!r}")
            elif text is not None:
                language = text
    if "template_dir" in m and not _is_null(m["template_dir"]):
        with c.at("template_dir"):
            template_dir = c.path(m["template_dir"])
    return CatalogueSettings(language=language, template_dir=template_dir)


def _icon(c: _Checker, node: Node) -> Path | str | None:
    text = c.nonempty(node, "a file path or data: URL")
    if text is None:
        return None
    if not text.startswith("data:"):
        return c.resolve(node, text)
    m = _DATA_URL_RE.fullmatch(text)
    if m is None:
        c.add(node, "expected a data:image/<type>;base64,<data> URL")
        return None
    try:
        base64.b64decode("".join(m[2].split()), validate=True)
    except (binascii.Error, ValueError):
        c.add(node, "the data: URL's base64 payload is invalid")
        return None
    return text


def _secret(c: _Checker, node: Node) -> SecretRef | None:
    text = c.string(node, "env:NAME or file:PATH")
    if text is None:
        return None
    if "-----BEGIN" in text or "PRIVATE KEY" in text:
        c.add(
            node,
            "a key must not be written into the config; move it to a file or an environment "
            "variable and write file:PATH or env:NAME",
        )
        return None
    scheme, sep, rest = text.partition(":")
    if sep and scheme == "env":
        if _ENV_NAME_RE.fullmatch(rest) is None:
            c.add(node, f"env: needs a variable name, got {rest!r}")
            return None
        return SecretRef(scheme="env", name=rest)
    if sep and scheme == "file" and rest.strip():
        path = c.resolve(node, rest)
        return None if path is None else SecretRef(scheme="file", name=rest, path=path)
    c.add(node, "expected env:NAME or file:PATH")
    return None


def _signer(c: _Checker, node: Node) -> Signer | None:
    m = c.mapping(node, ("name",), ("contact", "keys", "admin"))
    if m is None:
        return None
    with c.at("name"):
        name = c.nonempty(m["name"]) if "name" in m else None
    contacts: tuple[Contact, ...] = ()
    if "contact" in m:
        with c.at("contact"):
            contacts = c.each(m["contact"], lambda n: _contact(c, n))
    keys: tuple[PublicKey, ...] = ()
    if "keys" in m:
        with c.at("keys"):
            keys = c.each(m["keys"], lambda n: _public_key(c, n))
    admin = False
    if "admin" in m:
        with c.at("admin"):
            admin = bool(c.boolean(m["admin"]))
    if name is None:
        return None
    return Signer(name=name, contacts=contacts, keys=keys, admin=admin)


def _contact(c: _Checker, node: Node) -> Contact | None:
    m = c.mapping(node, (), CONTACT_KINDS)
    if m is None:
        return None
    if len(m) != 1:
        if len(node.value) == len(m):
            c.add(node, f"expected exactly one of {', '.join(CONTACT_KINDS)}")
        return None
    ((kind, value_node),) = m.items()
    with c.at(kind):
        value = c.url(value_node) if kind == "website" else c.nonempty(value_node)
    if value is None:
        return None
    if kind == "email":
        return Contact(kind="email", value=value)
    if kind == "matrix":
        return Contact(kind="matrix", value=value)
    return Contact(kind="website", value=value)


def _public_key(c: _Checker, node: Node) -> PublicKey | None:
    text = c.string(node, "a PEM public key or file:PATH")
    if text is None:
        return None
    if text.startswith("file:"):
        path = c.resolve(node, text[5:].strip())
        if path is None:
            return None
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            c.add(node, f"{path}: no such public key file (for the examples: s9reg demo examples)")
            return None
        except (OSError, UnicodeDecodeError) as e:
            c.add(node, f"{path}: cannot read the public key: {getattr(e, 'strerror', None) or e}")
            return None
    try:
        return PublicKey.from_pem(text)
    except S9regError as e:
        c.add(node, f"not a PEM public key ({e.message})")
        return None


def _unique_names(c: _Checker, node: Node, signers: tuple[Signer, ...]) -> None:
    seen: set[str] = set()
    items = node.value if isinstance(node, SequenceNode) else []
    for signer in signers:
        if signer.name in seen:
            where = next(
                (i for i, n in enumerate(items) if _name_of(n) == signer.name and i > 0), 0
            )
            with c.at(where, "name"):
                c.add(items[where] if items else node, f"duplicate signer name {signer.name!r}")
        seen.add(signer.name)


def _name_of(node: Node) -> str | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == "name" and isinstance(v, ScalarNode):
                return str(v.value)
    return None


def _authorized(c: _Checker, node: Node, names: set[str]) -> dict[str, dict[str, VersionRange]]:
    out: dict[str, dict[str, VersionRange]] = {}
    if not isinstance(node, MappingNode):
        c.add(node, f"expected a mapping of package id to signers, got {_describe(node)}")
        return out
    for pkg, pkg_node, signers_node in c.keyed(node):
        with c.at(pkg):
            if not is_id(pkg):
                c.add(pkg_node, f"not a valid package id: {pkg!r}")
                continue
            if not isinstance(signers_node, MappingNode):
                got = _describe(signers_node)
                c.add(
                    signers_node, f"expected a mapping of signer name to version range, got {got}"
                )
                continue
            ranges: dict[str, VersionRange] = {}
            for signer, signer_node, range_node in c.keyed(signers_node):
                with c.at(signer):
                    if signer not in names:
                        close = difflib.get_close_matches(signer, sorted(names), n=1)
                        hint = f"; did you mean {close[0]!r}?" if close else ""
                        c.add(signer_node, f"no signer named {signer!r} in 'signers'{hint}")
                        continue
                    r = c.version_range(range_node)
                if r is not None:
                    ranges[signer] = r
            out[pkg] = ranges
    return out


def _categories(c: _Checker, node: Node) -> tuple[Category, ...]:
    if not isinstance(node, MappingNode):
        c.add(node, f"expected a mapping of category id to category, got {_describe(node)}")
        return ()
    out: list[Category] = []
    for cat_id, cat_node, body in c.keyed(node):
        with c.at(cat_id):
            if not is_id(cat_id):
                c.add(cat_node, f"not a valid category id: {cat_id!r}")
                continue
            m = c.mapping(body, ("name",), ("packages",))
            if m is None:
                continue
            name = None
            if "name" in m:
                with c.at("name"):
                    name = _locale_string(c, m["name"])
            members: tuple[str, ...] = ()
            if "packages" in m:
                with c.at("packages"):
                    members = c.each(m["packages"], c.package_id)
        if name is not None:
            out.append(Category(id=cat_id, name=name, packages=members))
    return tuple(out)


def _locale_string(c: _Checker, node: Node) -> LocaleString | None:
    value: str | dict[str, str]
    if isinstance(node, MappingNode):
        value = {}
        for locale, text_node in c.pairs(node):
            with c.at(locale):
                text = c.string(text_node)
            if text is None:
                return None
            value[locale] = text
    else:
        text = c.string(node, "a string or a mapping of locale to string")
        if text is None:
            return None
        value = text
    try:
        return LocaleString.from_json(value)
    except S9regError as e:
        c.add(node, e.message)
        return None


def _packages(c: _Checker, node: Node) -> tuple[tuple[PackageSource, ...], IncompleteArches]:
    m = c.mapping(node, (), ("sources", "incomplete_arches"))
    policy = IncompleteArches.WARN
    if m is not None and "incomplete_arches" in m:
        with c.at("incomplete_arches"):
            text = c.string(m["incomplete_arches"])
            choices = [p.value for p in IncompleteArches]
            if text in choices:
                policy = IncompleteArches(text)
            elif text is not None:
                c.add(m["incomplete_arches"], f"expected one of {', '.join(choices)}")
    if m is None or "sources" not in m:
        return (), policy
    with c.at("sources"):
        return c.each(m["sources"], lambda n: _source(c, n)), policy


def _source(c: _Checker, node: Node) -> PackageSource | None:
    location = c.file_or_url(node)
    if location is None:
        return None
    if isinstance(location, str):
        return RemoteSource(url=location)
    return LocalSource(pattern=location)


def _os_release(c: _Checker, node: Node) -> OsRelease | None:
    m = c.mapping(
        node, ("version", "headline"), ("release_notes", "source_version", *OS_IMAGE_KINDS)
    )
    if m is None:
        return None
    version = None
    if "version" in m:
        with c.at("version"):
            text = c.string(m["version"], "a version")
            if text is not None:
                try:
                    version = Version.parse(text)
                except S9regError as e:
                    c.add(m["version"], e.message)
    headline = None
    if "headline" in m:
        with c.at("headline"):
            headline = c.nonempty(m["headline"])
    notes = ""
    if "release_notes" in m:
        with c.at("release_notes"):
            notes = c.string(m["release_notes"]) or ""
    source = VersionRange.any()
    if "source_version" in m:
        with c.at("source_version"):
            source = c.version_range(m["source_version"]) or source
    images: dict[str, dict[str, Path | str]] = {}
    for kind in OS_IMAGE_KINDS:
        images[kind] = {}
        if kind in m:
            with c.at(kind):
                images[kind] = _platform_map(c, m[kind])
    if version is None or headline is None:
        return None
    return OsRelease(
        version=version,
        headline=headline,
        release_notes=notes,
        source_version=source,
        iso=images["iso"],
        img=images["img"],
        squashfs=images["squashfs"],
    )


def _platform_map(c: _Checker, node: Node) -> dict[str, Path | str]:
    out: dict[str, Path | str] = {}
    if not isinstance(node, MappingNode):
        c.add(node, f"expected a mapping of platform to file or URL, got {_describe(node)}")
        return out
    for platform, platform_node, value in c.keyed(node):
        with c.at(platform):
            if _PLATFORM_RE.fullmatch(platform) is None:
                c.add(
                    platform_node, f"not a platform name: {platform!r} (e.g. x86_64, raspberrypi)"
                )
                continue
            location = c.file_or_url(value)
        if location is not None:
            out[platform] = location
    return out


def _storage(c: _Checker, node: Node) -> StorageSettings | None:
    text = c.string(node, "file:PATH or s3")
    if text is None:
        return None
    if text == "s3":
        return StorageSettings(kind="s3")
    if text.startswith("file:") and text[5:].strip():
        path = c.resolve(node, text[5:])
        return None if path is None else StorageSettings(kind="file", path=path)
    c.add(node, f"expected file:PATH or s3, got {text!r}")
    return None


_SERVE_NUMBERS = {
    # key: (minimum, integer only)
    "max_body": (1024, True),
    "client_timeout": (0.1, False),
    "refresh_interval": (1, False),
    "workers": (1, True),
    "max_connections": (1, True),
    "max_connections_per_client": (1, True),
}


def _serve_number(c: _Checker, node: Node, minimum: float, *, integer: bool) -> float | None:
    int_tag, float_tag = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
    kinds = (int_tag,) if integer else (int_tag, float_tag)
    what = "a whole number" if integer else "a number"
    if not (isinstance(node, ScalarNode) and node.tag in kinds):
        c.add(node, f"expected {what}, got {_describe(node)}")
        return None
    try:
        value = int(str(node.value).replace("_", "")) if integer else float(node.value)
    except ValueError:
        c.add(node, f"expected {what}, got {node.value!r}")
        return None
    if value < minimum:
        c.add(node, f"must be at least {minimum}")
        return None
    return value


def _serve_tls(c: _Checker, node: Node) -> dict[str, Path]:
    m = c.mapping(node, ("cert", "key"), ())
    if m is None:
        return {}
    out: dict[str, Path] = {}
    for key, field_name in (("cert", "tls_cert"), ("key", "tls_key")):
        if key not in m:
            continue  # reported as missing by the mapping check
        with c.at(key):
            path = c.path(m[key])
        if path is not None:
            out[field_name] = path
    return out


def _serve_site(c: _Checker, node: Node) -> str | None:
    site = c.nonempty(node, "a directory, s3://bucket/prefix or http(s) URL")
    if site is not None and not site.startswith(("s3://", "http://", "https://")):
        return str(c.resolve(node, site) or site)
    return site


def _serve_s3(c: _Checker, node: Node) -> S3Options | None:
    if _is_null(node):
        return None
    m = c.mapping(node, (), _S3_OPTION_KEYS)
    return None if m is None else _s3_options(c, m)


def _serve(c: _Checker, node: Node) -> ServeSettings | None:
    m = c.mapping(node, (), ("listen", "site", "s3", "hostnames", "tls", *_SERVE_NUMBERS))
    if m is None:
        return None
    values: dict[str, object] = {}
    if "listen" in m:
        with c.at("listen"):
            listen = c.listen(m["listen"])
        if listen is not None:
            values.update(host=listen[0], port=listen[1])
    if "site" in m:
        with c.at("site"):
            site = _serve_site(c, m["site"])
        if site is not None:
            values["site"] = site
    if "s3" in m:
        with c.at("s3"):
            values["s3"] = _serve_s3(c, m["s3"])
    if "hostnames" in m:
        with c.at("hostnames"):
            values["hostnames"] = c.each(m["hostnames"], c.nonempty)
    if "tls" in m:
        with c.at("tls"):
            values.update(_serve_tls(c, m["tls"]))
    for key, (minimum, integer) in _SERVE_NUMBERS.items():
        if key in m:
            with c.at(key):
                number = _serve_number(c, m[key], minimum, integer=integer)
            if number is not None:
                values[key] = int(number) if integer else number
    return ServeSettings(**values)  # type: ignore[arg-type]


_S3_OPTION_KEYS = ("endpoint_url", "region", "path_style", "checksum_mode")


def _s3_options(c: _Checker, m: Mapping[str, Node]) -> S3Options:
    """How to reach a bucket: the keys ``publish:`` and ``serve.s3:`` share."""
    endpoint = region = None
    path_style = False
    checksum: ChecksumMode | None = None
    if "endpoint_url" in m and not _is_null(m["endpoint_url"]):
        with c.at("endpoint_url"):
            endpoint = c.url(m["endpoint_url"])
    if "region" in m and not _is_null(m["region"]):
        with c.at("region"):
            region = c.nonempty(m["region"])
    if "path_style" in m:
        with c.at("path_style"):
            path_style = bool(c.boolean(m["path_style"]))
    if "checksum_mode" in m:
        with c.at("checksum_mode"):
            mode = c.string(m["checksum_mode"])
            if mode in CHECKSUM_MODES:
                checksum = "when_required" if mode == "when_required" else "when_supported"
            elif mode is not None:
                c.add(m["checksum_mode"], f"expected one of {', '.join(CHECKSUM_MODES)}")
    elif endpoint is not None:
        # boto3 1.36+ sends CRC checksums that many S3-compatible servers reject. (An endpoint
        # from the AWS chain gets the same setting from s9reg.s3.client.make_client.)
        checksum = "when_required"
    return S3Options(
        endpoint_url=endpoint, region=region, path_style=path_style, checksum_mode=checksum
    )


def _publish(c: _Checker, node: Node) -> PublishSettings | None:
    m = c.mapping(node, ("bucket",), ("prefix", *_S3_OPTION_KEYS))
    if m is None:
        return None
    with c.at("bucket"):
        bucket = c.nonempty(m["bucket"]) if "bucket" in m else None
    prefix = ""
    if "prefix" in m:
        with c.at("prefix"):
            prefix = (c.string(m["prefix"]) or "").strip("/")
    options = _s3_options(c, m)
    if bucket is None:
        return None
    try:
        return S3Location.at(bucket, prefix, options)
    except ConfigError as e:
        with c.at("bucket"):
            c.add(m["bucket"], e.message)
        return None


_CACHE_KEYS = (
    "data_dir",
    "listen",
    "api_listen",
    "upstreams",
    "images",
    "upload_purging",
    "s3",
    "recheck_seconds",
    "public_host",
    "api_token",
)
_CACHE_UPSTREAM_KEYS = ("url", "listen", "writer_port", "username", "password")


def _image_cache(c: _Checker, node: Node) -> ImageCacheSettings | None:
    m = c.mapping(node, (), _CACHE_KEYS)
    if m is None:
        return None
    out: dict[str, object] = {"data_dir": c.base / ".s9reg-image-cache"}
    if "data_dir" in m:
        with c.at("data_dir"):
            out["data_dir"] = c.path(m["data_dir"]) or out["data_dir"]
    for key, fields in (("listen", ("host", "port")), ("api_listen", ("api_host", "api_port"))):
        if key in m:
            with c.at(key):
                listen = c.listen(m[key])
            if listen is not None:
                out.update(zip(fields, listen, strict=True))
    upstreams = _DEFAULT_CACHE_UPSTREAMS
    if "upstreams" in m:
        with c.at("upstreams"):
            upstreams = _cache_upstreams(c, m["upstreams"])
        out["upstreams"] = upstreams
    if "images" in m:
        with c.at("images"):
            out["images"] = c.each(m["images"], lambda n: _cache_image(c, n, upstreams))
    if "upload_purging" in m:
        with c.at("upload_purging"):
            out["upload_purging"] = _cache_purging(c, m["upload_purging"])
    if "s3" in m:
        with c.at("s3"):
            out["s3"] = _cache_s3(c, m["s3"])
    out.update(_cache_scalars(c, m))
    return ImageCacheSettings(**out)  # type: ignore[arg-type]


def _cache_scalars(c: _Checker, m: Mapping[str, Node]) -> dict[str, object]:
    out: dict[str, object] = {}
    if "recheck_seconds" in m:
        with c.at("recheck_seconds"):
            out["recheck_seconds"] = _cache_int(c, m["recheck_seconds"], 1, 86400) or 30
    if "public_host" in m:
        with c.at("public_host"):
            out["public_host"] = c.nonempty(m["public_host"]) or "localhost"
    if "api_token" in m:
        with c.at("api_token"):
            out["api_token"] = _secret(c, m["api_token"])
    return out


def _cache_int(c: _Checker, node: Node, low: int, high: int) -> int | None:
    if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:int":
        try:
            value = int(str(node.value).replace("_", ""), 0)
        except ValueError:
            value = low - 1
        if low <= value <= high:
            return value
    c.add(node, f"expected a whole number from {low} to {high}, got {_describe(node)}")
    return None


def _cache_name_of(url: str) -> str:
    host = urlsplit(url).netloc.lower()
    return "docker.io" if host in ("registry-1.docker.io", "index.docker.io") else host


def _cache_upstreams(c: _Checker, node: Node) -> tuple[CacheUpstream, ...]:
    out: list[CacheUpstream] = []
    if isinstance(node, SequenceNode):  # short form: a list of URLs
        out.extend(CacheUpstream(name=_cache_name_of(u), url=u) for u in c.each(node, c.url))
    elif isinstance(node, MappingNode):
        for name, key_node, body in c.keyed(node):
            with c.at(name):
                if not re.fullmatch(r"[a-z0-9.-]+(?::\d{1,5})?", name):
                    c.add(key_node, f"not a registry host name: {name!r} (e.g. docker.io)")
                    continue
                upstream = _cache_upstream(c, name, body)
            if upstream is not None:
                out.append(upstream)
    else:
        c.add(node, f"expected a mapping of registry name to URL, got {_describe(node)}")
    return tuple(out)


def _cache_upstream(c: _Checker, name: str, node: Node) -> CacheUpstream | None:
    if not isinstance(node, MappingNode):
        url = c.url(node)
        return None if url is None else CacheUpstream(name=name, url=url)
    m = c.mapping(node, ("url",), _CACHE_UPSTREAM_KEYS[1:])
    if m is None or "url" not in m:
        return None
    with c.at("url"):
        url = c.url(m["url"])
    fields: dict[str, object] = {}
    if "listen" in m:
        with c.at("listen"):
            fields["listen"] = c.listen(m["listen"])
    if "writer_port" in m:
        with c.at("writer_port"):
            fields["writer_port"] = _cache_int(c, m["writer_port"], 1, 65535)
    if "username" in m:
        with c.at("username"):
            fields["username"] = c.nonempty(m["username"])
    if "password" in m:
        with c.at("password"):
            ref = c.string(m["password"], "env:NAME")
            if ref is not None and not (ref.startswith("env:") and _ENV_NAME_RE.fullmatch(ref[4:])):
                c.add(m["password"], "write env:NAME (passwords are never kept in the file)")
                ref = None
            fields["password"] = ref
    if url is None:
        return None
    return CacheUpstream(name=name, url=url, **fields)  # type: ignore[arg-type]


def _cache_image(c: _Checker, node: Node, upstreams: tuple[CacheUpstream, ...]) -> str | None:
    digest = None
    if isinstance(node, MappingNode):
        m = c.mapping(node, ("image",), ("digest",))
        if m is None or "image" not in m:
            return None
        with c.at("image"):
            text = c.nonempty(m["image"], "an image reference")
        if "digest" in m:
            with c.at("digest"):
                digest = c.nonempty(m["digest"], "a sha256: digest")
        node = m["image"]
    else:
        text = c.nonempty(node, "an image reference")
    if text is None:
        return None
    full = f"{text}@{digest}" if digest is not None and "@" not in text else text
    try:
        ref = ImageRef.parse(full)
    except S9regError as e:
        c.add(node, e.message)
        return None
    if ref.tag is None:
        c.add(node, f"{text}: curated images need a tag (e.g. {ref.name}:1.0)")
        return None
    if ref.registry not in {u.name for u in upstreams}:
        c.add(node, f"{text}: registry {ref.registry} is not one of the upstreams")
        return None
    return full


def _cache_purging(c: _Checker, node: Node) -> UploadPurging | None:
    if isinstance(node, ScalarNode) and node.tag == _TAG_BOOL:
        enabled = c.boolean(node)
        return None if enabled is None else UploadPurging(enabled=enabled)
    m = c.mapping(node, (), ("enabled", "age_hours", "interval_hours"))
    if m is None:
        return None
    fields: dict[str, object] = {}
    if "enabled" in m:
        with c.at("enabled"):
            fields["enabled"] = c.boolean(m["enabled"])
    for key in ("age_hours", "interval_hours"):
        if key in m:
            with c.at(key):
                fields[key] = _cache_int(c, m[key], 1, 24 * 365)
    if any(v is None for v in fields.values()):
        return None
    return UploadPurging(**fields)  # type: ignore[arg-type]


def _cache_s3(c: _Checker, node: Node) -> S3Storage | None:
    m = c.mapping(node, ("bucket",), ("region", "endpoint_url", "root"))
    if m is None or "bucket" not in m:
        return None
    with c.at("bucket"):
        bucket = c.nonempty(m["bucket"])
    fields: dict[str, object] = {}
    if "region" in m:
        with c.at("region"):
            fields["region"] = c.nonempty(m["region"])
    if "endpoint_url" in m:
        with c.at("endpoint_url"):
            fields["endpoint_url"] = c.url(m["endpoint_url"])
    if "root" in m:
        with c.at("root"):
            root = c.nonempty(m["root"])
            fields["root"] = None if root is None else "/" + root.strip("/")
    if bucket is None or any(v is None for v in fields.values()):
        return None
    return S3Storage(bucket=bucket, **fields)  # type: ignore[arg-type]


# --- assembling the settings of each capability --------------------------------------------------


def signer_guid(signer: Signer) -> Guid:
    """The stable Guid of a configured signer (derived from its name, so rebuilds agree)."""
    return Guid.generate(seed=signer.name.encode())


def _icon_data_url(icon: Path | str | None) -> str | None:
    if icon is None or isinstance(icon, str):
        return icon
    ext = file_extension(icon.name)
    mime_type = mime(ext) if ext is not None else None
    if mime_type is None or not mime_type.startswith("image/"):
        msg = f"{icon}: registry icon must be an image (png, svg, webp, …)"
        raise ConfigError(msg)
    try:
        return data_url(mime_type, icon.read_bytes())
    except OSError as e:
        msg = f"{icon}: cannot read registry icon: {e.strerror}"
        raise ConfigError(msg) from None


def _expand_sources(cfg: SiteConfig) -> tuple[Path, ...]:
    found: dict[Path, None] = {}
    for source in cfg.sources:
        if isinstance(source, RemoteSource):
            continue
        pattern = source.pattern
        if pattern.is_dir():
            matches = sorted(pattern.glob("*.s9pk"))
        elif any(ch in str(pattern) for ch in "*?["):
            anchor = Path(pattern.anchor)
            matches = sorted(anchor.glob(str(pattern.relative_to(anchor))))
        else:
            matches = [pattern]
        for path in matches:
            found.setdefault(path, None)
    return tuple(found)


def build_settings(
    cfg: SiteConfig,
    *,
    output: Path | None = None,
    skip_invalid: bool = False,
    use_cache: bool = True,
    environ: Mapping[str, str] | None = None,
) -> BuildSettings:
    """Assemble what ``s9reg build`` needs from a loaded configuration.

    Resolves the registry key reference, expands package sources, turns the icon into a data
    URL and gives each signer its stable Guid. ``SOURCE_DATE_EPOCH`` is read from ``environ``.
    The verification cache lives in ``.s9reg-cache/`` beside the configuration file.

    Raises:
        ConfigError: a secret, icon or source cannot be resolved, or a feature is not available.
    """
    env = os.environ if environ is None else environ
    guids = {s.name: signer_guid(s) for s in cfg.signers}
    signers = {
        guids[s.name]: SignerInfo(
            name=s.name,
            contact=tuple(ContactInfo(c.kind, c.value) for c in s.contacts),
            keys=tuple(k.to_pem() for k in s.keys),
        )
        for s in cfg.signers
    }
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.isdigit():
        msg = f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {epoch!r}"
        raise ConfigError(msg)
    key = cfg.registry.signing_key
    return BuildSettings(
        name=cfg.registry.name,
        icon=_icon_data_url(cfg.registry.icon),
        api_url=cfg.registry.url,
        file_urls=(*cfg.registry.file_urls, *cfg.registry.mirrors),
        signers=signers,
        admins=frozenset(guids[s.name] for s in cfg.signers if s.admin),
        authorized={
            pkg: {guids[name]: rng for name, rng in by_signer.items()}
            for pkg, by_signer in cfg.authorized.items()
        },
        categories=tuple(
            CategorySettings(id=c.id, name=c.name, packages=c.packages) for c in cfg.categories
        ),
        sources=_expand_sources(cfg),
        registry_key=key.resolve(env) if key is not None else None,
        output=output or cfg.output,
        source_date_epoch=int(epoch) if epoch is not None else None,
        skip_invalid=skip_invalid,
        incomplete_arches=cfg.incomplete_arches,
        cache_dir=cfg.path.parent / CACHE_DIR if use_cache else None,
        language=cfg.catalogue.language,
        template_dir=cfg.catalogue.template_dir,
        remote_sources=tuple(s.url for s in cfg.sources if isinstance(s, RemoteSource)),
        os_releases=tuple(
            OsReleaseSettings(
                version=r.version,
                headline=r.headline,
                release_notes=r.release_notes,
                source_version=r.source_version,
                images={
                    kind: dict(images)
                    for kind, images in (("iso", r.iso), ("img", r.img), ("squashfs", r.squashfs))
                    if images
                },
            )
            for r in cfg.os_releases
        ),
    )


def publish_settings(  # noqa: PLR0913 - one keyword per CLI option
    cfg: SiteConfig,
    *,
    site: Path | None = None,
    target_dir: Path | None = None,
    jobs: int = publishing.DEFAULT_JOBS,
    max_delete: int = publishing.DEFAULT_MAX_DELETE,
    keep_generations: int = publishing.DEFAULT_KEEP_GENERATIONS,
    grace_seconds: int = publishing.DEFAULT_GRACE_SECONDS,
    break_lock: bool = False,
    dry_run: bool = False,
) -> publishing.PublishSettings:
    """Assemble what ``s9reg publish`` needs from a loaded configuration.

    The target is ``storage:`` (``file:PATH`` or ``s3``); a ``publish:`` section alone means
    ``s3``. The other arguments are the :class:`s9reg.publish.PublishSettings` fields of the
    same names, set by the CLI.

    Args:
        cfg: the loaded configuration.
        site: the built site (default: ``output``).
        target_dir: publish into this directory instead of the configured storage.
        jobs: parallel transfers.
        max_delete: deletion cap of one publish.
        keep_generations: generations whose objects are kept.
        grace_seconds: how long objects of retired generations are kept.
        break_lock: take over a live-looking lease.
        dry_run: plan only.

    Raises:
        ConfigError: no target is configured, or a limit is out of range.
    """
    target: S3Settings | publishing.DirSettings
    storage = cfg.storage
    if target_dir is not None:
        target = publishing.DirSettings(path=target_dir)
    elif storage is not None and storage.kind == "file" and storage.path is not None:
        target = publishing.DirSettings(path=storage.path)
    elif cfg.publish is not None:
        target = cfg.publish
    else:
        msg = f"{cfg.path}: nothing to publish to: set storage (file:PATH or s3)"
        raise ConfigError(msg, hint="add 'storage: file:public' or a 'publish:' section")
    return publishing.PublishSettings(
        site=site or cfg.output,
        target=target,
        jobs=jobs,
        max_delete=max_delete,
        keep_generations=keep_generations,
        grace_seconds=grace_seconds,
        break_lock=break_lock,
        dry_run=dry_run,
    )


def serve_settings(
    cfg: SiteConfig | None,
    *,
    site: str | None = None,
    listen: tuple[str, int] | None = None,
    workers: int | None = None,
    tls: tuple[Path, Path] | None = None,
) -> ServeSettings:
    """Assemble what ``s9reg serve`` needs: the ``serve:`` section plus command-line overrides.

    The site defaults to ``serve.site``, else the configuration's ``output`` directory. An
    ``s3://`` site is reached as ``serve.s3`` says, else as the ``publish:`` target says when
    its bucket is the same, else through the AWS chain alone.

    Args:
        cfg: the loaded configuration, or None to use the defaults.
        site: ``--site`` (a directory, ``s3://bucket/prefix`` or an ``http(s)`` URL).
        listen: ``--listen`` host and port.
        workers: ``--workers``.
        tls: ``--tls-cert`` and ``--tls-key``.

    Raises:
        ConfigError: no site is given and there is no configuration to take ``output`` from.
    """
    base = cfg.serve if cfg is not None else ServeSettings()
    chosen = site or base.site or (str(cfg.output) if cfg is not None else None)
    if chosen is None:
        raise ConfigError("no site to serve", hint="pass --site or --config")
    host, port = listen if listen is not None else (base.host, base.port)
    count = base.workers if workers is None else workers
    cert, key = tls if tls is not None else (base.tls_cert, base.tls_key)
    s3 = base.s3
    publish = cfg.publish if cfg is not None else None
    if (
        s3 is None
        and publish is not None
        and chosen.startswith("s3://")
        and chosen[5:].partition("/")[0] == publish.bucket
    ):
        s3 = publish.options
    return replace(
        base, site=chosen, s3=s3, host=host, port=port, workers=count, tls_cert=cert, tls_key=key
    )


def _cache_credential(reference: str | None, environ: Mapping[str, str], what: str) -> str | None:
    if reference is None or not reference.startswith("env:"):
        return reference
    name = reference[4:]
    value = environ.get(name)
    if value is None:
        raise ConfigError(
            f"image_cache: {what}: environment variable {name} is not set",
            hint=f"export {name}, or remove the credentials of that upstream",
        )
    return value


def cache_settings(
    cfg: SiteConfig | None, *, environ: Mapping[str, str] | None = None
) -> CacheSettings:
    """Assemble what ``s9reg cache`` needs from the ``image_cache:`` section.

    Upstream ports not given are the ``listen`` port plus the upstream's position; writer
    ports default to the instance's port plus 100. Credentials are read from ``environ``.

    Args:
        cfg: the loaded configuration; None (or no section) gives the defaults, with the data
            directory ``.s9reg-image-cache`` in the current directory.
        environ: environment for ``env:`` credentials; defaults to ``os.environ``.

    Raises:
        ConfigError: a credential variable is unset, or the settings contradict each other
            (for example two instances on one port).
    """
    env = os.environ if environ is None else environ
    section = cfg.image_cache if cfg is not None else None
    if section is None:
        base = cfg.path.parent if cfg is not None else Path.cwd()
        section = ImageCacheSettings(data_dir=base / ".s9reg-image-cache")
    upstreams = []
    for i, u in enumerate(section.upstreams):
        host, port = u.listen if u.listen is not None else (section.host, section.port + i)
        upstreams.append(
            Upstream(
                name=u.name,
                url=u.url,
                host=host,
                port=port,
                writer_port=u.writer_port if u.writer_port is not None else port + 100,
                username=_cache_credential(u.username, env, f"{u.name} username"),
                password=_cache_credential(u.password, env, f"{u.name} password"),
            )
        )
    try:
        images = tuple(ImageRef.parse(text) for text in section.images)
    except S9regError as e:
        raise ConfigError(f"image_cache.images: {e.message}") from None
    return CacheSettings(
        data_dir=section.data_dir,
        upstreams=tuple(upstreams),
        images=images,
        api_host=section.api_host,
        api_port=section.api_port,
        upload_purging=section.upload_purging,
        s3=section.s3,
        recheck_seconds=float(section.recheck_seconds),
        public_host=section.public_host,
        api_token=_api_token(section.api_token, env),
    )


def _api_token(ref: SecretRef | None, env: Mapping[str, str]) -> str | None:
    if ref is None:
        return None
    token = ref.read(env, what="the management API token").strip()
    if len(token) < 16 or any(ch.isspace() for ch in token):
        raise ConfigError(
            f"image_cache.api_token ({ref.reference}): the token must be at least 16 "
            "characters, without spaces",
            hint="for example: python3 -c 'import secrets; print(secrets.token_urlsafe())'",
        )
    return token
