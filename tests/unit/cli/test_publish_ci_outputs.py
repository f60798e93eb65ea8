"""``s9reg publish --github-output FILE --summary FILE``, for a full publish and for FILE… (#18)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from s9reg.s9pk.keys import PrivateKey, write_private_key

from helpers.actions_runner import _read_commands
from helpers.buildkit import ADMIN, pkg
from helpers.cli import run_cli


def _registry(root: Path) -> Path:
    (root / "packages").mkdir(parents=True)
    write_private_key(root / "registry.key.pem", PrivateKey.generate())
    pem = "\n".join(f"          {line}" for line in ADMIN.public_key.to_pem().splitlines())
    cfg = root / "site-config.yaml"
    cfg.write_text(
        "registry:\n  name: t\n  url: https://reg.example.org/\n"
        "  signing_key: file:registry.key.pem\n"
        f"signers:\n  - name: Admin\n    keys:\n      - |\n{pem}\n    admin: true\n"
        "packages:\n  sources: [packages/]\noutput: _site\nstorage: file:published\n",
        encoding="utf-8",
    )
    return cfg


def test_full_publish_then_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _registry(tmp_path)
    pkg(tmp_path / "packages", "hello-1.0.s9pk", ADMIN, id_="hello", version="1.0.0:0")
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    argv = ["publish", "--config", str(cfg), "--github-output", str(out), "--summary", str(summary)]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    values = _read_commands(out)
    assert (values["generation"], values["previous-generation"]) == ("1", "0")
    assert json.loads(values["changed"])["added"] == {"hello": ["1.0.0:0"]}
    index = (tmp_path / "published" / "index.json").read_bytes()
    assert values["index-sha256"] == hashlib.sha256(index).hexdigest()
    assert summary.read_text().startswith("### s9reg: published generation 1 (was 0)\n")

    # Adding a file without the sources: the changes are read back from the live index.
    new = pkg(tmp_path, "hello-1.1.s9pk", ADMIN, id_="hello", version="1.1.0:0")
    out.unlink()
    code, _, err = run_cli([*argv, str(new)], capsys)
    assert code == 0, err
    values = _read_commands(out)
    assert values["generation"] == "2"
    assert json.loads(values["changed"])["added"] == {"hello": ["1.1.0:0"]}
    index = (tmp_path / "published" / "index.json").read_bytes()
    assert values["index-sha256"] == hashlib.sha256(index).hexdigest()
    assert "| added | `hello` | `1.1.0:0` |" in summary.read_text()

    # The full site again, whose sources lack the file added: that version is removed.
    out.unlink()
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    values = _read_commands(out)
    assert values["generation"] == "3"
    changed = json.loads(values["changed"])
    assert (changed["added"], changed["removed"]) == ({}, {"hello": ["1.1.0:0"]})
    assert "| removed | `hello` | `1.1.0:0` |" in summary.read_text()

    # Once more: up to date, nothing changed.
    out.unlink()
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    values = _read_commands(out)
    assert (values["generation"], values["previous-generation"]) == ("3", "3")
    assert json.loads(values["changed"]) == {
        "added": {}, "removed": {}, "packagesAdded": [], "packagesRemoved": [],
    }  # fmt: skip
    assert "### s9reg: up to date, generation 3 is live" in summary.read_text()


@pytest.mark.parametrize(
    "extra", [["--verify"], ["--dry-run", "FILE"]], ids=["verify", "files dry run"]
)
def test_outputs_report_a_publish_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    cfg = _registry(tmp_path)
    new = pkg(tmp_path, "hello-1.1.s9pk", ADMIN, id_="hello", version="1.1.0:0")
    argv = ["publish", "--config", str(cfg), "--github-output", str(tmp_path / "out")]
    code, _, err = run_cli([*argv, *[str(new) if a == "FILE" else a for a in extra]], capsys)
    assert code == 2
    assert "--github-output and --summary report a publish" in err
