"""State shared by CLI commands, and the few output helpers they use."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from s9reg.s9pk.errors import KeyFormatError
from s9reg.s9pk.keys import PrivateKey

_F = TypeVar("_F", bound=Callable[..., Any])

DEFAULT_KEY_PATH = Path("~/.startos/developer.key.pem")


def config_option(help_text: str = "Site configuration.") -> Callable[[_F], _F]:
    """The ``--config FILE`` option every configuration-reading command takes (``config_path``)."""
    return click.option(
        "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
        default="site-config.yaml", show_default=True, envvar="S9REG_CONFIG",
        help=f"{help_text} Env S9REG_CONFIG.",
    )  # fmt: skip


@dataclass
class App:
    """Per-invocation state kept in ``ctx.obj``."""

    debug: bool = False
    verbose: int = 0


def console_err(text: str) -> None:
    """Write one line to stderr."""
    click.echo(text, err=True)


def dump(value: Any, fmt: str) -> str:  # noqa: ANN401 - JSON-shaped data of any kind
    """Render JSON-shaped data as upstream's CLI does: pretty JSON (2 spaces) or YAML."""
    if fmt == "yaml":
        import yaml  # noqa: PLC0415 - only the CLI needs YAML output

        return str(yaml.safe_dump(value, sort_keys=False, allow_unicode=True))
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def load_key(path: Path) -> PrivateKey:
    """Read a start-cli developer key.

    Raises:
        KeyFormatError: the file is missing, unreadable or not an Ed25519 PKCS#8 key.
    """
    path = path.expanduser()
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        msg = f"{path}: no such key file"
        raise KeyFormatError(msg, hint="create one with: s9reg key init") from None
    except (OSError, UnicodeDecodeError) as e:
        msg = f"{path}: cannot read key: {getattr(e, 'strerror', None) or e}"
        raise KeyFormatError(msg) from None
    try:
        return PrivateKey.from_pem(text)
    except KeyFormatError as e:
        raise KeyFormatError(f"{path}: {e.problem}") from None


def is_tty() -> bool:
    """Whether stderr is a terminal (progress bars go there)."""
    return sys.stderr.isatty()


key_option = click.option(
    "--key",
    "key_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=str(DEFAULT_KEY_PATH),
    show_default=True,
    envvar="S9REG_KEY",
    help="Ed25519 signing key (start-cli PKCS#8 PEM). Env S9REG_KEY.",
)
