"""Output of the ``s9reg registry`` editing commands: ``--json``/``--format``, tables, signers.

As start-cli prints: ``--format json`` compact, ``json-pretty`` indented by two spaces, ``yaml``
with PEM keys as ``|`` blocks, and the list commands' default a prettytable-style table
(``+---+`` rules between rows, the header centred). Keys appear in tables by fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from s9reg.cli._app import dump
from s9reg.cli.registry._output import Table, yaml_text
from s9reg.config import Signer
from s9reg.registry import ContactInfo, Guid

_F = TypeVar("_F", bound=Callable[..., Any])

_MATRIX_TO = "https://matrix.to/#/"


def json_option(f: _F) -> _F:
    """``--json``: print the result as JSON (compact, one line)."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)


def format_options(f: _F) -> _F:
    """``--format json|json-pretty|yaml|table`` (start-cli's) and ``--json`` (``--format json``)."""
    f = click.option(
        "--format", "fmt", type=click.Choice(["json", "json-pretty", "yaml", "table"]),
        default=None, help="Output format (default: a table, as start-cli).",
    )(f)  # fmt: skip
    return click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(f)


def chosen_format(fmt: str | None, as_json: bool) -> str:
    """The format to print in."""
    if as_json and fmt not in (None, "json"):
        raise click.UsageError("--json and --format exclude each other")
    return "json" if as_json else (fmt or "table")


def emit(value: object, fmt: str, text: Callable[[], str]) -> None:
    """Print ``value`` as JSON (compact or pretty) or YAML, or the text ``text()`` gives."""
    if fmt == "json":
        click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    elif fmt == "json-pretty":
        click.echo(dump(value, "json"), nl=False)
    elif fmt == "yaml":
        click.echo(yaml_text(value), nl=False)
    else:
        out = text()
        if out:
            click.echo(out)


def contact_text(c: ContactInfo) -> str:
    """A contact as upstream prints it (``mailto:…``, ``https://matrix.to/#/…``, the URL)."""
    if c.kind == "email":
        return f"mailto:{c.value}"
    if c.kind == "matrix":
        return f"{_MATRIX_TO}{c.value}"
    return c.value


def signer_json(s: Signer) -> dict[str, object]:
    """Upstream's ``SignerInfo``: ``{name, contact, keys}``."""
    return {
        "name": s.name,
        "contact": [c.to_dict() for c in s.contacts],
        "keys": [k.to_pem() for k in s.keys],
    }


def signers_json(signers: Mapping[Guid, Signer]) -> dict[str, object]:
    """``{Guid: SignerInfo}`` in id order."""
    return {str(g): signer_json(s) for g, s in sorted(signers.items())}


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A prettytable ``FORMAT_DEFAULT`` table (start-cli's): rules between rows, header centred.

    A cell with several lines spreads over as many lines, the row's other cells padded.
    """
    drawn = Table()
    drawn.add_row(header, "center")
    for row in rows:
        drawn.add_row(row)
    return drawn.render().removesuffix("\n")


def signers_table(signers: Mapping[Guid, Signer], extra: Mapping[Guid, str] | None = None) -> str:
    """ID, NAME, CONTACT, KEYS (fingerprints) [, an extra column such as the versions]."""
    header = ["ID", "NAME", "CONTACT", "KEYS"]
    if extra is not None:
        header.append("AUTHORIZED VERSIONS")
    rows = []
    for g, s in sorted(signers.items()):
        row = [
            str(g),
            s.name + (" (admin)" if s.admin else ""),
            "\n".join(contact_text(c) for c in s.contacts),
            "\n".join(k.fingerprint[:16] for k in s.keys),
        ]
        if extra is not None:
            row.append(extra.get(g, ""))
        rows.append(row)
    if not rows:
        return "(none)"
    return table(header, rows)
