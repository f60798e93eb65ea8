"""Whether the built site must be rebuilt before it is published (issue 6: "builds if needed").

A site is stale when it is missing, or when the configuration, a package source, or a
directory holding sources (files added or removed) changed after the site was written. The
build is deterministic, so rebuilding a fresh site would only cost time.
"""

from __future__ import annotations

from pathlib import Path

from s9reg.builder import BuildSettings
from s9reg.site_layout import SITE_FILE

__all__ = ["stale_reason"]

SITE_MARKER = SITE_FILE


def stale_reason(build: BuildSettings, config_path: Path | None = None) -> str | None:
    """Why ``build.output`` needs a build first, or None when it is up to date."""
    marker = build.output / SITE_MARKER
    try:
        built = marker.stat().st_mtime_ns
    except OSError:
        return f"{build.output} is not built yet"
    inputs: dict[Path, None] = {}
    if config_path is not None:
        inputs[config_path] = None
    for source in build.sources:
        inputs[source] = None
        # Building renames the site inside its parent, which touches that directory.
        if source.parent != build.output.parent:
            inputs[source.parent] = None
    for path in inputs:
        try:
            changed = path.stat().st_mtime_ns
        except OSError:
            return f"{path} is gone since the last build"
        # Equal times count as stale: coarse file system clocks cannot order them.
        if changed >= built:
            return f"{path} changed since the last build"
    return None
