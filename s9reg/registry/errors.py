"""Errors of the registry model (registry-protocol.md §2, §9.4): bad data, refused signers."""

from __future__ import annotations

from collections.abc import Sequence

from s9reg._json import Problem, details, summary
from s9reg.errors import S9regError

__all__ = ["RegistryError", "UnauthorizedSignerError"]


class RegistryError(S9regError):
    """Registry JSON or a registry object is invalid.

    The message starts with the key path of the problem (``package.packages.x.icon``) when there
    is one (the empty path is the whole document).

    Attributes:
        problem: what is wrong, without location.
        path: the key path of the offending value (``""``: the whole document), or None.
    """

    code = "REGISTRY"

    def __init__(self, problem: str, *, path: str | None = None, hint: str | None = None) -> None:
        self.problem = problem
        self.path = path
        super().__init__(f"{path}: {problem}" if path else problem, hint=hint)

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> RegistryError:
        """One error for every problem.

        The message is the first problem and how many more there are; ``details`` lists all.
        """
        first = summary(problems)
        err = cls(first.problem, path=first.path)
        if len(problems) > 1:
            err.details = details(problems)
        return err


class UnauthorizedSignerError(RegistryError):
    """A key may not publish the given package version."""

    code = "UNAUTHORIZED_SIGNER"
