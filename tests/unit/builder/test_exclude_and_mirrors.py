"""``packages.exclude`` and ``packages.mirrors`` in the build (``s9reg registry package …``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg.builder import build_site
from s9reg.builder.settings import Exclusion, Mirror
from s9reg.exver import VersionString
from s9reg.registry.errors import UnauthorizedSignerError
from s9reg.s9pk.commitment import b64_encode
from s9reg.s9pk.package import S9pk

from helpers.buildkit import ALICE, STRANGER, pkg, read_index, settings


def sighash(path: Path) -> str:
    with S9pk.open(path) as p:
        return b64_encode(p.commitment.root_sighash)


def test_excluded_before_authorization_and_the_file_kept(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ok = pkg(src, "hello-1.0.s9pk", ALICE, version="1.0.0:0")
    two = pkg(src, "hello-1.1.s9pk", ALICE, version="1.1.0:0")
    stranger = pkg(src, "hello-1.5.s9pk", STRANGER, version="1.5.0:0")
    with pytest.raises(UnauthorizedSignerError):
        build_site(settings(tmp_path, [ok, two, stranger]))
    s = settings(
        tmp_path,
        [ok, two, stranger],
        exclude=(
            Exclusion(id="hello", version=VersionString.parse("1.5.0:0")),
            Exclusion(id="hello", version=VersionString.parse("1.1.0:0"), sighash=sighash(two)),
        ),
    )
    build_site(s)
    assert sorted(map(str, read_index(s.output).package.packages["hello"].versions)) == ["1.0.0:0"]
    assert stranger.is_file()
    assert two.is_file()
    # A whole package.
    s = settings(tmp_path, [ok, two], exclude=(Exclusion(id="hello"),))
    build_site(s)
    assert read_index(s.output).package.packages == {}


def test_exclusion_matches_equal_versions_and_sighash_with_or_without_padding() -> None:
    x = Exclusion(id="a", version=VersionString.parse("1.0:0"), sighash="abc=")
    assert x.matches("a", VersionString.parse("1.0.0:0"), "abc")
    assert not x.matches("a", VersionString.parse("1.0.1:0"), "abc")
    assert not x.matches("b", VersionString.parse("1.0:0"), "abc")
    assert not x.matches("a", VersionString.parse("1.0:0"), "abd")


def test_a_mirror_is_listed_after_the_sites_urls_of_its_variant_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    one = pkg(src, "hello-1.0.s9pk", ALICE, version="1.0.0:0")
    two = pkg(src, "hello-1.1.s9pk", ALICE, version="1.1.0:0")
    url = "https://mirror.example.org/hello-1.0.s9pk"
    mirror = Mirror(
        id="hello", version=VersionString.parse("1.0.0:0"), sighash=sighash(one), url=url
    )
    s = settings(tmp_path, [one, two], mirrors=(mirror,))
    build_site(s)
    versions = read_index(s.output).package.packages["hello"].versions
    by_version = {str(v): pv.s9pks[0][1].urls for v, pv in versions.items()}
    assert by_version["1.0.0:0"][-1] == url
    assert len(by_version["1.0.0:0"]) == 3
    assert url not in by_version["1.1.0:0"]
