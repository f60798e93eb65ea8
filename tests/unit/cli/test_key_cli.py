"""``s9reg key`` and the CLI's error mapping, through the real entry point."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from s9reg.cli import main
from s9reg.s9pk.keys import PrivateKey, PublicKey

from helpers.cli import run_cli as run


def test_key_init_and_pubkey(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.pem"
    code, out, _ = run(["key", "init", "--path", str(path)], capsys)
    assert code == 0
    first, signing, registry = out.splitlines()
    assert first == f"New developer key generated at {path}"
    # Where the key goes: a signer's public key, or the registry key's secret.
    assert f"s9reg key pubkey --path {path}" in signing
    assert "signers[].keys" in signing
    assert "S9REG_REGISTRY_KEY" in registry
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = PrivateKey.from_pem(path.read_text())
    code, out, _ = run(["key", "pubkey", "--path", str(path)], capsys)
    assert code == 0
    assert PublicKey.from_pem(out) == key.public_key
    assert out == key.public_key.to_pem()


def test_key_init_default_path_and_refuses_overwrite(capsys: pytest.CaptureFixture[str]) -> None:
    default = Path("~/.startos/developer.key.pem").expanduser()  # HOME is a temp dir here
    assert run(["key", "init"], capsys)[0] == 0
    before = default.read_bytes()
    code, out, err = run(["key", "init"], capsys)
    assert code == 1
    assert out == ""
    assert err.startswith("ERROR ")
    assert "refusing to overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert default.read_bytes() == before


def test_pubkey_missing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["key", "pubkey", "--path", str(tmp_path / "none.pem")], capsys)
    assert code == 1
    assert "no such key file" in err
    assert "hint: create one with: s9reg key init" in err
    assert "Traceback" not in err


def test_pubkey_garbage_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    code, _, err = run(["key", "pubkey", "--path", str(bad)], capsys)
    assert code == 1
    assert err.startswith(f"ERROR {bad}: ")


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["key", "frobnicate"], capsys)
    assert code == 2
    assert "No such command" in err


def test_debug_shows_traceback(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no such key file"):
        main(["--debug", "key", "pubkey", "--path", str(tmp_path / "none.pem")])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.startswith("s9reg ")
    assert "pycryptodome" in out


@pytest.mark.parametrize(
    "cmd",
    [
        pytest.param([sys.executable, "-m", "s9reg"], id="python -m s9reg"),
        pytest.param([str(Path(sys.executable).parent / "s9reg")], id="console script"),
    ],
)
def test_entry_points(cmd: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [*cmd, "key", "pubkey", "--path", str(tmp_path / "none.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("ERROR ")
    assert "Traceback" not in proc.stderr
