"""One administration edit: the file opened for round-trip editing, and what it loads as.

Every operation reads the validated :class:`~s9reg.config.SiteConfig` to decide, and changes
the :class:`~s9reg.config.EditSession` to write; :func:`editing` commits only when the
operation returns, so a refusal leaves the file byte-identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from s9reg import config
from s9reg.admin.errors import AdminNotFoundError
from s9reg.config import EditSession, Signer, SiteConfig
from s9reg.registry import Guid
from s9reg.registry.errors import RegistryError

__all__ = ["Draft", "editing", "find_signer", "reading"]


@dataclass
class Draft:
    """The config being edited (``doc``) and the configuration it held when read (``cfg``)."""

    doc: EditSession
    cfg: SiteConfig

    def signer(self, ref: str) -> tuple[int, Signer]:
        """:func:`find_signer` in this config."""
        return find_signer(self.cfg, ref)


def _open(path: str | os.PathLike[str]) -> Draft:
    doc = EditSession.open(path)
    cfg = config.loads(doc.text(), path=Path(path), display=os.fspath(path))
    return Draft(doc, cfg)


@contextmanager
def editing(path: str | os.PathLike[str]) -> Iterator[Draft]:
    """Open ``path``; commit (validate, then replace atomically) when the block succeeds.

    Raises:
        ConfigError: the file cannot be read or edited in place, or the result breaks the
            schema (the file is then unchanged).
    """
    draft = _open(path)
    yield draft
    draft.doc.commit()


def reading(path: str | os.PathLike[str]) -> SiteConfig:
    """The configuration at ``path``, for the list commands.

    Raises:
        ConfigError: it cannot be read or breaks the schema.
    """
    return config.load(path)


def find_signer(cfg: SiteConfig, ref: str) -> tuple[int, Signer]:
    """The signer ``ref`` names, by id (Guid) or by name, with its index in ``signers``.

    Raises:
        AdminNotFoundError: no signer has that id or name.
    """
    for i, s in enumerate(cfg.signers):
        if ref in (s.name, s.guid):
            return i, s
    kind = "id" if _looks_like_guid(ref) else "name"
    raise AdminNotFoundError(
        f"no signer with the {kind} {ref!r} (s9reg registry admin signer list shows them)"
    )


def _looks_like_guid(text: str) -> bool:
    try:
        Guid(text)
    except RegistryError:
        return False
    return True
