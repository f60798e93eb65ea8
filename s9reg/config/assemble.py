"""Assembly: from a loaded :class:`SiteConfig` to the settings each command consumes.

``BuildSettings``, ``PublishSettings``, ``ServeSettings`` and ``CacheSettings``, with the
command-line choices applied.

Secrets are read here, through :class:`SecretRef`, and only for the command that needs them.
Nothing here parses YAML.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from s9reg._fs import read_small_file
from s9reg.builder import BuildSettings
from s9reg.config.schema import (
    CACHE_DIR,
    IMAGE_CACHE_DIR,
    ImageCacheSettings,
    RemoteSource,
    Signer,
    SiteConfig,
)
from s9reg.config.secrets import SecretRef
from s9reg.errors import ConfigError, S9regError
from s9reg.imagecache import CacheSettings, ImageRef, Upstream
from s9reg.publish import settings as publishing
from s9reg.publish.settings import S3Settings
from s9reg.registry import Guid, SignerInfo
from s9reg.registry.authz import PublishRules
from s9reg.s9pk.manifest import data_url, file_extension, mime
from s9reg.serve.settings import ServeSettings

__all__ = [
    "build_settings",
    "cache_settings",
    "publish_rules",
    "publish_settings",
    "serve_settings",
    "signer_guid",
    "source_files",
]


def signer_guid(signer: Signer) -> Guid:
    """The stable Guid of a configured signer: its ``id``, else derived from its name."""
    return signer.guid


#: Largest registry icon file: it is inlined in every device's index (``info.icon``).
MAX_REGISTRY_ICON = 256 << 10


def _icon_data_url(icon: Path | str | None) -> str | None:
    if icon is None or isinstance(icon, str):
        return icon
    ext = file_extension(icon.name)
    mime_type = mime(ext) if ext is not None else None
    if mime_type is None or not mime_type.startswith("image/"):
        msg = f"{icon}: registry icon must be an image (png, svg, webp, …)"
        raise ConfigError(msg)
    # A regular file of bounded size (#16): a FIFO would hang the build, a device never end.
    data = read_small_file(icon, "registry icon", MAX_REGISTRY_ICON, error=ConfigError)
    return data_url(mime_type, data)


def publish_rules(cfg: SiteConfig) -> PublishRules:
    """Who may publish what, as the build judges it: signers, admins and ``authorized``."""
    guids = {s.name: s.guid for s in cfg.signers}
    return PublishRules(
        admins=frozenset(s.guid for s in cfg.signers if s.admin),
        signers={
            s.guid: SignerInfo(
                name=s.name, contact=s.contacts, keys=tuple(k.to_pem() for k in s.keys)
            )
            for s in cfg.signers
        },
        authorized={
            pkg: {guids[name]: rng for name, rng in by_signer.items()}
            for pkg, by_signer in cfg.authorized.items()
        },
    )


def source_files(cfg: SiteConfig) -> tuple[Path, ...]:
    """The local ``.s9pk`` files the sources name, globs and directories expanded, in order."""
    return _expand_sources(cfg)


def _expand_sources(cfg: SiteConfig) -> tuple[Path, ...]:
    found: dict[Path, None] = {}
    for source in cfg.sources:
        if isinstance(source, RemoteSource):
            continue
        pattern = source.pattern
        if pattern.is_dir():
            matches = sorted(pattern.glob("*.s9pk"))
        elif any(ch in str(pattern) for ch in "*?["):
            anchor = Path(pattern.anchor)
            matches = sorted(anchor.glob(str(pattern.relative_to(anchor))))
        else:
            matches = [pattern]
        for path in matches:
            found.setdefault(path, None)
    return tuple(found)


# 9999-12-31T23:59:59Z: the last second a datetime holds.
_MAX_EPOCH = 253_402_300_799


def _source_date_epoch(text: str) -> int:
    # isdigit() alone accepts "²", which int() refuses; int() also refuses over 4300 digits.
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()):
        msg = f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {text[:40]!r}"
        raise ConfigError(msg)
    if len(digits) > len(str(_MAX_EPOCH)) or int(digits) > _MAX_EPOCH:
        raise ConfigError(f"SOURCE_DATE_EPOCH {text[:40]!r} is after the year 9999")
    return int(digits)


def build_settings(
    cfg: SiteConfig,
    *,
    output: Path | None = None,
    skip_invalid: bool = False,
    use_cache: bool = True,
    environ: Mapping[str, str] | None = None,
) -> BuildSettings:
    """Assemble what ``s9reg build`` needs from a loaded configuration.

    Resolves the registry key reference, expands package sources, turns the icon into a data
    URL and gives each signer its stable Guid. ``SOURCE_DATE_EPOCH`` is read from ``environ``.
    The verification cache lives in ``.s9reg-cache/`` beside the configuration file.

    Raises:
        ConfigError: a secret, icon or source cannot be resolved, or a feature is not available.
    """
    env = os.environ if environ is None else environ
    guids = {s.name: signer_guid(s) for s in cfg.signers}
    signers = {
        guids[s.name]: SignerInfo(
            name=s.name,
            contact=s.contacts,
            keys=tuple(k.to_pem() for k in s.keys),
        )
        for s in cfg.signers
    }
    epoch = env.get("SOURCE_DATE_EPOCH")
    key = cfg.registry.signing_key
    return BuildSettings(
        name=cfg.registry.name,
        icon=_icon_data_url(cfg.registry.icon),
        api_url=cfg.registry.url,
        file_urls=(*cfg.registry.file_urls, *cfg.registry.mirrors),
        signers=signers,
        admins=frozenset(guids[s.name] for s in cfg.signers if s.admin),
        authorized={
            pkg: {guids[name]: rng for name, rng in by_signer.items()}
            for pkg, by_signer in cfg.authorized.items()
        },
        categories=cfg.categories,
        sources=_expand_sources(cfg),
        registry_key=key.resolve(env) if key is not None else None,
        output=output or cfg.output,
        source_date_epoch=_source_date_epoch(epoch) if epoch is not None else None,
        skip_invalid=skip_invalid,
        incomplete_arches=cfg.incomplete_arches,
        cache_dir=cfg.path.parent / CACHE_DIR if use_cache else None,
        language=cfg.catalogue.language,
        template_dir=cfg.catalogue.template_dir,
        remote_sources=tuple(s.url for s in cfg.sources if isinstance(s, RemoteSource)),
        exclude=cfg.exclude,
        mirrors=cfg.mirrors,
        os_releases=cfg.os_releases,
    )


def publish_settings(  # noqa: PLR0913 - one keyword per CLI option
    cfg: SiteConfig,
    *,
    site: Path | None = None,
    target_dir: Path | None = None,
    jobs: int = publishing.DEFAULT_JOBS,
    max_delete: int = publishing.DEFAULT_MAX_DELETE,
    keep_generations: int = publishing.DEFAULT_KEEP_GENERATIONS,
    grace_seconds: int = publishing.DEFAULT_GRACE_SECONDS,
    break_lock: bool = False,
    dry_run: bool = False,
    timeout: float = publishing.DEFAULT_TIMEOUT,
) -> publishing.PublishSettings:
    """Assemble what ``s9reg publish`` needs from a loaded configuration.

    The target is ``storage:`` (``file:PATH`` or ``s3``); a ``publish:`` section alone means
    ``s3``. The other arguments are the :class:`s9reg.publish.PublishSettings` fields of the
    same names, set by the CLI.

    Args:
        cfg: the loaded configuration.
        site: the built site (default: ``output``).
        target_dir: publish into this directory instead of the configured storage.
        jobs: parallel transfers.
        max_delete: deletion cap of one publish.
        keep_generations: generations whose objects are kept.
        grace_seconds: how long objects of retired generations are kept.
        break_lock: take over a live-looking lease.
        dry_run: plan only.
        timeout: seconds to wait for a connection and for the state objects.

    Raises:
        ConfigError: no target is configured, or a limit is out of range.
    """
    target: S3Settings | publishing.DirSettings
    storage = cfg.storage
    if target_dir is not None:
        target = publishing.DirSettings(path=target_dir)
    elif storage is not None and storage.kind == "file" and storage.path is not None:
        target = publishing.DirSettings(path=storage.path)
    elif cfg.publish is not None:
        target = cfg.publish
    else:
        msg = f"{cfg.path}: nothing to publish to: set storage (file:PATH or s3)"
        raise ConfigError(msg, hint="add 'storage: file:public' or a 'publish:' section")
    return publishing.PublishSettings(
        site=site or cfg.output,
        target=target,
        jobs=jobs,
        max_delete=max_delete,
        keep_generations=keep_generations,
        grace_seconds=grace_seconds,
        break_lock=break_lock,
        dry_run=dry_run,
        timeout=timeout,
    )


def serve_settings(
    cfg: SiteConfig | None,
    *,
    site: str | None = None,
    listen: tuple[str, int] | None = None,
    workers: int | None = None,
    tls: tuple[Path, Path] | None = None,
) -> ServeSettings:
    """Assemble what ``s9reg serve`` needs: the ``serve:`` section plus command-line overrides.

    The site defaults to ``serve.site``, else the configuration's ``output`` directory. An
    ``s3://`` site is reached as ``serve.s3`` says, else as the ``publish:`` target says when
    its bucket is the same, else through the AWS chain alone.

    Args:
        cfg: the loaded configuration, or None to use the defaults.
        site: ``--site`` (a directory, ``s3://bucket/prefix`` or an ``http(s)`` URL).
        listen: ``--listen`` host and port.
        workers: ``--workers``.
        tls: ``--tls-cert`` and ``--tls-key``.

    Raises:
        ConfigError: no site is given and there is no configuration to take ``output`` from.
    """
    base = cfg.serve if cfg is not None else ServeSettings()
    chosen = site or base.site or (str(cfg.output) if cfg is not None else None)
    if chosen is None:
        raise ConfigError("no site to serve", hint="pass --site or --config")
    host, port = listen if listen is not None else (base.host, base.port)
    count = base.workers if workers is None else workers
    cert, key = tls if tls is not None else (base.tls_cert, base.tls_key)
    s3 = base.s3
    publish = cfg.publish if cfg is not None else None
    if (
        s3 is None
        and publish is not None
        and chosen.startswith("s3://")
        and chosen[5:].partition("/")[0] == publish.bucket
    ):
        s3 = publish.options
    return replace(
        base, site=chosen, s3=s3, host=host, port=port, workers=count, tls_cert=cert, tls_key=key
    )


def _credential(value: str | SecretRef | None, env: Mapping[str, str], where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.read(env, what="the credential, or remove it from that upstream", where=where)


def cache_settings(
    cfg: SiteConfig | None, *, environ: Mapping[str, str] | None = None
) -> CacheSettings:
    """Assemble what ``s9reg cache`` needs from the ``image_cache:`` section.

    Upstream ports not given are the ``listen`` port plus the upstream's position; writer
    ports default to the instance's port plus 100. Credentials are read from ``environ``.

    Args:
        cfg: the loaded configuration; None (or no section) gives the defaults, with the data
            directory ``.s9reg-image-cache`` in the current directory.
        environ: environment for ``env:`` credentials; defaults to ``os.environ``.

    Raises:
        ConfigError: a credential variable is unset, or the settings contradict each other
            (for example two instances on one port).
    """
    env = os.environ if environ is None else environ
    section = cfg.image_cache if cfg is not None else None
    if section is None:
        base = cfg.path.parent if cfg is not None else Path.cwd()
        section = ImageCacheSettings(data_dir=base / IMAGE_CACHE_DIR)
    upstreams = []
    where = "image_cache.upstreams"
    for i, u in enumerate(section.upstreams):
        host, port = u.listen if u.listen is not None else (section.host, section.port + i)
        upstreams.append(
            Upstream(
                name=u.name,
                url=u.url,
                host=host,
                port=port,
                writer_port=u.writer_port if u.writer_port is not None else port + 100,
                username=_credential(u.username, env, f"{where}.{u.name}.username"),
                password=_credential(u.password, env, f"{where}.{u.name}.password"),
            )
        )
    try:
        images = tuple(ImageRef.parse(text) for text in section.images)
    except S9regError as e:
        raise ConfigError(f"image_cache.images: {e.message}") from None
    return CacheSettings(
        data_dir=section.data_dir,
        upstreams=tuple(upstreams),
        images=images,
        api_host=section.api_host,
        api_port=section.api_port,
        upload_purging=section.upload_purging,
        s3=section.s3,
        recheck_seconds=float(section.recheck_seconds),
        public_host=section.public_host,
        api_token=_api_token(section.api_token, env),
    )


def _api_token(ref: SecretRef | None, env: Mapping[str, str]) -> str | None:
    if ref is None:
        return None
    token = ref.read(env, what="the management API token", where="image_cache.api_token").strip()
    if len(token) < 16 or any(ch.isspace() for ch in token):
        raise ConfigError(
            f"image_cache.api_token ({ref.reference}): the token must be at least 16 "
            "characters, without spaces",
            hint="for example: python3 -c 'import secrets; print(secrets.token_urlsafe())'",
        )
    return token
