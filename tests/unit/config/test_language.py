"""The ``catalogue:`` section: the catalogue's locale and template directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg.config import build_settings, load
from s9reg.errors import ConfigError

BASE = "registry:\n  name: Tiny\n  url: https://r.example.org/\n"


@pytest.mark.parametrize("language", ["en_US", "de_DE", "pt_BR", "fr"])
def test_language_reaches_the_build(tmp_path: Path, language: str) -> None:
    (tmp_path / "c.yaml").write_text(BASE + f"catalogue:\n  language: {language}\n")
    cfg = load(tmp_path / "c.yaml")
    assert cfg.catalogue.language == language
    assert build_settings(cfg, environ={}).language == language


def test_default_language(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(BASE)
    assert load(tmp_path / "c.yaml").catalogue.language == "en_US"


@pytest.mark.parametrize("bad", ["'English'", "en US", "'1234'", "''"])
def test_bad_language_is_refused_with_its_line(tmp_path: Path, bad: str) -> None:
    (tmp_path / "c.yaml").write_text(BASE + f"catalogue:\n  language: {bad}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:5: catalogue\.language"):
        load(tmp_path / "c.yaml")


def test_template_dir_resolves_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(BASE + "catalogue:\n  template_dir: theme\n")
    cfg = load(tmp_path / "c.yaml")
    assert cfg.catalogue.template_dir == tmp_path / "theme"
    assert build_settings(cfg, environ={}).template_dir == tmp_path / "theme"
