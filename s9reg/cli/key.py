"""``s9reg key``: create and show start-cli compatible developer keys."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.cli._app import DEFAULT_KEY_PATH, load_key
from s9reg.s9pk.errors import KeyFormatError
from s9reg.s9pk.keys import PrivateKey, write_private_key

_path_option = click.option(
    "--path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=str(DEFAULT_KEY_PATH),
    show_default=True,
    envvar="S9REG_KEY",
    help="Key file. Env S9REG_KEY.",
)


@click.group()
def key() -> None:
    """Developer and registry signing keys (start-cli format)."""


@key.command("init")
@_path_option
def init(path: Path) -> None:
    """Create a new Ed25519 key (mode 0600); never overwrites an existing one."""
    path = path.expanduser()
    try:
        write_private_key(path, PrivateKey.generate())
    except FileExistsError:
        msg = f"{path}: key already exists; refusing to overwrite it"
        raise KeyFormatError(msg) from None
    except OSError as e:
        msg = f"{path}: cannot create key: {e.strerror}"
        raise KeyFormatError(msg) from None
    click.echo(f"New developer key generated at {path}")
    # Where it goes: the two ways a key is used with a registry (docs/github-actions.md).
    click.echo(
        f"To sign packages: keep it private and add `s9reg key pubkey --path {path}` "
        "to signers[].keys in the registry's site-config.yaml."
    )
    click.echo(
        "As the registry key: store the file's contents as the CI secret S9REG_REGISTRY_KEY "
        "(GitHub: environment `registry`), keep `signing_key: env:S9REG_REGISTRY_KEY`, "
        "then delete the file."
    )


@key.command("pubkey")
@_path_option
def pubkey(path: Path) -> None:
    """Print the public key as an SPKI PEM (as `start-cli pubkey`, less its extra blank line)."""
    click.echo(load_key(path).public_key.to_pem(), nl=False)
