"""Where the read commands read: the configuration's built output, or ``--site DIR|URL``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from s9reg import config
from s9reg.admin.reader import Reader, SiteReader, open_reader
from s9reg.cli._app import config_option, load_key
from s9reg.cli.registry._output import emit

__all__ = ["open_site", "show_info", "site_options"]

_F = TypeVar("_F", bound=Callable[..., Any])


def site_options(f: _F) -> _F:
    """``--config``, ``--site DIR|URL`` and ``--key FILE`` (signs requests to a remote registry)."""
    f = click.option(
        "--key", "key_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
        envvar="S9REG_KEY",
        help="Developer key (start-cli PKCS#8 PEM) that signs requests to a JSON-RPC registry, "
        "as start-cli does; `index` and `db dump` need a registered signer's. Env S9REG_KEY.",
    )(f)  # fmt: skip
    f = click.option(
        "--site", metavar="DIR|URL", default=None,
        help="Read this site or registry instead of the configuration's built output: a site "
        "directory, the URL of a published or served s9reg site, or any StartOS registry URL "
        "(JSON-RPC).",
    )(f)  # fmt: skip
    return config_option("Site configuration (its `output` is read unless --site is given).")(f)


def open_site(config_path: Path, site: str | None, key_path: Path | None) -> Reader:
    """The reader of ``--site``, else of the configuration's built output.

    Raises:
        S9regError: the configuration, the site or the key cannot be read.
    """
    key = load_key(key_path) if key_path is not None else None
    if site is not None:
        return open_reader(site, key=key)
    cfg = config.load(config_path)
    reader = SiteReader.open(cfg.output)
    if not reader.admins and not reader.meta.get("admins"):
        admins = tuple(sorted(str(config.signer_guid(s)) for s in cfg.admins))
        reader = SiteReader(reader.index, admins, reader.revision, reader.description, reader.meta)
    return reader


def show_info(
    config_path: Path,
    site: str | None,
    key_path: Path | None,
    fmt: str | None,
    as_json: bool,
) -> None:
    """``registry info``: the registry's name, icon and categories (``RegistryInfo``)."""
    reader = open_site(config_path, site, key_path)
    emit(reader.call("info", {"format": None}), fmt, as_json=as_json)
