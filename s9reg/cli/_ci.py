"""CI outputs of ``s9reg publish``: GitHub step outputs and a compact job summary.

The summary is bounded (counts, at most :data:`MAX_ROWS` changed packages, at most
:data:`MAX_WARNINGS` warnings, never the plan), so a first publish of a large registry stays
far below GitHub's 1 MiB limit per step summary. Nothing here talks to storage.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from s9reg.errors import S9regError
from s9reg.publish import PublishReport
from s9reg.publish.changes import IndexChanges
from s9reg.units import human_size

__all__ = ["CiResult", "append_github_output", "append_summary", "summary_markdown"]

MAX_ROWS = 50
MAX_WARNINGS = 10
_MAX_CELL = 300  # characters of versions listed per package row


@dataclass(frozen=True, slots=True, kw_only=True)
class CiResult:
    """What a publish reports to CI.

    Attributes:
        report: the publish report.
        changes: versions added and removed.
        index_sha256: SHA-256 of the ``index.json`` published (or planned, in a dry run).
        packages: packages in that index.
        versions: versions in that index.
        links: (label, URL) pairs for the summary: the registry, its catalogue.
    """

    report: PublishReport
    changes: IndexChanges
    index_sha256: str
    packages: int
    versions: int
    links: tuple[tuple[str, str], ...] = ()


def _append(path: Path, text: str, what: str) -> None:
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        msg = f"{path}: cannot write the {what}: {e.strerror}"
        raise S9regError(msg) from None


def append_github_output(path: Path, result: CiResult) -> None:
    """Append ``generation``, ``changed``, ``index-sha256`` and ``dry-run`` to a GITHUB_OUTPUT file.

    Raises:
        S9regError: the file cannot be written.
    """
    changed = json.dumps(result.changes.to_dict(), ensure_ascii=False, separators=(",", ":"))
    # The heredoc form, with a delimiter no value can contain (GitHub's documented syntax).
    delimiter = f"s9reg_{secrets.token_hex(8)}"
    lines = [
        f"generation={result.report.generation}",
        f"previous-generation={result.report.previous_generation}",
        f"index-sha256={result.index_sha256}",
        f"dry-run={'true' if result.report.dry_run else 'false'}",
        f"changed<<{delimiter}",
        changed,
        delimiter,
    ]
    _append(path, "\n".join(lines) + "\n", "GitHub outputs")


def _cell(versions: tuple[str, ...]) -> str:
    text = ", ".join(f"`{v}`" for v in versions)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _md(text: str) -> str:
    """Text safe in a Markdown table cell (no pipes, no new lines, no HTML)."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def summary_markdown(result: CiResult) -> str:
    """The job summary: outcome, counts, changed versions, index digest and links."""
    r = result.report
    added, removed = result.changes.count()
    if r.dry_run:
        head = f"### s9reg: dry run, would publish generation {r.generation}"
    elif r.generation == r.previous_generation:
        head = f"### s9reg: up to date, generation {r.generation} is live"
    else:
        head = f"### s9reg: published generation {r.generation} (was {r.previous_generation})"
    lines = [
        head,
        "",
        f"- target: `{_md(r.target)}`",
        (
            f"- registry: {result.packages} packages, {result.versions} versions; "
            f"{added} versions added, {removed} removed"
        ),
        (
            f"- objects: {len(r.uploads)} uploaded ({human_size(r.upload_bytes)}), "
            f"{len(r.header_updates)} header updates, {len(r.deletions)} deleted, "
            f"{r.unchanged} unchanged"
        )
        + (f", {r.deferred_deletions} deletions deferred" if r.deferred_deletions else ""),
        f"- `index.json` SHA-256: `{result.index_sha256}`",
    ]
    lines += [f"- {label}: <{_md(url)}>" for label, url in result.links]
    rows = [("added", pid, v) for pid, v in result.changes.added.items()]
    rows += [("removed", pid, v) for pid, v in result.changes.removed.items()]
    if rows:
        lines += ["", "| change | package | versions |", "|---|---|---|"]
        lines += [f"| {kind} | `{pid}` | {_md(_cell(v))} |" for kind, pid, v in rows[:MAX_ROWS]]
        if len(rows) > MAX_ROWS:
            lines.append(f"\n… and {len(rows) - MAX_ROWS} more packages (see the `changed` output)")
    if r.warnings:
        lines += ["", f"{len(r.warnings)} warnings:", ""]
        lines += [f"- {_md(w[:_MAX_CELL])}" for w in r.warnings[:MAX_WARNINGS]]
        if len(r.warnings) > MAX_WARNINGS:
            lines.append(f"- … and {len(r.warnings) - MAX_WARNINGS} more (in the job log)")
    return "\n".join(lines) + "\n\n"


def append_summary(path: Path, result: CiResult) -> None:
    """Append :func:`summary_markdown` to a GITHUB_STEP_SUMMARY file.

    Raises:
        S9regError: the file cannot be written.
    """
    _append(path, summary_markdown(result), "job summary")
