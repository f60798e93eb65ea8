"""``package add|remove``, ``package signer add --new`` and ``info set-icon URL`` cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from s9reg import config

from helpers.admin_site import ADMIN, DEV, Run
from helpers.buildkit import pkg

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def test_set_icon_from_a_url(
    run: Run, site: Path, http: tuple[str, Path], refused: Callable[..., str]
) -> None:
    base, www = http
    (www / "logo").write_bytes(PNG)
    (www / "page.svg").write_text("<html>not an image</html>")
    code, out, _ = run("info", "set-icon", f"{base}/logo", "--json")
    assert code == 0
    assert json.loads(out)["stored"] == str(site.parent / "registry-icon.png")
    assert (site.parent / "registry-icon.png").read_bytes() == PNG
    assert "not a PNG, JPEG, GIF, WebP or SVG" in refused("info", "set-icon", f"{base}/page.svg")


def test_package_add_needs_a_source_directory(
    run: Run, site: Path, refused: Callable[..., str]
) -> None:
    site.write_text(site.read_text().replace("    - s9pk/\n", "    - s9pk/*.s9pk\n"))
    new = pkg(site.parent, "hello.s9pk", DEV, version="1.0.0:0")
    assert "no source directory" in refused("package", "add", str(new))


def test_package_remove_rules(run: Run, site: Path, refused: Callable[..., str]) -> None:
    pkg(site.parent / "s9pk", "hello.s9pk", DEV, version="1.0.0:0")
    pkg(site.parent / "s9pk", "notes.s9pk", ADMIN, id_="notes", version="1.0.0:0")
    assert "pass --force" in refused("package", "remove", "hello")
    code, out, _ = run("package", "remove", "hello", "--force", "--json")
    assert code == 0
    assert json.loads(out)["files"] == [str(site.parent / "s9pk/hello.s9pk")]
    cfg = config.load(site)
    assert "hello" not in cfg.authorized
    assert cfg.categories[0].packages == ()
    assert [str(x) for x in cfg.exclude] == ["hello"]
    # Removed already: nothing of it is left to remove.
    assert "no package 'hello'" in refused("package", "remove", "hello", "--force")
    # A version, then the whole package: one entry covers both.
    assert run("package", "remove", "notes", "1.0.0:0")[0] == 0
    assert [str(x) for x in config.load(site).exclude] == ["hello", "notes 1.0.0:0"]
    # `package add` brings a removed package back with that file.
    code, out, err = run("package", "add", str(site.parent / "s9pk/notes.s9pk"))
    assert code == 0, err
    assert [str(x) for x in config.load(site).exclude] == ["hello"]


def test_package_signer_add_new(run: Run, site: Path, refused: Callable[..., str]) -> None:
    assert "pass --new" in refused("package", "signer", "add", "brand-new", "Dev")
    assert (
        run("package", "signer", "add", "brand-new", "Dev", "--new", "--versions", "^1.0.0:0")[0]
        == 0
    )
    assert str(config.load(site).authorized["brand-new"]["Dev"]) == ">=1.0.0:0 <2:0"
    # It exists now: list and further adds need no --new.
    code, out, _ = run("package", "signer", "list", "brand-new", "--json")
    assert code == 0
    ((_guid, (info, versions)),) = json.loads(out).items()
    assert (info["name"], versions) == ("Dev", ">=1.0.0:0 <2:0")


@pytest.mark.parametrize("kind", ["table", "yaml"])
def test_lists_in_every_format(run: Run, kind: str) -> None:
    code, out, _ = run("package", "category", "list", "--format", kind)
    assert code == 0
    assert "featured" in out
    assert "hello" in out
