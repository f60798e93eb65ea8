"""Every editing command refuses bad input the same way: one ``ERROR`` line, exit 1, and
``site-config.yaml`` byte-identical (nothing half-written)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from s9reg.s9pk.commitment import b64_encode
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.package import S9pk

from helpers.admin_site import ADMIN, DEV, OTHER, Run
from helpers.buildkit import pkg

REGISTRY = PrivateKey(b"\x25" * 32)
OS = """
os:
  - version: "0.4.0"           # a release
    headline: StartOS 0.4.0
    signers: [Dev]
    iso:
      x86_64: images/startos.iso
"""


@pytest.fixture
def world(site: Path, http: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """The small config plus a package, a StartOS release, a signing key, a server."""
    base, www = http
    root = site.parent
    monkeypatch.chdir(root)
    hello = pkg(root / "s9pk", "hello-1.0.s9pk", DEV, version="1.0.0:0")
    pkg(www, "other.s9pk", DEV, id_="hello", version="1.0.0:0", title="Other")
    shutil.copy(hello, www / "hello.s9pk")
    (www / "junk.s9pk").write_bytes(b"not a package")
    pkg(root, "stranger.s9pk", OTHER, version="1.5.0:0")
    pkg(root, "admin-notes.s9pk", ADMIN, id_="notes", title="Different", version="1.0.0:0")
    (root / "keys/registry.key").write_text(REGISTRY.to_pem())
    (root / "keys/other.key").write_text(OTHER.to_pem())
    (root / "images").mkdir()
    (root / "images/startos.iso").write_bytes(b"iso" * 10)
    (root / "junk.bin").write_bytes(b"x")
    with S9pk.open(hello) as p:
        sighash = b64_encode(p.commitment.root_sighash)
    mirrors = (
        '  mirrors:\n    - id: hello\n      version: "1.0.0:0"\n'
        f"      sighash: {sighash}\n      url: {base}/hello.s9pk\n"
    )
    text = (
        site.read_text()
        .replace(
            "  url: https://registry.example.org/\n",
            "  url: https://registry.example.org/\n  signing_key: file:keys/registry.key\n",
        )
        .replace("    - s9pk/\n", "    - s9pk/\n" + mirrors)
    )
    site.write_text(text + OS)
    return base, www


BAD_PEM = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
CASES: list[tuple[str, tuple[str, ...], str]] = [
    # info
    ("name too long", ("info", "set-name", "x" * 33), "at most 32"),
    ("icon not an image", ("info", "set-icon", "data:image/png;base64," + base64.b64encode(b"hi").decode()), "not a PNG"),
    ("icon bad data URL", ("info", "set-icon", "data:text/plain,hello"), "data:image/<type>;base64"),
    ("icon missing file", ("info", "set-icon", "no-such.png"), "no-such.png"),
    ("icon URL 404", ("info", "set-icon", "{base}/missing.png"), "404"),
    # admin signer
    ("bad PEM", ("admin", "signer", "add", "-n", "X", "--key", BAD_PEM), "not an Ed25519 PEM"),
    ("duplicate key", ("admin", "signer", "add", "-n", "X", "--key", "keys/dev.pub"), "already registered"),
    ("unknown signer edit", ("admin", "signer", "edit", "Nobody", "-n", "Y"), "no signer"),
    ("unknown signer remove", ("admin", "signer", "remove", "Z" * 32), "no signer with the id"),
    ("bad contact", ("admin", "signer", "add", "-n", "X", "-c", "not a contact"), "contact"),
    # admin
    ("unknown admin add", ("admin", "add", "Nobody"), "no signer"),
    ("unknown admin remove", ("admin", "remove", "Nobody"), "no signer"),
    # package signer
    ("bad range", ("package", "signer", "add", "hello", "Dev", "--versions", ">=1.0 <<"), "--versions"),
    ("unknown signer", ("package", "signer", "add", "hello", "Nobody"), "no signer"),
    ("unknown package", ("package", "signer", "add", "nope", "Dev"), "no package 'nope'"),
    ("bad package id", ("package", "signer", "add", "Hello!", "Dev"), "package id 'Hello!'"),
    ("not authorized", ("package", "signer", "remove", "hello", "Admin"), "not authorized for"),
    ("list unknown package", ("package", "signer", "list", "nope"), "no package 'nope'"),
    # categories
    ("bad category id", ("package", "category", "add", "Bad Id", "X"), "category id"),
    ("bad locale", ("package", "category", "add", "x", "X", "--lang", "EN"), "--lang"),
    ("bad JSON name", ("package", "category", "add", "x", "{oops"), "not a LocaleString"),
    ("unknown category", ("package", "category", "remove", "nope"), "no category 'nope'"),
    ("add to unknown category", ("package", "category", "add-package", "nope", "hello"), "no category"),
    ("add unknown package", ("package", "category", "add-package", "featured", "nope"), "no package"),
    ("not a member", ("package", "category", "remove-package", "featured", "notes"), "is not in category"),
    # package add
    ("invalid package file", ("package", "add", "junk.bin"), "junk.bin"),
    ("unauthorized signer", ("package", "add", "stranger.s9pk"), "may not publish"),
    ("not an s9pk at URL", ("package", "add", "{base}/junk.s9pk"), "junk.s9pk"),
    ("already there", ("package", "add", "{base}/hello.s9pk"), "in the registry already"),
    ("variants disagree", ("package", "add", "{base}/other.s9pk"), "metadata differ"),
    # package remove
    ("remove unknown package", ("package", "remove", "nope"), "no package 'nope'"),
    ("remove unknown version", ("package", "remove", "hello", "9.0.0:0"), "no package hello 9.0.0:0"),
    ("remove bad version", ("package", "remove", "hello", "1.0.0:0:x:y"), "version"),
    ("bad sighash", ("package", "remove", "hello", "1.0.0:0", "--sighash", "abc"), "--sighash"),
    ("sighash without version", ("package", "remove", "hello", "--sighash", "A" * 43), "needs the VERSION"),
    ("has versions", ("package", "remove", "hello"), "pass --force"),
    # mirrors
    ("other bytes", ("package", "add-mirror", "hello", "1.0.0:0", "{base}/other.s9pk"), "serves other bytes"),
    ("mirror unknown version", ("package", "add-mirror", "hello", "2.0.0:0", "{base}/hello.s9pk"), "no package hello 2.0.0:0"),
    ("mirror bad URL", ("package", "add-mirror", "hello", "1.0.0:0", "ftp://x/y"), "http(s) URL"),
    ("unknown mirror", ("package", "remove-mirror", "hello", "1.0.0:0", "{base}/nope.s9pk"), "is not a mirror"),
    # os
    ("os bad version", ("os", "version", "add", "x.y", "H", "", "*"), "version 'x.y'"),
    ("os bad range", ("os", "version", "add", "0.5.0", "H", "", ">>"), "source version range"),
    ("os unknown version", ("os", "version", "remove", "9.9.9"), "no StartOS version 9.9.9"),
    ("os signer unknown", ("os", "version", "signer", "add", "0.4.0", "Nobody"), "no signer"),
    ("os signer admin", ("os", "version", "signer", "remove", "0.4.0", "Admin"), "as an admin"),
    ("os signer list unknown", ("os", "version", "signer", "list", "1.0.0"), "no StartOS version"),
    ("asset kind", ("os", "asset", "add", "-p", "x86_64", "-v", "0.4.0", "junk.bin"), "--kind"),
    ("asset taken", ("os", "asset", "add", "-p", "x86_64", "-v", "0.4.0", "junk.bin", "--kind", "iso"), "already"),
    ("asset bad platform", ("os", "asset", "add", "-p", "X 86", "-v", "0.4.0", "images/startos.iso"), "--platform"),
    ("asset URL 404", ("os", "asset", "add", "-p", "arm", "-v", "0.4.0", "{base}/none.img"), "404"),
    ("asset remove unknown", ("os", "asset", "remove", "-p", "arm", "-v", "0.4.0", "--kind", "img"), "no img image"),
    ("sign unauthorized", ("os", "asset", "sign", "-p", "x86_64", "-v", "0.4.0", "--kind", "iso", "--key", "keys/other.key"), "belongs to no signer"),
    ("sign missing key", ("os", "asset", "sign", "-p", "x86_64", "-v", "0.4.0", "--kind", "iso", "--key", "keys/none.key"), "--key"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_the_file_unchanged(
    world: tuple[str, Path], refused: Callable[..., str], args: tuple[str, ...], message: str
) -> None:
    base, _ = world
    line = refused(*(a.replace("{base}", base) for a in args))
    assert message in line, line


def test_os_version_add_needs_the_signing_key(refused: Callable[..., str]) -> None:
    assert "registry.signing_key" in refused("os", "version", "add", "0.4.0", "H", "", "*")


def test_last_url_of_a_variant_is_never_removed(
    world: tuple[str, Path], run: Run, site: Path, refused: Callable[..., str]
) -> None:
    """A mirror that is also the variant's package source is not a mirror to remove."""
    base, _ = world
    text = site.read_text().replace("    - s9pk/\n", f"    - s9pk/\n    - {base}/hello.s9pk\n")
    site.write_text(text)
    line = refused("package", "remove-mirror", "hello", "1.0.0:0", f"{base}/nope.s9pk")
    assert "is not a mirror" in line
    assert run("package", "remove-mirror", "hello", "1.0.0:0", f"{base}/hello.s9pk")[0] == 0
    assert "is a package source" in refused(
        "package", "remove-mirror", "hello", "1.0.0:0", f"{base}/hello.s9pk"
    )
