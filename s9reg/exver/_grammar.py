"""The version-range grammar: match a text as Rust's pest grammar does, into raw nodes.

Phase 1 of :meth:`s9reg.exver.VersionRange.parse`: PEG semantics of pest (ordered choice,
possessive repetition, implicit whitespace = " " between the parts of non-atomic rules,
``grammar.pest`` in ``shared/spec/exver-notes.md``) and the checks of strict mode. It does not
build ranges or read version numbers: ``_range.py`` converts the raw nodes, as Rust converts
pest's pairs after the grammar has matched. Memoized per position (packrat), so matching takes
time linear in the text (issue #16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, TypeAlias

from s9reg.exver.errors import VersionError

__all__ = ["MAX_RANGE_DEPTH", "RANGE_KIND"]

# A limit of s9reg, not of Rust: it keeps every recursive walk of a parsed range (parser, display,
# satisfaction, equality) far below Python's recursion limit. Real ranges are a few levels deep;
# a chain of N atoms is N levels deep (it displays as N-1 nested parentheses).
MAX_RANGE_DEPTH = 128

RANGE_KIND = "version range"


@dataclass(frozen=True, slots=True)
class _RawAnchor:
    op: str | None
    spec_start: int
    spec_end: int


@dataclass(frozen=True, slots=True)
class _RawNot:
    inner: _Raw


@dataclass(frozen=True, slots=True)
class _RawLeaf:
    """``*``, ``!`` or a flavor atom (``#``: ``flavor`` is its name, None if empty)."""

    symbol: Literal["*", "!", "#"]
    flavor: str | None = None


@dataclass(frozen=True, slots=True)
class _Item:
    op: str | None  # "||", "&&" or None (juxtaposition)
    atom: _Raw
    start: int
    gap: bool  # anything (spaces or an operator) between this atom and the previous one


@dataclass(frozen=True, slots=True)
class _RawRange:
    items: tuple[_Item, ...]


_Raw: TypeAlias = _RawAnchor | _RawNot | _RawLeaf | _RawRange

# pest tries the operators in this order; ">=" before ">" etc. matters.
_OPERATORS = (">=", "<=", "!=", "=", "<", ">", "^", "~")
_OPERATOR_STARTS = frozenset("><!=^~")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_NONZERO = frozenset("123456789")
_DIGITS = frozenset("0123456789")
_SEGMENT = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")


class _Matcher:
    """One match of one text; ``match_range(0, 0)`` then, in strict mode, ``check_strict``."""

    ATOM: ClassVar[str] = "a range atom (version, operator, '(', '!', '*' or '#flavor')"

    def __init__(self, text: str) -> None:
        self.text = text
        self.fail_at = 0
        self.expected: set[str] = set()
        # Packrat memo of match_atom by position: (result, deepest level below the call).
        # Without it, every unclosed `!(` made pest's ordered choice re-read the rest of the
        # text twice: `"!(" * 22` took a minute (issue #16).
        self.memo: dict[int, tuple[tuple[_Raw, int] | None, int]] = {}
        self.deepest = 0

    # error reporting: the furthest position where a terminal failed, like pest

    def fail(self, pos: int, what: str) -> None:
        if pos > self.fail_at:
            self.fail_at, self.expected = pos, {what}
        elif pos == self.fail_at:
            self.expected.add(what)

    def error(self, problem: str, pos: int, hint: str | None = None) -> VersionError:
        return VersionError(problem, text=self.text, position=pos, kind=RANGE_KIND, hint=hint)

    def expected_error(self) -> VersionError:
        pos = self.fail_at
        found = repr(self.text[pos]) if pos < len(self.text) else "end of input"
        wanted = " or ".join(sorted(self.expected)) or self.ATOM
        return self.error(f"expected {wanted}, found {found}", pos)

    def skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] == " ":
            pos += 1
        return pos

    def match_range(self, pos: int, depth: int) -> tuple[_RawRange, int] | None:
        first = self.match_atom(pos, depth)
        if first is None:
            return None
        items = [_Item(None, first[0], pos, gap=True)]
        end = first[1]
        while True:
            start = self.skip(end)
            op: str | None = self.text[start : start + 2]
            if op in ("||", "&&"):
                after = self.skip(start + 2)
            else:
                self.fail(start, "'||' or '&&'")
                op, after = None, start
            atom = self.match_atom(after, depth)
            if atom is None:
                return _RawRange(tuple(items)), end
            items.append(_Item(op, atom[0], after, gap=after > end))
            end = atom[1]

    def match_atom(self, pos: int, depth: int) -> tuple[_Raw, int] | None:
        # The result at a position does not depend on the depth, except that the match fails
        # with "nested too deep" if it goes below MAX_RANGE_DEPTH. A remembered match is reused
        # when it stays within the limit at this depth; otherwise it is redone, and raises at the
        # same place as without the memo. Failures it recorded (`fail`) are already recorded.
        known = self.memo.get(pos)
        if known is not None and depth + known[1] <= MAX_RANGE_DEPTH:
            self.deepest = max(self.deepest, depth + known[1])
            return known[0]
        outer, self.deepest = self.deepest, depth
        result = self.match_atom_uncached(pos, depth)
        self.memo[pos] = result, self.deepest - depth
        self.deepest = max(outer, self.deepest)
        return result

    def match_atom_uncached(self, pos: int, depth: int) -> tuple[_Raw, int] | None:
        if depth > MAX_RANGE_DEPTH:
            raise self.error(f"nested more than {MAX_RANGE_DEPTH} levels deep", pos)
        # pest's ordered choice: ( range ) | anchor | not | any | none | flavor_atom
        matched = self.match_parens(pos, depth) or self.match_anchor(pos)
        if matched is not None:
            return matched
        char = self.text[pos : pos + 1]
        if char == "!":
            negated = self.match_atom(self.skip(pos + 1), depth + 1)
            if negated is not None:
                return _RawNot(negated[0]), negated[1]
            return _RawLeaf("!"), pos + 1
        if char == "*":
            return _RawLeaf("*"), pos + 1
        if char == "#":
            end = self.match_flavor(pos + 1)
            return _RawLeaf("#", self.text[pos + 1 : end] or None), end
        self.fail(pos, self.ATOM)
        return None

    def match_parens(self, pos: int, depth: int) -> tuple[_Raw, int] | None:
        if self.text[pos : pos + 1] != "(":
            return None
        inner = self.match_range(self.skip(pos + 1), depth + 1)
        if inner is None:
            return None
        close = self.skip(inner[1])
        if self.text[close : close + 1] != ")":
            self.fail(close, "')'")
            return None
        return inner[0], close + 1

    def match_flavor(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _LOWER:
            pos += 1
        return pos

    def match_anchor(self, pos: int) -> tuple[_RawAnchor, int] | None:
        op = None
        if self.text[pos : pos + 1] in _OPERATOR_STARTS:
            op = next((o for o in _OPERATORS if self.text.startswith(o, pos)), None)
        start = self.skip(pos + len(op) if op else pos)
        end = self.match_spec(start)
        if end is None:
            return None
        return _RawAnchor(op, start, end), end

    def match_spec(self, pos: int) -> int | None:
        """``("#" flavor ":")? version (":" version)?``, atomic (no spaces inside)."""
        text = self.text
        if text[pos : pos + 1] == "#":
            colon = self.match_flavor(pos + 1)
            if text[colon : colon + 1] == ":":
                pos = colon + 1
        end = self.match_version(pos)
        if end is None:
            return None
        if text[end : end + 1] == ":":
            downstream = self.match_version(end + 1)
            if downstream is not None:
                end = downstream
        return end

    def match_version(self, pos: int) -> int | None:
        """``(num ".")* num ("-" prerelease)?`` with ``num = "0" | [1-9][0-9]*``."""
        text = self.text
        while True:
            end = self.match_num(pos)
            if end is None or text[end : end + 1] != ".":
                break
            pos = end + 1
        end = self.match_num(pos)
        if end is None:
            return None
        if text[end : end + 1] == "-":
            pre = self.match_segment(end + 1)
            while pre is not None:
                end = pre
                pre = self.match_segment(end + 1) if text[end : end + 1] == "." else None
        return end

    def match_num(self, pos: int) -> int | None:
        text = self.text
        char = text[pos : pos + 1]
        if char == "0":
            return pos + 1
        if char and char in _NONZERO:
            pos += 1
            while pos < len(text) and text[pos] in _DIGITS:
                pos += 1
            return pos
        self.fail(pos, "a number")
        return None

    def match_segment(self, pos: int) -> int | None:
        text = self.text
        end = pos
        while end < len(text) and text[end] in _SEGMENT:
            end += 1
        if end == pos:
            self.fail(pos, "a prerelease identifier")
            return None
        return end

    # strict mode

    def check_strict(self, raw: _RawRange, end: int) -> None:
        self.check_items(raw)
        rest = self.skip(end)
        if rest == len(self.text):
            return
        char = self.text[rest]
        if char in "\t\n\r":
            raise self.error(
                "tabs and line breaks are not allowed in a version range",
                rest,
                hint="StartOS stops reading a range there; separate with spaces",
            )
        if self.fail_at > rest:
            raise self.expected_error()
        raise self.error(
            f"unexpected {char!r}",
            rest,
            hint="StartOS would ignore everything from here on; remove it or fix the syntax",
        )

    def check_items(self, raw: _Raw) -> None:
        if isinstance(raw, _RawNot):
            self.check_items(raw.inner)
        if not isinstance(raw, _RawRange):
            return
        op = None
        for item in raw.items:
            if not item.gap:
                raise self.error(
                    "atoms must be separated by a space or an operator",
                    item.start,
                    hint="numbers in ranges cannot have leading zeros: StartOS reads '01' as "
                    "two versions '0' and '1'",
                )
            if item.op is None and op == "||":
                raise self.error(
                    "an atom after '||' needs its own operator",
                    item.start,
                    hint="StartOS repeats the latest operator, so 'a || b c' means "
                    "'a || b || c'; write '&&' or '||', or use parentheses",
                )
            op = item.op or op
            self.check_items(item.atom)


def match_range(text: str, *, strict: bool) -> _RawRange:
    """Match ``text`` as a range: the grammar, then the checks of strict mode.

    Raises:
        VersionError: the grammar does not match (or, in strict mode, the text has a problem).
    """
    matcher = _Matcher(text)
    matched = matcher.match_range(0, 0)
    if matched is None:
        raise matcher.expected_error()
    raw, end = matched
    if strict:
        matcher.check_strict(raw, end)
    return raw
