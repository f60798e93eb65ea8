"""The index of a registry published before, from a site directory or URL (``--previous``).

The build reads it only for the ``publishedAt`` of assets its previous output lacks (a fresh
checkout has none). Reading the storage target's live index, with credentials, is
:mod:`s9reg.publish`'s part; nothing here writes anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import fetch_bytes
from s9reg.errors import S9regError
from s9reg.registry.model import FullIndex
from s9reg.site_layout import INDEX_FILE

__all__ = ["MAX_INDEX_BYTES", "TIMEOUT_S", "read_site_index"]

#: Largest ``index.json`` read from a URL: far above any real registry's, far below memory.
MAX_INDEX_BYTES = 256 << 20
TIMEOUT_S = 30.0


def read_site_index(location: str, *, timeout: float = TIMEOUT_S) -> FullIndex:
    """The ``index.json`` of the published site at ``location``.

    Args:
        location: an ``http(s)`` URL of the site (its ``index.json`` is fetched; a URL that
            ends in ``.json`` is fetched as is), or a directory holding an ``index.json``
            (a built or published site).
        timeout: deadline of the response head (the body must then keep a minimum rate).

    Raises:
        BuildError: it cannot be fetched or read, or it is not a registry index.
    """
    if urlsplit(location).scheme in {"http", "https"}:
        url = location if location.endswith(".json") else location.rstrip("/") + "/" + INDEX_FILE
        raw = fetch_bytes(url, max_bytes=MAX_INDEX_BYTES, timeout=timeout)
        where = url
    else:
        path = Path(location) / INDEX_FILE
        where = str(path)
        if not Path(location).is_dir():
            raise BuildError(f"{location}: not a directory (expected a site or an http(s) URL)")
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise BuildError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return FullIndex.from_dict(json.loads(raw), path=INDEX_FILE)
    except (ValueError, S9regError) as e:
        raise BuildError(f"{where}: not a registry index: {e}") from None
