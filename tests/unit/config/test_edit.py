"""Tests for s9reg.config.edit: in-place edits that keep the file's layout, validated first."""

from __future__ import annotations

import difflib
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from s9reg import config
from s9reg.config import EditSession
from s9reg.config.edit import Quoted
from s9reg.errors import ConfigError
from s9reg.s9pk.keys import PrivateKey

ROOT = Path(__file__).parents[3]
PEM = PrivateKey(bytes([7]) * 32).public_key.to_pem()
Edit = Callable[[EditSession], None]


def docs_example() -> str:
    """The first YAML block of docs/configuration.md (the one test_config checks too)."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project's own site-config.yaml, with stand-in public keys so that it loads."""
    shutil.copy(ROOT / "site-config.yaml", tmp_path)
    (tmp_path / "examples/.keys").mkdir(parents=True)
    for name in ("admin", "dev"):
        (tmp_path / f"examples/.keys/{name}.pub.pem").write_text(PEM)
    return tmp_path / "site-config.yaml"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "site-config.yaml"
    path.write_text(docs_example(), encoding="utf-8")
    return path


def changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """The removed and the added lines; every other line is unchanged and in place."""
    removed, added = [], []
    for line in difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def edited(path: Path, change: Edit) -> str:
    with config.edit(path) as doc:
        change(doc)
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fixture", ["project", "example"])
def test_unchanged_round_trip_is_byte_identical(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    before = path.read_bytes()
    doc = EditSession.open(path)
    assert doc.text().encode() == before
    doc.commit()
    assert path.read_bytes() == before


def leaves(node: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in leaves(v, (*path, i))]
    return [path]


@pytest.mark.parametrize("fixture", ["project", "example"])
def test_setting_every_value_to_itself_changes_no_byte(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    before = path.read_text()
    doc = EditSession.open(path)
    paths = leaves(doc.get(()))
    assert len(paths) > 20
    for p in paths:
        doc.set(p, doc.get(p))
    assert doc.text() == before


def test_a_long_value_stays_on_one_line(project: Path) -> None:
    icon = "data:image/png;base64," + "A" * 200_000
    after = edited(project, lambda d: d.set(("registry", "icon"), icon))
    assert f"  icon: {icon} # a file" in after
    assert config.load(project).registry.icon == icon


def test_a_comma_is_quoted_only_in_a_flow_list(project: Path) -> None:
    doc = EditSession.open(project)
    doc.append(("categories", "featured", "packages"), "a,b")
    doc.append(("packages", "sources"), "vendor/a,b/")
    assert '    packages: [hello, wiki, "a,b"]\n' in doc.text()
    assert "    - vendor/a,b/\n" in doc.text()


def test_keys_yaml_would_read_as_other_types_are_quoted(project: Path) -> None:
    after = edited(
        project, lambda d: d.set(("categories", "on"), {"name": "On", "packages": ["null"]})
    )
    assert '  "on":\n    name: "On"\n    packages:\n      - "null"\n' in after
    on = config.load(project).categories[-1]
    assert (on.id, on.name.value, on.packages) == ("on", "On", ("null",))


def test_quotes_of_a_value_are_kept(project: Path) -> None:
    after = edited(project, lambda d: d.set(("authorized", "notes", "Example Developer"), ">=3"))
    assert '    Example Developer: ">=3"\n' in after
    after = edited(project, lambda d: d.set(("authorized", "notes", "Example Developer"), "*"))
    assert '    Example Developer: "*"\n' in after


PROJECT_EDITS = [
    pytest.param(
        lambda d: d.set(("registry", "name"), "Renamed"),
        ["  name: s9reg example registry        # at most 32 characters, as upstream\n"],
        ["  name: Renamed                       # at most 32 characters, as upstream\n"],
        id="set a scalar: its comment stays in its column",
    ),
    pytest.param(
        lambda d: d.set(("registry", "name"), "yes"),
        ["  name: s9reg example registry        # at most 32 characters, as upstream\n"],
        ['  name: "yes"                         # at most 32 characters, as upstream\n'],
        id="a string YAML 1.1 reads as a boolean is quoted",
    ),
    pytest.param(
        lambda d: d.append(("registry", "mirrors"), "https://mirror.example.org/"),
        ["  mirrors: []                         # extra base URLs listed after file_urls\n"],
        [
            "  mirrors:                            # extra base URLs listed after file_urls\n",
            "    - https://mirror.example.org/\n",
        ],
        id="append to an empty flow list",
    ),
    pytest.param(
        lambda d: d.remove(("signers", 0)),
        [
            "  - name: Example Admin\n",
            "    contact:\n",
            "      - email: admin@example.org\n",
            "    keys:\n",
            "      - file:examples/.keys/admin.pub.pem    # or the PEM text itself\n",
            "    admin: true                              # admins may publish any package and version\n",
        ],
        [],
        id="remove the first list item",
    ),
    pytest.param(
        lambda d: (
            d.remove(("authorized", "notes")),
            d.remove(("authorized", "wiki")),
            d.remove(("signers", 1)),
        ),
        [
            "  - name: Example Developer\n",
            "    contact:\n",
            "      - website: https://example.org/developer/\n",
            '      - matrix: "@developer:example.org"\n',
            "    keys:\n",
            "      - file:examples/.keys/dev.pub.pem\n",
            "authorized:                 # package id → signer → the versions that signer may publish\n",
            "  notes:\n",
            '    Example Developer: ">=2.0:0"\n',
            "  wiki:\n",
            '    Example Developer: "*"\n',
        ],
        [
            "authorized: {}              # package id → signer → the versions that signer may publish\n"
        ],
        id="remove the last list item and empty a section: blank lines and comments stay",
    ),
    pytest.param(
        lambda d: d.set(("authorized", "wiki", "Example Admin"), ">=1.0"),
        [],
        ['    Example Admin: ">=1.0"\n'],
        id="add a key before a blank line: a range is quoted",
    ),
    pytest.param(
        lambda d: d.set(("authorized", "hello"), {"Example Developer": "*"}),
        [],
        ["  hello:\n", '    Example Developer: "*"\n'],
        id="add a nested mapping at the end of a section",
    ),
    pytest.param(
        lambda d: d.remove(("authorized", "wiki")),
        ["  wiki:\n", '    Example Developer: "*"\n'],
        [],
        id="remove the last key of a section",
    ),
    pytest.param(
        lambda d: d.append(("categories", "featured", "packages"), "photos"),
        ["    packages: [hello, wiki]\n"],
        ["    packages: [hello, wiki, photos]\n"],
        id="append to a flow list",
    ),
    pytest.param(
        lambda d: d.append(("packages", "sources"), "vendor/"),
        [],
        ["    - vendor/\n"],
        id="append before the commented-out os section",
    ),
    pytest.param(
        lambda d: d.append(("signers", 1, "keys"), PEM),
        [],
        ["      - |\n", *(f"        {line}\n" for line in PEM.splitlines())],
        id="a PEM key is written as a literal block",
    ),
    pytest.param(
        lambda d: d.set(("image_cache",), {"listen": "127.0.0.1:5001"}),
        [],
        ["image_cache:\n", "  listen: 127.0.0.1:5001\n"],
        id="add a section at the end",
    ),
]


@pytest.mark.parametrize(("change", "removed", "added"), PROJECT_EDITS)
def test_edit_keeps_everything_else(
    project: Path, change: Edit, removed: list[str], added: list[str]
) -> None:
    before = project.read_text(encoding="utf-8")
    after = edited(project, change)
    assert changes(before, after) == (removed, added)


def test_remove_keeps_the_comment_lines_after_the_item(tmp_path: Path) -> None:
    path = tmp_path / "site-config.yaml"
    path.write_text(
        "registry:\n  name: R\n  url: https://r.example.org/\n  mirrors:\n"
        "    - https://a.example.org/   # first\n"
        "    # the second is the fallback\n"
        "    - https://b.example.org/\n"
        "    - https://c.example.org/\n"
        "\n# trailing\n"
    )
    before = path.read_text()
    for index in (1, 0):
        after = edited(path, lambda d, i=index: d.remove(("registry", "mirrors", i)))
        assert "    # the second is the fallback\n" in after
        assert after.endswith("    - https://c.example.org/\n\n# trailing\n")
    assert changes(before, path.read_text()) == (
        ["    - https://a.example.org/   # first\n", "    - https://b.example.org/\n"],
        [],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a:\n  x: 1   # x\n  # about y\n  y: 2\nb: 3\n",
            "a:\n  # about y\n  y: 2\nb: 3\n",
            id="scalar",
        ),
        pytest.param(
            "a:\n  x:\n    - 1\n\n  # about y\n  y: 2\nb: 3\n",
            "a:\n\n  # about y\n  y: 2\nb: 3\n",
            id="block list",
        ),
    ],
)
def test_removing_a_first_key_keeps_the_comments_before_the_next(
    tmp_path: Path, text: str, expected: str
) -> None:
    doc = EditSession(tmp_path / "c.yaml", "c.yaml", text.encode(), text)
    doc.remove(("a", "x"))
    assert doc.text() == expected


