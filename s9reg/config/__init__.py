"""``site-config.yaml``: read once, validated against its schema, turned into frozen settings.

The only package that imports a YAML library. Upstream's own registry config is described in
``shared/spec/registry-protocol.md`` §6; this file describes a static registry (§9) instead.
Every problem is reported as ``file:line: key.path: what was expected``; see
``docs/configuration.md`` for the keys.

Loading, then assembling what one command needs::

    from s9reg import config

    cfg = config.load("site-config.yaml")
    settings = config.build_settings(cfg)  # reads registry.signing_key now

Editing in place (comments, order and quoting kept; the result is validated before it
replaces the file)::

    with config.edit("site-config.yaml") as doc:
        doc.set(("registry", "name"), "My Registry")
        doc.append(("registry", "mirrors"), "https://mirror.example.org/")

Modules: :mod:`~s9reg.config.schema` (the types), :mod:`~s9reg.config.secrets`
(:class:`SecretRef`), :mod:`~s9reg.config.assemble` (each command's settings) and
:mod:`~s9reg.config.edit` (round-trip editing); ``_yaml``, ``_checker``, ``_content``,
``_services`` and ``_load`` are the loader's internals.
"""

from __future__ import annotations

from s9reg.config._content import parse_tor_proxy
from s9reg.config._load import load, load_cache, loads, loads_cache
from s9reg.config._yaml import MAX_CONFIG_BYTES
from s9reg.config.assemble import (
    build_settings,
    cache_settings,
    publish_settings,
    serve_settings,
    signer_guid,
)
from s9reg.config.edit import EditSession, edit
from s9reg.config.schema import (
    CacheConfig,
    CacheUpstream,
    CatalogueSettings,
    ImageCacheSettings,
    LocalSource,
    PackageSource,
    PublishSettings,
    RegistrySettings,
    RemoteSource,
    Signer,
    SiteConfig,
    StorageSettings,
)
from s9reg.config.secrets import SecretRef
from s9reg.serve.settings import ServeSettings

__all__ = [
    "MAX_CONFIG_BYTES",
    "CacheConfig",
    "CacheUpstream",
    "CatalogueSettings",
    "EditSession",
    "ImageCacheSettings",
    "LocalSource",
    "PackageSource",
    "PublishSettings",
    "RegistrySettings",
    "RemoteSource",
    "SecretRef",
    "ServeSettings",
    "Signer",
    "SiteConfig",
    "StorageSettings",
    "build_settings",
    "cache_settings",
    "edit",
    "load",
    "load_cache",
    "loads",
    "loads_cache",
    "parse_tor_proxy",
    "publish_settings",
    "serve_settings",
    "signer_guid",
]
