"""Editing ``site-config.yaml`` in place: comments, key order, quoting and layout kept.

An :class:`EditSession` reads the file with ruamel.yaml's round-trip loader, changes nodes by
key path, and on :meth:`~EditSession.commit` validates the whole new text with the same loader
as every command (:func:`s9reg.config.loads`) before it atomically replaces the file (temp file
in the same directory, its mode kept, ``os.replace``). On any error the file is left as it
was. What the edits mean (who may be an admin, which scopes exist) is the caller's business.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)
from ruamel.yaml.tokens import CommentToken

from s9reg.config._load import loads
from s9reg.config._yaml import compose, is_plain_string, read_text
from s9reg.config.schema import SiteConfig
from s9reg.errors import ConfigError

__all__ = ["EditSession", "KeyPath", "Quoted", "edit"]

KeyPath = tuple[str | int, ...]
_Container = CommentedMap | CommentedSeq

# Indentation styles tried, in order, to re-emit a file exactly: (mapping, sequence, offset).
# The first is the project's own (``- `` indented under its key).
_LAYOUTS: Final = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (3, 3, 0))
# Comment slots of ruamel's containers: after a mapping value, after a sequence item.
_MAP_POST, _SEQ_POST = 2, 0


def _yaml(layout: tuple[int, int, int]) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 1 << 30  # never wrap long lines (a data: URL icon is one long line)
    y.indent(mapping=layout[0], sequence=layout[1], offset=layout[2])
    y.brace_single_entry_mapping_in_flow_sequence = True  # keep [{matrix: …}] as written
    y.allow_duplicate_keys = False
    return y


def _dump(y: YAML, doc: object) -> str:
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out or "(the document)"


class EditSession:
    """One read-modify-validate-replace cycle on a config file.

    Paths are tuples of mapping keys and list indices, e.g. ``("signers", 0, "keys")``. Values
    are plain Python (``str``, ``int``, ``bool``, ``None``, lists, mappings); a string that
    YAML would read as something else (``yes``, ``1.0``, ``>=1``) is quoted, a multi-line one
    (a PEM key) is written as a ``|`` block.

    Use :func:`edit` (a context manager that commits on success), or :meth:`open` and
    :meth:`commit`.
    """

    def __init__(self, path: Path, display: str, original: bytes, text: str) -> None:
        """Parse ``text``; use :meth:`open` instead.

        Raises:
            ConfigError: the text is not YAML, or re-emitting it would change its layout.
        """
        self.path = path
        self._display = display
        self._original = original
        self._yaml: YAML | None = None
        self._doc: object = None
        compose(text, display)  # YAML errors worded and placed as every command reports them
        for layout in _LAYOUTS:
            y = _yaml(layout)
            try:
                doc = y.load(text)
            except MarkedYAMLError as e:  # what PyYAML lets through: duplicate keys
                line = e.problem_mark.line + 1 if e.problem_mark is not None else 1
                problem = str(e.problem or e.context or "invalid YAML").splitlines()[0]
                raise ConfigError(f"{display}:{line}: invalid YAML: {problem}") from None
            except YAMLError as e:
                raise ConfigError(f"{display}: invalid YAML: {e}".splitlines()[0]) from None
            if _dump(y, doc) == text:
                self._yaml, self._doc = y, doc
                break
        if self._yaml is None:
            raise ConfigError(
                f"{display}: cannot edit in place: writing it back would change its layout",
                hint="indent it consistently (2 spaces, lists under their key), then retry",
            )
        if not isinstance(self._doc, CommentedMap):
            raise ConfigError(f"{display}: expected a mapping at the top of the config")

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> EditSession:
        """Read ``path`` for editing.

        Raises:
            ConfigError: the file cannot be read, is not YAML, or cannot be re-emitted
                byte-for-byte (then no edit is attempted).
        """
        data, text = read_text(path)
        return cls(Path(path), os.fspath(path), data, text)

    # --- reading ------------------------------------------------------------------------------

    def get(self, path: KeyPath) -> object:
        """The value at ``path``, as plain Python (dicts, lists, scalars).

        Raises:
            ConfigError: there is nothing at ``path``.
        """
        return _plain(self._node(path))

    def has(self, path: KeyPath) -> bool:
        """Whether ``path`` names an existing node."""
        try:
            self._node(path)
        except ConfigError:
            return False
        return True

    def text(self) -> str:
        """The document as it would be written now."""
        assert self._yaml is not None  # noqa: S101 - set in __init__ or it raised
        return _dump(self._yaml, self._doc)

    # --- changing -----------------------------------------------------------------------------

    def set(self, path: KeyPath, value: object) -> None:
        """Set the value at ``path``; a missing last key is added at the end of its mapping.

        Missing mappings on the way are created. The key's own comment stays.

        Raises:
            ConfigError: ``path`` is empty, goes through a scalar, or indexes past a list.
        """
        for n in range(1, len(path)):
            if not self.has(path[:n]) and all(isinstance(k, str) for k in path[n:]):
                # Add the missing part whole (``{a: {b: value}}``): an empty mapping made first
                # would keep the comment lines that follow it between its key and its items.
                nested = value
                for k in reversed(path[n:]):
                    nested = {k: nested}
                self.set(path[:n], nested)
                return
        parent, key = self._parent(path, create=True)
        new = _to_yaml(value, flow=_is_flow(parent))
        if isinstance(parent, CommentedMap) and isinstance(key, str) and key not in parent:
            self._add(parent, key, new)
            return
        if isinstance(parent, CommentedSeq) and not (
            isinstance(key, int) and -len(parent) <= key < len(parent)
        ):
            raise ConfigError(f"{self._display}: {_dotted(path)}: no such list item")
        old = parent[key]
        if isinstance(old, _QUOTED) and isinstance(value, str) and "\n" not in value:
            new = type(old)(value)  # keep the quotes the operator chose
        tail = _take_tail(parent, key)
        parent[key] = new
        _put_tail(parent, key, tail)

    def append(self, path: KeyPath, value: object) -> None:
        """Append ``value`` to the list at ``path`` (a missing list is created).

        Raises:
            ConfigError: the node at ``path`` is not a list.
        """
        if not self.has(path):
            self.set(path, [value])
            return
        seq = self._node(path)
        if not isinstance(seq, CommentedSeq):
            raise ConfigError(f"{self._display}: {_dotted(path)}: not a list")
        new = _to_yaml(value, flow=_is_flow(seq))
        if len(seq) > 0 or not path:
            self._add(seq, len(seq), new)
            return
        # An empty ``[]`` grows into block lines: the comment lines after its key go after
        # the new item, not between the key and it.
        parent, key = self._parent(path, create=False)
        tail = _take_tail(parent, key)
        self._add(seq, 0, new)
        _put_tail(parent, key, tail)

    def remove(self, path: KeyPath) -> None:
        """Remove the key or list item at ``path`` (with its end-of-line comment).

        Comment lines and blank lines after it are kept.

        Raises:
            ConfigError: there is nothing at ``path``.
        """
        parent, key = self._parent(path, create=False)
        self._node(path)  # raises if absent
        keys = list(parent) if isinstance(parent, CommentedMap) else list(range(len(parent)))
        index = keys.index(key if not isinstance(key, int) or key >= 0 else len(parent) + key)
        tail = _take_tail(parent, keys[index])
        _forget_comments(parent, keys[index])
        del parent[keys[index]]
        if index > 0:
            previous = keys[index - 1]
            _put_tail(parent, previous, _take_tail(parent, previous) + tail)
        elif len(parent) > 0:
            first = next(iter(parent)) if isinstance(parent, CommentedMap) else 0
            _put_before(parent, first, tail)
        else:
            parent.fa.set_flow_style()  # written as [] or {} after its key, before its comment
            if tail and len(path) > 1:
                grand, parent_key = self._parent(path[:-1], create=False)
                _put_tail(grand, parent_key, _take_tail(grand, parent_key) + tail)

    def rename(self, path: KeyPath, new_key: str) -> None:
        """Rename the mapping key at ``path`` in place: position, value and comments kept.

        Raises:
            ConfigError: there is nothing at ``path``, it is a list item, or ``new_key`` is
                already a key of that mapping.
        """
        parent, key = self._parent(path, create=False)
        self._node(path)  # raises if absent
        if not isinstance(parent, CommentedMap) or not isinstance(key, str):
            raise ConfigError(f"{self._display}: {_dotted(path)}: not a mapping key")
        if new_key == key:
            return
        if new_key in parent:
            raise ConfigError(f"{self._display}: {_dotted([*path[:-1], new_key])}: already exists")
        keys = list(parent)
        index = keys.index(key)
        comments = parent.ca.items.pop(key, None)
        value = parent.pop(key)
        parent.insert(index, _key(new_key, flow=_is_flow(parent)), value)
        if comments is not None:
            parent.ca.items[new_key] = comments

    # --- writing ------------------------------------------------------------------------------

    def commit(self) -> SiteConfig:
        """Validate the new text and atomically replace the file with it.

        Returns:
            The configuration the new text loads as.

        Raises:
            ConfigError: the new text breaks the schema (the message names the first problem
                and says the file was not changed), the file changed since it was read, or
                it cannot be written. In every case the file is as it was.
        """
        text = self.text()
        try:
            cfg = loads(text, path=self.path, display=self._display)
        except ConfigError as e:
            raise ConfigError(
                e.message, hint=f"{self._display} was not changed", details=e.details
            ) from None
        data = text.encode("utf-8")
        if data != self._original:
            self._replace(data)
        return cfg

    def _replace(self, data: bytes) -> None:
        target = self.path.resolve()  # through a symlink: the link stays a link
        try:
            current = target.read_bytes()
            mode = stat.S_IMODE(target.stat().st_mode)
        except OSError as e:
            raise ConfigError(f"{self._display}: cannot read the config: {e}") from e
        # A writer between this check and the replace below would still be lost; the window
        # is one read, and the commands that edit are run by hand.
        if current != self._original:
            raise ConfigError(
                f"{self._display}: changed on disk since it was read; nothing was written",
                hint="run the command again",
            )
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            Path(tmp).chmod(mode)
            Path(tmp).replace(target)
        except OSError as e:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise ConfigError(f"{self._display}: cannot write the config: {e}") from e
        self._original = data

    # --- navigation ---------------------------------------------------------------------------

    def _node(self, path: KeyPath) -> object:
        node = self._doc
        for i, key in enumerate(path):
            node = _child(node, key)
            if node is _MISSING:
                raise ConfigError(f"{self._display}: {_dotted(path[: i + 1])}: no such key")
        return node

    def _parent(self, path: KeyPath, *, create: bool) -> tuple[_Container, str | int]:
        if not path:
            raise ConfigError(f"{self._display}: an empty key path names the whole document")
        node = self._doc
        for i, key in enumerate(path[:-1]):
            child = _child(node, key)
            if child is _MISSING and create and isinstance(node, CommentedMap):
                child = CommentedMap()
                self._add(node, str(key), child)
            if not isinstance(child, CommentedMap | CommentedSeq):
                what = "no such key" if child is _MISSING else "not a mapping or list"
                raise ConfigError(f"{self._display}: {_dotted(path[: i + 1])}: {what}")
            node = child
        assert isinstance(node, CommentedMap | CommentedSeq)  # noqa: S101 - the doc is a map
        key = path[-1]
        if isinstance(node, CommentedMap) != isinstance(key, str):
            kind = "mapping" if isinstance(node, CommentedMap) else "list"
            raise ConfigError(f"{self._display}: {_dotted(path)}: the parent is a {kind}")
        return node, key

    @staticmethod
    def _add(parent: _Container, key: str | int, value: object) -> None:
        """Add at the end of ``parent``; lines after the old last item follow the new one."""
        last: str | int | None = None
        if len(parent) > 0 and not _is_flow(parent):
            last = next(reversed(parent)) if isinstance(parent, CommentedMap) else len(parent) - 1
        tail = _take_tail(parent, last) if last is not None else ""
        if len(parent) == 0:
            parent.fa.set_block_style()  # an empty [] or {} grows into block lines
        if isinstance(parent, CommentedMap):
            parent[_key(str(key), flow=_is_flow(parent))] = value
        else:
            parent.append(value)
        new = key if isinstance(parent, CommentedMap) else len(parent) - 1
        _put_tail(parent, new, tail)


_MISSING: Final = object()


def _child(node: object, key: str | int) -> object:
    if isinstance(node, CommentedMap) and isinstance(key, str):
        return node.get(key, _MISSING)
    if isinstance(node, CommentedSeq) and isinstance(key, int) and -len(node) <= key < len(node):
        return node[key]
    return _MISSING


def _is_flow(node: object) -> bool:
    return isinstance(node, CommentedBase) and bool(node.fa.flow_style())


def _slot(parent: _Container) -> int:
    return _MAP_POST if isinstance(parent, CommentedMap) else _SEQ_POST


def _holder(parent: _Container, key: str | int) -> tuple[_Container, str | int]:
    """The container and key whose comment slot holds the lines after ``parent[key]``.

    That is the deepest last item of a block collection: ruamel attaches trailing lines there.
    """
    value = parent[key]
    while isinstance(value, CommentedMap | CommentedSeq) and len(value) > 0 and not _is_flow(value):
        parent = value
        key = next(reversed(value)) if isinstance(value, CommentedMap) else len(value) - 1
        value = parent[key]
    return parent, key


def _take_tail(parent: _Container, key: str | int) -> str:
    """Remove and return the lines after ``parent[key]``'s own line (blank lines, comments)."""
    holder, hkey = _holder(parent, key)
    entry = holder.ca.items.get(hkey)
    token = entry[_slot(holder)] if entry is not None else None
    if not isinstance(token, CommentToken):
        return ""
    if _is_block_scalar(holder[hkey]):
        entry[_slot(holder)] = None
        return token.value
    head, sep, tail = token.value.partition("\n")
    if head.strip():
        token.value = head + sep
    else:
        entry[_slot(holder)] = None
    return tail