EXAMPLE_EDITS = [
    pytest.param(
        lambda d: d.set(("registry", "icon"), "assets/other.png"),
        ["  icon: assets/icon.png\n"],
        ["  icon: assets/other.png\n"],
        id="set",
    ),
    pytest.param(
        lambda d: d.set(("signers", 1, "admin"), value=True),
        [],
        ["    admin: true\n"],
        id="add a key after a literal block",
    ),
    pytest.param(
        lambda d: d.append(("signers", 1, "contact"), {"email": "bob@example.org"}),
        ['    contact: [{matrix: "@bob:example.org"}]\n'],
        ['    contact: [{matrix: "@bob:example.org"}, {email: bob@example.org}]\n'],
        id="append to a flow list of single-key mappings",
    ),
    pytest.param(
        lambda d: d.remove(("categories", "bitcoin")),
        [
            "  bitcoin:\n",
            "    name: {en_US: Bitcoin, de_DE: Bitcoin}\n",
            "    packages: [bitcoind, electrs]\n",
        ],
        [],
        id="remove the first key of a section",
    ),
]


@pytest.mark.parametrize(("change", "removed", "added"), EXAMPLE_EDITS)
def test_edit_docs_example(
    example: Path, change: Edit, removed: list[str], added: list[str]
) -> None:
    before = example.read_text(encoding="utf-8")
    after = edited(example, change)
    assert changes(before, after) == (removed, added)


