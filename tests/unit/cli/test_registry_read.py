"""``s9reg registry`` read commands against a real built site and a real ``s9reg serve``.

Every command in every format; the same answers from the site directory, the site URL and
JSON-RPC (so the local answers are the served ones); downloads verified over real HTTP, with
refusals as one ``ERROR`` line and exit 1.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from s9reg.admin.reader import RemoteError, RpcReader, SiteReader, open_reader
from s9reg.registry import FullIndex
from s9reg.s9pk.keys import write_private_key

from helpers.buildkit import ALICE, G_ADMIN, G_ALICE, STRANGER
from helpers.cli import run_cli
from helpers.registry_site import ISO_BYTES, OS_VERSION, ServedSite, served_registry


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSite]:
    with served_registry(tmp_path_factory.mktemp("registry")) as s:
        yield s


def index_of(served: ServedSite) -> FullIndex:
    return FullIndex.from_bytes((served.path / "index.json").read_bytes())


def cli(served: ServedSite, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run_cli(["registry", *argv, "--site", str(served.path)], capsys)


CALLS = [
    pytest.param("info", {}, id="info"),
    pytest.param("package.index", {}, id="package.index"),
    pytest.param("package.category.list", {}, id="package.category.list"),
    pytest.param("package.get", {"id": None, "otherVersions": "full"}, id="package.get all"),
    pytest.param("package.get", {"id": "hello", "otherVersions": "short"}, id="package.get hello"),
    pytest.param("package.get", {"id": "hello", "targetVersion": "=1.0.0:0"}, id="exact"),
    pytest.param("package.signer.list", {"id": "hello"}, id="package.signer.list"),
    pytest.param("os.index", {}, id="os.index"),
    pytest.param("os.version.get", {"platform": "x86_64"}, id="os.version.get"),
    pytest.param("os.version.signer.list", {"version": OS_VERSION}, id="os signers"),
    pytest.param("os.asset.get.iso", {"version": OS_VERSION, "platform": "x86_64"}, id="iso"),
]


@pytest.mark.parametrize(("method", "params"), CALLS)
def test_site_answers_are_the_served_answers(served: ServedSite, method: str, params: dict) -> None:
    local = SiteReader.open(served.path).call(method, params)
    assert local == RpcReader(served.url).call(method, params)
    assert local == SiteReader.open(served.url).call(method, params)


def test_a_site_url_is_read_as_a_site_and_an_rpc_url_over_json_rpc(served: ServedSite) -> None:
    assert isinstance(open_reader(served.url), SiteReader)
    reader = open_reader(served.url + "no-site/", key=ALICE)  # no s9reg-site.json there
    assert isinstance(reader, RpcReader)


def test_index_over_json_rpc_needs_a_registered_signer(served: ServedSite) -> None:
    expected = index_of(served).to_dict()
    assert RpcReader(served.url, ALICE).call("index", {"format": None}) == expected
    with pytest.raises(RemoteError) as e:
        RpcReader(served.url, STRANGER).call("index", {"format": None})
    assert e.value.rpc_code == 34
    assert e.value.hint is not None
    assert "--key" in e.value.hint


def test_dump_over_json_rpc_falls_back_to_the_signed_index(served: ServedSite) -> None:
    dump = RpcReader(served.url, ALICE).dump()
    value = dump["value"]
    assert isinstance(value, dict)
    assert value["index"] == index_of(served).to_dict()
    assert value["admins"] == []  # s9reg serve has no db.dump; the index carries no admins
    assert isinstance(dump["id"], int)


def test_info_in_every_format(served: ServedSite, capsys: pytest.CaptureFixture[str]) -> None:
    expected = index_of(served).info().to_dict()
    code, out, _ = cli(served, capsys, "info")
    assert code == 0
    assert json.loads(out) == expected
    assert out.startswith('{\n  "name": "Test Registry",')  # upstream's default: pretty JSON
    code, out, _ = cli(served, capsys, "info", "--json")
    assert json.loads(out) == expected
    assert out.count("\n") == 1
    code, out, _ = cli(served, capsys, "info", "--format", "yaml")
    assert yaml.safe_load(out) == expected


@pytest.mark.parametrize("fmt", ["json", "json-pretty", "yaml"])
def test_index_package_index_and_os_index(
    served: ServedSite, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    index = index_of(served)
    for argv, expected in [
        (["index"], index.to_dict()),
        (["package", "index"], index.package.to_dict()),
        (["os", "index"], index.os.to_dict()),
    ]:
        code, out, err = cli(served, capsys, *argv, "--format", fmt)
        assert (code, err) == (0, "")
        assert (yaml.safe_load(out) if fmt == "yaml" else json.loads(out)) == expected


def test_index_names_signers_with_their_guids(
    served: ServedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = cli(served, capsys, "index", "--json")
    signers = json.loads(out)["signers"]
    assert signers[str(G_ALICE)]["name"] == "Alice"
    assert signers[str(G_ADMIN)]["name"] == "Admin"


def test_package_get_table_is_upstreams(
    served: ServedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(served, capsys, "package", "get", "hello", "short")
    assert code == 0
    lines = out.splitlines()
    rule = lines[0]
    assert set(rule) == {"+", "-"}
    assert rule.startswith("+-")
    assert rule.endswith("-+")
    assert all(line == rule for line in lines[0:-1:2]), "a rule between every row"
    assert lines[-1] == ""  # println!() after each table
    assert lines[1].startswith("|")
    assert "Hello" in lines[1]
    assert lines[3].split("|")[1] == "        VERSION "  # bold, right-aligned labels
    assert lines[3].split("|")[2].strip() == "1.1.0:0"
    labels = [line.split("|")[1].strip() for line in lines[1::2] if line.startswith("|")]
    assert labels[1:10] == [
        "VERSION", "RELEASE NOTES", "ABOUT", "DESCRIPTION", "GIT HASH", "LICENSE",
        "PACKAGE REPO", "SERVICE REPO", "WEBSITE",
    ]  # fmt: skip
    assert labels[10:] == ["OLDER VERSIONS", "VERSION", "1.0.0:0"]


def first_cells(out: str) -> list[str]:
    return [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("|")]


def test_package_get_formats_and_levels(
    served: ServedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    reader = SiteReader.open(served.path)
    for level in ("none", "short", "full"):
        code, out, _ = cli(served, capsys, "package", "get", "hello", level, "--json")
        assert code == 0
        expected = reader.call("package.get", {"id": "hello", "otherVersions": level})
        assert json.loads(out) == expected
    code, out, _ = cli(served, capsys, "package", "get", "--format", "yaml")
    assert set(yaml.safe_load(out)) == {"bitcoind", "hello"}
    # Without ID every package's best versions are drawn: two flavors of bitcoind, one hello.
    code, out, _ = cli(served, capsys, "package", "get")
    assert first_cells(out).count("VERSION") == 3
    code, out, _ = cli(served, capsys, "package", "get", "hello", "full")
    assert first_cells(out).count("VERSION") == 2  # one table per version, no OLDER VERSIONS
    assert "OLDER VERSIONS" not in out
    code, out, _ = cli(served, capsys, "package", "get", "hello", "-v", "<1.1.0:0", "--json")
    assert list(json.loads(out)["best"]) == ["1.0.0:0"]
    code, out, _ = cli(
        served, capsys, "package", "get", "hello", "--source-version", "1.0.0:0", "--json"
    )
    assert code == 0


def test_os_version_get_table_and_json(
    served: ServedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(served, capsys, "os", "version", "get")
    assert code == 0
    lines = out.splitlines()
    assert [c.strip() for c in lines[1].split("|")[1:-1]] == [
        "VERSION", "HEADLINE", "RELEASE NOTES", "ISO PLATFORMS", "IMG PLATFORMS",
        "SQUASHFS PLATFORMS",
    ]  # fmt: skip
    row = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert row == [OS_VERSION, "v" + OS_VERSION, "Faster updates.", "x86_64", "", "x86_64"]
    code, out, _ = cli(served, capsys, "os", "version", "get", "--platform", "aarch64", "--json")
    assert json.loads(out) == {}
    code, out, _ = cli(served, capsys, "os", "version", "get", "--src", "0.3.0", "--json")
    assert json.loads(out) == {}  # 0.3.0 does not satisfy >=0.3.5:0


def test_package_download_verifies_and_picks_the_variant(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dest = tmp_path / "hello.s9pk"
    code, out, err = cli(
        served, capsys, "package", "download", "hello", "-v", "=1.0.0:0", "-a", "aarch64",
        "-d", str(dest), "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert dest.read_bytes() == served.sources["hello_arm"].read_bytes()
    summary = json.loads(out)
    assert summary["version"] == "1.0.0:0"
    assert summary["url"].startswith(served.url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.s9pk"]  # no scratch left


def test_package_download_default_destination(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(served, capsys, "package", "download", "bitcoind", "-v", "=27.0.0:0")
    assert code == 0
    assert out.startswith("Download Complete: bitcoind.s9pk")
    assert (tmp_path / "bitcoind.s9pk").read_bytes() == served.sources["bitcoind"].read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["hello", "-v", "=1.0.0:0"], "several variants", id="variants"),
        pytest.param(["bitcoind"], "several flavors of bitcoind", id="flavors"),
        pytest.param(["hello", "-v", ">=9.0:0"], "no version of hello", id="no version"),
        pytest.param(["hello", "-a", "riscv64"], "no variant for architecture", id="no arch"),
        pytest.param(["Hello"], "not a package id", id="bad id"),
        pytest.param(["hello", "-v", ">>1"], "", id="bad range"),
    ],
)
def test_package_download_refusals(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    argv: list[str], message: str,
) -> None:  # fmt: skip
    code, out, err = cli(served, capsys, "package", "download", *argv, "-d", str(tmp_path / "x"))
    assert code == 1
    assert out == ""
    assert err.startswith("ERROR ")
    assert message in err.splitlines()[0]
    assert len([line for line in err.splitlines() if not line.startswith("hint:")]) == 1
    assert list(tmp_path.iterdir()) == []


def test_package_download_refuses_bytes_that_do_not_match(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A URL serving another package's bytes: the merkle root differs, nothing is written."""
    site = tmp_path / "site"
    shutil.copytree(served.path, site)
    index = json.loads((site / "index.json").read_bytes())
    versions = index["package"]["packages"]["hello"]["versions"]
    arm = next(v for v in versions["1.0.0:0"]["s9pks"] if v[0]["arch"] == ["aarch64"])
    x86 = next(v for v in versions["1.0.0:0"]["s9pks"] if v[0]["arch"] == ["x86_64"])
    arm[1]["urls"] = x86[1]["urls"]
    (site / "index.json").write_text(json.dumps(index))
    dest = tmp_path / "out.s9pk"
    code, _, err = run_cli(
        ["registry", "package", "download", "hello", "-v", "=1.0.0:0", "-a", "aarch64",
         "-d", str(dest), "--site", str(site)],
        capsys,
    )  # fmt: skip
    assert code == 1
    assert "no URL gave a verified file" in err
    assert "merkle root mismatch" in err
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_os_asset_get_downloads_and_reverifies(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = cli(
        served, capsys, "os", "asset", "get", "iso", OS_VERSION, "x86_64", "-d", str(tmp_path),
        "--reverify", "--json",
    )  # fmt: skip
    assert code == 0
    target = tmp_path / f"startos-{OS_VERSION}_x86_64.iso"
    assert target.read_bytes() == ISO_BYTES
    assert json.loads(out)["commitment"]["size"] == len(ISO_BYTES)
    assert err == ""
    target.unlink()
    code, out, _ = cli(served, capsys, "os", "asset", "get", "squashfs", OS_VERSION, "x86_64",
                       "-d", str(tmp_path))  # fmt: skip
    assert code == 0
    assert out.startswith(f"Downloaded {tmp_path / f'startos-{OS_VERSION}_x86_64.squashfs'} (")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["img", OS_VERSION, "x86_64"], "no img for platform x86_64", id="no image"),
        pytest.param(["iso", "9.9.9", "x86_64"], "StartOS version 9.9.9 not found", id="version"),
        pytest.param(["iso", "not a version", "x86_64"], "", id="bad version"),
    ],
)
def test_os_asset_get_refusals(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    argv: list[str], message: str,
) -> None:  # fmt: skip
    code, out, err = cli(served, capsys, "os", "asset", "get", *argv, "-d", str(tmp_path))
    assert (code, out) == (1, "")
    assert err.startswith("ERROR ")
    assert message in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["info", "--site", "/nonexistent/site"], id="missing site"),
        pytest.param(["index", "--config", "/nonexistent/site-config.yaml"], id="missing config"),
        pytest.param(["package", "get", "hello", "-v", "=>", "--site", "."], id="bad range"),
        pytest.param(["info", "--site", "http://127.0.0.1:9/"], id="unreachable"),
    ],
)
def test_read_refusals_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["registry", *argv], capsys)
    assert (code, out) == (1, "")
    lines = [line for line in err.splitlines() if not line.startswith("hint:")]
    assert len(lines) == 1
    assert lines[0].startswith("ERROR ")


