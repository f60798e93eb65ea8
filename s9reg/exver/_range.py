"""Version ranges: parse, evaluate and display them like the Rust ``exver`` crate.

The folding done by the smart constructors, the normalized display and the conversion of a
matched text follow ``exver.rs`` (``shared/spec/s9pk-format.md`` §11.3,
``shared/spec/exver-notes.md``); the grammar itself (``grammar.pest``) is matched by
``_grammar.py``. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from s9reg.exver._grammar import (
    MAX_RANGE_DEPTH,
    RANGE_KIND,
    _Raw,
    _RawLeaf,
    _RawNot,
    _RawRange,
    match_range,
)
from s9reg.exver._version import (
    USIZE_MAX,
    ExtendedVersion,
    Version,
    VersionString,
    _check_flavor,
    _parse_version,
)
from s9reg.exver.errors import VersionError

__all__ = [
    "MAX_RANGE_DEPTH",
    "Anchor",
    "And",
    "AnyVersion",
    "Flavor",
    "NoVersion",
    "Not",
    "Op",
    "Or",
    "VersionRange",
]


class Op(StrEnum):
    """A comparison operator of an anchor (``^`` and ``~`` expand to two anchors)."""

    GTE = ">="
    LT = "<"
    NEQ = "!="
    EQ = "="
    LTE = "<="
    GT = ">"


# Rust encodes an operator as an ordering that the comparison must equal, or must differ from.
_OP_TEST: dict[Op, tuple[int, bool]] = {
    Op.GTE: (-1, False),
    Op.LT: (-1, True),
    Op.NEQ: (0, False),
    Op.EQ: (0, True),
    Op.LTE: (1, False),
    Op.GT: (1, True),
}

Satisfier: TypeAlias = ExtendedVersion | VersionString | Version


class VersionRange:
    """A set of extended versions: an anchor, a flavor, ``*``, ``!`` or And/Or/Not of ranges.

    Build ranges with :meth:`parse` or the smart constructors (:meth:`and_`, :meth:`or_`,
    :meth:`not_`, :meth:`caret`, :meth:`tilde`, ...), which fold ``*`` and ``!`` and push ``!``
    inward exactly as Rust does, so that ``str()`` prints what the Rust registry would. The node
    classes (:class:`Anchor`, :class:`And`, ...) can also be built directly; that skips the
    folding, like Rust's enum variants.

    Equality is structural (``>=1.0:0 == >=1:0``, but ``a b != b a``). The base class itself
    is never instantiated.
    """

    __slots__ = ()

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> VersionRange:
        """Parse a range the way the Rust crate does, or more strictly.

        Default (lenient, device-compatible) mode accepts exactly what Rust accepts and means
        the same: like the pest grammar, it stops at the first input that cannot continue the
        range (a tab, a newline, ``)``, a dangling ``&&``, any other junk) and ignores the rest.
        Use it for ranges received from devices or other registries.

        ``strict=True`` accepts a subset of that with the same meaning, and rejects texts whose
        Rust reading is probably not what the author meant. Use it for configuration files. It
        rejects:

        - any input left after the range except spaces (Rust ignores it silently);
        - tabs and line breaks (Rust stops there);
        - atoms written against each other without a space or an operator (``>=01`` is
          ``>=0:0 ^1`` for Rust, because range numbers have no leading zeros);
        - an atom after ``||`` with no operator of its own (``<1 || >2 <4`` means
          ``(<1 || >2) || <4`` for Rust: juxtaposition repeats the latest operator).

        Both modes reject ranges whose tree would be more than :data:`MAX_RANGE_DEPTH` levels
        deep (an s9reg limit; Rust has none). A range within the limit displays as a text that
        parses back to the same range.

        Args:
            text: e.g. ``">=1.0:0 <2.0:0"``, ``"^27 || #knots"``.
            strict: reject input that Rust would ignore or read surprisingly.

        Returns:
            The range, built with the smart constructors.

        Raises:
            VersionError: the text is not a valid range (in the chosen mode).
        """
        return _Converter(text).convert_range(match_range(text, strict=strict))[0]

    def satisfied_by(self, version: Satisfier) -> bool:
        """Whether ``version`` is in the range (Rust ``ExtendedVersion::satisfies``).

        An anchor whose version has another flavor than ``version`` is satisfied only if its
        operator is ``!=``. A plain :class:`Version` counts as ``version:0`` with no flavor.

        Args:
            version: the version to test.

        Returns:
            True if the version is in the range.

        Raises:
            VersionError: never.
        """
        if isinstance(version, VersionString):
            version = version.version
        elif isinstance(version, Version):
            version = ExtendedVersion(version)
        return _satisfies(self, version)

    def __str__(self) -> str:
        """Rust's normalized display: AND as a space, OR as `` || ``, operands parenthesised."""
        return _display(self)

    # Smart constructors, named after Rust's; `and`, `or` and `not` are Python keywords.

    @staticmethod
    def any() -> VersionRange:
        """The range of every version (``*``).

        Returns:
            :class:`AnyVersion`.

        Raises:
            VersionError: never.
        """
        return AnyVersion()

    @staticmethod
    def none() -> VersionRange:
        """The empty range (``!``).

        Returns:
            :class:`NoVersion`.

        Raises:
            VersionError: never.
        """
        return NoVersion()

    @staticmethod
    def anchor(op: Op | str, version: ExtendedVersion) -> VersionRange:
        """The versions that compare with ``version`` as ``op`` says.

        Args:
            op: one of ``>= < != = <= >``.
            version: the anchor version (its flavor is part of the condition).

        Returns:
            An :class:`Anchor`.

        Raises:
            VersionError: ``op`` is not a comparison operator.
        """
        try:
            return Anchor(Op(op), version)
        except ValueError:
            raise VersionError(f"{op!r} is not a comparison operator") from None

    @staticmethod
    def exactly(version: ExtendedVersion) -> VersionRange:
        """``=version``.

        Args:
            version: the only version in the range (up to trailing ``.0``).

        Returns:
            An :class:`Anchor`.

        Raises:
            VersionError: never.
        """
        return Anchor(Op.EQ, version)

    @staticmethod
    def flavor(flavor: str | None) -> VersionRange:
        """The versions of one flavor (``#flavor``), or with no flavor (None: ``#``).

        Args:
            flavor: lowercase ASCII letters, or None. ``""`` means None, as in the parser.

        Returns:
            A :class:`Flavor`.

        Raises:
            VersionError: the flavor has characters other than ``a-z``.
        """
        return Flavor(flavor or None)

    @staticmethod
    def caret(version: ExtendedVersion) -> VersionRange:
        """``^version``: ``>=version`` and below the next value of its first non-zero part.

        The part is looked for in the number without trailing zeros; if all parts are zero the
        last one of that (a single ``0``) is bumped, so ``^0.0.0`` is ``>=0.0.0:0 <1:0``. The
        upper bound keeps the flavor and the upstream prerelease, with downstream ``0``:
        ``^1.2.3-beta`` is ``>=1.2.3-beta:0 <2-beta:0``.

        Args:
            version: the lower bound.

        Returns:
            The conjunction of the two anchors.

        Raises:
            VersionError: never.
        """
        number = version.upstream.semantic_number
        major = _first_nonzero(number)
        return _bounded(version, (*number[:major], _bump(number[major])))

    @staticmethod
    def tilde(version: ExtendedVersion) -> VersionRange:
        """``~version``: ``>=version`` and below the next value of the part after the major.

        The major part is found as for :meth:`caret`; the part after it counts as 0 when
        missing, so ``~1`` is ``>=1:0 <1.1:0`` and ``~0.0.1`` is ``>=0.0.1:0 <0.0.1.1:0``.

        Args:
            version: the lower bound.

        Returns:
            The conjunction of the two anchors.

        Raises:
            VersionError: never.
        """
        number = version.upstream.semantic_number
        major = _first_nonzero(number)
        minor = number[major + 1] if major + 1 < len(number) else 0
        return _bounded(version, (*number[: major + 1], _bump(minor)))

    @staticmethod
    def and_(a: VersionRange, b: VersionRange) -> VersionRange:
        """Intersection; ``*`` is the identity and ``!`` absorbs (nothing else is folded).

        Args:
            a: left operand.
            b: right operand.

        Returns:
            ``b`` if ``a`` is ``*``, ``a`` if ``b`` is ``*``, ``!`` if either is ``!``, else
            :class:`And`.

        Raises:
            VersionError: never.
        """
        if isinstance(a, AnyVersion):
            return b
        if isinstance(b, AnyVersion):
            return a
        if isinstance(a, NoVersion) or isinstance(b, NoVersion):
            return NoVersion()
        return And(a, b)

    @staticmethod
    def or_(a: VersionRange, b: VersionRange) -> VersionRange:
        """Union; ``!`` is the identity and ``*`` absorbs (nothing else is folded).

        Args:
            a: left operand.
            b: right operand.

        Returns:
            ``*`` if either is ``*``, ``b`` if ``a`` is ``!``, ``a`` if ``b`` is ``!``, else
            :class:`Or`.

        Raises:
            VersionError: never.
        """
        if isinstance(a, AnyVersion) or isinstance(b, AnyVersion):
            return AnyVersion()
        if isinstance(a, NoVersion):
            return b
        if isinstance(b, NoVersion):
            return a
        return Or(a, b)

    @staticmethod
    def not_(a: VersionRange) -> VersionRange:
        """Complement, pushed inward as Rust does.

        ``=`` and ``!=`` swap, And/Or follow De Morgan (building the nodes directly), a double
        negation cancels, ``*`` and ``!`` swap; any other anchor or a flavor gets a
        :class:`Not`.

        Args:
            a: the range to negate.

        Returns:
            The complement.

        Raises:
            VersionError: never.
        """
        result: VersionRange
        match a:
            case Anchor(op=Op.EQ | Op.NEQ):
                result = Anchor(Op.NEQ if a.op is Op.EQ else Op.EQ, a.version)
            case And(left, right):
                result = Or(VersionRange.not_(left), VersionRange.not_(right))
            case Or(left, right):
                result = And(VersionRange.not_(left), VersionRange.not_(right))
            case Not(inner):
                result = inner
            case AnyVersion():
                result = NoVersion()
            case NoVersion():
                result = AnyVersion()
            case _:
                result = Not(a)
        return result

    def reduce(self) -> VersionRange:
        """Re-apply the smart constructor of the top node (Rust ``reduce``), not recursively.

        Returns:
            The folded range.

        Raises:
            VersionError: never.
        """
        if isinstance(self, And):
            return VersionRange.and_(self.left, self.right)
        if isinstance(self, Or):
            return VersionRange.or_(self.left, self.right)
        if isinstance(self, Not):
            return VersionRange.not_(self.inner)
        return self

    def __and__(self, other: VersionRange) -> VersionRange:
        if not isinstance(other, VersionRange):
            return NotImplemented
        return VersionRange.and_(self, other)

    def __or__(self, other: VersionRange) -> VersionRange:
        if not isinstance(other, VersionRange):
            return NotImplemented
        return VersionRange.or_(self, other)

    def __invert__(self) -> VersionRange:
        return VersionRange.not_(self)