def test_an_emptied_list_grows_again_in_block_style(project: Path) -> None:
    before = project.read_text()
    doc = EditSession.open(project)
    doc.remove(("registry", "file_urls", 0))
    line = "  file_urls: []".ljust(38) + "# where files are served, CDN first\n"
    assert line in doc.text()
    doc.append(("registry", "file_urls"), "http://127.0.0.1:5959/")
    assert doc.text() == before


def test_commit_returns_the_new_config(project: Path) -> None:
    doc = EditSession.open(project)
    doc.set(("registry", "name"), "yes")
    cfg = doc.commit()
    assert cfg.registry.name == "yes"
    assert config.load(project).registry.name == "yes"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda d: d.set(("registry", "name"), "x" * 40),
            "site-config.yaml:16: registry.name: at most 32 characters, got 40",
            id="schema",
        ),
        pytest.param(
            lambda d: d.set(("authorized", "wiki", "Nobody"), "*"),
            "authorized.wiki.Nobody: no signer named 'Nobody'",
            id="reference",
        ),
        pytest.param(
            lambda d: d.set(("registry", "nmae"), "X"),
            "registry.nmae: unknown key",
            id="unknown key",
        ),
        pytest.param(
            lambda d: d.remove(("registry", "url")), "missing required key", id="required"
        ),
    ],
)
def test_invalid_change_leaves_the_file_byte_identical(
    project: Path, change: Edit, message: str
) -> None:
    before = project.read_bytes()
    mtime = project.stat().st_mtime_ns
    with pytest.raises(ConfigError) as info:
        edited(project, change)
    assert message in info.value.message
    assert "\n" not in info.value.message
    assert info.value.hint == f"{project} was not changed"
    assert project.read_bytes() == before
    assert project.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in project.parent.iterdir()) == ["examples", "site-config.yaml"]


