"""``s9reg registry db dump|apply|import`` on real configurations, builds and a served registry.

``apply`` round-trips: the jq result over the dump equals the dump of the site rebuilt from
the edited config. ``import`` of a dump written by a fixture registry, then ``s9reg build``,
gives back the dump's index (URLs: the new site's own first, the original kept after them).
Refusals leave the file byte-identical, print one line, exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jq
import pytest

from s9reg.exver import VersionRange
from s9reg.registry import Guid
from s9reg.s9pk.keys import PrivateKey, write_private_key

from helpers.buildkit import ADMIN, ALICE, REGISTRY, pkg
from helpers.cli import run_cli
from helpers.registry_site import OS_VERSION, ServedSite, served_registry

BOB = PrivateKey(b"\x15" * 32)
CAROL = PrivateKey(b"\x16" * 32)
G_ADMIN = Guid.generate(b"Example Admin")
G_ALICE = Guid.generate(b"Alice")
G_BOB = Guid.generate(b"Bob")
G_CAROL = "CAROL" + "2" * 27


def indent(pem: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in pem.splitlines())


CONFIG = """\
# A registry operator's file: every comment and blank line must survive db apply.

registry:
  name: Example Registry          # shown by devices
  url: https://registry.example.org/
  signing_key: file:registry.key.pem

# People whose keys sign packages.
signers:
  - name: Example Admin
    contact:
      - email: admin@example.org
    keys:
      - |
{admin}    admin: true   # the first admin
  - name: Alice
    contact: [{{website: "https://alice.example.org/"}}]
    keys:
      - |
{alice}  - name: Bob
    keys:
      - |
{bob}    admin: true

authorized:
  hello:
    Alice: ">=1.0.0:0 <2.0.0:0"   # Alice's series
  future:                         # no version built yet: not in the index
    Bob: "*"

categories:
  featured:
    name: {{en_US: Featured, de_DE: Empfohlen}}
    packages: [hello]

packages:
  sources:
    - packages/

os:
  - version: "{os_version}"
    headline: StartOS {os_version}
    release_notes: First.
    source_version: ">=0.3.5:0"
    iso:
      x86_64: images/startos.iso

