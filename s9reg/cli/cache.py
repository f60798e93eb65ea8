"""``s9reg cache``: the Docker image cache (placeholder until issue 7 lands)."""

from __future__ import annotations

import click

from s9reg.errors import S9regError


@click.group()
def cache() -> None:
    """Run the Docker image cache (not built yet)."""
    raise S9regError("s9reg cache is not built yet")
