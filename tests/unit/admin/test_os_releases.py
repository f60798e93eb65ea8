"""``os version signer``, ``os asset remove|sign`` cases, and contact spellings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from s9reg import config
from s9reg.s9pk.keys import PrivateKey

from helpers.admin_site import DEV, Run

REGISTRY = PrivateKey(b"\x26" * 32)


@pytest.fixture
def release(site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = site.parent
    monkeypatch.chdir(root)
    (root / "keys/registry.key").write_text(REGISTRY.to_pem())
    (root / "keys/dev.key").write_text(DEV.to_pem())
    for name in ("a.iso", "b.iso", "c.img"):
        (root / name).write_bytes(name.encode() * 50)
    site.write_text(
        site.read_text().replace(
            "  url: https://registry.example.org/\n",
            "  url: https://registry.example.org/\n  signing_key: file:keys/registry.key\n",
        )
    )
    return site


def test_version_signers_and_assets(
    run: Run, release: Path, refused: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("os", "version", "add", "0.4.0", "v0.4.0", "", ">=0.3.5:0")[0] == 0
    assert "is not a signer of StartOS 0.4.0" in refused(
        "os", "version", "signer", "remove", "0.4.0", "Dev"
    )
    for args in (
        ("os", "version", "signer", "add", "0.4.0", "Dev"),
        ("os", "asset", "add", "-p", "x86_64", "-v", "0.4.0", "a.iso"),
        ("os", "asset", "add", "-p", "aarch64", "-v", "0.4.0", "b.iso"),
        ("os", "asset", "add", "-p", "raspberrypi", "-v", "0.4.0", "c.img"),
    ):
        assert run(*args)[0] == 0, args
    _code, out, _ = run("os", "version", "signer", "add", "0.4.0", "Dev", "--json")
    assert json.loads(out)["changed"] is False
    sign = ("os", "asset", "sign", "-p", "x86_64", "-v", "0.4.0", "--kind", "iso")
    assert run(*sign, "--key", "file:keys/dev.key")[0] == 0
    monkeypatch.setenv("DEV_KEY", DEV.to_pem())
    assert run(*sign, "--key", "env:DEV_KEY")[0] == 0  # the same key again: one signature
    assert (
        run(
            "os",
            "asset",
            "sign",
            "-p",
            "aarch64",
            "-v",
            "0.4.0",
            "--kind",
            "iso",
            "--key",
            "keys/dev.key",
        )[0]
        == 0
    )
    (r,) = config.load(release).os_releases
    assert sorted((s.kind, s.platform) for s in r.signatures) == [
        ("iso", "aarch64"),
        ("iso", "x86_64"),
    ]
    assert run("os", "asset", "remove", "-p", "x86_64", "-v", "0.4.0", "--kind", "iso")[0] == 0
    (r,) = config.load(release).os_releases
    assert r.images["iso"] == {"aarch64": release.parent / "b.iso"}
    assert [(s.kind, s.platform) for s in r.signatures] == [("iso", "aarch64")]
    assert run("os", "asset", "remove", "-p", "raspberrypi", "-v", "0.4.0", "--kind", "img")[0] == 0
    assert "img:" not in release.read_text()
    assert run("os", "version", "signer", "remove", "0.4.0", "Dev")[0] == 0
    assert config.load(release).os_releases[0].signers == ()
    assert "      - Dev\n" not in release.read_text()
    # Dev is no longer authorized for 0.4.0: its key cannot sign there.
    assert "belongs to signer 'Dev' authorized for StartOS 0.4.0" in refused(
        *sign[:3], "-p", "aarch64", "-v", "0.4.0", "--kind", "iso", "--key", "keys/dev.key"
    )
    # Same source again: nothing to change; another source: refused.
    assert run("os", "asset", "add", "-p", "aarch64", "-v", "0.4.0", "b.iso")[0] == 0
    assert "already" in refused("os", "asset", "add", "-p", "aarch64", "-v", "0.4.0", "a.iso")
    # An upsert keeps the images.
    assert run("os", "version", "add", "0.4.0", "v0.4.0!", "Notes.", ">=0.3.0:0")[0] == 0
    (r,) = config.load(release).os_releases
    assert (r.headline, r.release_notes, str(r.source_version)) == (
        "v0.4.0!",
        "Notes.",
        ">=0.3.0:0",
    )
    assert set(r.images["iso"]) == {"aarch64"}


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("email:dev@example.org", {"email": "dev@example.org"}),
        ("matrix:@dev:example.org", {"matrix": "@dev:example.org"}),
        ("https://matrix.to/#/@dev:example.org", {"matrix": "@dev:example.org"}),
        ("website:https://dev.example.org/", {"website": "https://dev.example.org/"}),
        ("https://dev.example.org/", {"website": "https://dev.example.org/"}),
    ],
)
def test_contact_spellings(run: Run, text: str, entry: dict[str, str]) -> None:
    code, out, _ = run("admin", "signer", "add", "-n", "Zoe", "-c", text, "--json")
    assert code == 0
    assert json.loads(out)["contact"] == [entry]
