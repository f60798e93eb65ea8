"""The JSON kit: strict decoding, the one key-path syntax, and typed readers that collect problems.

Every document s9reg validates (``manifest.json``, dependency ``metadata.json``, the registry
index, the site configuration's key paths) names a value by the same path syntax,
``signers[2].keys[0]`` or ``versions["1.0:0"].icon`` (see :func:`at`), and reports every problem
it finds as a :class:`Problem`. A :class:`Reader` reads objects either as structs (known fields:
a repeated one is a problem, as serde's derived visitor refuses it) or as maps (repeated keys
accepted, the last wins). It raises nothing itself: each caller turns the collected problems
into its own error type. No I/O; imports nothing from s9reg.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Enum
from typing import Final, NamedTuple, TypeAlias, TypeVar

__all__ = [
    "ABSENT",
    "MAX_DEPTH",
    "U64_MAX",
    "Absent",
    "JSONObject",
    "JSONValue",
    "Problem",
    "Reader",
    "Struct",
    "at",
    "details",
    "summary",
]

JSONValue: TypeAlias = str | int | float | bool | list["JSONValue"] | dict[str, "JSONValue"] | None

_T = TypeVar("_T")

# serde_json's default recursion limit.
MAX_DEPTH = 128
U64_MAX = (1 << 64) - 1
# Keys written bare after a dot; anything else is written as a JSON string in brackets, so a path
# reads back unambiguously (``versions["1.0:0"]``, ``dependencies["Bad Id"]``).
_BARE_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def at(path: str, key: str | int) -> str:
    """Extend a key path: ``a`` + ``b`` → ``a.b``, + ``0`` → ``a.b[0]``, + ``1.0`` → ``a["1.0"]``.

    The empty path is the document itself. YAML configuration keys use the same syntax.
    """
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _BARE_KEY_RE.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


class Absent(Enum):
    """The type of :data:`ABSENT`."""

    ABSENT = 0


# A key that is not there (distinct from JSON ``null``, which is None).
ABSENT: Final = Absent.ABSENT


class Problem(NamedTuple):
    """One problem and the key path of the value it is about (``""``: the whole document).

    Attributes:
        path: the key path (:func:`at`).
        problem: what is wrong, without location.
        line: the 1-based line in the file, for formats that keep it (YAML); else None.
    """

    path: str
    problem: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem

    def located(self, file: str | None) -> str:
        """``file:line: path: problem``, leaving out the parts that are not known."""
        where = ":".join(str(x) for x in (file, self.line) if x is not None)
        return f"{where}: {self}" if where else str(self)


def summary(problems: Sequence[Problem]) -> Problem:
    """The first problem, its text followed by ``(and N more)`` when there are others."""
    first = problems[0]
    if len(problems) == 1:
        return first
    return first._replace(problem=f"{first.problem} (and {len(problems) - 1} more)")


def details(problems: Sequence[Problem], file: str | None = None) -> str:
    """Every problem on its own line, located in ``file`` when given (:meth:`Problem.located`)."""
    return "\n".join(p.located(file) for p in problems)


class JSONObject(dict[str, object]):
    """A decoded JSON object that had repeated keys; the last value of each is kept.

    Attributes:
        repeated: the keys that occurred more than once.
    """

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, object]], repeated: frozenset[str]) -> None:
        super().__init__(pairs)
        self.repeated = repeated


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    seen: set[str] = set()
    repeated: set[str] = set()
    for k, _ in pairs:
        (repeated if k in seen else seen).add(k)
    return JSONObject(pairs, frozenset(repeated))


def _no_constants(name: str) -> object:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


class Reader:
    """Reads decoded JSON values by type, collecting every problem with its key path.

    Each getter returns the typed value, or None when the value is not of that type (the
    problem is then recorded) or is :data:`ABSENT` (nothing recorded: a required key that is
    missing was reported by :meth:`Struct.required`). Callers substitute a placeholder and go
    on, so that one pass names every problem; they raise once, from :attr:`problems`, at the end.

    Attributes:
        problems: the problems so far, in the order found, without repeats.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._seen: set[Problem] = set()

    def add(self, path: str, problem: str) -> None:
        """Record ``problem`` about the value at ``path`` (once)."""
        item = Problem(path, problem)
        if item not in self._seen:
            self._seen.add(item)
            self.problems.append(item)

    def _expected(self, value: object, path: str, what: str) -> None:
        # An absent value was reported where it was required (``Struct.required``), or is
        # allowed: either way it is not a second problem.
        if value is not ABSENT:
            self.add(path, f"expected {what}")

    # --- documents ------------------------------------------------------------------------

    def decode(self, data: bytes) -> object:
        """Decode JSON bytes as strictly as serde_json (UTF-8, no NaN/Infinity, depth ≤ 128).

        Objects with repeated keys come back as :class:`JSONObject`, which struct readers
        check. Returns :data:`ABSENT` when the bytes are not JSON at all.
        """
        try:
            value = json.loads(
                data.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=_object
            )
        except UnicodeDecodeError as e:
            self.add("", f"not valid UTF-8 (at byte {e.start})")
            return ABSENT
        except (ValueError, RecursionError) as e:
            self.add("", f"invalid JSON: {e}")
            return ABSENT
        # Decoded UTF-8 holds a lone surrogate only through a \u escape, and nesting deeper than
        # the limit needs more brackets than that: without either, the scan has nothing to find.
        if b"\\u" in data or data.count(b"[") + data.count(b"{") > MAX_DEPTH:
            self.scan(value)
        return value

    def scan(self, value: object, path: str = "") -> None:
        """Record what serde_json would not have produced: non-JSON types, bad text, depth."""
        stack: list[tuple[object, str, int]] = [(value, path, 1)]
        while stack:
            v, key, depth = stack.pop()
            if depth > MAX_DEPTH:
                self.add(key, f"nested deeper than {MAX_DEPTH} levels")
                return
            if isinstance(v, dict):
                for k, child in v.items():
                    if not isinstance(k, str) or not _is_text(k):
                        self.add(key, f"key {k!r} is not a valid JSON string")
                    else:
                        stack.append((child, at(key, k), depth + 1))
            elif isinstance(v, list):
                stack.extend((child, at(key, i), depth + 1) for i, child in enumerate(v))
            elif isinstance(v, str):
                if not _is_text(v):
                    self.add(key, "string holds a lone surrogate (not valid Unicode)")
            elif not (v is None or isinstance(v, bool | int | float)):
                self.add(key, f"{type(v).__name__} is not a JSON value")

    # --- containers -----------------------------------------------------------------------

    def struct(self, value: object, path: str, fields: frozenset[str]) -> Struct | None:
        """``value`` read as a struct with these ``fields``; a repeated one is a problem.

        serde's derived visitor refuses a second occurrence of a field the struct declares
        (``duplicate field `id```); repeated unknown keys are accepted (the last value wins).
        """
        if not isinstance(value, dict):
            self._expected(value, path, "a JSON object")
            return None
        repeated = value.repeated if isinstance(value, JSONObject) else frozenset()
        for name in sorted(repeated & fields):
            self.add(path, f"duplicate field `{name}`")
        return Struct(self, value, path)

    def entries(self, value: object, path: str) -> Iterator[tuple[str, object, str]]:
        """``(key, value, key path)`` of an object read as a map (repeated keys: the last wins)."""
        if not isinstance(value, dict):
            self._expected(value, path, "a JSON object")
            return
        for k, v in value.items():
            yield k, v, at(path, k)

    def items(self, value: object, path: str) -> list[tuple[object, str]] | None:
        """``(value, key path)`` of each element of an array, or None if it is not one."""
        if not isinstance(value, list):
            self._expected(value, path, "a JSON array")
            return None
        return [(v, at(path, i)) for i, v in enumerate(value)]

    # --- scalars --------------------------------------------------------------------------

    def string(self, value: object, path: str) -> str | None:
        """A string."""
        if isinstance(value, str):
            return value
        self._expected(value, path, "a string")
        return None

    def opt_string(self, value: object, path: str) -> str | None:
        """A string, or None for ``null`` or an absent key."""
        return None if value is None or value is ABSENT else self.string(value, path)

    def boolean(self, value: object, path: str) -> bool | None:
        """``true`` or ``false``."""
        if isinstance(value, bool):
            return value
        self._expected(value, path, "true or false")
        return None

    def u64(self, value: object, path: str) -> int | None:
        """An integer from 0 to 2**64 - 1."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX:
            return value
        self._expected(value, path, "an unsigned 64-bit integer")
        return None

    def strings(self, value: object, path: str) -> list[str]:
        """An array of strings (each bad element named); ``[]`` if it is not an array."""
        out: list[str] = []
        for item, sub in self.items(value, path) or ():
            text = self.string(item, sub)
            if text is not None:
                out.append(text)
        return out

    def parsed(
        self,
        value: str,
        path: str,
        parse: Callable[[str], _T],
        kind: str,
        error: type[Exception] = ValueError,
    ) -> _T | None:
        """``parse(value)``; None and ``"…" is not a valid <kind>: why`` if it raises ``error``.

        ``why`` is the exception's ``problem`` attribute when it has one, else its text.
        """
        try:
            return parse(value)
        except error as e:
            why = getattr(e, "problem", str(e))
            self.add(path, f"{json.dumps(value, ensure_ascii=False)} is not a valid {kind}: {why}")
            return None


class Struct:
    """A JSON object read as a struct: its fields by name, each with its key path.

    Attributes:
        data: the object.
        path: its key path.
    """

    __slots__ = ("_reader", "data", "path")

    def __init__(self, reader: Reader, data: Mapping[str, object], path: str) -> None:
        self._reader = reader
        self.data = data
        self.path = path

    def at(self, name: str) -> str:
        """The key path of field ``name``."""
        return at(self.path, name)

    def get(self, name: str) -> object:
        """Field ``name``, or :data:`ABSENT`."""
        return self.data.get(name, ABSENT)

    def opt(self, name: str) -> object:
        """Field ``name``, or None when it is absent or ``null`` (an ``Option``)."""
        value = self.data.get(name)
        return None if value is ABSENT else value

    def required(self, name: str) -> object:
        """Field ``name``; :data:`ABSENT` and a ``required key missing`` problem if absent."""
        if name in self.data:
            return self.data[name]
        self._reader.add(self.at(name), "required key missing")
        return ABSENT

    def string(self, name: str) -> str | None:
        """Required string field."""
        value = self.required(name)
        return None if value is ABSENT else self._reader.string(value, self.at(name))

    def opt_string(self, name: str) -> str | None:
        """Optional string field (absent or ``null``: None)."""
        return self._reader.opt_string(self.get(name), self.at(name))

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """Boolean field: ``default`` when absent, required when ``default`` is None."""
        if name not in self.data and default is not None:
            return default
        value = self.required(name)
        return None if value is ABSENT else self._reader.boolean(value, self.at(name))


def _is_text(s: str) -> bool:
    if s.isascii():  # a flag on the string object: no copy for icons and other long texts
        return True
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True
