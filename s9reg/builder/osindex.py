"""StartOS releases: each image's ``Blake3Commitment``, signed with context ``startos`` (§2.9).

A local image is hashed (once per file identity, thanks to the cache) and published in the
site under ``_startos/<version>/<file name>``; an image given by URL is downloaded and hashed
(a conditional request when it was seen before) and listed at that URL. An image whose bytes
differ from the commitment already published for the same version, kind and platform fails
the build: devices that saw the old index would refuse the new bytes. "Already published" is
the previous output, else the registry's published index (a fresh checkout has no output).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from s9reg.builder.errors import BuildError
from s9reg.builder.fetch import Download, download
from s9reg.builder.ingest import regular_file
from s9reg.builder.report import DownloadProgress
from s9reg.builder.settings import OS_IMAGE_KINDS, BuildSettings, IndexSource, OsReleaseSettings
from s9reg.builder.verify_cache import FileIdentity, VerifyCache, content_digest
from s9reg.exver import Version
from s9reg.registry.model import FullIndex, OsIndex, OsVersionInfo, RegistryAsset
from s9reg.s9pk.commitment import Blake3Commitment
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PrivateKey
from s9reg.site_layout import asset_urls

__all__ = ["OS_DIR", "ImageRef", "build_os_index", "hash_url_images"]

OS_DIR = "_startos"


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One image of one release: where it is and what it is."""

    version: Version
    kind: str
    platform: str
    source: Path | str


def _images(release: OsReleaseSettings) -> list[ImageRef]:
    return [
        ImageRef(release.version, kind, platform, src)
        for kind in OS_IMAGE_KINDS
        for platform, src in sorted(release.images.get(kind, {}).items())
    ]


def hash_url_images(
    settings: BuildSettings, cache: VerifyCache, progress: DownloadProgress | None = None
) -> dict[str, Download]:
    """Download and hash every image given by URL (conditional requests for known ones).

    Raises:
        BuildError: a URL cannot be downloaded.
    """
    out: dict[str, Download] = {}
    for release in settings.os_releases:
        for ref in _images(release):
            if not isinstance(ref.source, str) or ref.source in out:
                continue
            key = f"url:{ref.source}"
            previous = None
            raw = cache.blob(key)
            if raw is not None:
                try:
                    previous = Download.from_dict(raw, None)
                except (KeyError, TypeError, ValueError):
                    previous = None
            got = download(
                ref.source,
                None,
                previous=previous,
                limits=settings.downloads,
                progress=progress.download(ref.source, None) if progress is not None else None,
            )
            cache.store_blob(key, got.to_dict())
            out[ref.source] = got
    return out


def _hash_file(path: Path, cache: VerifyCache) -> Blake3Commitment:
    ident = FileIdentity.of(regular_file(path, "StartOS image"))
    key = f"file:{path.resolve()}"
    raw = cache.blob(key)
    if raw is not None and raw.get("identity") == ident.to_list():
        digest, size = raw.get("blake3"), raw.get("size")
        if isinstance(digest, str) and isinstance(size, int):
            cache.store_blob(key, raw)
            return Blake3Commitment(bytes.fromhex(digest), size)
    try:
        digest = content_digest(path)
    except OSError as e:
        raise BuildError(f"{path}: cannot read the StartOS image: {e.strerror or e}") from e
    cache.store_blob(key, {"identity": ident.to_list(), "blake3": digest, "size": ident.size})
    return Blake3Commitment(bytes.fromhex(digest), ident.size)


def _stage(source: Path, dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, dest)
        except OSError:
            shutil.copyfile(source, dest)
    except OSError as e:
        raise BuildError(f"{source}: cannot copy the StartOS image: {e.strerror or e}") from e


def _previous_asset(
    previous: FullIndex | None, ref: ImageRef
) -> RegistryAsset[Blake3Commitment] | None:
    if previous is None:
        return None
    info = previous.os.versions.get(ref.version)
    if info is None:
        return None
    assets: Mapping[str, RegistryAsset[Blake3Commitment]] = getattr(info, ref.kind)
    return assets.get(ref.platform)


