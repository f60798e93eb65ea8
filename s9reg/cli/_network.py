"""The ``--tor-proxy socks5h://HOST:PORT`` option of the commands that read other registries."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from s9reg.config import parse_tor_proxy

_F = TypeVar("_F", bound=Callable[..., object])


def _parse(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[str, int] | None:
    if value is None:
        return None
    proxy = parse_tor_proxy(value)
    if proxy is None:
        raise click.BadParameter(f"expected socks5h://HOST:PORT, got {value!r}")
    return proxy


def tor_proxy_option() -> Callable[[_F], _F]:
    """``--tor-proxy`` (``tor_proxy``: ``(host, port)`` or None) over ``network.tor_proxy``."""
    return click.option(
        "--tor-proxy", "tor_proxy", metavar="socks5h://HOST:PORT", callback=_parse,
        envvar="S9REG_TOR_PROXY",
        help="SOCKS5 proxy for every .onion request (others never use it); "
        "overrides network.tor_proxy. Env S9REG_TOR_PROXY.",
    )  # fmt: skip