def test_file_changed_since_read_is_refused(project: Path) -> None:
    doc = EditSession.open(project)
    doc.set(("registry", "name"), "Mine")
    theirs = project.read_text().replace("s9reg example registry", "Theirs")
    project.write_text(theirs)
    with pytest.raises(ConfigError, match="changed on disk since it was read"):
        doc.commit()
    assert project.read_text() == theirs


def test_mode_and_symlink_are_kept(project: Path) -> None:
    project.chmod(0o640)
    link = project.parent / "link.yaml"
    link.symlink_to(project.name)
    edited(link, lambda d: d.set(("registry", "name"), "Renamed"))
    assert link.is_symlink()
    assert stat.S_IMODE(project.stat().st_mode) == 0o640
    assert config.load(project).registry.name == "Renamed"
    assert sorted(p.name for p in project.parent.iterdir()) == [
        "examples",
        "link.yaml",
        "site-config.yaml",
    ]


def test_exception_in_the_block_writes_nothing(project: Path) -> None:
    before = project.read_bytes()

    def rename_then_fail() -> None:
        with config.edit(project) as doc:
            doc.set(("registry", "name"), "Renamed")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        rename_then_fail()
    assert project.read_bytes() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(lambda d: d.remove(("registry", "nope")), "registry.nope: no such key"),
        pytest.param(lambda d: d.remove(("signers", 9)), "signers[9]: no such key"),
        pytest.param(lambda d: d.set(("signers", 9), {}), "signers[9]: no such list item"),
        pytest.param(lambda d: d.set(("signers", "x"), 1), "signers.x: the parent is a list"),
        pytest.param(
            lambda d: d.set(("registry", "name", "x"), 1), "registry.name: not a mapping or list"
        ),
        pytest.param(lambda d: d.append(("registry", "name"), 1), "registry.name: not a list"),
        pytest.param(lambda d: d.set((), 1), "an empty key path"),
        pytest.param(lambda d: d.set(("output",), object()), "cannot write a object"),
    ],
)
def test_bad_paths(project: Path, change: Edit, message: str) -> None:
    before = project.read_bytes()
    doc = EditSession.open(project)
    with pytest.raises(ConfigError, match=re.escape(message)):
        change(doc)
    assert project.read_bytes() == before


