"""The committed example: `s9reg demo examples` + `s9reg build` with the top-level config."""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from s9reg.cli import main
from s9reg.registry import FullIndex
from s9reg.s9pk.package import S9pk

REPO = Path(__file__).resolve().parents[3]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The example as a fresh clone has it: sources and config, no keys, no packages."""
    shutil.copy(REPO / "site-config.yaml", tmp_path / "site-config.yaml")
    shutil.copytree(
        REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns(".keys", "_s9pk")
    )
    return tmp_path


def test_build_without_keys_says_how_to_make_them(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["build", "--config", str(checkout / "site-config.yaml")], capsys)
    assert code == 1
    assert "s9reg demo examples" in err
    assert "Traceback" not in err


def test_examples_build_a_complete_demo_registry(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["demo", "examples", str(checkout / "examples")], capsys)
    assert code == 0, err
    assert "9 packed" in out
    for key in (checkout / "examples/.keys").glob("*.key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    code, out, err = run(["build", "--config", str(checkout / "site-config.yaml")], capsys)
    assert code == 0, err
    index = FullIndex.from_dict(json.loads((checkout / "_site/index.json").read_bytes()))
    packages = index.package.packages
    assert len(packages) >= 5
    assert {str(v) for v in packages["hello"].versions} == {"1.0.0:0", "1.1.0:0"}
    hello_11 = next(pv for v, pv in packages["hello"].versions.items() if str(v) == "1.1.0:0")
    assert sorted(tuple(hw.arch or ()) for hw, _ in hello_11.s9pks) == [
        ("aarch64",),
        ("x86_64",),
    ]
    assert "#knots:28.1:0" in {str(v) for v in packages["bitcoind"].versions}
    assert len(index.signers) == 2
    assert len(index.package.categories) >= 2
    for path in (checkout / "_site").glob("*/*/*.s9pk"):
        with path.open("rb") as f:
            pkg = S9pk.read(f)
            assert pkg.icon_data_url() is not None
            assert pkg.license()
            assert pkg.instructions()
    # the second run is a no-op, and repacking keeps up-to-date packages
    assert "Up to date" in run(["build", "--config", str(checkout / "site-config.yaml")], capsys)[1]
    assert "9 up to date" in run(["demo", "examples", str(checkout / "examples")], capsys)[1]


def test_example_icons_need_no_font() -> None:
    # A <text> glyph depends on the viewer's fonts: no font of a stock Debian has U+20BF (₿),
    # so the first catalogue card showed a missing-glyph box. The icons are drawn as paths.
    icons = sorted(REPO.glob("examples/**/*.svg"))
    assert len(icons) >= 10
    for icon in icons:
        root = ET.parse(icon).getroot()
        drawn = {el.tag.rpartition("}")[2] for el in root.iter()}
        assert "text" not in drawn, icon
        assert "path" in drawn, icon


WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "nine": 9, "ten": 10}


def test_site_config_header_counts_what_it_builds() -> None:
    text = (REPO / "site-config.yaml").read_text()
    header = " ".join(line.lstrip("# ") for line in text.splitlines()[:8])
    said = {
        what: WORDS[m.group(1)]
        for what, pattern in {
            "sources": r"(\w+) packages \(",
            "ids": r"\((\w+) ids",
            "categories": r"(\w+) categories",
            "signers": r"(\w+) signers",
        }.items()
        if (m := re.search(pattern, header)) is not None
    }
    config = yaml.safe_load(text)
    sources = [p for p in (REPO / "examples/packages").glob("*/*") if p.is_dir()]
    ids = {json.loads((p / "manifest.json").read_text())["id"] for p in sources}
    assert said == {
        "sources": len(sources),
        "ids": len(ids),
        "categories": len(config["categories"]),
        "signers": len(config["signers"]),
    }
