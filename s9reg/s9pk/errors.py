"""Errors of the `.s9pk` format library; every reader or writer failure is one of these."""

from __future__ import annotations

from collections.abc import Sequence

from s9reg._json import Problem, details, summary
from s9reg.errors import S9regError

__all__ = [
    "IntegrityError",
    "KeyFormatError",
    "MalformedArchiveError",
    "ManifestError",
    "S9pkError",
    "SignatureError",
    "UnsupportedFormatError",
]


class S9pkError(S9regError):
    """A `.s9pk` archive is invalid.

    The message names the archive (when known), the path inside it and the problem, e.g.
    ``pkg.s9pk: /images/x86_64/main.squashfs: BLAKE3 mismatch``.

    Attributes:
        problem: what is wrong, without location.
        path: path inside the archive (``/`` for the root), or None.
        offset: byte offset in the file, or None.
        archive: name of the archive file, or None.
    """

    code = "S9PK"

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        archive: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = path
        self.offset = offset
        self.archive = archive
        super().__init__(self._format(), hint=hint)

    def _format(self) -> str:
        parts = [p for p in (self.archive, self.path) if p]
        where = f" (at byte {self.offset})" if self.offset is not None else ""
        return ": ".join([*parts, self.problem]) + where

    def in_archive(self, archive: str) -> S9pkError:
        """Attach the archive's name to the message and return self."""
        self.archive = archive
        self.message = self._format()
        self.args = (self.message,)
        return self


class MalformedArchiveError(S9pkError):
    """The bytes do not form a valid archive (truncation, bad varint, bad names, bounds)."""

    code = "S9PK_MALFORMED"


class SignatureError(S9pkError):
    """A signature does not verify, or a signed bound or commitment is violated."""

    code = "S9PK_SIGNATURE"


class IntegrityError(S9pkError):
    """A directory sighash or a file's BLAKE3 hash or size does not match."""

    code = "S9PK_INTEGRITY"


class ManifestError(S9pkError):
    """``manifest.json`` is missing or invalid, or the tree does not satisfy it."""

    code = "S9PK_MANIFEST"

    @classmethod
    def of(cls, problems: Sequence[Problem], *, path: str | None) -> ManifestError:
        """One error for every problem found in the file at ``path``.

        The message is the first problem and how many more there are; ``details`` lists all.
        """
        err = cls(str(summary(problems)), path=path)
        err.details = details(problems, path)
        return err


class UnsupportedFormatError(S9pkError):
    """The archive is of a format s9reg recognises but cannot use for this purpose (e.g. v1)."""

    code = "S9PK_UNSUPPORTED"


class KeyFormatError(S9pkError):
    """A key or signature is not in a form s9reg can read (PEM, DER, curve)."""

    code = "KEY_FORMAT"
