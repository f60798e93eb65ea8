"""What a publish changes in the registry as devices see it: package versions added or removed.

Compares two indexes by ``(package id, version)``; hardware variants, metadata and dates of a
version present in both are not compared (the publish plan has the object-level detail). Used
for CI outputs and job summaries (``s9reg publish --github-output``); nothing here reads
storage or writes files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from s9reg._json import JSONValue
from s9reg.registry.model.index import FullIndex

__all__ = ["IndexChanges", "index_changes"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexChanges:
    """Versions added and removed, by package id (ids and versions in index order).

    Attributes:
        added: package id → versions the new index lists and the old one does not.
        removed: package id → versions the old index lists and the new one does not.
        packages_added: ids the old index does not list at all.
        packages_removed: ids the new index does not list at all.
    """

    added: Mapping[str, tuple[str, ...]]
    removed: Mapping[str, tuple[str, ...]]
    packages_added: tuple[str, ...] = ()
    packages_removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether no version was added or removed."""
        return not self.added and not self.removed

    def count(self) -> tuple[int, int]:
        """Numbers of versions added and removed."""
        return (sum(map(len, self.added.values())), sum(map(len, self.removed.values())))

    def to_dict(self) -> dict[str, JSONValue]:
        """``{added: {id: [version…]}, removed: {…}, packagesAdded: […], packagesRemoved: […]}``."""
        return {
            "added": {pid: list(v) for pid, v in self.added.items()},
            "removed": {pid: list(v) for pid, v in self.removed.items()},
            "packagesAdded": list(self.packages_added),
            "packagesRemoved": list(self.packages_removed),
        }


def _versions(index: FullIndex | None) -> dict[str, tuple[str, ...]]:
    if index is None:
        return {}
    return {
        pid: tuple(str(v) for v in info.versions) for pid, info in index.package.packages.items()
    }


def _difference(
    a: Mapping[str, tuple[str, ...]], b: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for pid, versions in a.items():
        other = set(b.get(pid, ()))
        missing = tuple(v for v in versions if v not in other)
        if missing:
            out[pid] = missing
    return out


def index_changes(before: FullIndex | None, after: FullIndex | None) -> IndexChanges:
    """The versions ``after`` adds to ``before`` and removes from it (None: nothing published).

    Returns:
        The changes; empty when both list the same versions.
    """
    old, new = _versions(before), _versions(after)
    return IndexChanges(
        added=_difference(new, old),
        removed=_difference(old, new),
        packages_added=tuple(p for p in new if p not in old),
        packages_removed=tuple(p for p in old if p not in new),
    )
