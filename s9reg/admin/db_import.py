"""``registry db import DUMP.json``: a start-registryd database becomes a ``site-config.yaml``.

The dump (``db dump``'s ``{"id", "value": RegistryDatabase}``, or the bare database, or an
``index`` answer) gives the registry's name and icon, its signers with their Guids (kept as
``id``), contacts and keys, the admins, every package's authorized ranges, the categories and
their members, and the StartOS releases. Package sources are the first URL of every package
asset, and OS images their first URL, so building the new configuration downloads and verifies
every file again. The dump's index is written beside the configuration (``imported/index.json``)
so that ``s9reg build --previous imported`` keeps every ``publishedAt``. What changes in the
rebuilt index (the normalizations) is listed in ``docs/administration.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from s9reg.admin.db_apply import parse_database
from s9reg.config import EditSession
from s9reg.config.schema import MAX_NAME_LENGTH
from s9reg.errors import ConfigError
from s9reg.registry import FullIndex, Guid, RegistryError, dump_json

__all__ = ["IMPORTED_DIR", "ImportResult", "import_dump", "read_dump"]

IMPORTED_DIR = "imported"
CONFIG_NAME = "site-config.yaml"
DEFAULT_URL = "http://127.0.0.1:5959/"
_MAX_DUMP_BYTES = 512 << 20

_HEADER = """\
# s9reg site configuration imported from a start-registryd database ({source}).
# Schema and every key: docs/configuration.md. Build it keeping the dump's publication dates:
#
#     s9reg build --previous {imported}
#
# Package sources are the dump's package URLs: the build downloads and verifies every one.

registry:
  name: imported
  url: http://localhost/