@dataclass(frozen=True, slots=True)
class Anchor(VersionRange):
    """``op version``, e.g. ``>=1.0:0``: versions of the same flavor comparing as ``op`` says.

    Attributes:
        op: the comparison.
        version: the anchor version.
    """

    op: Op
    version: ExtendedVersion


@dataclass(frozen=True, slots=True)
class And(VersionRange):
    """Both ranges; displayed as the two operands separated by a space.

    Attributes:
        left: first operand.
        right: second operand.
    """

    left: VersionRange
    right: VersionRange


@dataclass(frozen=True, slots=True)
class Or(VersionRange):
    """Either range; displayed with `` || ``.

    Attributes:
        left: first operand.
        right: second operand.
    """

    left: VersionRange
    right: VersionRange


@dataclass(frozen=True, slots=True)
class Not(VersionRange):
    """The complement of a range; displayed as ``!`` and the operand (``!(#knots)``).

    Attributes:
        inner: the negated range.
    """

    inner: VersionRange


@dataclass(frozen=True, slots=True)
class AnyVersion(VersionRange):
    """Every version (``*``)."""


@dataclass(frozen=True, slots=True)
class NoVersion(VersionRange):
    """No version (``!``)."""


@dataclass(frozen=True, slots=True)
class Flavor(VersionRange):
    """The versions of one flavor (``#knots``), or with no flavor (None, displayed ``#``).

    Attributes:
        name: the flavor, or None.

    Raises:
        VersionError: the flavor has characters other than ``a-z``.
    """

    name: str | None

    def __post_init__(self) -> None:
        if self.name is not None:
            _check_flavor(self.name, text=self.name, position=0, kind="flavor")