def _further(
    release: OsReleaseSettings, ref: ImageRef, commitment: Blake3Commitment, where: str
) -> dict[str, str]:
    """The image's further signatures (``os asset sign``), each checked against its bytes."""
    out: dict[str, str] = {}
    for extra in release.signatures:
        if (extra.kind, extra.platform) != (ref.kind, ref.platform):
            continue
        try:
            commitment.verify_pems({extra.key: extra.signature})
        except S9pkError as e:
            raise BuildError(
                f"{where}: a further signature does not match the image ({e.message})",
                hint="the image changed since it was signed: sign it again (os asset sign)",
            ) from None
        out[extra.key] = extra.signature
    return out


def build_os_index(  # noqa: PLR0913 - the build's state, passed explicitly
    settings: BuildSettings,
    staged: Path,
    *,
    cache: VerifyCache,
    urls: Mapping[str, Download],
    previous: FullIndex | None,
    now: datetime,
    published: IndexSource | None = None,
) -> OsIndex:
    """The OS index for ``settings.os_releases``; local images are staged into ``staged``.

    An image keeps the ``publishedAt`` and must keep the commitment it has in ``previous``,
    else in the index ``published`` reads (called only for an image ``previous`` lacks); a
    new image is dated ``now``.

    Raises:
        BuildError: an image cannot be read, two images of one version share a file name, or
            an image's bytes differ from the commitment published earlier.
    """
    key: PrivateKey | None = settings.registry_key
    if not settings.os_releases:
        return OsIndex()
    if key is None:  # pragma: no cover - BuildSettings refuses it
        raise BuildError("StartOS releases need a registry signing key")
    pem = key.public_key.to_pem()
    versions: dict[Version, OsVersionInfo] = {}
    for release in sorted(settings.os_releases, key=lambda r: r.version.sort_key):
        by_kind: dict[str, dict[str, RegistryAsset[Blake3Commitment]]] = {
            k: {} for k in OS_IMAGE_KINDS
        }
        taken: dict[str, str] = {}
        for ref in _images(release):
            where = f"os {ref.version} {ref.kind} {ref.platform}"
            if isinstance(ref.source, str):
                got = urls[ref.source]
                commitment = Blake3Commitment(bytes.fromhex(got.blake3), got.size)
                asset_url: tuple[str, ...] = (ref.source,)
            else:
                commitment = _hash_file(ref.source, cache)
                rel = f"{OS_DIR}/{ref.version}/{ref.source.name}"
                if rel in taken and taken[rel] != str(ref.source.resolve()):
                    raise BuildError(f"{where}: {rel} is already taken by another image")
                if rel not in taken:
                    _stage(ref.source, staged / rel)
                taken[rel] = str(ref.source.resolve())
                asset_url = asset_urls(settings.file_urls, rel)
            old = _previous_asset(previous, ref)
            if old is None and published is not None:
                old = _previous_asset(published(), ref)
            if old is not None and old.commitment != commitment:
                raise BuildError(
                    f"{where}: {ref.source} does not match the commitment published before "
                    f"(BLAKE3 {old.commitment.hash.hex()}, {old.commitment.size} bytes; now "
                    f"{commitment.hash.hex()}, {commitment.size} bytes)",
                    hint="a published image must never change: publish it as a new version",
                )
            by_kind[ref.kind][ref.platform] = RegistryAsset(
                published_at=old.published_at if old is not None else now,
                urls=asset_url,
                commitment=commitment,
                signatures={
                    pem: commitment.sign(key).to_pem(),
                    **_further(release, ref, commitment, where),
                },
            )
        authorized = tuple(sorted({*settings.admins, *release.signers}))
        versions[release.version] = OsVersionInfo(
            headline=release.headline,
            release_notes=release.release_notes,
            source_version=release.source_version,
            authorized=authorized,
            iso=by_kind["iso"],
            squashfs=by_kind["squashfs"],
            img=by_kind["img"],
        )
    return OsIndex(versions)
