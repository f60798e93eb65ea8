"""The HTML catalogue: static pages that let anyone browse, search and check a registry (issue 5).

A pure renderer: a :class:`~s9reg.registry.FullIndex` and options in, ``{site path: bytes}``
out; the build writes the files. Pages, paths and templates are described in
``docs/catalogue.md``. Example::

    from s9reg.catalogue import CatalogueOptions, render

    files = render(index, CatalogueOptions(registry_url="https://registry.example.com/"), {})
    html = files["index.html"]
"""

from __future__ import annotations

from s9reg.catalogue._options import CatalogueOptions, PackageExtras
from s9reg.catalogue._paths import icon_file
from s9reg.catalogue._render import render, template_dirs
from s9reg.catalogue.errors import CatalogueError

__all__ = [
    "CatalogueError",
    "CatalogueOptions",
    "PackageExtras",
    "icon_file",
    "render",
    "template_dirs",
]
