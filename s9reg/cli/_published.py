"""Where ``build`` and ``publish`` read the publication dates of a registry published before.

The CLI is the seam between the two: the build takes a reader of the published index as
data (``BuildSettings.published``) and never imports :mod:`s9reg.publish`.
"""

from __future__ import annotations

from functools import partial

from s9reg import config
from s9reg.builder.previous import read_site_index
from s9reg.builder.settings import IndexSource
from s9reg.errors import ConfigError
from s9reg.publish import PublishSettings, read_live_index


def published_source(
    cfg: config.SiteConfig, previous: str | None, *, no_previous: bool = False
) -> IndexSource | None:
    """The reader of the published index for ``s9reg build``.

    ``--previous URL|DIR`` names it; otherwise it is the live index of the configured storage
    target, if any. ``--no-previous`` reads nothing.
    """
    if previous is not None:
        return partial(read_site_index, previous)
    if no_previous:
        return None
    try:
        settings = config.publish_settings(cfg)
    except ConfigError:  # no storage target configured: nothing is published from here
        return None
    return live_source(settings)


def live_source(settings: PublishSettings) -> IndexSource:
    """The reader of the live index of ``settings.target`` (``s9reg publish`` builds with it)."""
    return partial(read_live_index, settings)
