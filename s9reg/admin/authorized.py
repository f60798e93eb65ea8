"""Who may publish which versions of a package: ``package signer add|remove|list``.

The ``authorized:`` map of the config (package id → signer name → version range), changed as
upstream's ``package.signer.*`` changes ``PackageInfo.authorized``. ``--merge`` ORs the new
range into the signer's existing one. A package must exist (a source holds it, or it has
authorized signers already), unless ``new`` is set: s9reg has no admin upload that creates a
package, so a developer's first version needs its range before it is built. Nothing here
prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from s9reg.admin import _parse
from s9reg.admin._draft import editing, find_signer, reading
from s9reg.admin.errors import AdminNotFoundError
from s9reg.admin.inventory import scan
from s9reg.config import Signer, SiteConfig
from s9reg.config.edit import Quoted
from s9reg.exver import VersionRange
from s9reg.registry import Guid

__all__ = ["Scope", "add_package_signer", "list_package_signers", "remove_package_signer"]


@dataclass(frozen=True, slots=True)
class Scope:
    """A signer's authorized range for a package."""

    signer: Signer
    versions: VersionRange


def package_exists(cfg: SiteConfig, package_id: str) -> bool:
    """Whether the registry has ``package_id``: authorized signers, or a listed source."""
    return package_id in cfg.authorized or package_id in scan(cfg).package_ids()


def _require_package(cfg: SiteConfig, package_id: str) -> None:
    if not package_exists(cfg, package_id):
        raise AdminNotFoundError(
            f"no package {package_id!r} in the registry (pass --new to authorize a signer for "
            "a package not published yet)"
        )


def add_package_signer(  # noqa: PLR0913 - upstream's parameters, plus `new`
    path: str | os.PathLike[str],
    package_id: str,
    signer: str,
    versions: str | None = None,
    *,
    merge: bool = False,
    new: bool = False,
) -> Scope:
    """Authorize ``signer`` for ``versions`` (default ``*``) of ``package_id``.

    Returns:
        The signer and its range now.

    Raises:
        AdminError: the id or range does not parse.
        AdminNotFoundError: no such signer, or no such package (unless ``new``).
        ConfigError: the config cannot be edited.
    """
    package_id = _parse.package_id(package_id)
    text = versions if versions is not None else "*"
    rng = _parse.version_range(text, "--versions")
    with editing(path) as d:
        _, who = d.signer(signer)
        if not new:
            _require_package(d.cfg, package_id)
        old = d.cfg.authorized.get(package_id, {}).get(who.name)
        if merge and old is not None:
            rng = VersionRange.or_(old, rng)
            text = str(rng)
        d.doc.set(("authorized", package_id, who.name), Quoted(text))
    return Scope(who, rng)


def remove_package_signer(path: str | os.PathLike[str], package_id: str, signer: str) -> Signer:
    """Take ``signer``'s authorization for ``package_id`` away.

    A package left with no authorized signer leaves the ``authorized`` map (the same index).

    Raises:
        AdminError: the id does not parse.
        AdminNotFoundError: no such signer, or it is not authorized for that package.
        ConfigError: the config cannot be edited.
    """
    package_id = _parse.package_id(package_id)
    with editing(path) as d:
        _, who = d.signer(signer)
        scopes = d.cfg.authorized.get(package_id, {})
        if who.name not in scopes:
            raise AdminNotFoundError(f"signer {who.name!r} is not authorized for {package_id!r}")
        if len(scopes) == 1:
            d.doc.remove(("authorized", package_id))
        else:
            d.doc.remove(("authorized", package_id, who.name))
    return who


def list_package_signers(path: str | os.PathLike[str], package_id: str) -> dict[Guid, Scope]:
    """The signers authorized for ``package_id`` and their ranges, by id (admins not listed).

    Raises:
        AdminError: the id does not parse.
        AdminNotFoundError: no such package.
        ConfigError: the config cannot be read.
    """
    package_id = _parse.package_id(package_id)
    cfg = reading(path)
    _require_package(cfg, package_id)
    out = {}
    for name, rng in cfg.authorized.get(package_id, {}).items():
        _, who = find_signer(cfg, name)
        out[who.guid] = Scope(who, rng)
    return dict(sorted(out.items()))
