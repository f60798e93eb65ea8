"""``s9reg registry info set-name|set-icon``: the registry's name and icon in site-config.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.admin import info as ops
from s9reg.cli._app import config_option
from s9reg.cli.registry._groups import info
from s9reg.cli.registry._show import emit, json_option


@info.command("set-name")
@click.argument("name")
@config_option()
@json_option
def set_name(name: str, config_path: Path, as_json: bool) -> None:
    """Set the registry's display name (at most 32 characters)."""
    changed = ops.set_name(config_path, name)
    emit({"name": name, "changed": changed}, "json" if as_json else "text",
         lambda: f"registry name: {name}" + ("" if changed else " (unchanged)"))  # fmt: skip


@info.command("set-icon")
@click.argument("icon", metavar="FILE|URL|DATA-URL")
@config_option()
@json_option
def set_icon(icon: str, config_path: Path, as_json: bool) -> None:
    """Set the registry's icon: an image file, an http(s) URL (fetched once) or a data: URL.

    PNG, JPEG, GIF, WebP or SVG, at most 256 KiB. A data: URL is written into the config; a
    file outside the config's directory, or a URL, is stored as registry-icon.EXT beside it.
    """
    change = ops.set_icon(config_path, icon)
    shown = change.value if not change.value.startswith("data:") else "a data: URL"
    data = {"icon": shown, "type": change.mime_type, "size": change.size,
            "stored": None if change.stored is None else str(change.stored)}  # fmt: skip
    emit(data, "json" if as_json else "text",
         lambda: f"registry icon: {shown} ({change.mime_type}, {change.size} bytes)")  # fmt: skip
