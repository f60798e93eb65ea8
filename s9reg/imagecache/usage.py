"""Pulls by digest, read from the proxy engines' access logs, as use of the tags they name.

A pull by tag reaches the relay (which touches the tag); a pull by digest alone
(``image@sha256:…``) is served from the store without it. The engine logs every request
(``"GET /v2/<repo>/manifests/sha256:… HTTP/1.1" 200``): :class:`DigestPulls` reads what the logs
gained since the last look, and the supervisor touches each stored tag pointing at such a digest.
Filesystem storage only; nothing here writes a log.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from s9reg.imagecache.engine import Layout
from s9reg.imagecache.settings import CacheSettings, Upstream

__all__ = ["DigestPulls", "tags_of_digest"]

# Read at most this much of a log per look (a burst beyond it is skipped, not replayed).
MAX_READ = 8 * 1024 * 1024
_PULL_RE = re.compile(
    rb'"(?:GET|HEAD) /v2/(?P<repo>[a-z0-9._/-]+)/manifests/(?P<digest>sha256:[0-9a-f]{64})'
    rb' HTTP/[0-9.]+" 200 '
)


@dataclass(slots=True)
class _Cursor:
    inode: int = -1
    offset: int = 0


@dataclass(slots=True)
class DigestPulls:
    """Reads new lines of the proxies' logs; starts at their current ends."""

    logs: dict[str, Path]
    _cursors: dict[str, _Cursor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, path in self.logs.items():
            cursor = _Cursor()
            try:
                st = path.stat()
                cursor.inode, cursor.offset = st.st_ino, st.st_size
            except OSError:
                pass
            self._cursors[name] = cursor

    def new_pulls(self) -> dict[str, set[tuple[str, str]]]:
        """``(repository, digest)`` pulled since the last call, per upstream name."""
        out: dict[str, set[tuple[str, str]]] = {}
        for name, path in self.logs.items():
            cursor = self._cursors[name]
            try:
                with path.open("rb") as f:
                    st = os.fstat(f.fileno())
                    if st.st_ino != cursor.inode or st.st_size < cursor.offset:
                        cursor.inode, cursor.offset = st.st_ino, 0  # rotated or truncated
                    start = max(cursor.offset, st.st_size - MAX_READ)
                    f.seek(start)
                    data = f.read(st.st_size - start)
            except OSError:
                continue
            end = data.rfind(b"\n") + 1  # a line being written is read next time
            cursor.offset = start + end
            for m in _PULL_RE.finditer(data[:end]):
                out.setdefault(name, set()).add((m["repo"].decode(), m["digest"].decode()))
        return out


def tags_of_digest(settings: CacheSettings, up: Upstream, repo: str, digest: str) -> list[Path]:
    """The link files of the stored tags of ``repo`` that point at ``digest``."""
    root = Layout(settings.data_dir).storage_root(up)
    tags = root / "docker/registry/v2/repositories" / repo / "_manifests/tags"
    out = []
    try:
        entries = sorted(tags.iterdir())
    except OSError:
        return []
    for entry in entries:
        link = entry / "current/link"
        try:
            if link.read_text(encoding="ascii").strip() == digest:
                out.append(link)
        except (OSError, UnicodeDecodeError):
            continue
    return out
