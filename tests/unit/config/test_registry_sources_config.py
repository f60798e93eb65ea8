"""``packages.sources`` entries that name another registry (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg.builder.regsource import RegistrySource, SourceMode
from s9reg.config import build_settings, load
from s9reg.errors import ConfigError
from s9reg.exver import ExtendedVersion, VersionRange

BASE = """\
registry:
  name: Tiny
  url: https://r.example.org/
packages:
  sources:
    - packages/
"""


def _load(tmp_path: Path, entries: str) -> tuple[RegistrySource, ...]:
    path = tmp_path / "site-config.yaml"
    path.write_text(BASE + entries, encoding="utf-8")
    cfg = load(path)
    return build_settings(cfg, environ={}).registry_sources


def test_a_registry_source_with_every_option(tmp_path: Path) -> None:
    (source,) = _load(
        tmp_path,
        """\
    - registry: https://registry.start9.com/
      mode: reference
      packages:
        bitcoind: ">=28.0.0:0"
        jellyfin:
      flavor: knots
      arch: [x86_64]
      newest: 2
      trust_upstream_signers: true
""",
    )
    assert source.url == "https://registry.start9.com/"
    assert source.mode is SourceMode.REFERENCE
    assert source.packages is not None
    assert str(source.packages["jellyfin"]) == str(VersionRange.any())
    assert source.packages["bitcoind"].satisfied_by(ExtendedVersion.parse("29.0.0:0"))
    assert (source.flavor, source.arches, source.newest) == ("knots", ("x86_64",), 2)
    assert source.trust_upstream_signers


def test_everything_but_some(tmp_path: Path) -> None:
    (source,) = _load(
        tmp_path,
        """\
    - registry: https://community.example.org/
      packages: "*"
      exclude: [foo, bar]
""",
    )
    assert source.mode is SourceMode.COPY
    assert source.packages is None
    assert source.exclude == frozenset({"foo", "bar"})


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("    - registry: ftp://x.example.org/\n", "sources[1].registry"),
        (
            "    - registry: https://x.example.org/\n      mode: mirror\n",
            "expected copy or reference",
        ),
        (
            "    - registry: https://x.example.org/\n      packages: {hello: x}\n      exclude: [a]\n",
            "sources[1].packages.hello",
        ),
        (
            "    - registry: https://x.example.org/\n      packages: {hello: '*'}\n      exclude: [a]\n",
            'exclusions go with packages: "*" only',
        ),
        ("    - registry: https://x.example.org/\n      newest: 0\n", "from 1 to 9999"),
        ("    - registry: https://x.example.org/\n      mod: copy\n", "did you mean 'mode'"),
        ("    - mode: copy\n", "missing required key 'registry'"),
    ],
)
def test_problems_are_named(tmp_path: Path, entry: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, entry)
    assert problem in (info.value.details or info.value.message)


def test_network_tor_proxy(tmp_path: Path) -> None:
    path = tmp_path / "site-config.yaml"
    path.write_text(BASE + "network:\n  tor_proxy: socks5h://127.0.0.1:9050\n", encoding="utf-8")
    cfg = load(path)
    assert cfg.tor_proxy == ("127.0.0.1", 9050)
    assert build_settings(cfg, environ={}).downloads.tor_proxy == ("127.0.0.1", 9050)


@pytest.mark.parametrize("value", ["http://127.0.0.1:9050", "socks5h://host", "socks5h://h:0"])
def test_network_tor_proxy_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "site-config.yaml"
    path.write_text(BASE + f"network:\n  tor_proxy: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"network\.tor_proxy: expected socks5h://HOST:PORT"):
        load(path)
