"""The one error of the version library: a version, extended version or range is invalid."""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = ["VersionError"]


class VersionError(S9regError):
    """A version text does not parse, or two versions cannot be ordered.

    The message names the input and, for parse errors, the 0-based character position of the
    problem, e.g. ``version '1.0-01': numeric prerelease segment '01' has a leading zero (at
    position 4)``. ``details`` repeats the input with a caret under that position.

    Attributes:
        problem: what is wrong, without location.
        text: the input that was being parsed, or None (ordering errors).
        position: 0-based index into ``text`` where the problem is, or None.
        kind: what ``text`` was meant to be: ``"version"``, ``"extended version"`` or
            ``"version range"``.
    """

    code = "VERSION"

    def __init__(
        self,
        problem: str,
        *,
        text: str | None = None,
        position: int | None = None,
        kind: str = "version",
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        self.kind = kind
        where = f" (at position {position})" if position is not None else ""
        message = f"{kind} {text!r}: {problem}{where}" if text is not None else problem
        details = None
        if text is not None and position is not None:
            details = f"{text}\n{' ' * position}^"
        super().__init__(message, hint=hint, details=details)
