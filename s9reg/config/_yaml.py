"""Reading the config's bytes and composing its YAML node tree (PyYAML), with line numbers.

The validators walk these nodes, whose marks give every problem its line; see
``docs/adr/0010-config-yaml-libraries.md`` for why loading stays on PyYAML while editing uses
ruamel.yaml. Nothing here knows the schema.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from yaml.nodes import Node, ScalarNode

from s9reg.errors import ConfigError

__all__ = ["MAX_CONFIG_BYTES", "compose", "is_plain_string", "read_text"]

# A site config is a few kilobytes; the cap keeps a wrong path (an ISO) from being parsed.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_TAG_STR = "tag:yaml.org,2002:str"
# Leading characters that YAML reads as syntax, so a plain range such as ``>=1`` never parses.
_QUOTE_HINT = "quote values that start with *, >, <, !, &, | or % (e.g. '>=1.0' or '*')"


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses aliases: a config never needs them (billion laughs)."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


def read_text(path: str | os.PathLike[str]) -> tuple[bytes, str]:
    """The file's bytes and their UTF-8 text, refusing files over :data:`MAX_CONFIG_BYTES`.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8, or is too large.
    """
    display = os.fspath(path)
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{display}: cannot read the config: {e}") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{display}: the config is larger than {MAX_CONFIG_BYTES} bytes")
    return data, text


def compose(text: str, display: str) -> Node:
    """The root node of ``text``, whose marks carry line numbers.

    Raises:
        ConfigError: ``text`` is not YAML (``file:line: invalid YAML: …``), uses aliases, or
            is empty.
    """
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(f"{display}:{line}: invalid YAML: {problem}", hint=_QUOTE_HINT) from None
    except yaml.reader.ReaderError as e:
        # The reader has no mark yet (a control character, U+FFFE): only a character index,
        # which str(e) prints on a second line ("position 20"). Name the line instead (#16).
        line = text.count("\n", 0, e.position) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character)
        problem = f"unacceptable character U+{char:04X}: {e.reason}"
        raise ConfigError(f"{display}:{line}: invalid YAML: {problem}") from None
    except (yaml.YAMLError, RecursionError) as e:
        problem = " ".join(str(e).split())  # one line, whatever the error prints
        raise ConfigError(f"{display}: invalid YAML: {problem}") from None
    if root is None:
        raise ConfigError(f"{display}: the config is empty")
    return root


def is_plain_string(text: str, *, flow: bool = False) -> bool:
    """Whether ``text`` written unquoted reads back as this loader's string (YAML 1.1 rules).

    ``yes``, ``on``, ``1_000``, ``2024-01-01`` or ``>=1`` are not, nor ``a, b`` inside a flow
    collection (``flow``): an editor must quote them.
    """
    if "\n" in text:
        return False
    for doc in (f"- {text}", f"[{text}]") if flow else (f"- {text}",):
        try:
            root = yaml.compose(doc, Loader=_Loader)
        except yaml.YAMLError:
            return False
        items = getattr(root, "value", None)
        if not isinstance(items, list) or len(items) != 1:
            return False
        node = items[0]
        if not (isinstance(node, ScalarNode) and node.tag == _TAG_STR and node.value == text):
            return False
    return True
