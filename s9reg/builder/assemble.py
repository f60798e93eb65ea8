"""The full index from the indexed variants: versions merged, categories and signers added."""

from __future__ import annotations

import itertools
from dataclasses import replace

from s9reg.builder._state import State, Variant
from s9reg.builder.errors import BuildError
from s9reg.exver import VersionString
from s9reg.registry.model import (
    Category,
    FullIndex,
    PackageIndex,
    PackageInfo,
    PackageVersionInfo,
    dump_json,
    specificity_desc,
)

__all__ = ["assemble"]


def _metadata(info: PackageVersionInfo) -> bytes:
    return dump_json(replace(info, s9pks=()))


def _merge(package_id: str, version: VersionString, variants: list[Variant]) -> PackageVersionInfo:
    """One version from its variants: identical metadata, distinct hardware, upstream's order."""
    first = variants[0]
    for other in variants[1:]:
        if _metadata(other.info) != _metadata(first.info):
            a, b = first.info.to_dict(), other.info.to_dict()
            fields = sorted(k for k in a if k != "s9pks" and a[k] != b.get(k))
            raise BuildError(
                f"{package_id} {version}: {other.rel_path} and {first.rel_path} are variants of "
                f"one version but their metadata differ ({', '.join(fields)})",
                hint="rebuild the variants from one manifest, or give them different versions",
            )
    entries = sorted(
        ((v.info.s9pks[0], v.rel_path) for v in variants),
        key=lambda e: (specificity_desc(e[0][0]), dump_json(e[0][0].to_dict()), e[1]),
    )
    for (var_a, path_a), (var_b, path_b) in itertools.pairwise(entries):
        if var_a[0] == var_b[0]:
            raise BuildError(
                f"{package_id} {version}: {path_a} and {path_b} have the same hardware "
                "requirements but different contents",
                hint="publish only one of them, or change the version",
            )
    return replace(first.info, s9pks=tuple(e[0] for e in entries))


def assemble(state: State) -> FullIndex:
    """The index of everything indexed so far: merged versions, categories, signers."""
    settings = state.settings
    versions: dict[str, dict[VersionString, PackageVersionInfo]] = {}
    for (pid, version), variants in sorted(state.variants.items(), key=lambda kv: kv[0][0]):
        versions.setdefault(pid, {})[version] = _merge(pid, version, variants)
    membership: dict[str, list[str]] = {}
    for cat in settings.categories:
        for pid in cat.packages:
            if pid in versions:
                membership.setdefault(pid, []).append(cat.id)
            else:
                state.warn(f"category {cat.id}: package {pid} has no version in the site")
    packages = {
        pid: PackageInfo(
            authorized={
                **state.adopted_authorized.get(pid, {}),
                **settings.authorized.get(pid, {}),
            },
            versions=versions[pid],
            categories=tuple(sorted(set(membership.get(pid, ())))),
        )
        for pid in sorted(versions)
    }
    categories = {c.id: Category(c.name) for c in settings.categories}
    return FullIndex(
        name=settings.name,
        icon=settings.icon,
        package=PackageIndex(categories=categories, packages=packages),
        signers={**state.adopted_signers, **settings.signers},
    )
