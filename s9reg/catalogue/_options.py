"""Inputs of the catalogue renderer besides the index: options and per-package extras."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = ["CatalogueOptions", "PackageExtras"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageExtras:
    """What the build reads from each ``.s9pk`` for the catalogue beyond the index.

    Attributes:
        instructions: ``instructions.md`` text, or None.
        license_text: ``LICENSE.md`` text, or None.
        file_sizes: byte size of each variant's file, by its commitment's ``rootSighash``
            (base64 as in the index); variants not listed show no size.
    """

    instructions: str | None
    license_text: str | None
    file_sizes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueOptions:
    """How to render the catalogue.

    Attributes:
        registry_url: public API URL to add in StartOS (QR code, copy button); the catalogue
            assumes the site is served there (absolute links in feeds and the sitemap).
        language: language of LocaleString fields, with upstream's fallback rules.
        registry_signer: hex fingerprint of the registry's co-signing key, if any.
        generated_at: ``<updated>`` of the registry feed; None for the newest ``publishedAt``.
        admins: Guids of the registry's admins (listed on the trust page).
        template_dir: an operator's directory of templates and ``static/`` files that
            override the built-in ones of the same name.
        adopted: Guid → URL of the registry whose signer entry was adopted
            (``trust_upstream_signers``), shown on the trust page.
    """

    registry_url: str
    language: str = "en_US"
    registry_signer: str | None = None
    generated_at: datetime | None = None
    admins: frozenset[str] = frozenset()
    template_dir: Path | None = None
    adopted: Mapping[str, str] = field(default_factory=dict)