def test_default_site_is_the_configurations_output(
    served: ServedSite, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = tmp_path / "site-config.yaml"
    cfg.write_text(
        f"registry:\n  name: Test Registry\n  url: {served.url}\noutput: {served.path}\n",
        encoding="utf-8",
    )
    code, out, _ = run_cli(["registry", "info", "--config", str(cfg), "--json"], capsys)
    assert code == 0
    assert json.loads(out)["name"] == "Test Registry"


@pytest.fixture(scope="module")
def rpc_only(served: ServedSite) -> Iterator[str]:
    """A registry that answers only JSON-RPC, as start-registryd: POSTs go to the real
    ``s9reg serve`` (headers and body as sent), every GET is 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            request = urllib.request.Request(served.url + "rpc/v0", body, headers)
            with urllib.request.urlopen(request, timeout=10) as answer:
                data = answer.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_the_commands_ask_a_json_rpc_registry(
    served: ServedSite, rpc_only: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    local = SiteReader.open(served.path)
    code, out, err = run_cli(
        ["registry", "package", "get", "hello", "full", "--json", "--site", rpc_only], capsys
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == local.call("package.get", {"id": "hello", "otherVersions": "full"})
    code, out, err = run_cli(["registry", "index", "--site", rpc_only], capsys)
    assert code == 1
    assert "needs a registered signer's key" in err
    key = tmp_path / "alice.pem"
    write_private_key(key, ALICE)
    code, out, err = run_cli(["registry", "index", "--site", rpc_only, "--key", str(key)], capsys)
    assert (code, err) == (0, "")
    assert json.loads(out) == local.index.to_dict()
    code, out, _ = run_cli(
        ["registry", "db", "dump", "--site", rpc_only, "--key", str(key), "--json"], capsys
    )
    assert code == 0
    assert json.loads(out)["value"]["index"] == local.index.to_dict()
    dest = tmp_path / "x.s9pk"
    code, _, err = run_cli(
        ["registry", "package", "download", "hello", "-v", "=1.1.0:0", "-d", str(dest),
         "--site", rpc_only],
        capsys,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert dest.read_bytes() == served.sources["hello_new"].read_bytes()


@pytest.mark.parametrize(
    "argv",
    [
        ["info"], ["index"], ["package", "index"], ["package", "get"], ["package", "download"],
        ["os", "index"], ["os", "version", "get"], ["os", "asset", "get"],
        ["db", "dump"], ["db", "apply"], ["db", "import"],
    ],
    ids=" ".join,
)  # fmt: skip
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["registry", *argv, "--help"], capsys)
    assert code == 0
    assert out.startswith(f"Usage: s9reg registry {' '.join(argv)} ")
    assert "--config" in out or argv == ["db", "import"]
