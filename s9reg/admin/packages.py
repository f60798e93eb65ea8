"""Packages: ``package add|remove|add-mirror|remove-mirror`` on ``packages:`` of the config.

``add`` checks a file as the build would (verified in full, listable, texts within limits,
its signer authorized) before it is placed: a file is copied into the first source directory,
a URL is added to ``packages.sources``. ``remove`` follows upstream's ``package.remove`` rules
but is declarative: an entry of ``packages.exclude`` makes the build leave the package, version
or variant out, and no file is ever deleted. ``add-mirror`` downloads the URL and adds it to
``packages.mirrors`` only when it serves the same commitment as a variant of that version;
``remove-mirror`` refuses to leave a variant with no URL. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from s9reg.admin import _parse
from s9reg.admin._draft import Draft, editing
from s9reg.admin.errors import AdminConflictError, AdminError, AdminNotFoundError
from s9reg.admin.inventory import Inventory, Variant, download_package, scan
from s9reg.builder.fetch import download
from s9reg.builder.ingest import Admitted, admit
from s9reg.config import LocalSource, RemoteSource, SiteConfig
from s9reg.config.assemble import publish_rules
from s9reg.config.edit import Quoted
from s9reg.config.schema import CACHE_DIR
from s9reg.errors import S9regError
from s9reg.exver import VersionString
from s9reg.registry.model import PackageVersionInfo, dump_json
from s9reg.s9pk.commitment import b64_encode
from s9reg.s9pk.package import S9pk
from s9reg.s9pk.reader import MAGIC_V1, MAGIC_V2

_EPOCH = datetime.fromtimestamp(0, UTC)

__all__ = ["Placed", "add_mirror", "add_package", "remove_mirror", "remove_package"]


@dataclass(frozen=True, slots=True)
class Placed:
    """A package ``add`` accepted, and where it went.

    Attributes:
        package: what the file holds.
        location: the file it was copied to, or the URL added to the sources.
        changed: False when the config and sources held it already.
    """

    package: Admitted
    location: str
    changed: bool


def _source_dir(cfg: SiteConfig) -> Path:
    for source in cfg.sources:
        if isinstance(source, LocalSource) and source.pattern.is_dir():
            return source.pattern
    raise AdminError(
        "no source directory to copy the package into: add one to packages.sources "
        "(for example packages/)"
    )


def _excluding(cfg: SiteConfig, pkg: Admitted) -> list[int]:
    """Indices of the ``packages.exclude`` entries that would leave ``pkg`` out."""
    return [
        i for i, x in enumerate(cfg.exclude) if x.matches(pkg.package_id, pkg.version, pkg.sighash)
    ]


def _check_variants(inventory: Inventory, pkg: Admitted, where: str) -> None:
    """Refuse what the build would refuse: the same file twice, or variants that disagree."""
    for other in inventory.of(pkg.package_id, pkg.version):
        if other.sighash == pkg.sighash:
            shown = other.url or str(other.path)
            raise AdminConflictError(
                f"{where}: {pkg.package_id} {pkg.version} is in the registry already ({shown})"
            )
        try:
            with S9pk.open(other.path) as existing:
                info = PackageVersionInfo.from_s9pk(existing, (), _EPOCH)
        except S9regError:
            continue
        if dump_json(replace(info, s9pks=())) != dump_json(replace(pkg.info, s9pks=())):
            raise AdminConflictError(
                f"{where}: {pkg.package_id} {pkg.version} has another variant "
                f"({other.url or other.path}) whose metadata differ"
            )


def _unexclude(d: Draft, pkg: Admitted, inventory: Inventory) -> None:
    """Drop the exclusions that would hide ``pkg``, keeping the rest of a removed package out.

    An excluded package or version comes back with this file only, as after upstream's
    ``package.remove`` then ``package.add``: its other versions and variants stay excluded.
    """
    hits = _excluding(d.cfg, pkg)
    for i in reversed(hits):
        d.doc.remove(("packages", "exclude", i))
    keep: dict[tuple[str, str | None], None] = {}
    for v in inventory.variants:
        if v.id != pkg.package_id or v.sighash == pkg.sighash:
            continue
        if any(d.cfg.exclude[i].matches(v.id, v.version, v.sighash) for i in hits):
            keep[(str(v.version), v.sighash if v.version == pkg.version else None)] = None
    for version, sighash in keep:
        entry = {"id": pkg.package_id, "version": Quoted(version)}
        if sighash is not None:
            entry["sighash"] = sighash
        d.doc.append(("packages", "exclude"), entry)


def add_package(path: str | os.PathLike[str], source: str) -> Placed:
    """Verify and authorize a package file or URL as the build would, then add it.

    Raises:
        S9pkError: the file is not a valid, intact package.
        UnauthorizedSignerError: its signer may not publish it.
        RegistryError: the build would refuse to index it.
        BuildError: the URL cannot be downloaded.
        AdminError: there is no source directory to copy a file into.
        AdminConflictError: the registry has it already, another variant of its version
            disagrees, or a different file of that name is in the source directory.
        ConfigError: the config cannot be edited.
    """
    is_url = "://" in source
    with editing(path) as d:
        if is_url:
            url = _parse.url(source)
            file = download_package(d.cfg, url)
        else:
            file = Path(source).expanduser()
        pkg = admit(file, publish_rules(d.cfg), d.cfg.incomplete_arches)
        inventory = scan(d.cfg)
        _check_variants(inventory, pkg, source)
        _unexclude(d, pkg, inventory)
        if is_url:
            d.doc.append(("packages", "sources"), url)
            return Placed(pkg, url, changed=True)
        target = _source_dir(d.cfg) / file.name
        if target.exists() and not filecmp.cmp(file, target, shallow=False):
            raise AdminConflictError(f"{target}: another file of that name is there already")
        if not target.exists():
            _copy(file, target)
    return Placed(pkg, str(target), changed=True)


def _copy(file: Path, target: Path) -> None:
    """Copy into the source directory atomically (a partial file is never a source)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as e:
        raise AdminError(f"{target.parent}: cannot copy the package: {e.strerror or e}") from None
    os.close(fd)
    try:
        shutil.copyfile(file, tmp)
        Path(tmp).replace(target)
    except OSError as e:
        raise AdminError(f"{target}: cannot copy the package: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Removal:
    """What ``package remove`` excluded."""

    package_id: str
    version: VersionString | None
    sighash: str | None
    variants: tuple[Variant, ...]


def remove_package(
    path: str | os.PathLike[str],
    package_id: str,
    version: str | None = None,
    sighash: str | None = None,
    *,
    force: bool = False,
) -> Removal:
    """Leave a package, a version or one variant out of the registry (upstream's rules).

    With ``sighash`` (which needs ``version``): that variant. With ``version``: that version.
    With neither: the whole package, which needs ``force`` if it has versions; its authorized
    signers, category memberships and mirrors go with it, as upstream's ``PackageInfo`` does.

    Raises:
        AdminError: an argument does not parse, or ``sighash`` is given without ``version``.
        AdminNotFoundError: no such package, version or variant.
        AdminConflictError: the package has versions and ``force`` is not set.
        ConfigError: the config cannot be edited.
    """
    package_id = _parse.package_id(package_id)
    ver = _parse.version_string(version) if version is not None else None
    sig = _parse.sighash(sighash) if sighash is not None else None
    if sig is not None and ver is None:
        raise AdminError("--sighash needs the VERSION it belongs to")
    with editing(path) as d:
        variants = scan(d.cfg).of(package_id, ver)
        if sig is not None:
            variants = [v for v in variants if v.sighash == sig]
        if ver is not None and not variants:
            what = f"{package_id} {ver}" + (f" with sighash {sig}" if sig else "")
            raise AdminNotFoundError(f"no package {what} in the registry")
        if ver is None:
            _remove_whole(d, package_id, variants, force=force)
        entry: dict[str, str] = {"id": package_id}
        if ver is not None:
            entry["version"] = Quoted(str(ver))
        if sig is not None:
            entry["sighash"] = sig
        _drop_narrower(d, package_id, ver)
        _drop_mirrors(d, package_id, ver, sig)
        d.doc.append(("packages", "exclude"), entry)
    return Removal(package_id, ver, sig, tuple(variants))


def _remove_whole(d: Draft, package_id: str, variants: Sequence[Variant], *, force: bool) -> None:
    cfg = d.cfg
    members = [c for c in cfg.categories if package_id in c.packages]
    if not variants and package_id not in cfg.authorized and not members:
        raise AdminNotFoundError(f"no package {package_id!r} in the registry")
    if variants and not force:
        versions = sorted({str(v.version) for v in variants})
        raise AdminConflictError(
            f"{package_id} has {len(versions)} version(s) ({', '.join(versions)}); "
            "pass --force to remove the package"
        )
    if package_id in cfg.authorized:
        d.doc.remove(("authorized", package_id))
    for c in members:
        d.doc.remove(("categories", c.id, "packages", c.packages.index(package_id)))


def _drop_narrower(d: Draft, package_id: str, version: VersionString | None) -> None:
    """Remove exclusions the new one covers (a version's variants, a package's versions)."""
    for i in reversed(range(len(d.cfg.exclude))):
        x = d.cfg.exclude[i]
        if x.id == package_id and (version is None or x.version == version):
            d.doc.remove(("packages", "exclude", i))


def _drop_mirrors(
    d: Draft, package_id: str, version: VersionString | None, sighash: str | None
) -> None:
    for i in reversed(range(len(d.cfg.mirrors))):
        m = d.cfg.mirrors[i]
        if (
            m.id == package_id
            and (version is None or m.version == version)
            and (sighash is None or m.sighash == sighash)
        ):
            d.doc.remove(("packages", "mirrors", i))


def add_mirror(path: str | os.PathLike[str], package_id: str, version: str, url: str) -> bool:
    """Add ``url`` as a further URL of the variant of ``package_id`` ``version`` it serves.

    The URL is downloaded and verified in full; its commitment must be one of that version's.

    Returns:
        Whether the file changed (False: the mirror was there already).

    Raises:
        AdminError: an argument does not parse.
        AdminNotFoundError: no such package version.
        AdminConflictError: the URL serves other bytes.
        BuildError: the URL cannot be downloaded.
        ConfigError: the config cannot be edited.
    """
    package_id = _parse.package_id(package_id)
    ver = _parse.version_string(version)
    url = _parse.url(url)
    with editing(path) as d:
        variants = scan(d.cfg).of(package_id, ver)
        if not variants:
            raise AdminNotFoundError(f"no package {package_id} {ver} in the registry")
        sighash = _served(d.cfg, url)
        match = next((v for v in variants if v.sighash == sighash), None)
        if match is None:
            raise AdminConflictError(
                f"{url} serves other bytes: sighash {sighash} is none of {package_id} {ver}'s "
                f"({', '.join(v.sighash for v in variants)})"
            )
        if any(m.url == url and m.sighash == sighash for m in d.cfg.mirrors):
            return False
        if match.url == url:
            return False  # the variant's own remote source, listed already
        d.doc.append(
            ("packages", "mirrors"),
            {
                "id": package_id,
                "version": Quoted(str(match.version)),
                "sighash": sighash,
                "url": url,
            },
        )
    return True


def _served(cfg: SiteConfig, url: str) -> str:
    """The sighash of the package ``url`` serves, after verifying it in full."""
    base = cfg.path.parent / CACHE_DIR
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix="mirror-") as tmp:
        dest = Path(tmp) / "mirror.s9pk"
        download(url, dest, magic=(MAGIC_V2, MAGIC_V1), what="an s9pk")
        try:
            with S9pk.open(dest) as pkg:
                pkg.archive.verify_all()
                return b64_encode(pkg.commitment.root_sighash)
        except S9regError as e:
            raise AdminConflictError(f"{url} does not serve a valid package: {e.message}") from None


