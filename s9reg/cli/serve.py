"""``s9reg serve``: the read-only StartOS registry API (placeholder until issue 4 lands)."""

from __future__ import annotations

import click

from s9reg.errors import S9regError


@click.command()
def serve() -> None:
    """Answer StartOS JSON-RPC from a built site (not built yet)."""
    raise S9regError("s9reg serve is not built yet")