def _satisfies(node: VersionRange, version: ExtendedVersion) -> bool:  # noqa: PLR0911 - one per node
    """Rust's ``ExtendedVersion::satisfies``."""
    match node:
        case Anchor(op, anchor):
            ordering = version.compare(anchor)
            if ordering is None:
                # Another flavor: only `!=` holds.
                return op is Op.NEQ
            target, identity = _OP_TEST[op]
            return (ordering == target) is identity
        case And(left, right):
            return _satisfies(left, version) and _satisfies(right, version)
        case Or(left, right):
            return _satisfies(left, version) or _satisfies(right, version)
        case Not(inner):
            return not _satisfies(inner, version)
        case Flavor(name):
            return version.flavor == name
        case AnyVersion():
            return True
        case NoVersion():
            return False
    raise TypeError(f"not a version range node: {node!r}")  # pragma: no cover


def _display(node: VersionRange) -> str:  # noqa: PLR0911 - one return per node kind
    match node:
        case Anchor(op, version):
            return f"{op.value}{version}"
        case And(left, right):
            return f"{_operand(left)} {_operand(right)}"
        case Or(left, right):
            return f"{_operand(left)} || {_operand(right)}"
        case Not(inner):
            return f"!{_operand(inner)}"
        case Flavor(name):
            return f"#{name or ''}"
        case AnyVersion():
            return "*"
        case NoVersion():
            return "!"
    raise TypeError(f"not a version range node: {node!r}")  # pragma: no cover


