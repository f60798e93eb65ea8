"""The validated site configuration: :class:`SiteConfig` and the sections only the config owns.

Sections that a capability consumes as they are use that capability's own settings type
(``CategorySettings``, ``OsReleaseSettings``, ``ServeSettings``, ``S3Settings``); the types here
are the ones no consumer owns (the signer roster, package sources) or that still hold
references to be resolved when a command runs (the image cache's credentials). Nothing here
reads YAML, files or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from s9reg.builder import CategorySettings
from s9reg.builder.settings import Exclusion, IncompleteArches, Mirror, OsReleaseSettings
from s9reg.config.secrets import SecretRef
from s9reg.exver import VersionRange
from s9reg.imagecache import DEFAULT_CURATED, DEFAULT_UPSTREAMS, S3Storage, UploadPurging
from s9reg.publish.settings import S3Settings
from s9reg.registry import ContactInfo, Guid
from s9reg.s9pk.keys import PublicKey
from s9reg.serve.settings import ServeSettings

__all__ = [
    "CACHE_DIR",
    "DEFAULT_CACHE_API_LISTEN",
    "DEFAULT_CACHE_LISTEN",
    "DEFAULT_CACHE_UPSTREAMS",
    "DEFAULT_LANGUAGE",
    "IMAGE_CACHE_DIR",
    "MAX_NAME_LENGTH",
    "CacheUpstream",
    "CatalogueSettings",
    "ImageCacheSettings",
    "LocalSource",
    "PackageSource",
    "PublishSettings",
    "RegistrySettings",
    "RemoteSource",
    "Signer",
    "SiteConfig",
    "StorageSettings",
]

MAX_NAME_LENGTH = 32
CACHE_DIR = ".s9reg-cache"
IMAGE_CACHE_DIR = ".s9reg-image-cache"
DEFAULT_LANGUAGE = "en_US"
DEFAULT_CACHE_LISTEN = ("127.0.0.1", 5000)
DEFAULT_CACHE_API_LISTEN = ("127.0.0.1", 5080)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """A person or team whose keys may sign packages; ``admin`` signers manage the registry.

    Attributes:
        name: unique display name; ``authorized`` and ``os[].signers`` refer to it.
        id: the signer's Guid as written (``id:``), or None to derive it from the name.
    """

    name: str
    id: Guid | None = None
    contacts: tuple[ContactInfo, ...] = ()
    keys: tuple[PublicKey, ...] = ()
    admin: bool = False

    @property
    def guid(self) -> Guid:
        """The signer's Guid in the built index: ``id``, else derived from the name (stable)."""
        return self.id if self.id is not None else Guid.generate(seed=self.name.encode())


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySettings:
    """The ``registry:`` section.

    Attributes:
        name: display name, at most 32 characters.
        icon: a file (resolved path), a ``data:image/…;base64,…`` URL, or None.
        url: public URL of the registry API.
        file_urls: base URLs where files are served, CDN first.
        mirrors: extra base URLs listed after ``file_urls``.
        signing_key: where the registry co-signing key comes from, or None.
    """

    name: str
    icon: Path | str | None = None
    url: str
    file_urls: tuple[str, ...]
    mirrors: tuple[str, ...] = ()
    signing_key: SecretRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSource:
    """Local ``.s9pk`` files: a directory or glob pattern, resolved against the config's dir."""

    pattern: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteSource:
    """A remote ``.s9pk`` URL: downloaded, verified, and kept as a fallback mirror."""

    url: str


PackageSource = LocalSource | RemoteSource


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageSettings:
    """Where ``publish`` puts the built site: a local directory, or S3 (``publish:`` section)."""

    kind: Literal["file", "s3"]
    path: Path | None = None


# The ``publish:`` section is the S3 target itself (credentials come from the AWS chain).
PublishSettings = S3Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheUpstream:
    """One entry of ``image_cache.upstreams``; credentials stay references until resolved.

    Attributes:
        name: registry host as written in image references (``docker.io``).
        url: the registry API endpoint.
        listen: listen address of its pull-through instance, or None for the next free one
            after ``image_cache.listen``.
        writer_port: port of its writer instance (127.0.0.1), or None for ``port + 100``.
        username: a user name, or a reference to one (``env:NAME``).
        password: a reference (``env:NAME``; a password is never written in the file).
    """

    name: str
    url: str
    listen: tuple[str, int] | None = None
    writer_port: int | None = None
    username: str | SecretRef | None = None
    password: SecretRef | None = None


DEFAULT_CACHE_UPSTREAMS = tuple(CacheUpstream(name=n, url=u) for n, u in DEFAULT_UPSTREAMS)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageCacheSettings:
    """The ``image_cache:`` section (``s9reg cache``; built by :func:`cache_settings`).

    ``images`` holds the references as written (``REF`` or ``REF@DIGEST``).
    """

    data_dir: Path
    host: str = DEFAULT_CACHE_LISTEN[0]
    port: int = DEFAULT_CACHE_LISTEN[1]
    api_host: str = DEFAULT_CACHE_API_LISTEN[0]
    api_port: int = DEFAULT_CACHE_API_LISTEN[1]
    upstreams: tuple[CacheUpstream, ...] = DEFAULT_CACHE_UPSTREAMS
    images: tuple[str, ...] = DEFAULT_CURATED
    upload_purging: UploadPurging = field(default_factory=UploadPurging)
    s3: S3Storage | None = None
    recheck_seconds: int = 30
    public_host: str = "localhost"
    api_token: SecretRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogueSettings:
    """The ``catalogue:`` section: language of the texts, and an optional template override."""

    language: str = DEFAULT_LANGUAGE
    template_dir: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteConfig:
    """The whole validated site configuration.

    Attributes:
        path: the config file it was loaded from (resolved).
        authorized: package id → signer name → version range that signer may publish.
        exclude: package versions or variants the build leaves out (``packages.exclude``).
        mirrors: further URLs of package files (``packages.mirrors``).
        output: directory the build writes (resolved).
        storage: publish target, or None.
        publish: S3 settings, or None.
        image_cache: image cache settings, or None.
        catalogue: the HTML catalogue's language and templates.
    """

    path: Path
    registry: RegistrySettings
    signers: tuple[Signer, ...] = ()
    authorized: Mapping[str, Mapping[str, VersionRange]] = field(default_factory=dict)
    categories: tuple[CategorySettings, ...] = ()
    sources: tuple[PackageSource, ...] = ()
    incomplete_arches: IncompleteArches = IncompleteArches.WARN
    exclude: tuple[Exclusion, ...] = ()
    mirrors: tuple[Mirror, ...] = ()
    os_releases: tuple[OsReleaseSettings, ...] = ()
    output: Path
    storage: StorageSettings | None = None
    serve: ServeSettings = field(default_factory=ServeSettings)
    publish: PublishSettings | None = None
    image_cache: ImageCacheSettings | None = None
    catalogue: CatalogueSettings = field(default_factory=CatalogueSettings)

    @property
    def admins(self) -> tuple[Signer, ...]:
        """The signers marked ``admin: true``."""
        return tuple(s for s in self.signers if s.admin)