def _put_tail(parent: _Container, key: str | int, tail: str) -> None:
    """Put ``tail`` (from :func:`_take_tail`) after ``parent[key]``."""
    if not tail:
        return
    holder, hkey = _holder(parent, key)
    entry = holder.ca.items.setdefault(hkey, [None, None, None, None])
    slot = _slot(holder)
    token = entry[slot]
    if isinstance(token, CommentToken):
        token.value = token.value + tail
    else:
        # After a block scalar the line end is part of the scalar; after others, the token's.
        line_end = "" if _is_block_scalar(holder[hkey]) else "\n"
        entry[slot] = CommentToken(line_end + tail, CommentMark(0), None)


_QUOTED: Final = (SingleQuotedScalarString, DoubleQuotedScalarString)


def _is_block_scalar(value: object) -> bool:
    return isinstance(value, LiteralScalarString | FoldedScalarString)


def _put_before(parent: _Container, key: str | int, text: str) -> None:
    """Put comment lines ``text`` before ``parent[key]`` (when it becomes the first item)."""
    if not text:
        return
    entry = parent.ca.items.setdefault(key, [None, None, None, None])
    before = entry[1] if isinstance(entry[1], list) else []
    entry[1] = [CommentToken(text, CommentMark(0), None), *before]


def _forget_comments(parent: _Container, key: str | int) -> None:
    if isinstance(parent, CommentedMap):
        parent.ca.items.pop(key, None)


