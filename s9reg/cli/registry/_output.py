"""Output of the read commands in start-cli's formats: JSON, pretty JSON, YAML and its tables.

Upstream prints a result with ``--format`` as serde writes it (``json`` compact, ``json-pretty``
with two spaces, ``yaml``) and, without ``--format``, either pretty JSON or, for the commands
that have one, a prettytable table (``FORMAT_DEFAULT``: ``+---+`` rules between every row,
``|`` borders, one space of padding). :class:`Table` draws those tables; styles (bold) are
terminal colours upstream and are not drawn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import click

from s9reg._json import JSONValue
from s9reg.cli._app import dump

__all__ = ["FORMATS", "Align", "Table", "emit", "format_options", "yaml_text"]

FORMATS = ("json", "json-pretty", "yaml", "table")
Align = Literal["left", "center", "right"]
_F = TypeVar("_F", bound=Callable[..., Any])


def format_options(*, table: bool) -> Callable[[_F], _F]:
    """``--format`` (json, json-pretty, yaml, and table where upstream draws one) and ``--json``.

    Without either, the output is upstream's: a table where it has one, else pretty JSON.
    """
    choices = FORMATS if table else FORMATS[:-1]
    default = "a table" if table else "json-pretty"

    def decorate(f: _F) -> _F:
        f = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(f)
        return click.option(
            "--format", "fmt", type=click.Choice(choices), default=None,
            help=f"Output format (default: {default}, as start-cli).",
        )(f)  # fmt: skip

    return decorate


def emit(
    value: JSONValue,
    fmt: str | None,
    *,
    as_json: bool = False,
    table: Callable[[JSONValue], str] | None = None,
) -> None:
    """Print ``value`` in the chosen format (see :func:`format_options`)."""
    chosen = "json" if as_json else fmt
    if chosen is None:
        chosen = "table" if table is not None else "json-pretty"
    if chosen == "table" and table is not None:
        click.echo(table(value), nl=False)
    elif chosen == "json":
        click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    elif chosen == "yaml":
        click.echo(yaml_text(value), nl=False)
    else:
        click.echo(dump(value, "json"), nl=False)


def yaml_text(value: object) -> str:
    """YAML as serde_yaml writes it: keys in order, multi-line strings (PEM keys) as ``|``."""
    import yaml  # noqa: PLC0415 - only YAML output needs it

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, text)
    return str(yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30))


class Table:
    """A prettytable ``FORMAT_DEFAULT`` table: rows of cells, each with its alignment.

    A row with fewer cells than the widest row gets empty cells; a cell with line breaks spans
    as many lines, the other cells of its row padded.
    """

    def __init__(self) -> None:
        self._rows: list[list[tuple[str, Align]]] = []

    def add_row(
        self, cells: Sequence[str], align: Align = "left", *, first: Align | None = None
    ) -> None:
        """Add a row: ``align`` for every cell (``bc =>``), ``first`` for the first (``br ->``)."""
        row = [(str(c), align) for c in cells]
        if first is not None and row:
            row[0] = (row[0][0], first)
        self._rows.append(row)

    def render(self) -> str:
        """The table's text, every line ending in a newline."""
        if not self._rows:
            return ""
        ncols = max(len(r) for r in self._rows)
        widths = [0] * ncols
        for row in self._rows:
            for i, (text, _) in enumerate(row):
                widths[i] = max(widths[i], *(len(line) for line in text.split("\n")))
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
        out = [rule]
        for row in self._rows:
            cells = [c.split("\n") for c, _ in row] + [[""]] * (ncols - len(row))
            aligns = [a for _, a in row] + ["left"] * (ncols - len(row))
            height = max(len(lines) for lines in cells)
            for n in range(height):
                parts = []
                for lines, align, width in zip(cells, aligns, widths, strict=True):
                    text = lines[n] if n < len(lines) else ""
                    parts.append(" " + _pad(text, width, align) + " ")
                out.append("|" + "|".join(parts) + "|\n")
            out.append(rule)
        return "".join(out)


def _pad(text: str, width: int, align: Align) -> str:
    fill = width - len(text)
    if align == "right":
        return " " * fill + text
    if align == "center":
        left = fill // 2
        return " " * left + text + " " * (fill - left)
    return text + " " * fill
