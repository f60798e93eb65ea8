"""The catalogue's error type (issue 5): a template or an input the renderer cannot use."""

from __future__ import annotations

from s9reg.errors import S9regError

__all__ = ["CatalogueError"]


class CatalogueError(S9regError):
    """The catalogue cannot be rendered: a broken template, template directory or icon."""

    code = "CATALOGUE"