class Quoted(str):
    """A string :meth:`EditSession.set` writes in double quotes (a version: ``"1.0:0"``)."""

    __slots__ = ()


def _to_yaml(value: object, *, flow: bool = False) -> object:
    """``value`` as ruamel nodes; ``flow``: it goes into a ``[…]`` or ``{…}`` collection."""
    if isinstance(value, Quoted) and "\n" not in value:
        return DoubleQuotedScalarString(value)
    if isinstance(value, str):
        if "\n" in value:
            return LiteralScalarString(value)
        return value if is_plain_string(value, flow=flow) else DoubleQuotedScalarString(value)
    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            out[_key(str(k), flow=False)] = _to_yaml(v)
        return out
    if isinstance(value, list | tuple):
        return CommentedSeq(_to_yaml(v) for v in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    msg = f"cannot write a {type(value).__name__} into the config"
    raise ConfigError(msg)


def _key(key: str, *, flow: bool) -> str:
    """A new mapping key, quoted when unquoted it would not read back as this string."""
    return key if is_plain_string(key, flow=flow) else DoubleQuotedScalarString(key)


def _plain(node: object) -> object:
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


@contextmanager
def edit(path: str | os.PathLike[str]) -> Iterator[EditSession]:
    """Open ``path`` for editing; on leaving the block without an exception, commit.

    Example::

        with config.edit("site-config.yaml") as doc:
            doc.set(("registry", "name"), "My Registry")

    Raises:
        ConfigError: as :meth:`EditSession.open` and :meth:`EditSession.commit`.
    """
    session = EditSession.open(path)
    yield session
    session.commit()
