"""Render the page models with jinja2 into the catalogue's files (issue 5, docs/catalogue.md).

Pure: the index and options in, ``{site path: bytes}`` out. Templates come from the packaged
``s9reg/templates`` (or the repository's ``templates/`` in an editable install), optionally
overridden file by file from an operator's directory.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jinja2
import segno

from s9reg.catalogue import _paths as paths
from s9reg.catalogue._options import CatalogueOptions, PackageExtras
from s9reg.catalogue._text import LINK_REL, iso_date, short_text
from s9reg.catalogue._views import Card, PackagePage, VersionRow, Views, build_views
from s9reg.catalogue.errors import CatalogueError
from s9reg.registry.model import FullIndex, format_timestamp

__all__ = ["render", "template_dirs"]

_STATIC = {paths.CSS: "static/s9reg.css", paths.JS: "static/s9reg.js"}
_STATIC_ICON = "static/icon.svg"
_FEED_LIMIT = 100
_RECENT_ON_HOME = 6
_SEARCH_TEXT_LIMIT = 600


def template_dirs(template_dir: Path | None = None) -> list[Path]:
    """The directories templates are looked up in, first match wins.

    Raises:
        CatalogueError: ``template_dir`` is not a directory, or no built-in templates exist.
    """
    dirs: list[Path] = []
    if template_dir is not None:
        if not template_dir.is_dir():
            raise CatalogueError(f"template directory {template_dir} does not exist")
        dirs.append(template_dir)
    packaged = Path(str(resources.files("s9reg") / "templates"))
    # An editable install has no s9reg/templates; the repository's templates/ stands in.
    repo = Path(__file__).resolve().parents[2] / "templates"
    builtin = next((d for d in (packaged, repo) if (d / "base.html").is_file()), None)
    if builtin is None:
        raise CatalogueError("the catalogue templates are not installed (s9reg/templates)")
    dirs.append(builtin)
    return dirs


def _environment(template_dir: Path | None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(template_dir)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["date"] = iso_date
    env.filters["timestamp"] = format_timestamp
    env.globals["LINK_REL"] = LINK_REL
    return env


@dataclass(frozen=True, slots=True)
class _FeedEntry:
    card: Card
    row: VersionRow
    updated: datetime


class _Renderer:
    def __init__(self, env: jinja2.Environment, views: Views, options: CatalogueOptions) -> None:
        self.env = env
        self.views = views
        self.options = options
        base = options.registry_url
        self.base = base if base.endswith("/") else base + "/"
        self.files: dict[str, bytes] = {}

    def absolute(self, path: str) -> str:
        return self.base + path

    def source(self, name: str) -> bytes:
        try:
            text, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except jinja2.TemplateNotFound:
            raise CatalogueError(f"catalogue template {name} is missing") from None
        return text.encode()

    def write(self, path: str, template: str, **context: object) -> None:
        root = paths.relative_root(path)
        try:
            text = self.env.get_template(template).render(
                site=self.views,
                here=path,
                root=root,
                paths=paths,
                options=self.options,
                lang=self.options.language.replace("_", "-"),
                absolute=self.absolute,
                **context,
            )
        except jinja2.TemplateError as e:
            raise CatalogueError(f"catalogue template {template}: {e}") from e
        self.files[path] = text.encode()

    def pages(self) -> None:
        v = self.views
        recent = sorted(v.cards, key=lambda c: (-c.updated.timestamp(), c.id))
        self.write(paths.HOME, "home.html", cards=v.cards, recent=recent[:_RECENT_ON_HOME])
        self.write(paths.RECENT, "recent.html", cards=recent)
        for cat in v.categories:
            members = [c for c in v.cards if any(x.id == cat.id for x in c.categories)]
            self.write(cat.path, "category.html", category=cat, cards=members)
        for page in v.packages:
            self.write(page.card.path, "package.html", page=page)
        self.write(paths.ADD, "add.html", registry_url=self.options.registry_url)
        self.write(paths.TRUST, "trust.html")
        if v.os_releases:
            self.write(paths.OS, "os.html")

    def feeds(self) -> None:
        entries = [_entry(page, row) for page in self.views.packages for row in page.versions]
        entries.sort(key=lambda e: (-e.updated.timestamp(), e.card.id, e.row.version))
        self.write(
            paths.FEED,
            "feed.atom",
            entries=entries[:_FEED_LIMIT],
            feed_path=paths.FEED,
            feed_title=self.views.name,
            updated=self.views.updated or datetime(1970, 1, 1, tzinfo=UTC),
        )
        for page in self.views.packages:
            mine = [e for e in entries if e.card.id == page.card.id]
            self.write(
                page.feed,
                "feed.atom",
                entries=mine,
                feed_path=page.feed,
                feed_title=f"{page.card.title} ({self.views.name})",
                updated=max(e.updated for e in mine),
            )

    def static(self) -> None:
        for path, name in _STATIC.items():
            self.files[path] = self.source(name)
        self.files[paths.DEFAULT_ICON] = self.source(_STATIC_ICON)
        self.files[paths.SEARCH_INDEX] = _search_index(self.views)
        self.files[paths.QR] = _qr_svg(self.options.registry_url)
        self.files.update(self.views.icons)

    def crawlers(self) -> None:
        html = sorted(p for p in self.files if p.endswith(".html"))
        self.write(paths.SITEMAP, "sitemap.xml", pages=html)
        self.files[paths.ROBOTS] = (
            f"User-agent: *\nAllow: /\nSitemap: {self.absolute(paths.SITEMAP)}\n"
        ).encode()


def _entry(page: PackagePage, row: VersionRow) -> _FeedEntry:
    updated = max(v.published for v in row.variants)
    return _FeedEntry(page.card, row, updated)


def _search_index(views: Views) -> bytes:
    names = {c.id: c.name for c in views.categories}
    items = []
    for card in views.cards:
        words = [card.id, card.title, card.short, *card.arches]
        words += [names.get(c.id, c.id) for c in card.categories]
        items.append(
            {
                "id": card.id,
                "categories": [c.id for c in card.categories],
                "text": short_text(" ".join(words), _SEARCH_TEXT_LIMIT).casefold(),
            }
        )
    data = json.dumps({"packages": items}, ensure_ascii=False, separators=(",", ":"))
    # A script file, not JSON: pages opened from file:// cannot fetch() JSON, but may load it.
    return f'"use strict";\nwindow.s9regSearchIndex = {data};\n'.encode()


def _qr_svg(url: str) -> bytes:
    buf = io.BytesIO()
    qr = segno.make(url, error="m", micro=False)
    qr.save(
        buf,
        kind="svg",
        scale=6,
        border=4,
        dark="#000",
        light="#fff",
        xmldecl=False,
        title="QR code of the registry URL",
    )
    return buf.getvalue() + b"\n"


def render(
    index: FullIndex,
    options: CatalogueOptions,
    extras: Mapping[tuple[str, str], PackageExtras],
) -> dict[str, bytes]:
    """Every catalogue file by site-relative path.

    HTML pages, CSS/JS, icons, Atom feeds, ``sitemap.xml``, ``robots.txt``, the search index
    and the QR code. Pure and deterministic: the same inputs give byte-identical output.

    Args:
        index: the registry index the site serves.
        options: registry URL, language, registry key fingerprint, templates.
        extras: per ``(package id, version as written)``, what the build read from the
            ``.s9pk`` (instructions, licence, file sizes).

    Returns:
        ``{site path: file bytes}``, sorted by path.

    Raises:
        CatalogueError: a template is missing or broken, or an icon is not a data URL.
    """
    env = _environment(options.template_dir)
    renderer = _Renderer(env, build_views(index, options, extras), options)
    renderer.pages()
    renderer.feeds()
    renderer.static()
    renderer.crawlers()
    return dict(sorted(renderer.files.items()))
