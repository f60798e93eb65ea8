"""Every editing command of ``s9reg registry``, in turn, on one heavily commented config.

The result is compared line by line with ``tests/data/admin/site-config.expected.yaml``
(comments, blank lines and quoting kept), then built. Set ``REGENERATE_EXPECTED=1`` to rewrite the
expected file after a deliberate change (then read the diff).
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from s9reg import config
from s9reg.builder import BuildError, build_site
from s9reg.exver import ExtendedVersion, VersionRange
from s9reg.registry import Guid
from s9reg.s9pk.commitment import b64_encode
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.package import S9pk

from helpers.admin_site import ADMIN, DEV, OTHER
from helpers.buildkit import pkg
from helpers.cli import run_cli

DATA = Path(__file__).parents[2] / "data" / "admin"
REGISTRY = PrivateKey(b"\x24" * 32)
FILES = "http://files.example"  # the test server's address, as the expected file spells it
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def sighash(path: Path) -> str:
    with S9pk.open(path) as p:
        return b64_encode(p.commitment.root_sighash)


def test_every_command_in_turn(
    tmp_path: Path,
    http: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, www = http
    site = tmp_path / "site-config.yaml"
    shutil.copy(DATA / "site-config.yaml", site)
    keys = tmp_path / "keys"
    keys.mkdir()
    for name, key in (("admin", ADMIN), ("dev", DEV), ("carol", OTHER)):
        (keys / f"{name}.pub").write_text(key.public_key.to_pem())
    (keys / "registry.key").write_text(REGISTRY.to_pem())
    (keys / "dev.key").write_text(DEV.to_pem())
    (tmp_path / "packages").mkdir()
    hello10 = pkg(tmp_path / "packages", "hello-1.0.s9pk", DEV, version="1.0.0:0")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    hello11 = pkg(incoming, "hello-1.1.s9pk", DEV, version="1.1.0:0")
    notes = pkg(incoming, "notes.s9pk", ADMIN, id_="notes")
    pkg(www, "hello-1.2.s9pk", DEV, version="1.2.0:0")
    for mirror in ("m1", "m2"):
        (www / mirror).mkdir()
        shutil.copy(hello10, www / mirror / "hello-1.0.s9pk")
    (tmp_path / "images").mkdir()
    (tmp_path / "images/startos-0.4.0.iso").write_bytes(b"iso image " * 100)
    (www / "startos-0.4.0.squashfs").write_bytes(b"squashfs image " * 100)
    monkeypatch.chdir(tmp_path)
    dev = Guid.generate(seed=b"Dev")

    def ok(*args: str) -> str:
        code, out, err = run_cli(["registry", *args, "--config", str(site)], capsys)
        assert (code, err) == (0, ""), (args, out, err)
        return out

    icon = "data:image/png;base64," + base64.b64encode(PNG).decode()
    ok("info", "set-name", "Example Registry")
    ok("info", "set-icon", icon)
    carol = json.loads(
        ok("admin", "signer", "add", "-n", "Carol", "-c", "mailto:carol@example.org",
           "-c", "https://matrix.to/#/@carol:example.org", "--key", "keys/carol.pub", "--json")
    )["id"]  # fmt: skip
    ok("admin", "signer", "edit", "Dev", "--set-name", "Dev Team", "-c", "mailto:dev@example.org")
    ok("admin", "add", carol)
    ok("admin", "signer", "add", "-n", "Erin")
    ok("admin", "signer", "remove", "Erin")
    ok("package", "signer", "add", "hello", "Carol", "--versions", ">=2.0.0:0")
    ok("package", "signer", "add", "hello", carol, "--versions", "<1.0.0:0", "--merge")
    ok("package", "add", str(hello11))
    ok("package", "add", f"{base}/hello-1.2.s9pk")
    ok("package", "add", str(notes))
    ok("package", "signer", "add", "notes", "Dev Team", "--versions", "^1.0.0:0")
    ok("package", "signer", "remove", "notes", "Dev Team")
    ok("package", "add-mirror", "hello", "1.0.0:0", f"{base}/m1/hello-1.0.s9pk")
    ok("package", "add-mirror", "hello", "1.0.0:0", f"{base}/m2/hello-1.0.s9pk")
    ok("package", "remove-mirror", "hello", "1.0.0:0", "--url", f"{base}/m1/hello-1.0.s9pk")
    ok("package", "remove", "hello", "1.1.0:0")
    ok("package", "category", "add", "tools", "Tools")
    ok("package", "category", "add", "tools", "Werkzeuge", "--lang", "de_DE")
    ok("package", "category", "add-package", "tools", "notes")
    ok("package", "category", "add-package", "featured", "notes")
    ok("package", "category", "remove-package", "featured", "notes")
    ok("package", "category", "remove", "old")
    ok("os", "version", "add", "0.4.0", "StartOS 0.4.0", "Many fixes.", ">=0.3.5:0")
    ok("os", "version", "add", "0.3.6", "StartOS 0.3.6 (old)", "Fixes.", ">=0.3.5:0")
    ok("os", "version", "add", "0.4.1", "StartOS 0.4.1", "", ">=0.4.0:0")
    ok("os", "version", "remove", "0.4.1")
    ok("os", "version", "signer", "add", "0.4.0", "Dev Team")
    ok(
        "os",
        "asset",
        "add",
        "--platform",
        "x86_64",
        "--version",
        "0.4.0",
        "images/startos-0.4.0.iso",
    )
    ok("os", "asset", "add", "-p", "x86_64", "-v", "0.4.0", f"{base}/startos-0.4.0.squashfs")
    ok(
        "os",
        "asset",
        "add",
        "-p",
        "aarch64",
        "-v",
        "0.4.0",
        "--kind",
        "img",
        "images/startos-0.4.0.iso",
    )
    ok("os", "asset", "remove", "-p", "aarch64", "-v", "0.4.0", "--kind", "img")
    ok(
        "os",
        "asset",
        "sign",
        "-p",
        "x86_64",
        "-v",
        "0.4.0",
        "--kind",
        "iso",
        "--key",
        "file:keys/dev.key",
    )
    ok("admin", "remove", carol)

    got = site.read_text().replace(base, FILES)
    expected_file = DATA / "site-config.expected.yaml"
    if os.environ.get("REGENERATE_EXPECTED"):
        expected_file.write_text(got)
    expected = expected_file.read_text()
    diff = "\n".join(difflib.unified_diff(expected.splitlines(), got.splitlines(), lineterm=""))
    assert got == expected, diff

    # Every list command reads it back.
    assert set(json.loads(ok("admin", "signer", "list", "--json"))) == {
        Guid.generate(seed=b"Admin"),
        dev,
        carol,
    }
    assert set(json.loads(ok("admin", "list", "--json"))) == {Guid.generate(seed=b"Admin")}
    scopes = json.loads(ok("package", "signer", "list", "hello", "--json"))
    assert set(scopes) == {dev, carol}
    assert set(json.loads(ok("package", "category", "list", "--json"))) == {"featured", "tools"}
    assert set(json.loads(ok("os", "version", "signer", "list", "0.4.0", "--json"))) == {
        Guid.generate(seed=b"Admin"),
        dev,
    }

    # And it builds: what each command said is in the index.
    cfg = config.load(site)
    report = build_site(config.build_settings(cfg))
    assert report.skipped == ()
    index = json.loads((cfg.output / "index.json").read_bytes())
    assert (index["name"], index["icon"]) == ("Example Registry", icon)
    assert set(index["signers"]) == {Guid.generate(seed=b"Admin"), dev, carol}
    assert index["signers"][dev]["name"] == "Dev Team"
    hello = index["package"]["packages"]["hello"]
    assert sorted(hello["versions"]) == ["1.0.0:0", "1.2.0:0"]  # 1.1.0:0 removed
    assert set(hello["authorized"]) == {dev, carol}
    assert hello["categories"] == ["featured"]
    urls = hello["versions"]["1.0.0:0"]["s9pks"][0][1]["urls"]
    assert urls[-1] == f"{base}/m2/hello-1.0.s9pk"
    assert f"{base}/m1/hello-1.0.s9pk" not in urls
    assert hello["versions"]["1.2.0:0"]["s9pks"][0][1]["urls"][-1] == f"{base}/hello-1.2.s9pk"
    assert index["package"]["packages"]["notes"]["categories"] == ["tools"]
    assert index["package"]["categories"]["tools"]["name"] == {
        "en_US": "Tools",
        "de_DE": "Werkzeuge",
    }
    assert "old" not in index["package"]["categories"]
    os_index = index["os"]["versions"]
    assert sorted(os_index) == ["0.3.6", "0.4.0"]
    assert os_index["0.3.6"]["headline"] == "StartOS 0.3.6 (old)"
    release = os_index["0.4.0"]
    assert release["authorized"] == sorted([Guid.generate(seed=b"Admin"), dev])
    assert set(release["iso"]["x86_64"]["signatures"]) == {
        REGISTRY.public_key.to_pem(),
        DEV.public_key.to_pem(),
    }
    assert release["squashfs"]["x86_64"]["urls"] == [f"{base}/startos-0.4.0.squashfs"]
    assert release["img"] == {}
    assert (tmp_path / "packages" / "hello-1.1.s9pk").is_file()  # removal deletes no file
    assert sighash(hello10) in (tmp_path / "site-config.yaml").read_text()

    # A further signature is checked against the image at every build.
    (tmp_path / "images/startos-0.4.0.iso").write_bytes(b"another image")
    fresh = replace(config.build_settings(cfg), output=tmp_path / "fresh", cache_dir=None)
    with pytest.raises(BuildError, match="a further signature does not match the image"):
        build_site(fresh)


def test_merge_gives_the_or_of_the_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``package signer add --merge``: every version either range allows, and no other."""
    site = tmp_path / "site-config.yaml"
    (tmp_path / "dev.pub").write_text(DEV.public_key.to_pem())
    site.write_text(
        "registry: {name: R, url: 'https://r.example.org/'}\n"
        "signers:\n  - name: Dev\n    keys: [file:dev.pub]\n"
        'authorized:\n  hello:\n    Dev: ">=2.0.0:0 <3.0.0:0 || #knots"\n'
    )
    argv = ["registry", "package", "signer", "add", "hello", "Dev", "--versions", "^1.0.0:0",
            "--merge", "--config", str(site)]  # fmt: skip
    assert run_cli(argv, capsys)[0] == 0
    merged = config.load(site).authorized["hello"]["Dev"]
    old, new = VersionRange.parse(">=2.0.0:0 <3.0.0:0 || #knots"), VersionRange.parse("^1.0.0:0")
    versions = ["0.9.0:0", "1.0.0:0", "1.5.0:0", "2.0.0:0", "2.9.9:0", "3.0.0:0", "#knots:4.0:0"]
    for text in versions:
        v = ExtendedVersion.parse(text)
        assert merged.satisfied_by(v) == (old.satisfied_by(v) or new.satisfied_by(v)), text
    assert [merged.satisfied_by(ExtendedVersion.parse(v)) for v in versions] == [
        False, True, True, True, True, False, True
    ]  # fmt: skip
    # Without --merge the range is replaced, as upstream.
    argv[7:9] = ["<1.0.0:0"]  # the range, and no --merge
    assert run_cli(argv, capsys)[0] == 0
    assert str(config.load(site).authorized["hello"]["Dev"]) == "<1.0.0:0"