def remove_mirror(path: str | os.PathLike[str], package_id: str, version: str, url: str) -> int:
    """Remove ``url`` from the mirrors of ``package_id`` ``version``.

    Returns:
        How many variants lost it.

    Raises:
        AdminError: an argument does not parse.
        AdminNotFoundError: the URL is not a mirror of that version.
        AdminConflictError: a variant would be left with no URL.
        ConfigError: the config cannot be edited.
    """
    package_id = _parse.package_id(package_id)
    ver = _parse.version_string(version)
    with editing(path) as d:
        hits = [
            i
            for i, m in enumerate(d.cfg.mirrors)
            if m.id == package_id and m.version == ver and m.url == url
        ]
        if not hits:
            own = [s.url for s in d.cfg.sources if isinstance(s, RemoteSource)]
            why = " (it is a package source: remove the package instead)" if url in own else ""
            raise AdminNotFoundError(f"{url} is not a mirror of {package_id} {ver}{why}")
        for sighash in {d.cfg.mirrors[i].sighash for i in hits}:
            if _urls_left(d.cfg, package_id, ver, sighash, url) == 0:
                raise AdminConflictError(
                    f"removing {url} would leave {package_id} {ver} ({sighash}) with no URL"
                )
        for i in reversed(hits):
            d.doc.remove(("packages", "mirrors", i))
    return len(hits)


def _urls_left(
    cfg: SiteConfig, package_id: str, version: VersionString, sighash: str, url: str
) -> int:
    """The URLs a variant keeps without ``url``: the site's own, its source's, other mirrors."""
    own = len(cfg.registry.file_urls) + len(cfg.registry.mirrors)
    others = sum(
        1
        for m in cfg.mirrors
        if m.id == package_id and m.version == version and m.sighash == sighash and m.url != url
    )
    return own + others
