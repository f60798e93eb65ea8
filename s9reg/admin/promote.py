"""``registry package promote`` and ``registry os promote``: pin another registry's release here.

Upstream's ``start-cli registry package promote --from URL`` copies a release from a test
registry into a stable one (and drops its categories). Here the configuration is the registry,
so promoting is an edit of ``site-config.yaml`` through :func:`s9reg.config.edit` (comments and
layout kept): a package version becomes an exact pin in a registry source of that URL (``copy``
mode: the next build downloads, verifies and publishes it, with the source's URLs as fallback
mirrors), and its categories are created or joined; a StartOS release becomes an ``os:`` entry
with the source's image URLs. The source is asked with the public read methods
(:class:`~s9reg.builder.upstream.RegistryClient`). Nothing here prints; with ``dry_run`` the
file is not written, and the difference is returned either way.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from s9reg.builder.fetch import DownloadLimits
from s9reg.builder.upstream import RegistryClient
from s9reg.config import EditSession, loads
from s9reg.errors import ConfigError
from s9reg.exver import Version, VersionError, VersionRange, VersionString
from s9reg.registry.errors import RegistryError
from s9reg.registry.model import PackageVersionInfo

__all__ = ["Promotion", "promote_os", "promote_package"]

_SOURCES = ("packages", "sources")


@dataclass(frozen=True, slots=True)
class Promotion:
    """What a promotion changed (or, with ``dry_run``, would change).

    Attributes:
        diff: unified difference of ``site-config.yaml`` (empty: nothing to change).
        written: whether the file was replaced.
        notes: one line per change, for people.
    """

    diff: str
    written: bool
    notes: tuple[str, ...]


def _same_registry(a: object, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def _find(
    versions: dict[VersionString, PackageVersionInfo], wanted: VersionString
) -> VersionString | None:
    for v in versions:
        if v.flavor == wanted.flavor and v.compare(wanted) == 0:
            return v
    return None


def _finish(session: EditSession, original: str, notes: list[str], *, dry_run: bool) -> Promotion:
    after = session.text()
    name = session.path.name
    diff = "".join(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{name}",
            f"b/{name}",
        )
    )
    if not diff:
        return Promotion("", written=False, notes=tuple(notes))
    if dry_run:  # validated as a commit would, not written
        loads(after, path=session.path, display=str(session.path))
        return Promotion(diff, written=False, notes=tuple(notes))
    session.commit()
    return Promotion(diff, written=True, notes=tuple(notes))


def promote_package(  # noqa: PLR0913 - the release, the file and how
    config_path: Path,
    source: str,
    package_id: str,
    version: str,
    *,
    dry_run: bool = False,
    limits: DownloadLimits | None = None,
) -> Promotion:
    """Pin ``package_id`` at ``version`` from the registry at ``source`` into the configuration.

    Raises:
        ConfigError: the configuration cannot be read or edited, or the edit does not validate.
        RegistryError: the source has no such package version.
        BuildError: the source cannot be read.
    """
    try:
        wanted = VersionString.parse(version)
    except VersionError as e:
        raise ConfigError(f"version {version!r}: {e.message}") from None
    client = RegistryClient(source, limits or DownloadLimits())
    got = client.package_get(package_id)
    versions = {**got.other_versions, **got.best}
    found = _find(versions, wanted)
    if found is None:
        have = ", ".join(str(v) for v in sorted(versions, key=lambda v: v.sort_key)) or "none"
        raise RegistryError(f"{source}: no {package_id} {wanted} (versions: {have})")
    session = EditSession.open(config_path)
    original = session.text()
    notes: list[str] = []
    _pin(session, source, package_id, found, notes)
    if got.categories:
        names = client.info().categories
        for cat in got.categories:
            path = ("categories", cat)
            if not session.has(path):
                name = names[cat].name.json_value() if cat in names else cat
                session.set(path, {"name": name, "packages": [package_id]})
                notes.append(f"category {cat} created with {package_id}")
            elif package_id not in _members(session, cat):
                session.append((*path, "packages"), package_id)
                notes.append(f"{package_id} added to category {cat}")
    mirrors = sorted({u for _, a in versions[found].s9pks for u in a.urls})
    notes.extend(f"fallback mirror: {u}" for u in mirrors)
    return _finish(session, original, notes, dry_run=dry_run)


def _members(session: EditSession, category: str) -> list[object]:
    path = ("categories", category, "packages")
    members = session.get(path) if session.has(path) else []
    return members if isinstance(members, list) else []


def _pin(
    session: EditSession, source: str, package_id: str, version: VersionString, notes: list[str]
) -> None:
    """Make a registry source of ``source`` select ``package_id`` at ``version``."""
    entries = session.get(_SOURCES) if session.has(_SOURCES) else []
    if not isinstance(entries, list):
        raise ConfigError(f"{session.path.name}: packages.sources is not a list")
    pin = f"={version}"
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not _same_registry(entry.get("registry"), source):
            continue
        flavor = entry.get("flavor")
        if entry.get("newest") is not None or (
            flavor is not None and str(flavor) != (version.flavor or "")
        ):
            continue  # its filters could leave the pinned version out: a source of its own
        selection = entry.get("packages", "*")
        if selection == "*":
            if package_id not in (entry.get("exclude") or []):
                notes.append(f'{package_id} {version}: already taken (packages: "*")')
                return
            continue
        if not isinstance(selection, dict):
            continue
        current = selection.get(package_id)
        if package_id in selection:
            scope = VersionRange.any() if current is None else VersionRange.parse(str(current))
            if scope.satisfied_by(version):
                notes.append(f"{package_id} {version}: already selected ({scope})")
                return
            session.set((*_SOURCES, i, "packages", package_id), f"{current} || {pin}")
        else:
            session.set((*_SOURCES, i, "packages", package_id), pin)
        notes.append(f"{package_id} {version} pinned in the source {source}")
        return
    session.append(_SOURCES, {"registry": source, "mode": "copy", "packages": {package_id: pin}})
    notes.append(f"{package_id} {version} pinned in a new source {source}")


def promote_os(
    config_path: Path,
    source: str,
    version: str,
    *,
    dry_run: bool = False,
    limits: DownloadLimits | None = None,
) -> Promotion:
    """Add the StartOS release ``version`` of the registry at ``source`` to ``os:``.

    Each image is listed by the source's first URL; the next build downloads it to compute its
    commitment (it must match the source's) and signs it with this registry's key.

    Raises:
        ConfigError: the configuration cannot be edited, already has the version, or the edit
            does not validate.
        RegistryError: the source has no such release.
        BuildError: the source cannot be read.
    """
    try:
        wanted = Version.parse(version)
    except VersionError as e:
        raise ConfigError(f"version {version!r}: {e.message}") from None
    index = RegistryClient(source, limits or DownloadLimits()).os_index()
    found = next((v for v in index.versions if v.sort_key == wanted.sort_key), None)
    if found is None:
        have = ", ".join(str(v) for v in sorted(index.versions, key=lambda v: v.sort_key))
        raise RegistryError(f"{source}: no StartOS {wanted} (releases: {have or 'none'})")
    info = index.versions[found]
    session = EditSession.open(config_path)
    original = session.text()
    existing = session.get(("os",)) if session.has(("os",)) else []
    if isinstance(existing, list) and any(
        isinstance(e, dict) and _same_version(e.get("version"), wanted) for e in existing
    ):
        raise ConfigError(f"os: StartOS {wanted} is already in the configuration")
    entry: dict[str, object] = {
        "version": str(found),
        "headline": info.headline,
        "release_notes": info.release_notes,
        "source_version": str(info.source_version),
    }
    notes = [f"StartOS {found} added from {source}"]
    for kind in ("iso", "img", "squashfs"):
        assets = getattr(info, kind)
        if assets:
            entry[kind] = {p: a.urls[0] for p, a in sorted(assets.items()) if a.urls}
            notes.extend(
                f"{kind} {p}: fallback mirror {u}"
                for p, a in sorted(assets.items())
                for u in a.urls[1:]
            )
    session.append(("os",), entry)
    return _finish(session, original, notes, dry_run=dry_run)


def _same_version(text: object, wanted: Version) -> bool:
    try:
        return isinstance(text, str) and Version.parse(text).sort_key == wanted.sort_key
    except VersionError:
        return False
