"""``s9reg registry package|os promote`` (issue 21): pin another registry's release, then build."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg import config
from s9reg.builder import build_site

from helpers.buildkit import ALICE, REGISTRY, read_index
from helpers.cli import run_cli
from helpers.upstream import Upstream

CONFIG = """\
# The registry of the tests (comments must survive every promotion).
registry:
  name: Promoted
  url: https://r.example.org/
  signing_key: file:registry.pem  # co-signs packages and StartOS images
signers:
  - name: Alice
    keys:
      - |
{alice}
authorized:
  hello:
    Alice: "*"  # Alice may publish any version
packages:
  sources: []
output: _site
"""


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Upstream:
    return Upstream(tmp_path_factory.mktemp("up"), os_image_bytes=64 << 10)


def _config(tmp_path: Path) -> Path:
    pem = "\n".join("        " + line for line in ALICE.public_key.to_pem().splitlines())
    (tmp_path / "registry.pem").write_text(REGISTRY.to_pem())
    path = tmp_path / "site-config.yaml"
    path.write_text(CONFIG.format(alice=pem))
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(argv, capsys)


def test_package_promote_pins_the_release_with_its_category(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    before = path.read_text()
    with upstream.serving():
        argv = ["registry", "package", "promote", "--from", upstream.url, "hello", "1.1.0:0"]
        code, out, err = _run([*argv, "--dry-run", "--config", str(path)], capsys)
        assert code == 0, err
        assert path.read_text() == before
        assert "+        hello: =1.1.0:0\n" in out
        assert "+  demo:" in out
        assert "not written (--dry-run)" in err
        code, out2, err = _run([*argv, "--config", str(path)], capsys)
        assert (code, out2) == (0, out)
        text = path.read_text()
        assert "# Alice may publish any version" in text
        assert "# co-signs packages and StartOS images" in text
        # A second version joins the pin; the same one again changes nothing.
        again = ["registry", "package", "promote", "--from", upstream.url, "hello", "2.0.0:0"]
        code, out, err = _run([*again, "--config", str(path)], capsys)
        assert code == 0, err
        assert "hello: =1.1.0:0 || =2.0.0:0\n" in path.read_text()
        code, out, err = _run([*again, "--config", str(path)], capsys)
        assert (code, out) == (0, "")
        assert "nothing to change" in err
        cfg = config.load(path)
        report = build_site(config.build_settings(cfg, environ={}))
    index = read_index(report.output)
    hello = index.package.packages["hello"]
    assert sorted(str(v) for v in hello.versions) == ["1.1.0:0", "2.0.0:0"]
    assert hello.categories == ("demo",)
    assert index.package.categories["demo"].name.json_value() == {
        "en_US": "Demo",
        "de_DE": "Vorführung",
    }
    for pv in hello.versions.values():
        for _, asset in pv.s9pks:
            assert asset.urls[0].startswith("https://r.example.org/")
            assert asset.urls[-1].startswith(upstream.url)


def test_promote_of_a_missing_release_is_one_line(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    with upstream.serving():
        argv = ["registry", "package", "promote", "--from", upstream.url, "hello", "9.0.0:0"]
        code, _, err = _run([*argv, "--config", str(path)], capsys)
    assert code == 1
    assert "no hello 9.0.0:0 (versions: #knots:1.5.0:0, 1.0.0:0, 1.1.0:0, 2.0.0:0)" in err
    assert "Traceback" not in err


def test_os_promote_adds_the_release_and_the_build_carries_it(
    upstream: Upstream, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path)
    with upstream.serving():
        argv = ["registry", "os", "promote", "--from", upstream.url, "0.4.0"]
        code, out, err = _run([*argv, "--config", str(path)], capsys)
        assert code == 0, err
        assert "+      x86_64: http://127.0.0.1:" in out
        code, _, err = _run([*argv, "--config", str(path)], capsys)
        assert code == 1
        assert "already in the configuration" in err
        report = build_site(config.build_settings(config.load(path), environ={}))
    theirs = read_index(upstream.site).os.versions
    ours = read_index(report.output).os.versions
    (version,) = ours
    assert (
        ours[version].squashfs["x86_64"].commitment
        == next(iter(theirs.values())).squashfs["x86_64"].commitment
    )
