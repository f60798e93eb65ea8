"""Package sources into a build: stage, verify (or reuse the verification cache), authorize, index.

Each source is a staged copy of a local or downloaded ``.s9pk``; what a full verification finds is
kept in the cache. Assembling the index is :mod:`s9reg.builder.assemble`'s.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from s9reg import _fs
from s9reg.builder._state import AssetKey, State, Variant
from s9reg.builder.errors import BuildError
from s9reg.builder.limits import check_texts
from s9reg.builder.report import BuildProgress, SkippedFile
from s9reg.builder.settings import IncompleteArches
from s9reg.builder.verify_cache import CacheEntry, FileIdentity, bodies_intact
from s9reg.errors import S9regError
from s9reg.exver import VersionError, VersionString
from s9reg.registry.authz import PublishRules, check_publish
from s9reg.registry.errors import RegistryError
from s9reg.registry.model import FullIndex, PackageVersionInfo
from s9reg.s9pk.commitment import MerkleArchiveCommitment, b64_encode
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PrivateKey, PublicKey
from s9reg.s9pk.package import S9pk
from s9reg.site_layout import asset_path, asset_urls

__all__ = [
    "Admitted",
    "add_sources",
    "admit",
    "carry_over",
    "make_dir",
    "read_small_file",
    "regular_file",
    "unique_sources",
]


def regular_file(path: Path, what: str = "source") -> os.stat_result:
    """:func:`s9reg._fs.regular_file` raising :class:`BuildError`."""
    return _fs.regular_file(path, what, error=BuildError)


def read_small_file(path: Path, what: str, max_bytes: int) -> bytes:
    """:func:`s9reg._fs.read_small_file` raising :class:`BuildError`."""
    return _fs.read_small_file(path, what, max_bytes, error=BuildError)


def unique_sources(sources: tuple[Path, ...]) -> list[Path]:
    """Sources in path order, each file once (the order makes ties and warnings stable).

    Raises:
        BuildError: a source is not a regular file (:func:`regular_file`).
    """
    seen: dict[Path, Path] = {}
    for src in sources:
        regular_file(src)
        seen.setdefault(src.resolve(), src)
    return sorted(seen.values(), key=lambda p: (p.name, str(p)))


def _stage(source: Path, dest: Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        try:
            shutil.copyfile(source, dest)
        except OSError as e:
            raise BuildError(f"{source}: cannot read: {e.strerror or e}") from e


@dataclass(frozen=True, slots=True)
class _Verified:
    """What the build takes from a verified source; ``info`` has no URLs and the epoch time."""

    entry: CacheEntry
    info: PackageVersionInfo
    commitment: MerkleArchiveCommitment


_EPOCH = datetime.fromtimestamp(0, UTC)


def _verify(
    source: Path,
    incoming: Path,
    ident: FileIdentity,
    progress: BuildProgress | None,
    registry_key: PrivateKey | None = None,
) -> _Verified:
    """Fully verify the staged copy of ``source`` and record what the build needs from it.

    With ``registry_key``, the registry's co-signature of the commitment is made here too, and
    kept in the cache with the rest.
    """
    if progress is not None:
        progress.begin(source, ident.size)
    with incoming.open("rb") as f:
        try:
            pkg = S9pk.read(f)
            pkg.archive.verify_all(progress.advance if progress is not None else None)
            # What an upstream registry refuses is refused; an arch-filtered archive is listed,
            # and what devices of a claimed arch would refuse at install is recorded (§17.3).
            pkg.check_listable()
            not_installable = pkg.arch_problems()
        except S9pkError as e:
            if e.archive is None:
                e.in_archive(str(source))
            raise
        info = PackageVersionInfo.from_s9pk(pkg, (), _EPOCH)
        cosign = {}
        if registry_key is not None:
            pem = registry_key.public_key.to_pem()
            cosign[pem] = pkg.commitment.sign(registry_key).to_pem()
        entry = CacheEntry(
            identity=ident,
            header=hashlib.sha256(pkg.archive.header.to_bytes()).hexdigest(),
            package_id=pkg.manifest.id,
            version=pkg.manifest.version,
            signer=pkg.signer.to_pem(),
            info=info.to_dict(),
            extras={"instructions": pkg.instructions(), "license": pkg.license()},
            cosign=cosign,
            not_installable=not_installable,
        )
        return _Verified(entry, info, pkg.commitment)


def _from_entry(entry: CacheEntry) -> _Verified:
    info = PackageVersionInfo.from_dict(dict(entry.info))
    return _Verified(entry, info, info.s9pks[0][1].commitment)


@dataclass(frozen=True, slots=True)
class _Checked:
    result: _Verified
    verified: bool  # False: reused from the cache


def _check(state: State, source: Path, incoming: Path, progress: BuildProgress | None) -> _Checked:
    """Stage ``source`` as ``incoming``; reuse its cache entry or verify it in full.

    A file the cache knows by identity and header is not read. One with the header and size of
    a known entry but a new identity (a fresh checkout) is reused once its bodies hash right.
    Verification is CPU-bound Python around native hashing and signatures: threads do not
    speed it up, and worker processes gained little on two cores (``bench/README.md``).
    """
    try:
        ident = FileIdentity.of(source.stat())
    except OSError as e:
        raise BuildError(f"{source}: cannot read: {e.strerror or e}") from e
    entry = state.cache.lookup(source, ident)
    _stage(source, incoming)
    if entry is None:
        candidate = state.cache.candidate(source, ident)
        if candidate is None or not bodies_intact(incoming):
            key = state.settings.registry_key
            return _Checked(_verify(source, incoming, ident, progress, key), verified=True)
        entry = candidate
    if progress is not None:
        progress.begin(source, ident.size)
        progress.advance(ident.size)
    return _Checked(_from_entry(entry), verified=False)


def add_sources(
    state: State, sources: list[Path], incoming: Path, progress: BuildProgress | None
) -> None:
    """Stage, check and index every source, in source order."""
    for n, source in enumerate(sources):
        _add_source(state, source, incoming / f"{n}.s9pk", progress)


def _add_source(state: State, source: Path, incoming: Path, progress: BuildProgress | None) -> None:
    try:
        try:
            checked = _check(state, source, incoming, progress)
        except OSError as e:
            raise BuildError(f"{source}: cannot read: {e.strerror or e}") from e
        if checked.verified:
            state.verified += 1
            state.verified_bytes += checked.result.entry.identity.size
        else:
            state.from_cache += 1
        _index_package(state, source, incoming, checked.result)
    except BuildError:
        incoming.unlink(missing_ok=True)
        raise
    except S9regError as e:
        incoming.unlink(missing_ok=True)
        if not state.settings.skip_invalid:
            raise
        state.skipped.append(SkippedFile(source, e.code, e.message))
        where = "" if str(source) in e.message else f"{source}: "
        state.warn(f"skipped {where}{e.message}")


def carry_over(state: State, base: FullIndex) -> None:
    """Keep every package version of an index published before; new sources add to them."""
    key = state.settings.registry_key
    for pid, info in sorted(base.package.packages.items()):
        for version, pv in info.versions.items():
            for hardware, asset in pv.s9pks:
                sighash = b64_encode(asset.commitment.root_sighash)
                if any(x.matches(pid, version, sighash) for x in state.settings.exclude):
                    continue
                where = asset.urls[0] if asset.urls else f"{pid} {version} (published)"
                signatures = dict(asset.signatures)
                if key is not None and state.registry_pem not in signatures:
                    signatures[state.registry_pem] = asset.commitment.sign(key).to_pem()
                one = replace(asset, signatures=signatures)
                size = next(
                    (state.settings.base_file_sizes[u] for u in asset.urls
                     if u in state.settings.base_file_sizes),
                    None,
                )  # fmt: skip
                if size is not None:
                    sizes = state.file_sizes.setdefault((pid, str(version)), {})
                    sizes[b64_encode(asset.commitment.root_sighash)] = size
                state.by_commitment[(pid, version, asset.commitment)] = where
                state.add_variant(
                    pid, version, Variant(replace(pv, s9pks=((hardware, one),)), where)
                )


def _mirror(state: State, source: Path) -> tuple[str, ...]:
    url = state.mirror_of.get(source)
    return () if url is None else (url,)


def _check_arches(state: State, source: Path, entry: CacheEntry) -> None:
    """Warn about (or refuse) a variant that claims an arch whose devices would refuse it."""
    for arch, why in sorted(entry.not_installable.items()):
        problem = (
            f"{entry.package_id} {entry.version} claims {arch}, but devices of that arch would "
            f"refuse to install it: {why}"
        )
        if state.settings.incomplete_arches is IncompleteArches.REFUSE:
            raise RegistryError(
                problem, hint="publish the full archive, or set packages.incomplete_arches: warn"
            )
        state.warn(f"{source}: {problem}")


def _excluded(
    state: State, source: Path, incoming: Path, verified: _Verified, version: VersionString
) -> bool:
    """Whether the operator removed this variant (``packages.exclude``); the file stays put."""
    sighash = b64_encode(verified.commitment.root_sighash)
    entry = verified.entry
    if not any(x.matches(entry.package_id, version, sighash) for x in state.settings.exclude):
        return False
    incoming.unlink()
    state.cache.store(source, entry)
    return True


def _index_package(state: State, source: Path, incoming: Path, verified: _Verified) -> None:
    settings = state.settings
    entry = verified.entry
    try:
        version = VersionString.parse(entry.version)
    except VersionError as e:  # pragma: no cover - the manifest parser checks it already
        raise BuildError(f"{source.name}: version: {e.message}") from None
    pid = entry.package_id
    sighash = b64_encode(verified.commitment.root_sighash)
    if _excluded(state, source, incoming, verified, version):
        return
    check_publish(state.rules, entry.package_id, version, PublicKey.from_pem(entry.signer))
    check_texts(f"{source}: {pid} {version}", verified.info, entry.extras)
    _check_arches(state, source, entry)
    # ``1.0:0`` and ``1.0.0:0`` are one version: keep the first spelling for key and directory.
    known = state.spelling.get((pid, version))
    if known is not None and str(known) != str(version):
        state.warn(f"{source}: version {version} is written {known} by another variant")
        version = known
    key: AssetKey = (pid, version, verified.commitment)
    if key in state.by_commitment:
        incoming.unlink()
        state.warn(f"{source}: same package as {state.by_commitment[key]}, left out")
        state.cache.store(source, entry)
        return
    try:
        rel = asset_path(pid, version, source.name)
    except ValueError as e:
        raise BuildError(str(e)) from None
    target = state.staged / rel
    if rel in state.placed:
        raise BuildError(
            f"{source}: {rel} is already taken by another file of {pid} {version}",
            hint="give the hardware variants of one version distinct file names",
        )
    signatures = dict(verified.info.s9pks[0][1].signatures)
    if settings.registry_key is not None:
        pem = state.registry_pem
        if pem not in entry.cosign:
            sig = verified.commitment.sign(settings.registry_key).to_pem()
            entry = replace(entry, cosign={**entry.cosign, pem: sig})
        signatures.setdefault(pem, entry.cosign[pem])
    hardware, asset = verified.info.s9pks[0]
    asset = replace(
        asset,
        urls=(
            *asset_urls(settings.file_urls, rel),
            *_mirror(state, source),
            *(m.url for m in settings.mirrors if m.id == pid and m.sighash == sighash),
        ),
        published_at=state.dates.first_seen(key) or state.now,
        signatures=signatures,
    )
    info = replace(verified.info, s9pks=((hardware, asset),))
    if target.parent not in state.made_dirs:
        make_dir(target.parent)
        state.made_dirs.add(target.parent)
    incoming.replace(target)
    state.placed.add(rel)
    state.cache.store(source, entry)
    state.by_commitment[key] = rel
    state.extras[(pid, str(version))] = entry.extras
    size = entry.identity.size
    sizes = state.file_sizes.setdefault((pid, str(version)), {})
    sizes[b64_encode(verified.commitment.root_sighash)] = size
    state.add_variant(pid, version, Variant(info, rel))


def make_dir(path: Path) -> None:
    """``mkdir -p`` that raises :class:`BuildError`."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BuildError(f"{path}: cannot create: {e.strerror or e}") from e


