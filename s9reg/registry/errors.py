"""Errors of the registry model (registry-protocol.md §2, §9.4): bad data, refused signers."""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = ["RegistryError", "UnauthorizedSignerError"]


class RegistryError(S9regError):
    """Registry JSON or a registry object is invalid.

    The message starts with the JSON path of the problem (``$.package.packages["x"].icon``) when
    there is one.

    Attributes:
        problem: what is wrong, without location.
        path: the JSON path of the offending value, or None.
    """

    code = "REGISTRY"

    def __init__(self, problem: str, *, path: str | None = None, hint: str | None = None) -> None:
        self.problem = problem
        self.path = path
        super().__init__(f"{path}: {problem}" if path else problem, hint=hint)


class UnauthorizedSignerError(RegistryError):
    """A key may not publish the given package version."""

    code = "UNAUTHORIZED_SIGNER"
