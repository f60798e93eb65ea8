"""Versions: `Version`, `ExtendedVersion` and the text-preserving `VersionString`.

Parsing, ordering, equality and display follow the Rust ``exver`` crate that the registry server
runs (``shared/spec/s9pk-format.md`` §11.3; ``shared/spec/exver-notes.md`` lists where the JS
library differs). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from s9reg.exver.errors import VersionError

__all__ = [
    "USIZE_MAX",
    "ExtendedVersion",
    "PreReleaseSegment",
    "Version",
    "VersionString",
    "compare",
]

# Rust parses every number as `usize`; the devices that run StartOS are all 64-bit.
USIZE_MAX = 2**64 - 1

PreReleaseSegment: TypeAlias = int | str
"""A prerelease identifier: a number (all digits) or a string of ``[0-9A-Za-z-]``."""

_PRERELEASE_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")
_LOWERCASE = frozenset("abcdefghijklmnopqrstuvwxyz")


def _is_digits(text: str) -> bool:
    # Alone, str.isdigit() accepts non-ASCII digits (and int() accepts "_"); Rust accepts neither.
    return text.isascii() and text.isdigit()


def _parse_usize(piece: str, *, text: str, position: int, kind: str, what: str) -> int:
    """Parse like Rust's ``usize::from_str``: an optional ``+``, ASCII digits, no overflow."""
    digits = piece.removeprefix("+")
    if not _is_digits(digits):
        problem = f"{what} {piece!r} is not a number" if piece else f"empty {what}"
        raise VersionError(problem, text=text, position=position, kind=kind)
    # int() refuses texts of more than 4300 digits: leading zeros count, so convert the digits
    # without them, and only after the length check (issue #16).
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(USIZE_MAX)) or int(significant) > USIZE_MAX:
        raise VersionError(
            f"{what} {piece!r} is larger than {USIZE_MAX}",
            text=text,
            position=position,
            kind=kind,
        )
    return int(significant)


def _parse_prerelease_segment(segment: str, *, text: str, position: int, kind: str) -> int | str:
    if not segment:
        raise VersionError("empty prerelease identifier", text=text, position=position, kind=kind)
    if _is_digits(segment):
        if len(segment) > 1 and segment[0] == "0":
            raise VersionError(
                f"numeric prerelease identifier {segment!r} has a leading zero",
                text=text,
                position=position,
                kind=kind,
            )
        return _parse_usize(
            segment, text=text, position=position, kind=kind, what="prerelease identifier"
        )
    for index, char in enumerate(segment):
        if char not in _PRERELEASE_CHARS:
            raise VersionError(
                f"invalid character {char!r} in prerelease identifier (allowed: 0-9 A-Z a-z -)",
                text=text,
                position=position + index,
                kind=kind,
            )
    return segment


def _parse_version(text: str, start: int, end: int, *, whole: str, kind: str) -> Version:
    """Parse ``text[start:end]`` like Rust's ``Version::from_str``.

    Errors name ``whole`` and positions in it, so a version inside a larger text points at the
    right character.
    """
    part = text[start:end]
    number_text, dash, pre_text = part.partition("-")
    numbers: list[int] = []
    offset = start
    for piece in number_text.split("."):
        numbers.append(
            _parse_usize(piece, text=whole, position=offset, kind=kind, what="version number")
        )
        offset += len(piece) + 1
    prerelease: list[int | str] = []
    if dash:
        offset = start + len(number_text) + 1
        for segment in pre_text.split("."):
            prerelease.append(
                _parse_prerelease_segment(segment, text=whole, position=offset, kind=kind)
            )
            offset += len(segment) + 1
    return Version(tuple(numbers), tuple(prerelease))


def _check_flavor(flavor: str, *, text: str, position: int, kind: str) -> None:
    for index, char in enumerate(flavor):
        if char not in _LOWERCASE:
            raise VersionError(
                f"invalid character {char!r} in flavor (must be ASCII lowercase a-z)",
                text=text,
                position=position + index,
                kind=kind,
            )


def _prerelease_key(segment: int | str) -> tuple[int, int | str]:
    # Rust's derived order on `enum PreReleaseSegment { Number, String }`: numbers first.
    return (0, segment) if isinstance(segment, int) else (1, segment)


