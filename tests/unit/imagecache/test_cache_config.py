"""Issue 17, point 8: an ``image_cache:``-only site-config.yaml is enough for ``s9reg cache``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s9reg import config
from s9reg.errors import ConfigError

from helpers.cli import run_cli as run

CACHE_ONLY = """\
image_cache:
  data_dir: cache
  listen: 127.0.0.1:6000
  upstreams:
    docker.io: {url: "https://registry-1.docker.io", engine_port: 6300}
  images: [docker.io/library/alpine:3.20]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site-config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cache_only_config_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CACHE_ONLY)
    with pytest.raises(ConfigError, match="registry"):
        config.load(path)  # the site commands still need it
    settings = config.cache_settings(config.load_cache(path))
    (u,) = settings.upstreams
    assert (u.port, u.writer_port, u.proxy_engine_port) == (6000, 6100, 6300)
    assert settings.data_dir == tmp_path / "cache"
    assert [str(i) for i in settings.images] == ["docker.io/library/alpine:3.20"]
    code, out, err = run(["cache", "daemon-json", "--config", str(path)], capsys)
    assert code == 0, err
    assert json.loads(out)["registry-mirrors"] == ["http://localhost:6000"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (CACHE_ONLY + "surprise: 1\n", "surprise"),
        (CACHE_ONLY.replace("127.0.0.1:6000", "nowhere"), "listen"),
        (CACHE_ONLY + "serve: {port: lots}\n", "serve.port"),
        # With a registry section the file is checked exactly as the site commands check it.
        ("registry: {name: X}\n" + CACHE_ONLY, "url"),
    ],
)
def test_cache_only_config_is_still_checked(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        config.load_cache(write(tmp_path, text))


def test_whole_site_config_gives_the_same_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "registry: {name: X, url: 'https://r.example.org/'}\n" + CACHE_ONLY)
    whole = config.cache_settings(config.load(path))
    assert config.cache_settings(config.load_cache(path)) == whole
