"""Small tree-editing helpers shared by the `.s9pk` tests."""

from __future__ import annotations

from collections.abc import Mapping

from s9reg.s9pk.tree import Directory, Node


def edit(tree: Directory, changes: Mapping[str, Node | None]) -> Directory:
    """A fresh tree with ``changes`` applied (None deletes); parent directories are created."""
    entries: dict[str, Node] = dict(tree.entries)
    nested: dict[str, dict[str, Node | None]] = {}
    for path, node in changes.items():
        head, _, rest = path.strip("/").partition("/")
        if rest:
            nested.setdefault(head, {})[rest] = node
        elif node is None:
            entries.pop(head, None)
        else:
            entries[head] = node
    for head, sub in nested.items():
        child = entries.get(head)
        entries[head] = edit(child if isinstance(child, Directory) else Directory.of({}), sub)
    return Directory.of(entries)
