"""``s9reg registry package category …``: the ``categories`` map of site-config.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.admin import categories as ops
from s9reg.cli._app import config_option
from s9reg.cli.registry._groups import package_category
from s9reg.cli.registry._show import chosen_format, emit, format_options, json_option, table


def _name_text(value: str | dict[str, str]) -> str:
    return value if isinstance(value, str) else ", ".join(f"{k}: {v}" for k, v in value.items())


@package_category.command("add")
@click.argument("category_id", metavar="ID")
@click.argument("name")
@click.option(
    "--lang", "langs", multiple=True, metavar="LOCALE",
    help="NAME is the name in this locale (added to the others). Repeatable.",
)  # fmt: skip
@config_option()
@json_option
def category_add(
    category_id: str, name: str, langs: tuple[str, ...], config_path: Path, as_json: bool
) -> None:
    """Create a category, or rename one (NAME may be a JSON object of locale to name)."""
    cat = ops.add_category(config_path, category_id, name, langs)
    data = {"id": cat.id, "name": cat.name.json_value(), "packages": list(cat.packages)}
    emit(
        data,
        "json" if as_json else "text",
        lambda: f"category {cat.id}: {_name_text(cat.name.to_json())}",
    )


@package_category.command("remove")
@click.argument("category_id", metavar="ID")
@config_option()
@json_option
def category_remove(category_id: str, config_path: Path, as_json: bool) -> None:
    """Remove a category (its packages stay)."""
    cat = ops.remove_category(config_path, category_id)
    emit({"id": cat.id}, "json" if as_json else "text", lambda: f"removed category {cat.id}")


@package_category.command("add-package")
@click.argument("category_id", metavar="ID")
@click.argument("package_id", metavar="PACKAGE")
@config_option()
@json_option
def category_add_package(
    category_id: str, package_id: str, config_path: Path, as_json: bool
) -> None:
    """Put a package in a category."""
    changed = ops.add_to_category(config_path, category_id, package_id)
    emit({"id": category_id, "package": package_id, "changed": changed},
         "json" if as_json else "text",
         lambda: f"{package_id} is in {category_id}" + ("" if changed else " already"))  # fmt: skip


@package_category.command("remove-package")
@click.argument("category_id", metavar="ID")
@click.argument("package_id", metavar="PACKAGE")
@config_option()
@json_option
def category_remove_package(
    category_id: str, package_id: str, config_path: Path, as_json: bool
) -> None:
    """Take a package out of a category."""
    ops.remove_from_category(config_path, category_id, package_id)
    emit({"id": category_id, "package": package_id}, "json" if as_json else "text",
         lambda: f"{package_id} is no longer in {category_id}")  # fmt: skip


@package_category.command("list")
@config_option()
@format_options
def category_list(config_path: Path, fmt: str | None, as_json: bool) -> None:
    """The categories (from the config): id, name, packages."""
    cats = ops.list_categories(config_path)
    data = {c.id: {"name": c.name.json_value(), "packages": list(c.packages)} for c in cats}
    rows = [[c.id, _name_text(c.name.to_json()), ", ".join(c.packages)] for c in cats]
    emit(data, chosen_format(fmt, as_json),
         lambda: table(["ID", "NAME", "PACKAGES"], rows) if rows else "(none)")  # fmt: skip