def test_get_and_has(project: Path) -> None:
    doc = EditSession.open(project)
    assert doc.get(("registry", "file_urls")) == ["http://127.0.0.1:5959/"]
    assert doc.get(("authorized", "wiki")) == {"Example Developer": "*"}
    assert doc.has(("signers", 1, "keys", 0))
    assert not doc.has(("signers", 2))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a:\n    - x\nb:\n  - y\n", "would change its layout", id="mixed indents"),
        pytest.param("- a\n", "expected a mapping at the top", id="not a mapping"),
        pytest.param("a: 1\nb: [\n", r"site-config.yaml:3: invalid YAML", id="not YAML"),
        pytest.param("a: 1\na: 2\n", 'yaml:2: invalid YAML: found duplicate key "a"', id="dup"),
    ],
)
def test_files_that_cannot_be_edited_in_place(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "site-config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        EditSession.open(path)
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "registry:\n    name: R\n    url: https://r.example.org/\n    file_urls:\n"
            "        - https://r.example.org/\n",
            id="four spaces",
        ),
        pytest.param(
            "registry:\n  name: R\n  url: https://r.example.org/\n  file_urls:\n"
            "  - https://r.example.org/\n",
            id="lists at their key's indentation",
        ),
    ],
)
def test_other_consistent_layouts_are_kept(tmp_path: Path, text: str) -> None:
    path = tmp_path / "site-config.yaml"
    path.write_text(text)
    after = edited(path, lambda d: d.append(("registry", "file_urls"), "https://m.example.org/"))
    item = next(line for line in text.splitlines() if "- " in line)
    assert after == text + item.replace("r.example", "m.example") + "\n"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        EditSession.open(tmp_path / "missing.yaml")


def test_file_removed_since_read_is_not_recreated(project: Path) -> None:
    doc = EditSession.open(project)
    doc.set(("registry", "name"), "Renamed")
    project.unlink()
    with pytest.raises(ConfigError, match="cannot read the config"):
        doc.commit()
    assert sorted(p.name for p in project.parent.iterdir()) == ["examples"]


TAILED = """\
registry:
  name: R
  url: https://r.example.org/
  mirrors: []                 # none yet

# --- who signs ---

authorized:
  hello:
    Dev: "*"                  # any

# --- the end ---

output: _site
"""


def test_comments_after_a_new_mapping_stay_after_it(tmp_path: Path) -> None:
    """Keys added under a missing mapping: the comment lines after it stay after its items."""
    path = tmp_path / "c.yaml"
    path.write_text(
        TAILED.replace('    Dev: "*"', '    Admin: "*"').replace(
            "authorized:", "signers: [{name: Admin}, {name: Dev}]\nauthorized:"
        )
    )
    doc = EditSession.open(path)
    doc.set(("authorized", "notes", "Dev"), ">=1.0:0")
    doc.remove(("authorized", "notes", "Dev"))
    doc.set(("authorized", "wiki", "Dev"), "*")
    text = doc.text()
    assert '  wiki:\n    Dev: "*"\n\n# --- the end ---\n\noutput: _site\n' in text
    assert "  notes: {}\n" in text


def test_comments_after_an_empty_list_stay_after_its_first_item(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        TAILED.replace('    Dev: "*"', '    Admin: "*"').replace(
            "authorized:", "signers: [{name: Admin}]\nauthorized:"
        )
    )
    doc = EditSession.open(path)
    doc.append(("registry", "mirrors"), "https://m.example.org/")
    doc.append(("registry", "file_urls"), "https://cdn.example.org/")
    text = doc.text()
    assert (
        "  mirrors:" + " " * 20 + "# none yet\n    - https://m.example.org/\n"
        "  file_urls:\n    - https://cdn.example.org/\n\n# --- who signs ---\n"
    ) in text
    doc.commit()
    assert config.load(path).registry.mirrors == ("https://m.example.org/",)


def test_quoted_strings_are_written_in_double_quotes(project: Path) -> None:
    after = edited(
        project, lambda d: d.set(("authorized", "wiki", "Example Admin"), Quoted("1.0:0"))
    )
    assert '    Example Admin: "1.0:0"\n' in after


def test_rename_keeps_the_place_value_and_comment(project: Path) -> None:
    before = project.read_text()
    doc = EditSession.open(project)
    doc.rename(("authorized", "notes"), "notebook")
    removed, added = changes(before, doc.text())
    assert removed == ["  notes:\n"]
    assert added == ["  notebook:\n"]
    with pytest.raises(ConfigError, match="already exists"):
        doc.rename(("authorized", "notebook"), "wiki")
    with pytest.raises(ConfigError, match="not a mapping key"):
        doc.rename(("packages", "sources", 0), "x")