"""


@dataclass(slots=True)
class ImportResult:
    """The written configuration and what the import had to change."""

    config: Path
    previous: Path
    signers: int = 0
    packages: int = 0
    sources: int = 0
    os_versions: int = 0
    notes: list[str] = field(default_factory=list)


def read_dump(path: Path) -> tuple[frozenset[Guid], FullIndex]:
    """The admins and the index of a dump file.

    Accepts ``{"id", "value": RegistryDatabase}``, a bare ``RegistryDatabase``, or a
    ``FullIndex`` (then there are no admins).

    Raises:
        RegistryError: the file cannot be read, is not JSON, or is none of those.
    """
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_DUMP_BYTES + 1)
    except OSError as e:
        raise RegistryError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > _MAX_DUMP_BYTES:
        raise RegistryError(f"{path}: larger than {_MAX_DUMP_BYTES >> 20} MiB")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise RegistryError(f"{path}: not JSON: {e}") from None
    if isinstance(value, dict) and "value" in value and "id" in value:
        value = value["value"]
    if isinstance(value, dict) and "index" in value:
        db = parse_database(value, path.name)
        return db.admins, db.index
    if isinstance(value, dict) and "signers" in value and "package" in value:
        index = FullIndex.from_dict(value, path=path.name)
        return frozenset(), index
    raise RegistryError(f"{path}: not a db dump, a RegistryDatabase or a FullIndex")


def _unique_names(index: FullIndex) -> tuple[dict[Guid, str], list[str]]:
    """Signer names, made unique (upstream allows two signers of one name; the config not)."""
    counts: dict[str, int] = {}
    for s in index.signers.values():
        counts[s.name] = counts.get(s.name, 0) + 1
    names: dict[Guid, str] = {}
    notes = []
    for g in sorted(index.signers):
        name = index.signers[g].name
        if counts[name] > 1:
            names[g] = f"{name} ({g[:8]})"
            notes.append(f"signer {g}: named {names[g]!r} (several signers are named {name!r})")
        else:
            names[g] = name
    return names, notes


def import_dump(  # noqa: PLR0913 - the dump, the output and four choices for the new file
    dump: Path,
    out: Path,
    *,
    url: str = DEFAULT_URL,
    name: str | None = None,
    signing_key: str | None = None,
    skip_os: bool = False,
) -> ImportResult:
    """Write ``out/site-config.yaml`` and ``out/imported/index.json`` from ``dump``.

    Args:
        dump: the dump file.
        out: the directory to write into (created; must not hold a site-config.yaml).
        url: the new registry's public URL (``registry.url``).
        name: the registry's name, when the dump has none.
        signing_key: ``env:NAME`` or ``file:PATH`` of the registry key, which signs the
            StartOS images at build (required when the dump has StartOS releases).
        skip_os: leave the StartOS releases out.

    Raises:
        RegistryError: the dump is not valid.
        ConfigError: the output exists, a release needs a key, or the new file does not
            validate (then nothing is left behind).
    """
    admins, index = read_dump(dump)
    config_path = out / CONFIG_NAME
    if config_path.exists():
        raise ConfigError(f"{config_path}: already exists; nothing was written")
    versions = index.os.versions if not skip_os else {}
    if versions and signing_key is None:
        raise ConfigError(
            f"{dump}: has {len(versions)} StartOS releases, which the build signs with the "
            "registry key",
            hint="give --signing-key file:PATH (s9reg key init makes one), or --skip-os",
        )
    registry_name = index.name or name or "Imported registry"
    if len(registry_name) > MAX_NAME_LENGTH:
        raise ConfigError(f"{dump}: registry name longer than {MAX_NAME_LENGTH} characters")
    out.mkdir(parents=True, exist_ok=True)
    result = ImportResult(config=config_path, previous=out / IMPORTED_DIR)
    text = _HEADER.format(
        source=dump.name,
        imported=IMPORTED_DIR,
    )  # name and URL are set below, quoted only where YAML needs it
    try:
        with config_path.open("x", encoding="utf-8") as f:  # never over an existing file
            f.write(text)
    except OSError as e:
        raise ConfigError(f"{config_path}: cannot write: {e.strerror or e}") from None
    try:
        session = EditSession.open(config_path)
        session.set(("registry", "name"), registry_name)
        session.set(("registry", "url"), url)
        _fill(session, index, admins, signing_key, result, versions_too=not skip_os)
        session.commit()
    except BaseException:
        config_path.unlink(missing_ok=True)
        raise
    previous = out / IMPORTED_DIR
    previous.mkdir(exist_ok=True)
    (previous / "index.json").write_bytes(dump_json(index))
    return result


def _fill(  # noqa: PLR0913 - the session, the dump's parts, and the choices
    doc: EditSession,
    index: FullIndex,
    admins: frozenset[Guid],
    signing_key: str | None,
    result: ImportResult,
    *,
    versions_too: bool,
) -> None:
    if index.icon is not None:
        doc.set(("registry", "icon"), index.icon)
    if signing_key is not None:
        doc.set(("registry", "signing_key"), signing_key)
    names, notes = _unique_names(index)
    result.notes.extend(notes)
    _signers(doc, index, admins, names, result)
    packages = index.package.packages
    authorized = {
        pid: {names[g]: str(r) for g, r in sorted(info.authorized.items()) if g in names}
        for pid, info in sorted(packages.items())
        if info.authorized
    }
    if authorized:
        doc.set(("authorized",), authorized)
    categories: dict[str, object] = {
        cid: {
            "name": index.package.categories[cid].name.json_value(),
            "packages": [pid for pid in sorted(packages) if cid in packages[pid].categories],
        }
        for cid in sorted(index.package.categories)
    }
    if categories:
        doc.set(("categories",), categories)
    sources = _sources(index, result)
    doc.set(("packages",), {"sources": sources})
    result.packages, result.sources = len(packages), len(sources)
    if versions_too:
        releases = _releases(index)
        if releases:
            doc.set(("os",), releases)
        result.os_versions = len(releases)
    doc.set(("output",), "_site")


def _signers(
    doc: EditSession,
    index: FullIndex,
    admins: frozenset[Guid],
    names: dict[Guid, str],
    result: ImportResult,
) -> None:
    signers = []
    for g in sorted(index.signers):
        s = index.signers[g]
        entry: dict[str, object] = {"name": names[g], "id": str(g)}
        if s.contact:
            entry["contact"] = [c.to_dict() for c in s.contact]
        entry["keys"] = list(s.keys)
        if g in admins:
            entry["admin"] = True
        signers.append(entry)
    for g in sorted(admins - set(index.signers)):
        result.notes.append(f"admin {g}: not a signer in the index; left out")
    if signers:
        doc.set(("signers",), signers)
    result.signers = len(signers)


def _sources(index: FullIndex, result: ImportResult) -> list[str]:
    """The first URL of every package asset (the others are mirrors the file cannot hold yet)."""
    sources: list[str] = []
    packages = index.package.packages
    for pid in sorted(packages):
        for version, info in packages[pid].versions.items():
            for _, asset in info.s9pks:
                if not asset.urls:  # pragma: no cover - the model requires URLs
                    continue
                if asset.urls[0] not in sources:
                    sources.append(asset.urls[0])
                if len(asset.urls) > 1:
                    result.notes.append(
                        f"{pid} {version}: {len(asset.urls) - 1} more mirror URLs not kept"
                    )
    return sources


def _releases(index: FullIndex) -> list[dict[str, object]]:
    releases = []
    for v in sorted(index.os.versions, key=lambda v: v.sort_key):
        info = index.os.versions[v]
        release: dict[str, object] = {"version": str(v), "headline": info.headline}
        if info.release_notes:
            release["release_notes"] = info.release_notes
        release["source_version"] = str(info.source_version)
        for kind in ("iso", "img", "squashfs"):
            assets = getattr(info, kind)
            if assets:
                release[kind] = {p: assets[p].urls[0] for p in sorted(assets)}
        releases.append(release)
    return releases
