"""StartOS releases: ``os version add|remove``, ``os version signer …``, ``os asset …``.

The ``os:`` list of the config, changed as upstream's ``os.version.*`` and ``os.asset.*``
change the OS index. A version's authorized signers are the admins plus its ``signers``. An
image is a file (referenced where it is: images are large) or an ``http(s)`` URL (downloaded
once to check it); the build hashes, publishes and signs it. ``os asset sign`` adds a further
signature, made here with a key given by reference and stored in ``signatures``; the build
checks it against the image. Nothing here prints.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from s9reg._fs import regular_file
from s9reg.admin import _parse
from s9reg.admin._draft import Draft, editing, reading
from s9reg.admin.errors import AdminConflictError, AdminError, AdminNotFoundError
from s9reg.builder.fetch import download
from s9reg.builder.settings import OS_IMAGE_KINDS, OsReleaseSettings
from s9reg.builder.verify_cache import content_digest
from s9reg.config import SecretRef, Signer, SiteConfig
from s9reg.config.edit import Quoted
from s9reg.errors import S9regError
from s9reg.exver import Version
from s9reg.registry import Guid
from s9reg.s9pk.commitment import Blake3Commitment
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import file_extension

__all__ = [
    "add_asset",
    "add_version",
    "add_version_signer",
    "image_kind",
    "list_version_signers",
    "remove_asset",
    "remove_version",
    "remove_version_signer",
    "sign_asset",
]

_PLATFORM_RE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")


def _release(d: Draft | SiteConfig, version: Version) -> tuple[int, OsReleaseSettings]:
    cfg = d.cfg if isinstance(d, Draft) else d
    for i, r in enumerate(cfg.os_releases):
        if r.version == version:
            return i, r
    known = ", ".join(str(r.version) for r in cfg.os_releases) or "none"
    raise AdminNotFoundError(f"no StartOS version {version} (versions: {known})")


def add_version(
    path: str | os.PathLike[str],
    version: str,
    headline: str,
    release_notes: str,
    source_version: str,
) -> bool:
    """Add a StartOS version, or change its headline, notes and source range (an upsert).

    Returns:
        Whether the version is new.

    Raises:
        AdminError: the version or range does not parse, or the headline is empty.
        AdminConflictError: the registry has no signing key (the build signs every image).
        ConfigError: the config cannot be edited.
    """
    ver = _parse.version(version)
    _parse.version_range(source_version, "source version range")
    if not headline.strip():
        raise AdminError("a StartOS version needs a headline")
    with editing(path) as d:
        if d.cfg.registry.signing_key is None:
            raise AdminConflictError(
                "StartOS releases need registry.signing_key: the build signs every image with it"
            )
        try:
            i, _ = _release(d, ver)
        except AdminNotFoundError:
            d.doc.append(
                ("os",),
                {
                    "version": Quoted(version),
                    "headline": headline,
                    "release_notes": release_notes,
                    "source_version": Quoted(source_version),
                },
            )
            return True
        d.doc.set(("os", i, "headline"), headline)
        d.doc.set(("os", i, "release_notes"), release_notes)
        d.doc.set(("os", i, "source_version"), Quoted(source_version))
    return False


def remove_version(path: str | os.PathLike[str], version: str) -> OsReleaseSettings:
    """Remove a StartOS version and its images from the OS index.

    Raises:
        AdminError: the version does not parse.
        AdminNotFoundError: no such version.
        ConfigError: the config cannot be edited.
    """
    ver = _parse.version(version)
    with editing(path) as d:
        i, release = _release(d, ver)
        d.doc.remove(("os", i))
    return release


def add_version_signer(path: str | os.PathLike[str], version: str, signer: str) -> bool:
    """Authorize a signer for a StartOS version (listed in its ``signers``).

    Returns:
        Whether the file changed (False: it was listed already).

    Raises:
        AdminNotFoundError: no such version or signer.
        ConfigError: the config cannot be edited.
    """
    ver = _parse.version(version)
    with editing(path) as d:
        i, release = _release(d, ver)
        _, who = d.signer(signer)
        if who.guid in release.signers:
            return False
        d.doc.append(("os", i, "signers"), who.name)
    return True


def remove_version_signer(path: str | os.PathLike[str], version: str, signer: str) -> Signer:
    """Take a signer's authorization for a StartOS version away.

    Raises:
        AdminNotFoundError: no such version or signer, or it is not listed for the version.
        AdminConflictError: it is authorized as an admin (``admin remove`` that instead).
        ConfigError: the config cannot be edited.
    """
    ver = _parse.version(version)
    with editing(path) as d:
        i, release = _release(d, ver)
        _, who = d.signer(signer)
        if who.guid not in release.signers:
            if who.admin:
                raise AdminConflictError(
                    f"{who.name} is authorized for every StartOS version as an admin "
                    "(s9reg registry admin remove takes that away)"
                )
            raise AdminNotFoundError(f"{who.name} is not a signer of StartOS {ver}")
        names = d.doc.get(("os", i, "signers"))
        if isinstance(names, list) and len(names) == 1:
            d.doc.remove(("os", i, "signers"))
        elif isinstance(names, list):
            d.doc.remove(("os", i, "signers", names.index(who.name)))
    return who


def list_version_signers(path: str | os.PathLike[str], version: str) -> dict[Guid, Signer]:
    """The signers authorized for a StartOS version: the admins and its ``signers``, by id.

    Raises:
        AdminNotFoundError: no such version.
        ConfigError: the config cannot be read.
    """
    ver = _parse.version(version)
    cfg = reading(path)
    _, release = _release(cfg, ver)
    return {
        s.guid: s
        for s in sorted(cfg.signers, key=lambda s: s.guid)
        if s.admin or s.guid in release.signers
    }


def image_kind(source: str, kind: str | None) -> str:
    """The image kind: ``kind``, else from the file name's extension (``.iso``, ``.img``, …).

    Raises:
        AdminError: neither gives one of ``iso``, ``img``, ``squashfs``.
    """
    if kind is None:
        name = source.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        kind = file_extension(name) or ""
    if kind not in OS_IMAGE_KINDS:
        raise AdminError(
            f"{source}: cannot tell the image kind (iso, img or squashfs); pass --kind"
        )
    return kind


def _platform(text: str) -> str:
    if _PLATFORM_RE.fullmatch(text) is None:
        raise AdminError(f"--platform {text!r}: not a platform name (e.g. x86_64, raspberrypi)")
    return text


@dataclass(frozen=True, slots=True)
class Asset:
    """One image of a StartOS version, and its commitment."""

    version: Version
    kind: str
    platform: str
    source: str
    commitment: Blake3Commitment


def _commitment(source: Path | str) -> Blake3Commitment:
    """BLAKE3 and size of an image file, or of what a URL serves (downloaded, not kept)."""
    if isinstance(source, str):
        got = download(source, None)
        return Blake3Commitment(bytes.fromhex(got.blake3), got.size)
    try:
        size = regular_file(source, "StartOS image", error=AdminError).st_size
        return Blake3Commitment(bytes.fromhex(content_digest(source)), size)
    except OSError as e:
        raise AdminError(f"{source}: cannot read the image: {e.strerror or e}") from None


def add_asset(
    path: str | os.PathLike[str],
    version: str,
    platform: str,
    source: str,
    kind: str | None = None,
) -> Asset:
    """Add an image (a file or a URL) to a StartOS version.

    Raises:
        AdminError: an argument does not parse, the kind is unknown, or the file is unreadable.
        AdminNotFoundError: no such version.
        AdminConflictError: the version has another image of that kind and platform.
        BuildError: the URL cannot be downloaded.
        ConfigError: the config cannot be edited.
    """
    ver = _parse.version(version)
    platform = _platform(platform)
    kind = image_kind(source, kind)
    with editing(path) as d:
        i, release = _release(d, ver)
        base = d.cfg.path.parent
        located: Path | str
        if "://" in source:
            located = value = _parse.url(source)
        else:
            located = Path(source).expanduser().resolve()
            value = (
                located.relative_to(base).as_posix()
                if located.is_relative_to(base)
                else str(located)
            )
        commitment = _commitment(located)
        current = release.images.get(kind, {}).get(platform)
        if current is not None:
            if current == located:
                return Asset(ver, kind, platform, value, commitment)
            raise AdminConflictError(
                f"StartOS {ver} has a {kind} image for {platform} already ({current}); "
                "remove it first (os asset remove)"
            )
        d.doc.set(("os", i, kind, platform), value)
    return Asset(ver, kind, platform, value, commitment)


def _asset_index(
    d: Draft, version: str, platform: str, kind: str
) -> tuple[int, Version, Path | str]:
    ver = _parse.version(version)
    if kind not in OS_IMAGE_KINDS:
        raise AdminError(f"--kind {kind!r}: expected one of {', '.join(OS_IMAGE_KINDS)}")
    i, release = _release(d, ver)
    source = release.images.get(kind, {}).get(platform)
    if source is None:
        raise AdminNotFoundError(f"StartOS {ver} has no {kind} image for {platform!r}")
    return i, ver, source


def remove_asset(path: str | os.PathLike[str], version: str, platform: str, kind: str) -> str:
    """Remove an image from a StartOS version (its further signatures with it).

    Returns:
        Where the image was.

    Raises:
        AdminError: an argument does not parse.
        AdminNotFoundError: no such version or image.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        i, _, source = _asset_index(d, version, platform, kind)
        if len(d.cfg.os_releases[i].images[kind]) == 1:
            d.doc.remove(("os", i, kind))
        else:
            d.doc.remove(("os", i, kind, platform))
        _drop_signatures(d, i, kind, platform, None)
    return str(source)


