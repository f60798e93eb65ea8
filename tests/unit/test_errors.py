"""The error tree in ``s9reg/errors.py``'s docstring is the tree of the classes in the package."""

from __future__ import annotations

import importlib
import pkgutil
import re

import s9reg
from s9reg import errors
from s9reg.errors import S9regError

# One documented line: the tree drawing, the class name, its code, and optionally its module.
LINE = re.compile(
    r"^(?P<indent>[│├└─ ]*)(?P<name>\w+Error)\s+(?P<code>[A-Z0-9_]+)(?:\s+(?P<module>s9reg[\w.]*))?$"
)


def documented() -> dict[str, tuple[str | None, str, str]]:
    """name: (parent name, code, module) as the docstring draws them."""
    doc = errors.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    tree: dict[str, tuple[str | None, str, str]] = {}
    stack: list[tuple[str, str]] = []  # (name, module) of the ancestors of the next line
    for line in block.splitlines():
        m = LINE.match(line.removeprefix("    "))
        assert m is not None, f"unreadable tree line: {line!r}"
        depth = len(m["indent"]) // 4
        assert depth <= len(stack), f"tree line too deep: {line!r}"
        del stack[depth:]
        parent = stack[-1] if stack else None
        module = m["module"] or (parent[1] if parent else "")
        assert m["name"] not in tree, f"{m['name']} is drawn twice"
        tree[m["name"]] = (parent[0] if parent else None, m["code"], module)
        stack.append((m["name"], module))
    return tree


def defined() -> dict[str, tuple[str | None, str, str]]:
    """name: (parent name, code, module) of every S9regError class in the package."""
    for info in pkgutil.walk_packages(s9reg.__path__, "s9reg."):
        if not info.name.endswith("__main__"):  # running it is the CLI
            importlib.import_module(info.name)
    classes: dict[str, tuple[str | None, str, str]] = {}
    todo = [S9regError]
    while todo:
        cls = todo.pop()
        assert cls.__name__ not in classes, f"two classes named {cls.__name__}"
        parents = [b for b in cls.__bases__ if issubclass(b, S9regError)]
        assert len(parents) <= 1, f"{cls.__name__} has two s9reg parents"
        parent = parents[0].__name__ if parents else None
        classes[cls.__name__] = (parent, cls.code, cls.__module__)
        todo += cls.__subclasses__()
    return classes


def test_documented_tree_is_the_class_tree() -> None:
    drawn, real = documented(), defined()
    assert sorted(drawn) == sorted(real), "classes missing from (or only in) the tree"
    for name, (parent, code, module) in real.items():
        assert drawn[name] == (parent, code, module), name


def test_every_error_has_its_own_code() -> None:
    codes = [code for _, code, _ in defined().values()]
    assert len(codes) == len(set(codes))
