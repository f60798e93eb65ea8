"""Build a static registry site from local ``.s9pk`` files (registry-protocol.md §9).

The pipeline verifies every package, checks its signer against the configured rules, merges
hardware variants, writes the site described in ``docs/site-layout.md`` beside the output and
swaps it in. Example::

    from s9reg.builder import BuildSettings, build_site

    report = build_site(BuildSettings(api_url=..., file_urls=(...,), sources=(...,), output=...))
    print(report.added)
"""

from __future__ import annotations

from s9reg.builder.errors import BuildError
from s9reg.builder.pipeline import build_site
from s9reg.builder.report import BuildProgress, BuildReport, PackageRef, SkippedFile
from s9reg.builder.settings import BuildSettings, CategorySettings, IncompleteArches

__all__ = [
    "BuildError",
    "BuildProgress",
    "BuildReport",
    "BuildSettings",
    "CategorySettings",
    "IncompleteArches",
    "PackageRef",
    "SkippedFile",
    "build_site",
]
