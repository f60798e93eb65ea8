"""``s9reg registry …``: upstream's ``start-cli registry …`` command tree on ``site-config.yaml``.

The groups mirror upstream's sub-paths exactly (``info``, ``index``, ``admin signer …``,
``package signer|category …``, ``os version|asset …``, ``db …``), so upstream's docs and an
operator's muscle memory carry over. The groups live in :mod:`._groups`; each module imported
below attaches its commands to them. The operations themselves are in :mod:`s9reg.admin`.
"""

from __future__ import annotations

# The commands that edit site-config.yaml (docs/administration.md).
from s9reg.cli.registry import (  # noqa: F401 - they attach their commands
    admin,
    categories,
    info_set,
    os_edit,
    package_edit,
    package_signers,
)
from s9reg.cli.registry._groups import registry

__all__ = ["registry"]
