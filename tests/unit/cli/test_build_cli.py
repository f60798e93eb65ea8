"""``s9reg demo init`` + ``s9reg build`` end to end through the real entry point."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from s9reg.registry import FullIndex
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.writer import write_archive_file

from helpers.cli import run_cli as run


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert run(["demo", "init", str(tmp_path / "d")], capsys)[0] == 0
    return tmp_path / "d"


def test_build_demo_twice_identical(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(demo / "site-config.yaml")
    code, out, err = run(["build", "--config", cfg], capsys)
    assert code == 0, err
    # The changes count versions, not files (8 files: one version has two hardware variants).
    assert "5 packages, 7 versions (7 added, 0 removed, 0 changed, 0 unchanged), 8 files" in out
    first = tree_bytes(demo / "_site")
    index = FullIndex.from_dict(json.loads(first["index.json"]))
    assert sorted(index.package.packages) == ["bitcoind", "hello", "notes", "photos", "wiki"]
    code, out, _ = run(["build", "--config", cfg, "--json"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["added"] == []
    assert len(summary["unchanged"]) == 7
    assert tree_bytes(demo / "_site") == first


def test_unauthorized_package_fails_and_keeps_site(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(demo / "site-config.yaml")
    assert run(["build", "--config", cfg], capsys)[0] == 0
    before = tree_bytes(demo / "_site")
    dev = PrivateKey.from_pem((demo / "dev.key.pem").read_text())
    # Dev is authorized for notes >=2.0 only: hello is not theirs to publish.
    write_archive_file(demo / "packages" / "rogue.s9pk", demo_package_tree("hello", "9.0.0:0"), dev)
    code, out, err = run(["build", "--config", cfg], capsys)
    assert code == 1
    assert out == ""
    line = err.strip()
    assert line.startswith("ERROR ")
    assert "hello" in line
    assert "9.0.0:0" in line
    assert dev.public_key.fingerprint[:16] in line
    assert tree_bytes(demo / "_site") == before
    code, out, err = run(["build", "--config", cfg, "--skip-invalid"], capsys)
    assert code == 0
    assert "skipped" in err


def test_bad_config_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site-config.yaml"
    path.write_text("registry:\n  nmae: x\n")
    code, out, err = run(["build", "--config", str(path)], capsys)
    assert code == 1
    assert out == ""
    assert err.startswith(f"ERROR {path}:2: ")
    assert "Traceback" not in err


def test_build_summary_names_phase_times(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["build", "--config", str(demo / "site-config.yaml")], capsys)
    assert code == 0, err
    assert re.search(
        r"^Took [0-9.]+ s: sources [0-9.]+ s \([0-9.]+ KiB verified\)", out, re.MULTILINE
    )
    cfg = str(demo / "site-config.yaml")
    code, out, _ = run(["build", "--config", cfg, "--json", "--force"], capsys)
    summary = json.loads(out)
    assert set(summary["timings"]) == {"sources", "os", "render", "write"}
    assert (summary["verified_bytes"], summary["from_cache"]) == (0, 8)  # all from the cache
