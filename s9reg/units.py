"""Sizes for people: the one formatting of byte counts every part of s9reg prints."""

from __future__ import annotations

__all__ = ["human_size"]


def human_size(size: int) -> str:
    """Bytes in binary units: ``812 B``, ``3.1 KiB``, ``1.4 GiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}"
    return f"{size} B"  # pragma: no cover - the loop always returns