@dataclass(frozen=True, slots=True)
class Admitted:
    """A package file that the build would accept, and what it holds."""

    package_id: str
    version: VersionString
    commitment: MerkleArchiveCommitment
    signer: PublicKey
    info: PackageVersionInfo

    @property
    def sighash(self) -> str:
        """The root sighash, base64 without padding (upstream's ``--sighash``)."""
        return b64_encode(self.commitment.root_sighash)


def admit(
    source: Path,
    rules: PublishRules,
    incomplete_arches: IncompleteArches = IncompleteArches.WARN,
) -> Admitted:
    """Check one package file as :func:`build_site` checks each source, without building.

    The archive is verified in full (header signature, every TOC and body), listed only if an
    upstream registry would list it, its texts are within the limits, and its signer may
    publish it under ``rules``.

    Raises:
        BuildError: the file cannot be read.
        S9pkError: it is not a valid, intact package.
        UnauthorizedSignerError: its signer may not publish it.
        RegistryError: it cannot be indexed (no icon, texts too long, an arch refused).
    """
    ident = FileIdentity.of(regular_file(source, "package"))
    try:
        verified = _verify(source, source, ident, None)
    except OSError as e:
        raise BuildError(f"{source}: cannot read: {e.strerror or e}") from e
    entry = verified.entry
    version = VersionString.parse(entry.version)
    signer = PublicKey.from_pem(entry.signer)
    check_publish(rules, entry.package_id, version, signer)
    check_texts(f"{source}: {entry.package_id} {version}", verified.info, entry.extras)
    for arch, why in sorted(entry.not_installable.items()):
        if incomplete_arches is IncompleteArches.REFUSE:
            raise RegistryError(
                f"{source}: {entry.package_id} {version} claims {arch}, but devices of that "
                f"arch would refuse to install it: {why}"
            )
    return Admitted(entry.package_id, version, verified.commitment, signer, verified.info)
