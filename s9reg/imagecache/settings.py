"""Typed settings of ``s9reg cache`` (``shared/spec/image-cache.md`` §4a): what the shim consumes.

``s9reg.config`` builds these from the ``image_cache:`` section and the environment; nothing here
reads files or the environment.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from s9reg.errors import ConfigError
from s9reg.imagecache.errors import ImageReferenceError
from s9reg.imagecache.reference import ImageRef
from s9reg.s3 import S3Location

__all__ = [
    "DEFAULT_CURATED",
    "DEFAULT_UPSTREAMS",
    "CacheSettings",
    "S3Storage",
    "UploadPurging",
    "Upstream",
    "resolve_upstream",
]

# Registry host as written in image references -> the registry API endpoint.
DEFAULT_UPSTREAMS: tuple[tuple[str, str], ...] = (
    ("docker.io", "https://registry-1.docker.io"),
    ("ghcr.io", "https://ghcr.io"),
)

# The reference list of the CubeOS design, pinned by tag. Digests are left out: they can only be
# read from the upstreams, and a wrong pin would make every preload fail.
DEFAULT_CURATED: tuple[str, ...] = (
    "docker.io/filebrowser/filebrowser:v2.31.2",
    "docker.io/jellyfin/jellyfin:10.10.7",
    "ghcr.io/home-assistant/home-assistant:2025.5.3",
    "docker.io/library/nextcloud:31.0.5-apache",
    "docker.io/vaultwarden/server:1.34.1",
    "docker.io/louislam/uptime-kuma:1.23.16",
    "docker.io/freshrss/freshrss:1.26.3",
    "docker.io/photoprism/photoprism:250426",
    "docker.io/syncthing/syncthing:1.29.7",
    "docker.io/codercom/code-server:4.100.3",
    "docker.io/gitea/gitea:1.23.8",
    "ghcr.io/requarks/wiki:2.5.307",
    "ghcr.io/linuxserver/hedgedoc:1.10.3",
    "ghcr.io/mealie-recipes/mealie:v2.8.0",
    "ghcr.io/paperless-ngx/paperless-ngx:2.16.2",
    "ghcr.io/advplyr/audiobookshelf:2.23.0",
    "ghcr.io/linuxserver/calibre-web:0.6.24",
    "docker.io/deluan/navidrome:0.56.1",
    "ghcr.io/gethomepage/homepage:v1.3.2",
    "ghcr.io/immich-app/immich-server:v1.134.0",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """One upstream registry and the two engine instances that serve it from one storage root.

    Attributes:
        name: registry host as written in image references (``docker.io``, ``ghcr.io``).
        url: the registry API endpoint (``https://registry-1.docker.io``).
        host: listen host of the pull-through instance (what clients pull from).
        port: listen port of the pull-through instance.
        writer_port: port of the writer instance on 127.0.0.1 (curated pushes, deletes).
        engine_port: port on 127.0.0.1 of the pull-through engine behind s9reg's read-only
            front (which owns ``host:port``); None for ``port + 200``.
        username: upstream user name, or None for anonymous pulls.
        password: upstream password or token, or None.
    """

    name: str
    url: str
    host: str = "127.0.0.1"
    port: int
    writer_port: int
    engine_port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def local_url(self) -> str:
        """Base URL of the pull-through instance, as the shim reaches it."""
        return f"http://{_connect_host(self.host)}:{self.port}"

    @property
    def proxy_engine_port(self) -> int:
        """Port of the pull-through engine on 127.0.0.1 (clients reach it through the front)."""
        return self.engine_port if self.engine_port is not None else self.port + 200

    @property
    def writer_url(self) -> str:
        """Base URL of the writer instance."""
        return f"http://127.0.0.1:{self.writer_port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadPurging:
    """distribution's ``storage.maintenance.uploadpurging``: removal of abandoned uploads."""

    enabled: bool = True
    age_hours: int = 168
    interval_hours: int = 24


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Storage:
    """distribution's own S3 driver instead of the filesystem (credentials: AWS environment).

    Attributes:
        bucket: bucket name.
        region: region (S3-compatible servers accept any).
        endpoint_url: S3-compatible endpoint, or None for AWS.
        root: key prefix; each upstream's storage root is ``root/<upstream name>``.
    """

    bucket: str
    region: str = "us-east-1"
    endpoint_url: str | None = None
    root: str = "/s9reg-image-cache"

    @property
    def location(self) -> S3Location:
        """The bucket and key prefix (``root``), as publish and serve describe a bucket.

        Path-style addressing, as distribution's driver uses for an ``endpoint_url``.
        """
        return S3Location(
            bucket=self.bucket,
            prefix=self.root.strip("/"),
            endpoint_url=self.endpoint_url,
            region=self.region,
            path_style=self.endpoint_url is not None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheSettings:
    """Everything ``s9reg cache`` needs, already parsed and resolved.

    Attributes:
        data_dir: configs, pid files, logs and (filesystem storage) the image stores.
        upstreams: the upstreams, the first being the default (``docker.io``).
        images: the curated images (each with a tag, optionally pinned by digest).
        api_host: listen host of the management API.
        api_port: listen port of the management API.
        upload_purging: abandoned-upload purging of the engine.
        s3: S3 storage, or None for the filesystem under ``data_dir``.
        recheck_seconds: how often an unreachable upstream is probed again.
        binary: the engine executable.
        public_host: host name clients use for the cache (compose rewriting, daemon.json).
        api_token: bearer token the management API requires (all but the health check); it
            must be set when the API listens beyond the loopback interface.
        probe_interval: how often a reachable upstream is probed (an unreachable one: every
            ``recheck_seconds``).
        probe_timeout: deadline of a probe, and of connecting to the upstream, in seconds.
        max_size: disk quota of the cache in bytes (least recently used cached tags are
            evicted beyond it, curated ones never), or None for no quota.

    Raises:
        ConfigError: the settings contradict each other (all problems in ``details``).
    """

    data_dir: Path
    upstreams: tuple[Upstream, ...]
    images: tuple[ImageRef, ...] = ()
    api_host: str = "127.0.0.1"
    api_port: int = 5080
    upload_purging: UploadPurging = field(default_factory=UploadPurging)
    s3: S3Storage | None = None
    recheck_seconds: float = 30.0
    binary: str = "docker-registry"
    public_host: str = "localhost"
    api_token: str | None = field(default=None, repr=False)
    probe_interval: float = 5.0
    probe_timeout: float = 3.0
    max_size: int | None = None

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ConfigError(
                f"image cache settings: {problems[0]}{more}", details="\n".join(problems)
            )

    def _problems(self) -> list[str]:
        out: list[str] = []
        names = [u.name for u in self.upstreams]
        out.extend(
            f"upstream {n!r} is defined twice" for n in sorted(set(names)) if names.count(n) > 1
        )
        ports = [self.api_port]
        for u in self.upstreams:
            ports += [u.port, u.writer_port, u.proxy_engine_port]
        out.extend(f"port {p} is used twice" for p in sorted(set(ports)) if ports.count(p) > 1)
        out.extend(
            f"upstream {u.name}: engine port {u.proxy_engine_port} is beyond 65535 "
            "(set its engine_port)"
            for u in self.upstreams
            if u.proxy_engine_port > 65535
        )
        for image in self.images:
            if image.registry not in names:
                out.append(f"image {image}: registry {image.registry} is not a configured upstream")
            if image.tag is None:
                out.append(f"image {image}: curated images need a tag")
        if self.recheck_seconds <= 0:
            out.append("recheck_seconds must be positive")
        out.extend(self._mode_problems())
        if self.api_token is None and not _is_loopback(self.api_host):
            out.append(
                f"the management API listens on {self.api_host}, beyond this machine: set "
                "image_cache.api_token (env:NAME or file:PATH) so that it requires a token"
            )
        return out

    def _mode_problems(self) -> list[str]:
        out = []
        if not self.probe_interval > 0:
            out.append("probe_interval must be positive")
        if not self.probe_timeout > 0:
            out.append("probe_timeout must be positive")
        if self.max_size is not None and self.max_size <= 0:
            out.append("max_size must be positive")
        return out

    def upstream(self, name: str) -> Upstream | None:
        """The upstream serving registry ``name``, or None."""
        return next((u for u in self.upstreams if u.name == name), None)

    @property
    def api_url(self) -> str:
        """Base URL of the management API, as the CLI reaches it."""
        return f"http://{_connect_host(self.api_host)}:{self.api_port}"

    def is_curated(self, ref: ImageRef) -> bool:
        """Whether ``ref`` (registry, repository and tag) is on the curated list."""
        return any(
            i.registry == ref.registry and i.repository == ref.repository and i.tag == ref.tag
            for i in self.images
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _connect_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - a listen address, not a bind
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def resolve_upstream(settings: CacheSettings, ref: ImageRef) -> Upstream:
    """The upstream that serves ``ref``'s registry.

    Raises:
        ImageReferenceError: the registry is not configured.
    """
    up = settings.upstream(ref.registry)
    if up is None:
        names = ", ".join(u.name for u in settings.upstreams)
        raise ImageReferenceError(
            f"{ref}: registry {ref.registry} is not a configured upstream ({names})",
            hint="add it under image_cache.upstreams",
        )
    return up
