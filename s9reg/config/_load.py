"""Loading: a config file or text in, a validated :class:`SiteConfig` out.

Every problem of every section is collected with its line and key path, and raised once as a
:class:`ConfigError`. Assembling each command's settings is :mod:`s9reg.config.assemble`'s job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from yaml.nodes import Node

from s9reg.config import _content, _services
from s9reg.config._checker import Checker, T, is_null
from s9reg.config._yaml import compose, read_text
from s9reg.config.schema import CatalogueSettings, SiteConfig
from s9reg.errors import ConfigError
from s9reg.serve.settings import ServeSettings

__all__ = ["load", "loads"]

_TOP_REQUIRED = ("registry",)
_TOP_OPTIONAL = (
    "signers",
    "authorized",
    "categories",
    "packages",
    "os",
    "output",
    "storage",
    "serve",
    "publish",
    "image_cache",
    "catalogue",
)


def load(path: str | os.PathLike[str]) -> SiteConfig:
    """Read and validate a site configuration file.

    Args:
        path: the YAML file. Relative paths inside it resolve against its directory.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or breaks the schema. The message
            is the first problem (``file:line: key: problem``) plus a count of the others;
            ``details`` lists them all.
    """
    _, text = read_text(path)
    return loads(text, path=Path(path), display=os.fspath(path))


def loads(text: str, *, path: Path, display: str | None = None) -> SiteConfig:
    """Validate config ``text`` as if read from ``path`` (which anchors relative paths).

    Raises:
        ConfigError: as :func:`load`.
    """
    display = os.fspath(path) if display is None else display
    root = compose(text, display)
    checker = Checker(display, path.resolve().parent)
    try:
        config = _site(checker, root, path.resolve())
    except RecursionError:
        raise ConfigError(f"{display}: the config is nested too deeply") from None
    if config is None and not checker.problems:
        raise ConfigError(f"{display}: the config is invalid")
    if checker.problems or config is None:
        lines = [p for _, p in sorted(checker.problems, key=lambda p: p[0])]
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise ConfigError(lines[0] + more, details="\n".join(lines))
    return config


def _section(
    c: Checker, top: Mapping[str, Node], key: str, parse: Callable[[Node], T | None]
) -> T | None:
    """Parse ``top[key]`` under its breadcrumb; absent or null gives None."""
    node = top.get(key)
    if node is None or is_null(node):
        return None
    with c.at(key):
        return parse(node)


def _site(c: Checker, root: Node, path: Path) -> SiteConfig | None:
    top = c.mapping(root, _TOP_REQUIRED, _TOP_OPTIONAL)
    if top is None:
        return None
    registry = None
    if "registry" in top:
        with c.at("registry"):
            registry = _content.registry(c, top["registry"])
    signers = _section(c, top, "signers", lambda n: _content.signers(c, n)) or ()
    names = {s.name for s in signers}
    authorized = _section(c, top, "authorized", lambda n: _content.authorized(c, n, names)) or {}
    categories = _section(c, top, "categories", lambda n: _content.categories(c, n)) or ()
    packages = _section(c, top, "packages", lambda n: _content.packages(c, n))
    packages = packages or _content.Packages()
    guids = {s.name: s.guid for s in signers}
    releases = _section(c, top, "os", lambda n: _content.os_releases(c, n, guids)) or ()
    output = _section(c, top, "output", c.path) or c.base / "_site"
    storage = _section(c, top, "storage", lambda n: _services.storage(c, n))
    serve = _section(c, top, "serve", lambda n: _services.serve(c, n)) or ServeSettings()
    publish = _section(c, top, "publish", lambda n: _services.publish(c, n))
    if storage is not None and storage.kind == "s3" and publish is None:
        with c.at("storage"):
            c.add(top["storage"], "storage 's3' needs a 'publish:' section with the bucket")
    cache = _section(c, top, "image_cache", lambda n: _services.image_cache(c, n))
    catalogue = (
        _section(c, top, "catalogue", lambda n: _content.catalogue(c, n)) or CatalogueSettings()
    )
    if registry is None:
        return None
    return SiteConfig(
        path=path,
        registry=registry,
        signers=signers,
        authorized=authorized,
        categories=categories,
        sources=packages.sources,
        incomplete_arches=packages.incomplete_arches,
        exclude=packages.exclude,
        mirrors=packages.mirrors,
        os_releases=releases,
        output=output,
        storage=storage,
        serve=serve,
        publish=publish,
        image_cache=cache,
        catalogue=catalogue,
    )
