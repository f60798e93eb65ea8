"""The builder's error: the build cannot produce a consistent site."""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = ["BuildError"]


class BuildError(S9regError):
    """The build cannot produce a consistent site (conflicting variants, output problems)."""

    code = "BUILD"