output: _site
"""


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: Path

    def argv(self, *args: str) -> list[str]:
        return [*args, "--config", str(self.config)]


@pytest.fixture
def ws(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Workspace:
    (tmp_path / "packages").mkdir()
    pkg(tmp_path / "packages", "hello.s9pk", ALICE, id_="hello")
    pkg(tmp_path / "packages", "bitcoind.s9pk", ADMIN, id_="bitcoind", version="27.0.0:0")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "startos.iso").write_bytes(b"iso" * 1000)
    write_private_key(tmp_path / "registry.key.pem", REGISTRY)
    config = tmp_path / "site-config.yaml"
    config.write_text(
        CONFIG.format(
            admin=indent(ADMIN.public_key.to_pem(), 8),
            alice=indent(ALICE.public_key.to_pem(), 8),
            bob=indent(BOB.public_key.to_pem(), 8),
            os_version=OS_VERSION,
        ),
        encoding="utf-8",
    )
    w = Workspace(tmp_path, config)
    build(w, capsys)
    return w


def build(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(ws.argv("build", "--no-previous"), capsys)
    assert code == 0, err


def dump(ws: Workspace, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code, out, err = run_cli(ws.argv("registry", "db", "dump", "--json", *extra), capsys)
    assert code == 0, err
    return json.loads(out)


def test_dump_shape(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    document = dump(ws, capsys)
    assert set(document) == {"id", "value"}
    assert isinstance(document["id"], int)
    assert 0 <= document["id"] < 1 << 53
    value = document["value"]
    assert list(value) == ["migrations", "admins", "index"]
    assert value["migrations"] == ["PackageSignerScopeMigration", "RegistryAssetArray"]
    assert value["admins"] == sorted([G_ADMIN, G_BOB])
    index = json.loads((ws.root / "_site" / "index.json").read_bytes())
    assert value["index"] == index
    assert dump(ws, capsys, "-p", "/index/name")["value"] == "Example Registry"
    assert dump(ws, capsys, "-p", f"/index/signers/{G_ALICE}/name")["value"] == "Alice"
    assert dump(ws, capsys, "-p", "/admins/1")["value"] == max(G_ADMIN, G_BOB)
    code, out, err = run_cli(ws.argv("registry", "db", "dump", "-p", "/nope"), capsys)
    assert (code, out) == (1, "")
    assert err.startswith("ERROR JSON pointer '/nope': nothing at 'nope'")


RANGE = str(VersionRange.parse(">=1.0.0:0 <1.5.0:0"))
EXPRESSIONS = [
    pytest.param('.index.name = "Renamed Registry"', id="rename the registry"),
    pytest.param(
        '.index.package.categories.tools = {"name": {"en_US": "Tools", "de_DE": "Werkzeuge"}}'
        ' | .index.package.packages.hello.categories += ["tools"]',
        id="add a category",
    ),
    pytest.param(
        f'.admins -= ["{G_BOB}"] | .index.os.versions[].authorized -= ["{G_BOB}"]',
        id="remove an admin",
    ),
    pytest.param(f'.index.signers["{G_ALICE}"].name = "Alicia"', id="rename a signer"),
    pytest.param(
        f'.index.package.packages.hello.authorized["{G_ALICE}"] = "{RANGE}"', id="narrow a range"
    ),
    pytest.param(
        f'.index.signers["{G_CAROL}"] = {{"name": "Carol", "contact": [{{"email": '
        f'"carol@example.org"}}], "keys": [{json.dumps(CAROL.public_key.to_pem())}]}}'
        f' | .index.package.packages.bitcoind.authorized["{G_CAROL}"] = "*"',
        id="add a signer and authorize her",
    ),
    pytest.param(
        '.index.package.packages.hello.categories -= ["featured"]', id="remove from a category"
    ),
    pytest.param(
        f'.index.os.versions["{OS_VERSION}"] |= (.headline = "New" | .releaseNotes = "Fixes.")',
        id="edit a release",
    ),
    pytest.param(
        f'del(.index.signers["{G_BOB}"]) | .admins -= ["{G_BOB}"]'
        f' | .index.os.versions[].authorized -= ["{G_BOB}"]',
        id="remove a signer",
    ),
    pytest.param(
        '.index.signers[].contact |= map(select(has("email") | not))', id="drop email contacts"
    ),
    pytest.param(f'del(.index.os.versions["{OS_VERSION}"].iso.x86_64)', id="remove an image"),
    pytest.param(".", id="no change"),
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_apply_round_trips_through_the_config(
    ws: Workspace, capsys: pytest.CaptureFixture[str], expr: str
) -> None:
    before = dump(ws, capsys)
    expected = jq.compile(expr).input_value(before["value"]).first()
    code, out, err = run_cli(ws.argv("registry", "db", "apply", expr), capsys)
    assert (code, err) == (0, ""), err
    text = ws.config.read_text(encoding="utf-8")
    for comment in ("# A registry operator's file", "# shown by devices", "# the first admin",
                    "# People whose keys sign packages."):  # fmt: skip
        assert comment in text
    build(ws, capsys)
    after = dump(ws, capsys)
    assert after["value"] == expected
    if expr == ".":
        assert out == "No change.\n"
        assert after == before


def test_apply_rename_keeps_the_guid_in_the_file(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run_cli(
        ws.argv("registry", "db", "apply", f'.index.signers["{G_ALICE}"].name = "Alicia"'), capsys
    )
    assert code == 0
    text = ws.config.read_text(encoding="utf-8")
    assert '  - name: Alicia\n    contact: [{website: "https://alice.example.org/"}]' in text
    assert f"    id: {G_ALICE}\n" in text
    assert '    Alicia: ">=1.0.0:0 <2.0.0:0"' in text
    assert "    Alice:" not in text


def test_apply_dry_run_writes_nothing(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    original = ws.config.read_bytes()
    code, out, _ = run_cli(
        ws.argv("registry", "db", "apply", "--dry-run", "--json", '.index.name = "X"'), capsys
    )
    assert code == 0
    assert json.loads(out) == {"changes": ["registry.name: X"], "written": False}
    assert ws.config.read_bytes() == original


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        pytest.param(
            ".index.package.packages.hello.versions = {}", "come from the .s9pk", id="versions"
        ),
        pytest.param(".admins = 5", "not a RegistryDatabase", id="not a database"),
        pytest.param(".index.name = null", "name is required", id="no name"),
        pytest.param('.index.name = "' + "x" * 40 + '"', "at most 32 characters", id="long name"),
        pytest.param(". , .", "gave 2 values", id="two results"),
        pytest.param(".index.[", "invalid jq expression", id="syntax"),
        pytest.param(
            '.index.package.packages.hello.authorized["ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"] = "*"',
            "not a signer in index.signers",
            id="dangling signer",
        ),
        pytest.param(
            '.index.package.packages.hello.categories += ["nope"]',
            "no such category",
            id="unknown category",
        ),
        pytest.param(
            f'.index.os.versions["{OS_VERSION}"].authorized = []',
            "lists the admins",
            id="release signers",
        ),
        pytest.param(".migrations = []", "migrations", id="migrations"),
        pytest.param(
            '.index.os.versions["0.5.0"] = .index.os.versions["' + OS_VERSION + '"]',
            "hashed and signed at build",
            id="release with images",
        ),
    ],
)
def test_apply_refusals_leave_the_file_byte_identical(
    ws: Workspace, capsys: pytest.CaptureFixture[str], expr: str, message: str
) -> None:
    original = ws.config.read_bytes()
    code, out, err = run_cli(ws.argv("registry", "db", "apply", expr), capsys)
    assert (code, out) == (1, ""), err
    assert ws.config.read_bytes() == original
    lines = err.splitlines()
    assert lines[0].startswith("ERROR ")
    assert message in lines[0]
    assert all(line.startswith("hint:") for line in lines[1:])


def test_apply_refuses_a_site_older_than_the_config(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    text = ws.config.read_text(encoding="utf-8").replace("Bob", "Robert")
    ws.config.write_text(text, encoding="utf-8")
    code, _, err = run_cli(ws.argv("registry", "db", "apply", '.index.name = "X"'), capsys)
    assert code == 1
    assert "the built site is older than site-config.yaml (signers, admins differ)" in err
    assert ws.config.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        pytest.param(("package", "category", "add", "bitcoin", "Bitcoin"), "categories", id="cat"),
        pytest.param(
            ("package", "category", "add-package", "featured", "bitcoind"),
            "category members",
            id="member",
        ),
        pytest.param(
            ("package", "signer", "add", "bitcoind", "Alice"), "authorized signers", id="signer"
        ),
    ],
)
def test_apply_refuses_a_site_older_than_an_edit(
    ws: Workspace, capsys: pytest.CaptureFixture[str], edit: tuple[str, ...], reason: str
) -> None:
    # A diff against a site that misses the edit would write the edit back out of the file.
    code, _, err = run_cli(ws.argv("registry", *edit), capsys)
    assert code == 0, err
    edited = ws.config.read_bytes()
    apply = ws.argv("registry", "db", "apply", '.index.name = "X"')
    code, _, err = run_cli(apply, capsys)
    assert code == 1
    assert f"the built site is older than site-config.yaml ({reason} differ)" in err
    assert ws.config.read_bytes() == edited
    build(ws, capsys)
    code, _, err = run_cli(apply, capsys)
    assert code == 0, err


# --- import ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSite]:
    with served_registry(tmp_path_factory.mktemp("imported")) as s:
        yield s


def _without_urls(index: dict) -> tuple[dict, list[list[str]]]:
    """The index with every package asset's URLs taken out (returned in order)."""
    urls = []
    for info in index["package"]["packages"].values():
        for version in info["versions"].values():
            for _, asset in version["s9pks"]:
                urls.append(asset.pop("urls"))
    return index, urls


