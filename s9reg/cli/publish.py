"""``s9reg publish``: sync the site to storage (placeholder until issue 6 lands)."""

from __future__ import annotations

import click

from s9reg.errors import S9regError


@click.command()
def publish() -> None:
    """Sync the built site to storage (not built yet)."""
    raise S9regError("s9reg publish is not built yet")