def _drop_signatures(d: Draft, i: int, kind: str, platform: str, key: str | None) -> None:
    signatures = d.cfg.os_releases[i].signatures
    hits = [
        n
        for n, s in enumerate(signatures)
        if (s.kind, s.platform) == (kind, platform) and key in (None, s.key)
    ]
    if hits and len(hits) == len(signatures):
        d.doc.remove(("os", i, "signatures"))
        return
    for n in reversed(hits):
        d.doc.remove(("os", i, "signatures", n))


def _signing_key(reference: str, base: Path) -> PrivateKey:
    """A private key given as ``env:NAME``, ``file:PATH`` or a path."""
    if reference.startswith("env:"):
        ref = SecretRef(scheme="env", name=reference[4:])
    else:
        name = reference.removeprefix("file:")
        target = Path(name).expanduser()
        ref = SecretRef(
            scheme="file", name=name, path=target if target.is_absolute() else base / target
        )
    try:
        return ref.resolve()
    except S9regError as e:
        raise AdminError(f"--key: {e.message}") from None


def sign_asset(  # noqa: PLR0913 - upstream's parameters, plus the key
    path: str | os.PathLike[str],
    version: str,
    platform: str,
    kind: str,
    key: str,
    *,
    key_base: Path | None = None,
) -> tuple[Signer, Blake3Commitment]:
    """Sign an image with a further key (context ``startos``) and store the signature.

    The key must belong to a signer authorized for the version (an admin, or one of its
    ``signers``). The image is hashed (a URL downloaded) now; the build checks the signature
    against it again.

    Returns:
        The signer, and the commitment signed.

    Raises:
        AdminError: an argument does not parse, or the key cannot be read.
        AdminNotFoundError: no such version or image.
        AdminConflictError: the key belongs to no signer authorized for the version.
        BuildError: the URL cannot be downloaded.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        i, ver, source = _asset_index(d, version, platform, kind)
        private = _signing_key(key, key_base or Path.cwd())
        pem = private.public_key.to_pem()
        release = d.cfg.os_releases[i]
        who = next((s for s in d.cfg.signers if any(k.to_pem() == pem for k in s.keys)), None)
        if who is None or not (who.admin or who.guid in release.signers):
            owner = f"signer {who.name!r}" if who is not None else "no signer"
            raise AdminConflictError(
                f"key {private.public_key.fingerprint[:16]} belongs to {owner} authorized for "
                f"StartOS {ver} (admins and its signers are)"
            )
        commitment = _commitment(source)
        signature = commitment.sign(private).to_pem()
        _drop_signatures(d, i, kind, platform, pem)
        d.doc.append(
            ("os", i, "signatures"),
            {"kind": kind, "platform": platform, "key": pem, "signature": signature},
        )
    return who, commitment