def test_import_then_build_gives_back_the_index(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(["registry", "db", "dump", "--site", str(served.path), "--json"], capsys)
    assert code == 0
    dump_file = tmp_path / "dump.json"
    dump_file.write_text(out, encoding="utf-8")
    write_private_key(tmp_path / "registry.key.pem", REGISTRY)
    new = tmp_path / "new"
    code, out, err = run_cli(
        ["registry", "db", "import", str(dump_file), "--out", str(new),
         "--signing-key", f"file:{tmp_path / 'registry.key.pem'}", "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["signers"] == 2
    assert summary["sources"] == 5
    assert summary["osVersions"] == 1
    code, _, err = run_cli(
        ["build", "--config", str(new / "site-config.yaml"), "--previous", str(new / "imported")],
        capsys,
    )
    assert code == 0, err
    original, old_urls = _without_urls(json.loads(out_of(dump_file))["value"]["index"])
    rebuilt, new_urls = _without_urls(json.loads((new / "_site" / "index.json").read_bytes()))
    assert rebuilt == original
    for before, after in zip(old_urls, new_urls, strict=True):
        assert after[-1] == before[0]  # the original URL is kept as the fallback mirror
        assert after[0].startswith("http://127.0.0.1:5959/")  # the new site's own URL first
    code, out, _ = run_cli(
        ["registry", "db", "dump", "--site", str(new / "_site"), "-p", "/admins", "--json"], capsys
    )
    assert json.loads(out)["value"] == json.loads(out_of(dump_file))["value"]["admins"]


def out_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_import_refusals(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(["registry", "db", "dump", "--site", str(served.path), "--json"], capsys)
    dump_file = tmp_path / "dump.json"
    dump_file.write_text(out, encoding="utf-8")
    code, _, err = run_cli(
        ["registry", "db", "import", str(dump_file), "--out", str(tmp_path / "a")], capsys
    )
    assert code == 1
    assert "StartOS releases" in err.splitlines()[0]
    assert not (tmp_path / "a" / "site-config.yaml").exists()
    code, out, err = run_cli(
        ["registry", "db", "import", str(dump_file), "--out", str(tmp_path / "b"), "--skip-os"],
        capsys,
    )
    assert code == 0, err
    assert "Next: cd" in out
    code, _, err = run_cli(
        ["registry", "db", "import", str(dump_file), "--out", str(tmp_path / "b"), "--skip-os"],
        capsys,
    )
    assert code == 1
    assert "already exists" in err
    (tmp_path / "bad.json").write_text('{"id": 1, "value": {"admins": 3, "index": {}}}')
    code, _, err = run_cli(["registry", "db", "import", str(tmp_path / "bad.json")], capsys)
    assert code == 1
    assert err.startswith("ERROR bad.json.admins: expected a list of signer ids")
