"""Configuration of the engine (distribution 2.8 ``docker-registry``, ``image-cache.md`` §1.2, §4a).

Per upstream, two instances share one storage root: a pull-through *proxy* that clients pull from
(through s9reg's read-only front, :mod:`s9reg.imagecache.front`; the engine itself listens on
loopback) and a plain *writer* that receives curated images and deletes. Content pushed through
the writer is not in the proxy's expiry schedule, so it never expires. The supervisor runs the
proxy with its ``proxy:`` section pointed at its relay (:mod:`s9reg.imagecache.relay`), which
answers for the upstream while it is offline (2.8 panics at start otherwise); a config written
for :attr:`Mode.OFFLINE` (no ``proxy:`` section, storage read-only, deletes disabled) is what a
proxy without a relay would run. Config files are written as JSON, which the engine's YAML parser
reads as well.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from s9reg.imagecache.errors import CacheError
from s9reg.imagecache.settings import CacheSettings, Upstream

__all__ = [
    "InstanceSpec",
    "Layout",
    "Mode",
    "Role",
    "child_environment",
    "instance_config",
    "instances",
    "write_config",
]


_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32,256}")


class Role(StrEnum):
    """What an instance is for."""

    PROXY = "proxy"
    WRITER = "writer"


class Mode(StrEnum):
    """How an instance runs: a writer, a proxy with its upstream, or a proxy without it."""

    WRITER = "writer"
    PROXY = "proxy"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the shim keeps its files under ``data_dir``."""

    data_dir: Path

    @property
    def run_dir(self) -> Path:
        """Engine configs, pid files, the state file and the HTTP secret."""
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        """One log file per instance, and the supervisor's."""
        return self.data_dir / "logs"

    @property
    def state_file(self) -> Path:
        """The supervisor's state (JSON), rewritten on every change."""
        return self.run_dir / "state.json"

    @property
    def supervisor_pid(self) -> Path:
        """Pid file of the supervisor."""
        return self.run_dir / "supervisor.pid"

    @property
    def pins_file(self) -> Path:
        """Digests of curated content, per upstream: kept out of the proxies' expiry schedule."""
        return self.data_dir / "pins.json"

    def storage_root(self, upstream: Upstream) -> Path:
        """Filesystem storage root shared by an upstream's proxy and writer."""
        return self.data_dir / "storage" / slug(upstream.name)

    def secret(self) -> str:
        """The engine's ``http.secret``, created once (mode 0600) and kept across restarts."""
        path = self.run_dir / "http-secret"
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        self.run_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(value)
        return value

    @property
    def api_token_file(self) -> Path:
        """The management API's generated bearer token (when ``api_token`` is not configured)."""
        return self.run_dir / "api-token"

    def api_token(self, *, create: bool) -> str | None:
        """The generated API token (mode 0600, kept across restarts), or None if there is none.

        With ``create``, a missing token is generated (by the first ``s9reg cache up``).

        Raises:
            CacheError: the file cannot be read, or does not hold a token.
        """
        path = self.api_token_file
        try:
            value = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            if not create:
                return None
            self.run_dir.mkdir(parents=True, exist_ok=True)
            value = secrets.token_urlsafe(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(value + "\n")
            return value
        except (OSError, UnicodeDecodeError) as e:
            raise CacheError(
                f"{path}: cannot read the management API token: {e}",
                hint="run the command as the user that runs the cache",
            ) from e
        if _TOKEN_RE.fullmatch(value) is None:
            raise CacheError(
                f"{path}: not a management API token",
                hint="delete the file; the next `s9reg cache up` creates a new one",
            )
        return value


def slug(name: str) -> str:
    """A file-name-safe form of an upstream name (``127.0.0.1:5000`` → ``127.0.0.1_5000``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """One engine process: its name, role, upstream, address and files."""

    name: str
    role: Role
    upstream: Upstream
    host: str
    port: int
    config_path: Path
    log_path: Path
    pid_path: Path

    @property
    def url(self) -> str:
        """Base URL clients reach the instance at (a proxy: through its read-only front)."""
        return self.upstream.local_url if self.role is Role.PROXY else self.upstream.writer_url

    @property
    def engine_url(self) -> str:
        """Base URL the engine process itself listens on (always loopback)."""
        return f"http://{_addr(self.host, self.port)}"


def instances(settings: CacheSettings) -> list[InstanceSpec]:
    """The instances to run: for each upstream, its writer then its proxy.

    Both listen on loopback: the proxy engine on ``proxy_engine_port``, behind the read-only
    front (:mod:`s9reg.imagecache.front`) that owns the upstream's client-facing address.
    """
    layout = Layout(settings.data_dir)
    out = []
    for u in settings.upstreams:
        for role, host, port in (
            (Role.WRITER, "127.0.0.1", u.writer_port),
            (Role.PROXY, "127.0.0.1", u.proxy_engine_port),
        ):
            name = f"{role.value}-{slug(u.name)}"
            out.append(
                InstanceSpec(
                    name=name,
                    role=role,
                    upstream=u,
                    host=host,
                    port=port,
                    config_path=layout.run_dir / f"{name}.yml",
                    log_path=layout.log_dir / f"{name}.log",
                    pid_path=layout.run_dir / f"{name}.pid",
                )
            )
    return out


def instance_config(
    settings: CacheSettings,
    spec: InstanceSpec,
    *,
    mode: Mode,
    readonly: bool = False,
    remote_url: str | None = None,
) -> dict[str, Any]:
    """The engine configuration of one instance.

    Credentials are not in it: :func:`child_environment` passes them to the process.

    Args:
        settings: the cache settings.
        spec: the instance.
        mode: writer, proxy (with the ``proxy:`` section) or offline (without).
        readonly: put the storage in read-only maintenance mode.
        remote_url: what the proxy pulls from instead of the upstream itself (the supervisor's
            relay, :mod:`s9reg.imagecache.relay`).
    """
    layout = Layout(settings.data_dir)
    storage: dict[str, Any]
    if settings.s3 is not None:
        s3 = settings.s3
        driver: dict[str, Any] = {
            "bucket": s3.bucket,
            "region": s3.region,
            "rootdirectory": f"{s3.root.rstrip('/')}/{slug(spec.upstream.name)}",
            "v4auth": True,
        }
        if s3.endpoint_url is not None:
            driver["regionendpoint"] = s3.endpoint_url
            driver["secure"] = s3.endpoint_url.startswith("https://")
        # Clients must get blobs from the engine, not presigned S3 URLs (spec §1.2).
        storage = {"s3": driver, "redirect": {"disable": True}}
    else:
        storage = {"filesystem": {"rootdirectory": str(layout.storage_root(spec.upstream))}}
    purge = settings.upload_purging
    # Only the writer purges: both instances would otherwise scan the same uploads.
    purging = purge.enabled and spec.role is Role.WRITER
    # Offline, nothing may change the store through the client side: the front refuses
    # writes, and the engine refuses them too (``maintenance.readonly``, deletes disabled).
    offline = mode is Mode.OFFLINE
    storage["delete"] = {"enabled": not offline}
    storage["cache"] = {"blobdescriptor": "inmemory"}
    storage["maintenance"] = {
        "uploadpurging": {
            "enabled": purging,
            "age": f"{purge.age_hours}h",
            "interval": f"{purge.interval_hours}h",
            "dryrun": False,
        },
        "readonly": {"enabled": readonly or offline},
    }
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "fields": {"service": spec.name}},
        "storage": storage,
        "http": {
            "addr": _addr(spec.host, spec.port),
            "secret": layout.secret(),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
            "draintimeout": "5s",
        },
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }
    if mode is Mode.PROXY:
        config["proxy"] = {"remoteurl": remote_url or spec.upstream.url}
    return config


def _addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def write_config(
    settings: CacheSettings,
    spec: InstanceSpec,
    *,
    mode: Mode,
    readonly: bool = False,
    remote_url: str | None = None,
) -> Path:
    """Write the instance's config file atomically (mode 0600: it holds the HTTP secret).

    Raises:
        OSError: the run directory is not writable.
    """
    config = instance_config(settings, spec, mode=mode, readonly=readonly, remote_url=remote_url)
    data = json.dumps(config, indent=2)
    spec.config_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.config_path.with_name(spec.config_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data + "\n")
    tmp.replace(spec.config_path)
    return spec.config_path


def child_environment(spec: InstanceSpec, *, mode: Mode, base: dict[str, str]) -> dict[str, str]:
    """The environment of an instance: ``base`` plus upstream credentials, minus traps.

    ``AWS_CA_BUNDLE`` makes the 2.8 S3 driver panic at start (spec §1.8), and ``REGISTRY_*``
    variables of the caller would override the generated config.
    """
    env = {k: v for k, v in base.items() if k != "AWS_CA_BUNDLE" and not k.startswith("REGISTRY_")}
    u = spec.upstream
    if mode is Mode.PROXY and u.username is not None:
        env["REGISTRY_PROXY_USERNAME"] = u.username
        env["REGISTRY_PROXY_PASSWORD"] = u.password or ""
    return env
