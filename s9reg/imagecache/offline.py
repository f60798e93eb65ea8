"""The manual offline switch (``s9reg cache offline on|off [UPSTREAM]``), kept across restarts.

Like Artifactory's offline mode: an upstream switched off by hand is never contacted, whether it
answers or not, until it is switched back on; the cache serves what it holds. The switch is the
file ``offline.json`` under ``data_dir`` (``{"all": bool, "upstreams": [names]}``), which the
running supervisor watches. This module only reads and writes that file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from s9reg.imagecache.errors import CacheError
from s9reg.imagecache.settings import CacheSettings

__all__ = ["ManualOffline", "offline_file"]


def offline_file(data_dir: Path) -> Path:
    """Where the switch of the cache in ``data_dir`` is kept."""
    return data_dir / "offline.json"


@dataclass(frozen=True, slots=True)
class ManualOffline:
    """Which upstreams are switched offline by hand.

    Attributes:
        all: every upstream (those configured later too).
        upstreams: these upstreams, by name.
    """

    all: bool = False
    upstreams: frozenset[str] = frozenset()

    def covers(self, name: str) -> bool:
        """Whether upstream ``name`` is switched offline."""
        return self.all or name in self.upstreams

    @classmethod
    def load(cls, data_dir: Path) -> ManualOffline:
        """The switch as saved; a missing or damaged file means nothing is switched off."""
        try:
            doc = json.loads(offline_file(data_dir).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(doc, dict):
            return cls()
        names = doc.get("upstreams")
        return cls(
            all=doc.get("all") is True,
            upstreams=frozenset(str(n) for n in names) if isinstance(names, list) else frozenset(),
        )

    def switched(
        self, settings: CacheSettings, *, offline: bool, name: str | None
    ) -> ManualOffline:
        """The switch after ``offline on|off [name]`` (every upstream without a name).

        Raises:
            CacheError: ``name`` is not a configured upstream.
        """
        every = [u.name for u in settings.upstreams]
        if name is None:
            return ManualOffline(all=offline)
        if name not in every:
            raise CacheError(
                f"{name}: not a configured upstream ({', '.join(every)})",
                hint="name an upstream of image_cache.upstreams, or none for all of them",
            )
        if offline:
            return ManualOffline(all=self.all, upstreams=self.upstreams | {name})
        if self.all:
            # Everything was off: keep the others off by name.
            return ManualOffline(upstreams=frozenset(n for n in every if n != name))
        return ManualOffline(upstreams=self.upstreams - {name})

    def save(self, data_dir: Path) -> None:
        """Write the switch atomically."""
        path = offline_file(data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        doc = {"all": self.all, "upstreams": sorted(self.upstreams)}
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
