"""A build from a fresh checkout dates nothing anew, so its publish uploads nothing (issue 14.4).

The example registry of the repository (``site-config.yaml``, ``examples/``) is published to a
real SeaweedFS, then its output and ``.s9reg-cache`` are deleted, as in a CI job's fresh
checkout, and it is built and published again with a later ``SOURCE_DATE_EPOCH``.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from s9reg.s9pk.keys import PrivateKey

from helpers.buildkit import pkg
from helpers.cli import run_cli as run
from helpers.s3server import S3Endpoint

REPO = Path(__file__).resolve().parents[3]
E1, E2, E3 = 1_700_000_000, 1_750_000_000, 1_760_000_000


def _example(root: Path, capsys: pytest.CaptureFixture[str], storage: str) -> Path:
    """The repository's example registry in ``root``, packed, publishing to ``storage``."""
    shutil.copytree(REPO / "examples" / "packages", root / "examples" / "packages")
    shutil.copy(REPO / "examples" / "registry-icon.svg", root / "examples")
    cfg = root / "site-config.yaml"
    text = (REPO / "site-config.yaml").read_text(encoding="utf-8")
    assert "\nstorage: file:_published\n" in text
    cfg.write_text(text.replace("\nstorage: file:_published\n", f"\n{storage}\n"))
    code, _, err = run(["demo", "examples", str(root / "examples")], capsys)
    assert code == 0, err
    return cfg


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dates(index: bytes) -> dict[str, str]:
    packages = json.loads(index)["package"]["packages"]
    return {
        f"{pid}@{v} {n}": asset["publishedAt"]
        for pid, info in packages.items()
        for v, pv in info["versions"].items()
        for n, (_, asset) in enumerate(pv["s9pks"])
    }


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, err = run([*argv, "--json"], capsys)
    assert code == 0, err
    summary: dict[str, Any] = json.loads(out)
    return summary


def _fresh_checkout(root: Path) -> None:
    shutil.rmtree(root / "_site")
    shutil.rmtree(root / ".s9reg-cache")


def test_fresh_checkout_publishes_nothing_to_seaweedfs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    seaweed: S3Endpoint,
) -> None:
    bucket = seaweed.new_bucket("fresh")
    storage = (
        f"storage: s3\npublish:\n  bucket: {bucket}\n  endpoint_url: {seaweed.url}\n"
        "  prefix: registry\n  path_style: true\n"
    )
    root = tmp_path / "registry"
    cfg = ["--config", str(_example(root, capsys, storage))]
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)

    def live_index() -> bytes:
        body: bytes = (
            seaweed.client().get_object(Bucket=bucket, Key="registry/index.json")["Body"].read()
        )
        return body

    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(E1))
    first = _cli(["publish", *cfg], capsys)  # builds first: nothing was built yet
    assert first["uploaded"] == 100
    published = _dates(live_index())
    assert len(published) == 9
    assert set(published.values()) == {_iso(E1)}

    _fresh_checkout(root)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(E2))
    built = _cli(["build", *cfg], capsys)
    assert (built["added"], built["removed"], built["changed"]) == ([], [], [])
    assert len(built["unchanged"]) == 8
    again = _cli(["publish", *cfg], capsys)
    assert (again["uploaded"], again["deleted"], again["headerUpdates"]) == (0, 0, 0)
    assert again["generation"] == first["generation"]
    assert _dates(live_index()) == published

    # publish builds by itself after a fresh checkout, and reads the live index for that.
    _fresh_checkout(root)
    again = _cli(["publish", *cfg], capsys)
    assert (again["uploaded"], again["deleted"], again["headerUpdates"]) == (0, 0, 0)

    # A version added later is dated by its build; the others keep their dates.
    _fresh_checkout(root)
    admin = PrivateKey.from_pem((root / "examples/.keys/admin.key.pem").read_text())
    pkg(root / "examples/_s9pk", "hello-2.0.0.s9pk", admin, id_="hello", version="2.0.0:0")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(E3))
    built = _cli(["build", *cfg], capsys)
    assert built["added"] == ["hello@2.0.0:0"]
    assert len(built["unchanged"]) == 8
    again = _cli(["publish", *cfg], capsys)
    assert again["deleted"] == 0
    dates = _dates(live_index())
    assert dates.pop("hello@2.0.0:0 0") == _iso(E3)
    assert dates == published


def test_unreadable_storage_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = "publish:\n  bucket: b\n  endpoint_url: http://127.0.0.1:9\n  path_style: true\n"
    root = tmp_path / "registry"
    cfg = ["--config", str(_example(root, capsys, storage))]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, out, err = run(["build", *cfg], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("ERROR cannot read the published registry for its publication dates: ")
    assert "--no-previous" in err
    assert not (root / "_site").exists()
    code, out, err = run(["build", *cfg, "--no-previous"], capsys)
    assert code == 0, err
    assert "9 files (8 added" in out


def test_fresh_checkout_with_a_directory_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "registry"
    cfg = ["--config", str(_example(root, capsys, "storage: file:_published"))]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(E1))
    assert _cli(["publish", *cfg], capsys)["uploaded"] == 100
    published = _dates((root / "_published/index.json").read_bytes())
    _fresh_checkout(root)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(E2))
    _cli(["build", *cfg], capsys)
    again = _cli(["publish", *cfg], capsys)
    assert (again["uploaded"], again["deleted"]) == (0, 0)
    assert _dates((root / "_published/index.json").read_bytes()) == published
    # --previous DIR reads another copy; --no-previous dates everything anew.
    shutil.copytree(root / "_published", tmp_path / "copy", ignore=shutil.ignore_patterns("_s9reg"))
    shutil.rmtree(root / "_published")
    _fresh_checkout(root)
    _cli(["build", *cfg, "--previous", str(tmp_path / "copy")], capsys)
    assert _dates((root / "_site/index.json").read_bytes()) == published
    _fresh_checkout(root)
    _cli(["build", *cfg, "--no-previous"], capsys)
    assert set(_dates((root / "_site/index.json").read_bytes()).values()) == {_iso(E2)}
    code, _, err = run(["build", *cfg, "--previous", "x", "--no-previous"], capsys)
    assert code == 2
    assert "exclude each other" in err