@dataclass(frozen=True, slots=True, eq=False)
class Version:
    """A version number with optional prerelease identifiers, e.g. ``1.2.3-beta.1``.

    Equality ignores trailing ``.0`` (``1.0 == 1``); ordering compares numbers left to right
    with missing parts as 0, puts a release above its prereleases, and compares prerelease
    lists element by element (numbers below strings, a prefix first). ``str()`` prints the
    parts as stored, so ``1.0`` stays ``1.0`` but ``+01`` prints as ``1``.

    The constructor validates its arguments like the parser would.

    Attributes:
        number: the numeric components, at least one, each in ``0..=USIZE_MAX``.
        prerelease: the prerelease identifiers (ints, or non-numeric strings of
            ``[0-9A-Za-z-]``).

    Raises:
        VersionError: an argument is out of range or not allowed.
    """

    number: tuple[int, ...]
    prerelease: tuple[PreReleaseSegment, ...] = ()
    _key: tuple[tuple[int, ...], bool, tuple[tuple[int, int | str], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        number = tuple(self.number)
        prerelease = tuple(self.prerelease)
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "prerelease", prerelease)
        if not number:
            raise VersionError("a version needs at least one number")
        for n in number:
            if not _is_usize(n):
                raise VersionError(f"version number {n!r} is not an int in 0..={USIZE_MAX}")
        for segment in prerelease:
            if isinstance(segment, str):
                if not segment or _is_digits(segment) or not set(segment) <= _PRERELEASE_CHARS:
                    raise VersionError(
                        f"prerelease identifier {segment!r} must be non-numeric [0-9A-Za-z-]+ "
                        "(pass numbers as int)"
                    )
            elif not _is_usize(segment):
                raise VersionError(
                    f"prerelease identifier {segment!r} is not an int in 0..={USIZE_MAX} "
                    "or a string"
                )
        # Versions are sorted and hashed far more often than made: compute the key once.
        # Comparing trimmed numbers with "a prefix sorts first" is the same as Rust's
        # zip_longest with missing parts as 0: a longer trimmed number ends in a non-zero part.
        end = len(number)
        while end > 1 and number[end - 1] == 0:
            end -= 1
        key = (number[:end], not prerelease, tuple(_prerelease_key(s) for s in prerelease))
        object.__setattr__(self, "_key", key)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``N(.N)*`` with an optional ``-pre(.pre)*``, as Rust's ``Version::from_str``.

        Numbers are ``usize``: a leading ``+`` and leading zeros are accepted. The prerelease is
        everything after the first ``-``; its identifiers are non-empty, and numeric ones have
        no leading zero.

        Args:
            text: the version text, e.g. ``"1.2.3-beta.1"``.

        Returns:
            The parsed version.

        Raises:
            VersionError: the text is not a valid version.
        """
        return _parse_version(text, 0, len(text), whole=text, kind="version")

    @property
    def semantic_number(self) -> tuple[int, ...]:
        """The number without trailing zeros (at least one component)."""
        return self._key[0]

    @property
    def sort_key(self) -> tuple[tuple[int, ...], bool, tuple[tuple[int, int | str], ...]]:
        """A key whose natural order is the version order (equal keys iff equal versions)."""
        return self._key

    def without_prerelease(self) -> Version:
        """The same number without prerelease identifiers.

        Returns:
            A new version.

        Raises:
            VersionError: never (the number is already valid).
        """
        return Version(self.number)

    def __str__(self) -> str:
        text = ".".join(map(str, self.number))
        if self.prerelease:
            text += "-" + ".".join(map(str, self.prerelease))
        return text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key < other.sort_key

    def __le__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key <= other.sort_key

    def __gt__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key > other.sort_key

    def __ge__(self, other: Version) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key >= other.sort_key


def _is_usize(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= USIZE_MAX


_ZERO = Version((0,))


def _cmp(a: Version, b: Version) -> int:
    ka, kb = a.sort_key, b.sort_key
    return (ka > kb) - (ka < kb)


@dataclass(frozen=True, slots=True)
class ExtendedVersion:
    """A package version ``[#flavor:]upstream:downstream``, e.g. ``#knots:27.1:0``.

    Versions of different flavors are unordered: :meth:`compare` returns None and ``<``, ``<=``,
    ``>``, ``>=`` raise :class:`VersionError`. No flavor (None) and the empty flavor
    (``#:1:0``, kept as ``""``) are different flavors, as in Rust. :attr:`sort_key` gives the
    total order Rust uses to sort sets of versions. Equality and hashing ignore trailing ``.0``.

    Attributes:
        upstream: the packaged software's version.
        downstream: the packaging revision (default ``0``).
        flavor: the flavor name (``a-z``, possibly empty), or None for no flavor.

    Raises:
        VersionError: the flavor has characters other than ``a-z``.
    """

    upstream: Version
    downstream: Version = field(default=_ZERO)
    flavor: str | None = None

    def __post_init__(self) -> None:
        if self.flavor is not None:
            _check_flavor(self.flavor, text=self.flavor, position=0, kind="flavor")

    @classmethod
    def parse(cls, text: str) -> ExtendedVersion:
        """Parse ``[#flavor:]upstream:downstream`` as Rust's ``ExtendedVersion::from_str``.

        The downstream part is mandatory. ``#:1:0`` has the empty flavor ``""``, which is not
        the same as no flavor.

        Args:
            text: e.g. ``"1.2.3:0"`` or ``"#knots:27.1:0"``.

        Returns:
            The parsed version.

        Raises:
            VersionError: the text is not a valid extended version.
        """
        kind = "extended version"
        flavor: str | None = None
        rest = 0
        if text.startswith("#"):
            colon = text.find(":", 1)
            if colon != -1:
                flavor = text[1:colon]
                _check_flavor(flavor, text=text, position=1, kind=kind)
                rest = colon + 1
        colon = text.find(":", rest)
        if colon == -1:
            raise VersionError(
                "missing downstream version (expected upstream:downstream, e.g. 1.0:0)",
                text=text,
                position=len(text),
                kind=kind,
            )
        upstream = _parse_version(text, rest, colon, whole=text, kind=kind)
        downstream = _parse_version(text, colon + 1, len(text), whole=text, kind=kind)
        return cls(upstream, downstream, flavor)

    def compare(self, other: ExtendedVersion) -> int | None:
        """Rust's ``partial_cmp``: -1, 0 or 1, or None when the flavors differ.

        Args:
            other: the version to compare with.

        Returns:
            The sign of ``self - other``, or None if the two are unordered.

        Raises:
            VersionError: never.
        """
        if self.flavor != other.flavor:
            return None
        return _cmp(self.upstream, other.upstream) or _cmp(self.downstream, other.downstream)

    @property
    def sort_key(self) -> tuple[bool, str, tuple[object, ...], tuple[object, ...]]:
        """Key for Rust's ``VersionString::cmp``: flavored versions first, by flavor name."""
        return (
            self.flavor is None,
            self.flavor or "",
            self.upstream.sort_key,
            self.downstream.sort_key,
        )

    def with_flavor(self, flavor: str) -> ExtendedVersion:
        """This version with ``flavor`` (the empty string means no flavor, as in Rust).

        Args:
            flavor: lowercase ASCII letters, or ``""``.

        Returns:
            A new version.

        Raises:
            VersionError: the flavor has characters other than ``a-z``.
        """
        return ExtendedVersion(self.upstream, self.downstream, flavor or None)

    def without_flavor(self) -> ExtendedVersion:
        """This version with no flavor.

        Returns:
            A new version.

        Raises:
            VersionError: never.
        """
        return ExtendedVersion(self.upstream, self.downstream)

    def __str__(self) -> str:
        prefix = f"#{self.flavor}:" if self.flavor is not None else ""
        return f"{prefix}{self.upstream}:{self.downstream}"

    def _ordered(self, other: ExtendedVersion) -> int:
        result = self.compare(other)
        if result is None:
            raise VersionError(
                f"cannot order {self} and {other}: different flavors are unordered",
                hint="sort with key=lambda v: v.sort_key, or compare() which returns None",
            )
        return result

    def __lt__(self, other: ExtendedVersion) -> bool:
        if not isinstance(other, ExtendedVersion):
            return NotImplemented
        return self._ordered(other) < 0

    def __le__(self, other: ExtendedVersion) -> bool:
        if not isinstance(other, ExtendedVersion):
            return NotImplemented
        return self._ordered(other) <= 0

    def __gt__(self, other: ExtendedVersion) -> bool:
        if not isinstance(other, ExtendedVersion):
            return NotImplemented
        return self._ordered(other) > 0

    def __ge__(self, other: ExtendedVersion) -> bool:
        if not isinstance(other, ExtendedVersion):
            return NotImplemented
        return self._ordered(other) >= 0


@dataclass(frozen=True, slots=True, eq=False)
class VersionString:
    """An `ExtendedVersion` with the text it was written as, like Rust's ``VersionString``.

    ``str()`` returns the original text (``1.0.0:0`` stays ``1.0.0:0``), which is what is
    serialized. Equality and hashing use the version (``1.0:0 == 1:0``). ``<`` and ``sorted()``
    use the total order of Rust's ``VersionString::cmp`` (:attr:`ExtendedVersion.sort_key`):
    versions of one flavor by version, flavored ones before flavorless ones, flavors by name.

    The constructor checks that ``text`` parses to ``version``.

    Attributes:
        text: the text as written.
        version: the parsed version.

    Raises:
        VersionError: ``text`` does not parse, or parses to another version.
    """

    text: str
    version: ExtendedVersion

    def __post_init__(self) -> None:
        if ExtendedVersion.parse(self.text) != self.version:
            raise VersionError(
                f"text {self.text!r} does not denote version {self.version}",
            )

    @classmethod
    def parse(cls, text: str) -> VersionString:
        """Parse an extended version, keeping ``text`` for serialization.

        Args:
            text: e.g. ``"1.0.0:0"``.

        Returns:
            The version string.

        Raises:
            VersionError: the text is not a valid extended version.
        """
        return cls(text, ExtendedVersion.parse(text))

    @classmethod
    def from_version(cls, version: ExtendedVersion) -> VersionString:
        """Wrap a version, using its display as the text (Rust ``From<ExtendedVersion>``).

        Args:
            version: the version.

        Returns:
            The version string.

        Raises:
            VersionError: never for a valid version.
        """
        return cls(str(version), version)

    @property
    def flavor(self) -> str | None:
        """The flavor of the version."""
        return self.version.flavor

    @property
    def upstream(self) -> Version:
        """The upstream part of the version."""
        return self.version.upstream

    @property
    def downstream(self) -> Version:
        """The downstream part of the version."""
        return self.version.downstream

    @property
    def sort_key(self) -> tuple[bool, str, tuple[object, ...], tuple[object, ...]]:
        """The total-order key (see :attr:`ExtendedVersion.sort_key`)."""
        return self.version.sort_key

    def compare(self, other: VersionString | ExtendedVersion) -> int | None:
        """Rust's ``partial_cmp`` (see :meth:`ExtendedVersion.compare`).

        Args:
            other: the version to compare with.

        Returns:
            -1, 0 or 1, or None when the flavors differ.

        Raises:
            VersionError: never.
        """
        return compare(self, other)

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionString):
            return NotImplemented
        return self.version == other.version

    def __hash__(self) -> int:
        return hash(self.version)

    def __lt__(self, other: VersionString) -> bool:
        if not isinstance(other, VersionString):
            return NotImplemented
        return self.sort_key < other.sort_key

    def __le__(self, other: VersionString) -> bool:
        if not isinstance(other, VersionString):
            return NotImplemented
        return self.sort_key <= other.sort_key

    def __gt__(self, other: VersionString) -> bool:
        if not isinstance(other, VersionString):
            return NotImplemented
        return self.sort_key > other.sort_key

    def __ge__(self, other: VersionString) -> bool:
        if not isinstance(other, VersionString):
            return NotImplemented
        return self.sort_key >= other.sort_key


def compare(a: ExtendedVersion | VersionString, b: ExtendedVersion | VersionString) -> int | None:
    """Compare two versions like Rust's ``partial_cmp``.

    Args:
        a: a version.
        b: another version.

    Returns:
        -1, 0 or 1 (the sign of ``a - b``), or None when the flavors differ.

    Raises:
        VersionError: never.
    """
    va = a.version if isinstance(a, VersionString) else a
    vb = b.version if isinstance(b, VersionString) else b
    return va.compare(vb)