def _operand(node: VersionRange) -> str:
    # Rust's write_with_parens: only anchors, `*` and `!` go without parentheses.
    if isinstance(node, Anchor | AnyVersion | NoVersion):
        return _display(node)
    return f"({_display(node)})"


def _first_nonzero(number: tuple[int, ...]) -> int:
    return next((i for i, n in enumerate(number) if n), len(number) - 1)


def _bump(n: int) -> int:
    # Release builds of StartOS do not check overflow: usize::MAX + 1 wraps to 0.
    return (n + 1) & USIZE_MAX


def _bounded(version: ExtendedVersion, upper: tuple[int, ...]) -> VersionRange:
    bound = ExtendedVersion(Version(upper, version.upstream.prerelease), flavor=version.flavor)
    return VersionRange.and_(Anchor(Op.GTE, version), Anchor(Op.LT, bound))


# --- conversion -------------------------------------------------------------------------------
#
# Phase 2 of the parser (phase 1, the grammar, is _grammar.py): the raw nodes are converted as Rust
# converts pest's pairs after the grammar has matched. A version that the grammar accepts but
# `Version::from_str` rejects (leading zero in a numeric prerelease identifier, overflow) is an
# error only if its atom is part of the final match.


_LEAVES: dict[str, VersionRange] = {"*": AnyVersion(), "!": NoVersion()}


class _Converter:
    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, problem: str, pos: int) -> VersionError:
        return VersionError(problem, text=self.text, position=pos, kind=RANGE_KIND)

    def convert_range(self, raw: _RawRange) -> tuple[VersionRange, int]:
        """The range and the depth of its tree."""
        result: tuple[VersionRange, int] | None = None
        op = None
        for item in raw.items:
            op = item.op or op
            atom = self.convert_atom(item.atom)
            if result is None:
                result = atom
                continue
            combine = VersionRange.or_ if op == "||" else VersionRange.and_
            node = combine(result[0], atom[0])
            if node is result[0]:
                depth = result[1]
            elif node is atom[0]:
                depth = atom[1]
            else:
                depth = 1 + max(result[1], atom[1]) if isinstance(node, And | Or) else 1
            if depth > MAX_RANGE_DEPTH:
                raise self.error(f"nested more than {MAX_RANGE_DEPTH} levels deep", item.start)
            result = node, depth
        if result is None:  # pragma: no cover - the grammar matches at least one atom
            raise self.error("empty range", 0)
        return result

    def convert_atom(self, raw: _Raw) -> tuple[VersionRange, int]:
        if isinstance(raw, _RawRange):
            return self.convert_range(raw)
        if isinstance(raw, _RawNot):
            inner, depth = self.convert_atom(raw.inner)
            # Pushing `!` inward adds at most one level (a Not above each leaf).
            return VersionRange.not_(inner), depth + 1
        if isinstance(raw, _RawLeaf):
            return _LEAVES.get(raw.symbol) or Flavor(raw.flavor), 1
        version = self.convert_spec(raw.spec_start, raw.spec_end)
        if raw.op is None or raw.op == "^":
            return VersionRange.caret(version), 2
        if raw.op == "~":
            return VersionRange.tilde(version), 2
        return Anchor(Op(raw.op), version), 1

    def convert_spec(self, start: int, end: int) -> ExtendedVersion:
        """Rust's ``ExtendedVersion::parse_spec``: empty flavor is none, downstream is 0."""
        text = self.text
        flavor = None
        if text[start] == "#":
            colon = text.index(":", start)
            flavor = text[start + 1 : colon] or None
            start = colon + 1
        colon = text.find(":", start, end)
        upstream_end = colon if colon != -1 else end
        upstream = _parse_version(text, start, upstream_end, whole=text, kind=RANGE_KIND)
        downstream = Version((0,))
        if colon != -1:
            downstream = _parse_version(text, colon + 1, end, whole=text, kind=RANGE_KIND)
        return ExtendedVersion(upstream, downstream, flavor)
