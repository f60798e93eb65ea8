"""``s9reg init-registry``: the files of a registry repository, and what it refuses (#18)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from s9reg import config
from s9reg.cli import init_registry as init_module
from s9reg.publish import S3Settings

from helpers.cli import run_cli

SHA = "ab" * 20


def _init(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    return run_cli(
        ["init-registry", str(tmp_path / "reg"), "--action", f"me/s9reg@{SHA}", *extra], capsys
    )


def test_writes_a_repository_whose_config_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _init(
        tmp_path, capsys, "--s3", "my-bucket", "--endpoint", "https://s3.example.org",
        "--region", "eu-central-1", "--path-style", "--url", "https://reg.example.org",
        "--name", 'Mine: "quoted" # not a comment',
    )  # fmt: skip
    assert code == 0, err
    root = tmp_path / "reg"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        ".github/dependabot.yml",
        ".github/workflows/publish.yml",
        ".gitignore",
        "README.md",
        "packages/.gitkeep",
        "site-config.yaml",
    ]
    cfg = config.load(root / "site-config.yaml")
    assert cfg.registry.name == 'Mine: "quoted" # not a comment'
    assert cfg.registry.url == "https://reg.example.org/"
    assert str(cfg.registry.signing_key) == "env:S9REG_REGISTRY_KEY"
    target = config.publish_settings(cfg).target
    assert isinstance(target, S3Settings)
    assert (target.bucket, target.endpoint_url, target.region, target.path_style) == (
        "my-bucket", "https://s3.example.org", "eu-central-1", True,
    )  # fmt: skip
    assert target.checksum_mode == "when_required"
    assert cfg.output == root / "_site"
    workflow = yaml.safe_load((root / ".github/workflows/publish.yml").read_text())
    publish = workflow["jobs"]["publish"]
    assert publish["environment"]["name"] == "registry"
    action = next(s for s in publish["steps"] if s.get("id") == "s9reg")
    assert action["uses"] == f"me/s9reg@{SHA}"
    assert workflow["jobs"]["preview"]["steps"][-1]["with"]["publish"] == "false"
    gitignore = (root / ".gitignore").read_text().splitlines()
    assert {"/_site/", ".s9reg-cache/", "*.key.pem"} <= set(gitignore)
    readme = (root / "README.md").read_text()
    for name in ("S9REG_REGISTRY_KEY", "AWS_ROLE_ARN", "AWS_REGION", "S9REG_SMOKE_URL",
                 "S9REG_PUBLISH", "AWS_ACCESS_KEY_ID", "registry-preview"):  # fmt: skip
        assert name in readme
    assert "site-config.yaml" in out
    assert "README.md" in out


def test_refuses_a_non_empty_directory_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "reg"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    code, out, err = _init(tmp_path, capsys)
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == f"ERROR {root}: not empty; refusing to write a registry into it"
    assert not (root / "site-config.yaml").exists()
    code, _, err = _init(tmp_path, capsys, "--force")
    assert code == 0, err
    assert (root / "notes.txt").read_text() == "mine"
    assert (root / "site-config.yaml").is_file()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--action", "me/s9reg@v1.0.0"], "full 40-hex commit SHA"),
        (["--s3", "Bad_Bucket"], "not an S3 bucket name"),
        (["--endpoint", "s3.example.org"], "not an http(s) URL"),
    ],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], problem: str
) -> None:
    code, _, err = run_cli(["init-registry", str(tmp_path / "reg"), *args], capsys)
    assert code == 2
    assert problem in err
    assert not (tmp_path / "reg").exists()


def test_a_name_the_config_refuses_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _init(tmp_path, capsys, "--name", "x" * 40)
    assert code == 1
    assert err.startswith("ERROR the configuration would not load: ")
    assert not (tmp_path / "reg").exists()


def test_without_action_it_pins_this_checkout_or_says_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(init_module, "_default_action", lambda: ("OWNER/s9reg@" + "0" * 40, False))
    code, _, err = run_cli(["init-registry", str(tmp_path / "reg")], capsys)
    assert code == 0
    assert "warning: set the s9reg action" in err
    text = (tmp_path / "reg/.github/workflows/publish.yml").read_text()
    assert "OWNER/s9reg@" + "0" * 40 + " # v" in text
    assert "replace `OWNER/s9reg@000…`" in (tmp_path / "reg/README.md").read_text()


def test_the_default_action_is_a_commit_of_a_github_checkout_or_a_placeholder() -> None:
    ref, pinned = init_module._default_action()
    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref)
    assert pinned == (ref != "OWNER/s9reg@" + "0" * 40)
