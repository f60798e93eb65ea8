"""``s9reg publish`` end to end: demo site, build when stale, dry run, JSON, configuration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.publish import DirSettings, S3Settings
from s9reg.s9pk.keys import PrivateKey

from helpers.buildkit import pkg
from helpers.cli import run_cli as run


@pytest.fixture
def demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert run(["demo", "init", str(tmp_path / "d")], capsys)[0] == 0
    cfg = tmp_path / "d" / "site-config.yaml"
    cfg.write_text(cfg.read_text() + "\nstorage: file:public\n")
    return tmp_path / "d"


def test_publish_builds_then_publishes_then_noop(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(demo / "site-config.yaml")
    code, out, err = run(["publish", "--config", cfg, "--dry-run"], capsys)
    assert code == 0, err
    assert "building first" in err
    assert "Dry run" in out
    assert "index.json" in out
    assert not (demo / "public").exists()
    code, out, err = run(["publish", "--config", cfg], capsys)
    assert code == 0, err
    assert "building first" not in err
    assert out.startswith("Published generation 1 to ")
    site = {p.relative_to(demo / "_site") for p in (demo / "_site").rglob("*") if p.is_file()}
    for rel in site:
        assert (demo / "public" / rel).read_bytes() == (demo / "_site" / rel).read_bytes()
    code, out, err = run(["publish", "--config", cfg, "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["uploaded"] == 0
    assert summary["unchanged"] == len(site)
    assert summary["generation"] == 1


def test_publish_without_target_is_a_config_error(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = demo / "site-config.yaml"
    cfg.write_text(cfg.read_text().replace("storage: file:public", ""))
    code, out, err = run(["publish", "--config", str(cfg), "--no-build"], capsys)
    assert code == 1
    assert out == ""
    assert "nothing to publish to" in err


def test_publish_settings_from_config(tmp_path: Path) -> None:
    base = "registry:\n  name: R\n  url: https://r.example/\n"
    path = tmp_path / "site-config.yaml"
    cfg = config.loads(base + "storage: file:out\n", path=path)
    settings = config.publish_settings(cfg, jobs=3)
    assert settings.target == DirSettings(path=tmp_path / "out")
    assert settings.jobs == 3
    assert settings.site == cfg.output
    cfg = config.loads(
        base + "publish:\n  bucket: b\n  endpoint_url: http://127.0.0.1:9000\n", path=path
    )
    target = config.publish_settings(cfg).target
    assert isinstance(target, S3Settings)
    assert target.checksum_mode == "when_required"  # non-AWS endpoint
    cfg = config.loads(base, path=path)
    with pytest.raises(ConfigError, match="nothing to publish to"):
        config.publish_settings(cfg)


def test_publish_files_adds_to_published_site_without_sources(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(demo / "site-config.yaml")
    assert run(["publish", "--config", cfg], capsys)[0] == 0
    before = json.loads((demo / "public" / "index.json").read_bytes())
    admin = PrivateKey.from_pem((demo / "admin.key.pem").read_text())
    new = pkg(demo, "hello_9.s9pk", admin, version="9.0.0:0")
    shutil.rmtree(demo / "packages")
    shutil.rmtree(demo / "_site")
    code, out, err = run(["publish", "--config", cfg, "--json", str(new)], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["generation"] == 2
    assert summary["kept"] > 0
    assert "hello/9.0.0:0/hello_9.s9pk" in {p["key"] for p in summary["plan"]}
    after = json.loads((demo / "public" / "index.json").read_bytes())
    assert set(after["package"]["packages"]["hello"]["versions"]) == {
        *before["package"]["packages"]["hello"]["versions"],
        "9.0.0:0",
    }
    assert (demo / "public" / "hello/1.1.0:0/hello_1.1.0_0_x86_64.s9pk").is_file()
    assert not (demo / "_site").exists()
    code, out, err = run(["publish", "--config", cfg, str(new)], capsys)
    assert code == 0, err
    assert out.startswith(f"{demo / 'public'} is up to date (generation 2): 0 uploaded")
    assert "same package as" in err
    code, _, err = run(["publish", "--config", cfg, "--no-build", str(new)], capsys)
    assert code == 2
    assert "do not apply" in err


@pytest.mark.parametrize("dry_run", [False, True], ids=["publish", "dry run"])
def test_publish_to_an_impossible_directory_fails_before_building(
    demo: Path, capsys: pytest.CaptureFixture[str], dry_run: bool
) -> None:
    # It used to build first, then fail naming <dir>/_s9reg instead of the directory given.
    (demo / "a-file").write_text("")
    to = str(demo / "a-file" / "public")
    cfg = str(demo / "site-config.yaml")
    code, _, err = run(["publish", "--config", cfg, "--to", to, *(["--dry-run"] * dry_run)], capsys)
    assert code == 1
    assert f"ERROR {to}: " in err
    assert "_s9reg" not in err
    assert "building first" not in err
    assert not (demo / "_site").exists()


def test_publish_site_that_is_not_built_names_the_option(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo / "elsewhere").mkdir()
    cfg = str(demo / "site-config.yaml")
    code, _, err = run(["publish", "--config", cfg, "--site", str(demo / "elsewhere")], capsys)
    assert code == 1
    assert "not a built site" in err
    assert "--site must name" in err
    assert "run s9reg build first" not in err
