"""Categories: ``package category add|remove|add-package|remove-package|list``.

The ``categories:`` map of the config (id → name and member packages), changed as upstream's
``package.category.*`` changes the index. ``add`` on an existing id replaces its name (or, with
``--lang``, adds or replaces translations) and keeps its members. Members must be packages the
registry has. Upstream keeps membership in each package (``PackageInfo.categories``); the config
keeps it in the category, so removing a category removes its memberships too. Nothing here
prints.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence

from s9reg.admin import _parse
from s9reg.admin._draft import editing, reading
from s9reg.admin.authorized import package_exists
from s9reg.admin.errors import AdminError, AdminNotFoundError
from s9reg.builder import CategorySettings
from s9reg.errors import S9regError
from s9reg.s9pk.metadata import LocaleString

__all__ = [
    "add_category",
    "add_to_category",
    "list_categories",
    "remove_category",
    "remove_from_category",
]

_LOCALE_RE = re.compile(r"[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")


def _name(text: str) -> str | dict[str, str]:
    """``NAME`` as upstream reads it: a JSON LocaleString first, else the plain text."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
            LocaleString.from_json(value)
        except (ValueError, S9regError) as e:
            raise AdminError(f"category name {text!r}: not a LocaleString ({e})") from None
        if isinstance(value, dict) and value:
            return {str(k): str(v) for k, v in value.items()}
    if not text.strip():
        raise AdminError("a category needs a non-empty name")
    return text


def add_category(
    path: str | os.PathLike[str], category_id: str, name: str, langs: Sequence[str] = ()
) -> CategorySettings:
    """Create a category, or rename one; with ``langs``, ``name`` is its name in those locales.

    Raises:
        AdminError: the id, name or a locale does not parse.
        ConfigError: the config cannot be edited.
    """
    category_id = _parse.package_id(category_id, "category id")
    for lang in langs:
        if _LOCALE_RE.fullmatch(lang) is None:
            raise AdminError(f"--lang {lang!r}: expected a locale such as en_US or de_DE")
    value = _name(name)
    with editing(path) as d:
        old = next((c for c in d.cfg.categories if c.id == category_id), None)
        if langs:
            if isinstance(value, dict):
                raise AdminError("--lang takes a plain name, not a JSON object")
            merged: dict[str, str] = {}
            if old is not None:
                translations = old.name.translations
                default = d.cfg.catalogue.language
                merged = (
                    dict(translations)
                    if translations is not None
                    else {default: str(old.name.value)}
                )
            merged.update(dict.fromkeys(langs, value))
            value = merged
        d.doc.set(("categories", category_id, "name"), value)
        members = old.packages if old is not None else ()
    return CategorySettings(id=category_id, name=LocaleString.from_json(value), packages=members)


def remove_category(path: str | os.PathLike[str], category_id: str) -> CategorySettings:
    """Remove a category (its memberships with it).

    Raises:
        AdminNotFoundError: no such category.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        cat = _category(d.cfg.categories, category_id)
        d.doc.remove(("categories", cat.id))
    return cat


def _category(categories: Sequence[CategorySettings], category_id: str) -> CategorySettings:
    for c in categories:
        if c.id == category_id:
            return c
    known = ", ".join(c.id for c in categories) or "none"
    raise AdminNotFoundError(f"no category {category_id!r} (categories: {known})")


def add_to_category(path: str | os.PathLike[str], category_id: str, package_id: str) -> bool:
    """Add a package to a category.

    Returns:
        Whether the file changed (False: it was a member already).

    Raises:
        AdminError: the package id does not parse.
        AdminNotFoundError: no such category, or no such package.
        ConfigError: the config cannot be edited.
    """
    package_id = _parse.package_id(package_id)
    with editing(path) as d:
        cat = _category(d.cfg.categories, category_id)
        if package_id in cat.packages:
            return False
        if not package_exists(d.cfg, package_id):
            raise AdminNotFoundError(f"no package {package_id!r} in the registry")
        d.doc.append(("categories", cat.id, "packages"), package_id)
    return True


def remove_from_category(path: str | os.PathLike[str], category_id: str, package_id: str) -> None:
    """Remove a package from a category.

    Raises:
        AdminNotFoundError: no such category, or the package is not in it.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        cat = _category(d.cfg.categories, category_id)
        if package_id not in cat.packages:
            raise AdminNotFoundError(f"package {package_id!r} is not in category {cat.id!r}")
        d.doc.remove(("categories", cat.id, "packages", cat.packages.index(package_id)))


def list_categories(path: str | os.PathLike[str]) -> tuple[CategorySettings, ...]:
    """Every category, in the config's order.

    Raises:
        ConfigError: the config cannot be read.
    """
    return reading(path).categories
