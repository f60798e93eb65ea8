"""The validating walk over YAML nodes: breadcrumbs, shapes and scalar checks.

:class:`Checker` collects every problem as ``file:line: key.path: problem`` (cfgv-style
breadcrumbs) instead of stopping at the first one. It knows value kinds (URLs, paths, version
ranges, secret references), not the sections that use them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from s9reg.config.secrets import SecretRef
from s9reg.errors import S9regError
from s9reg.exver import VersionRange
from s9reg.s9pk.manifest import is_id

__all__ = ["Checker", "describe", "is_null"]

TAG_STR = "tag:yaml.org,2002:str"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_NULL = "tag:yaml.org,2002:null"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"
_YAML_TYPE_NAMES = {
    TAG_INT: "a number",
    TAG_FLOAT: "a number",
    TAG_BOOL: "a boolean",
    TAG_NULL: "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# RFC 3986: what a URL may hold unescaped (anything else must be percent-encoded).
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

_LISTEN_RE = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>[0-9]{1,5})"
)

T = TypeVar("T")
_Key = str | int


class Checker:
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
            self.add(node, f"expected a mapping, got {describe(node)}")
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
            if not (isinstance(key_node, ScalarNode) and key_node.tag == TAG_STR):
                self.add(key_node, f"keys must be strings, got {describe(key_node)}")
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
        self.add(node, f"expected a list, got {describe(node)}")
        return []

    def each(self, node: Node, parse: Callable[[Node], T | None]) -> tuple[T, ...]:
        out: list[T] = []
        for i, item in enumerate(self.sequence(node)):
            with self.at(i):
                value = parse(item)
            if value is not None:
                out.append(value)
        return tuple(out)

    # --- scalars --------------------------------------------------------------------------

    def string(self, node: Node, what: str = "a string") -> str | None:
        if isinstance(node, ScalarNode) and node.tag == TAG_STR:
            return str(node.value)
        if isinstance(node, ScalarNode) and node.tag in _YAML_TYPE_NAMES and node.tag != TAG_NULL:
            self.add(
                node,
                f"expected {what}, got {describe(node)}; "
                f'quote it to keep it as text: "{node.value}"',
            )
        else:
            self.add(node, f"expected {what}, got {describe(node)}")
        return None

    def nonempty(self, node: Node, what: str = "a non-empty string") -> str | None:
        text = self.string(node, what)
        if text is not None and not text.strip():
            self.add(node, f"expected {what}, got an empty string")
            return None
        return text

    def boolean(self, node: Node) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == TAG_BOOL:
            if node.value in ("true", "false"):
                return bool(node.value == "true")
            self.add(node, f"write true or false, not {node.value!r}")
            return None
        self.add(node, f"expected true or false, got {describe(node)}")
        return None

    def url(
        self,
        node: Node,
        schemes: tuple[str, ...] = ("http", "https"),
        *,
        published: bool = False,
        base: bool = False,
    ) -> str | None:
        """An absolute URL of ``schemes``, written only with characters a URL may hold.

        ``published``: devices are given it, so it must not carry ``user:password@``.
        ``base``: paths are appended to it, so it has no query or fragment either.
        """
        text = self.string(node, "a URL")
        if text is None:
            return None
        problem = _url_problem(text, schemes, published=published, base=base)
        if problem is not None:
            self.add(node, problem)
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
            return self.url(node, published=True)
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

    def secret(self, node: Node) -> SecretRef | None:
        """An ``env:NAME`` or ``file:PATH`` reference; a key written inline is refused."""
        text = self.string(node, "env:NAME or file:PATH")
        if text is None:
            return None
        if "-----BEGIN" in text or "PRIVATE KEY" in text:
            self.add(
                node,
                "a key must not be written into the config; move it to a file or an environment "
                "variable and write file:PATH or env:NAME",
            )
            return None
        scheme, sep, rest = text.partition(":")
        if sep and scheme == "env":
            if ENV_NAME_RE.fullmatch(rest) is None:
                self.add(node, f"env: needs a variable name, got {rest!r}")
                return None
            return SecretRef(scheme="env", name=rest)
        if sep and scheme == "file" and rest.strip():
            path = self.resolve(node, rest)
            return None if path is None else SecretRef(scheme="file", name=rest, path=path)
        self.add(node, "expected env:NAME or file:PATH")
        return None


def describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == TAG_STR:
        return f"the string {str(node.value)[:40]!r}"
    name = _YAML_TYPE_NAMES.get(node.tag)
    if name is None:
        return f"a value tagged {node.tag}"
    return name if node.tag == TAG_NULL else f"{name} ({node.value})"


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == TAG_NULL


def _url_problem(text: str, schemes: tuple[str, ...], *, published: bool, base: bool) -> str | None:
    """What is wrong with ``text`` as a URL of ``Checker.url``, or None."""
    bad = _URL_CHARS.sub("", text)
    if bad or _BAD_ESCAPE.search(text):
        what = f"character {bad[0]!r}" if bad else "% escape"
        return f"not a valid URL: invalid {what} (percent-encode it)"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as e:
        return f"not a valid URL: {e}"
    if parts.scheme.lower() not in schemes or not parts.hostname:
        return f"expected an absolute {'/'.join(schemes)} URL, got {text!r}"
    return _published_url_problem(
        text, parts.netloc, parts.hostname, published=published, base=base
    )


def _published_url_problem(
    text: str, netloc: str, hostname: str, *, published: bool, base: bool
) -> str | None:
    """What a URL given to devices, or extended with paths (``base``), must not have."""
    kind = "a base URL" if base else "a published URL"
    if (published or base) and "@" in netloc:
        # Every device would be given the credentials: never echo them.
        return f"{kind} must not have user info (…@{hostname})"
    if not base:
        return None
    parts = urlsplit(text)
    if parts.query or text.endswith("?"):
        return f"a base URL must not have a query (?{parts.query})"
    if parts.fragment or text.endswith("#"):
        return f"a base URL must not have a fragment (#{parts.fragment})"
    return None
