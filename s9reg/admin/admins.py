"""Admins: ``admin add|remove|list``, the ``admin: true`` flag of a configured signer.

As upstream's ``admin.add`` (the signer must exist) and ``admin.remove`` (removing a signer
that is not an admin changes nothing). An admin may publish any package and version, new
packages included, and is authorized for every StartOS version. Nothing here prints.
"""

from __future__ import annotations

import os

from s9reg.admin._draft import editing, reading
from s9reg.config import Signer
from s9reg.registry import Guid

__all__ = ["add_admin", "list_admins", "remove_admin"]


def add_admin(path: str | os.PathLike[str], ref: str) -> tuple[Signer, bool]:
    """Make the signer ``ref`` (id or name) an admin.

    Returns:
        The signer, and whether the file changed (False: it was an admin already).

    Raises:
        AdminNotFoundError: no such signer.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        i, signer = d.signer(ref)
        if not signer.admin:
            d.doc.set(("signers", i, "admin"), True)  # noqa: FBT003 - a YAML value
    return signer, not signer.admin


def remove_admin(path: str | os.PathLike[str], ref: str) -> tuple[Signer, bool]:
    """Take the admin role from the signer ``ref`` (id or name); the signer stays.

    Returns:
        The signer, and whether the file changed (False: it was not an admin).

    Raises:
        AdminNotFoundError: no such signer.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        i, signer = d.signer(ref)
        if signer.admin:
            d.doc.set(("signers", i, "admin"), False)  # noqa: FBT003 - a YAML value
    return signer, signer.admin


def list_admins(path: str | os.PathLike[str]) -> dict[Guid, Signer]:
    """The admins by id, in id order (upstream's ``admin.list``).

    Raises:
        ConfigError: the config cannot be read.
    """
    cfg = reading(path)
    return {s.guid: s for s in sorted(cfg.admins, key=lambda s: s.guid)}
