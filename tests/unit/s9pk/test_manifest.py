"""Manifest model, tree check (validate_for + keep_checked), icon choice and MIME table (§10, §11)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s9reg.s9pk.demo import demo_manifest, demo_package_tree, png_icon
from s9reg.s9pk.errors import ManifestError
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.manifest import Manifest
from s9reg.s9pk.metadata import (
    DEFAULT_OS_VERSION,
    DEFAULT_PACKAGE_REPO,
    MIME_TYPES,
    LocaleString,
    data_url,
    file_extension,
    is_id,
    mime,
)
from s9reg.s9pk.reader import read_archive
from s9reg.s9pk.tree import Directory, File, Missing, Node
from s9reg.s9pk.tree_check import check_tree, dependency_icon, icon, stem_run, validate_for
from s9reg.s9pk.writer import write_archive

from helpers.trees import edit

KEY = PrivateKey(bytes(range(32)))

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def f(data: bytes = b"x") -> File:
    return File.from_bytes(data)


def kinds(tree: Directory) -> dict[str, str]:
    return {path: type(node).__name__ for path, node in tree.walk()}


def problems_of(err: pytest.ExceptionInfo[ManifestError]) -> list[str]:
    assert err.value.details is not None
    return err.value.details.splitlines()


MINIMAL: dict[str, object] = {
    "id": "hello",
    "version": "1.0.0:0",
    "canMigrateTo": "*",
    "canMigrateFrom": "*",
    "title": "Hello",
    "description": {"short": "s", "long": "l"},
    "releaseNotes": "notes",
    "license": "MIT",
    "upstreamRepo": "https://example.org/hello",
    "images": {},
    "volumes": ["main"],
}

# --------------------------------------------------------------------------------------------
# LocaleString
# --------------------------------------------------------------------------------------------

LOCALIZE = [
    pytest.param("plain", "en_US", "plain", id="plain string ignores locale"),
    pytest.param({"en_US": "a", "de_DE": "b"}, "de_DE", "b", id="exact key"),
    pytest.param({"en_GB": "gb", "en_US": "us"}, "en_US", "us", id="exact beats prefix"),
    pytest.param({"de_DE": "d", "en_GB": "gb"}, "en_US", "gb", id="prefix en_ matches en_GB"),
    pytest.param({"de": "d", "en": "e"}, "en_US", "d", id="en_US does not match plain en"),
    pytest.param({"de_DE": "d", "en_US": "e"}, "en", "e", id="locale without _ is its own prefix"),
    pytest.param({"fr": "f", "en_GB": "gb", "en_AU": "au"}, "en_US", "gb", id="first prefix match"),
    pytest.param({"fr": "f", "de": "d"}, "ja_JP", "f", id="else first value"),
    pytest.param({}, "en_US", "", id="empty map gives empty string"),
    pytest.param({"en_US": "e"}, "", "e", id="empty locale takes the first key"),
]


@pytest.mark.parametrize(("value", "locale", "expected"), LOCALIZE)
def test_localize_for(value: object, locale: str, expected: str) -> None:
    assert LocaleString.from_json(value).localize_for(locale) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("text", id="string"),
        pytest.param({"zz": "last first", "aa": "b"}, id="map keeps its order"),
        pytest.param({}, id="empty map"),
    ],
)
def test_locale_string_round_trips_its_shape(value: object) -> None:
    ls = LocaleString.from_json(value)
    out = ls.to_json()
    assert out == value
    assert type(out) is type(value)
    if isinstance(value, dict):
        assert list(out) == list(value)
        assert ls.translations == value
    else:
        assert ls.translations is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(3, "title: expected a string or an object", id="number"),
        pytest.param(None, "title: expected a string or an object", id="null"),
        pytest.param(["a"], "title: expected a string or an object", id="list"),
        pytest.param({"en": 1}, "title.en: expected a string", id="non-string text"),
        pytest.param({"en": {"nested": "x"}}, "title.en: expected a string", id="nested map"),
    ],
)
def test_locale_string_rejects(value: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        LocaleString.from_json(value, key="title", path="/x.json")


# --------------------------------------------------------------------------------------------
# Manifest parsing
# --------------------------------------------------------------------------------------------


def test_demo_manifest_round_trips() -> None:
    raw = demo_manifest(dependencies=("bitcoind",))
    m = Manifest.from_dict(raw)
    assert m.to_dict() == raw
    assert Manifest.from_dict(m.to_dict()) == m
    assert Manifest.from_bytes(m.to_bytes()) == m
    assert m.to_bytes() == json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode()


def test_to_dict_key_order_is_start_cli_order() -> None:
    m = Manifest.from_dict(MINIMAL)
    assert list(m.to_dict()) == [
        "id", "version", "canMigrateTo", "canMigrateFrom", "title", "description",
        "releaseNotes", "gitHash", "license", "packageRepo", "upstreamRepo", "marketingUrl",
        "donationUrl", "osVersion", "sdkVersion", "hardwareAcceleration",
        "userspaceFilesystems", "virtualNetworking", "plugins", "satisfies", "images",
        "volumes", "dependencies", "hardwareRequirements",
    ]  # fmt: skip
    assert list(m.to_dict()["hardwareRequirements"]) == ["device", "ram", "arch"]  # type: ignore[arg-type]


def test_defaults_are_upstreams() -> None:
    m = Manifest.from_dict(MINIMAL)
    assert m.package_repo == DEFAULT_PACKAGE_REPO == "https://example.com/"
    assert str(m.os_version) == DEFAULT_OS_VERSION
    assert m.git_hash is None
    assert m.marketing_url is None
    assert m.donation_url is None
    assert m.sdk_version is None
    assert (m.hardware_acceleration, m.userspace_filesystems, m.virtual_networking) == (
        False,
        False,
        False,
    )
    assert m.plugins == ()
    assert m.satisfies == ()
    assert m.dependencies == {}
    assert m.hardware_requirements.device == ()
    assert m.hardware_requirements.ram is None
    assert m.hardware_requirements.arch is None


def test_full_manifest_fields() -> None:
    raw = dict(MINIMAL)
    raw.update(
        {
            "gitHash": "abc-modified",
            "plugins": ["url-v0"],
            "satisfies": ["1.0.0:0", "0.9:0"],
            "images": {
                "main": {
                    "source": {"dockerTag": "start9/hello"},
                    "arch": ["x86_64", "aarch64", "x86_64"],
                    "emulateMissingAs": "x86_64",
                    "nvidiaContainer": True,
                },
                "db": {"source": {"dockerBuild": {"workdir": "."}}, "arch": []},
            },
            "volumes": ["main", "BACKUP", "data"],
            "dependencies": {
                "tor": {"description": {"en_US": "anon"}, "optional": True, "s9pk": None},
                "bitcoind": {"description": None, "optional": False},
            },
            "hardwareRequirements": {
                "device": [
                    {"description": "GPU", "class": "display", "vendor": "NVIDIA", "driver": "nv"}
                ],
                "ram": 8 << 30,
                "arch": ["x86_64"],
            },
        }
    )
    m = Manifest.from_dict(raw)
    assert list(m.images) == ["db", "main"]
    assert m.images["main"].arch == ("aarch64", "x86_64")
    assert m.images["main"].source == {"dockerTag": "start9/hello"}
    assert m.images["main"].emulate_missing_as == "x86_64"
    assert m.images["main"].nvidia_container is True
    assert m.images["db"].nvidia_container is False
    assert m.volumes == ("BACKUP", "data", "main")
    assert list(m.dependencies) == ["bitcoind", "tor"]
    assert m.dependencies["tor"].description == LocaleString((("en_US", "anon"),))
    assert m.dependencies["tor"].optional is True
    assert m.dependencies["bitcoind"].description is None
    dev = m.hardware_requirements.device[0]
    assert (dev.description, dev.device_class, dev.vendor, dev.product) == (
        "GPU",
        "display",
        "NVIDIA",
        None,
    )
    assert dev.capabilities is None
    assert m.hardware_requirements.ram == 8 << 30
    # ``satisfies`` is a set of versions upstream: sorted by version, each kept as written.
    assert [str(v) for v in m.satisfies] == ["0.9:0", "1.0.0:0"]
    assert m.git_hash == "abc-modified"
    # The flattened dependency metadata source is not part of the model.
    assert m.to_dict()["dependencies"] == {
        "bitcoind": {"description": None, "optional": False},
        "tor": {"description": {"en_US": "anon"}, "optional": True},
    }
    assert Manifest.from_dict(m.to_dict()) == m


def test_versions_and_urls_are_kept_as_written() -> None:
    raw = dict(MINIMAL, version="#knots:27.1:0", canMigrateFrom="^1.0", osVersion="0.4.0-alpha.9")
    raw["upstreamRepo"] = "https://EXAMPLE.org"
    m = Manifest.from_dict(raw)
    assert (m.version, m.can_migrate_from, str(m.os_version)) == (
        "#knots:27.1:0",
        "^1.0",
        "0.4.0-alpha.9",
    )
    assert m.upstream_repo == "https://EXAMPLE.org"


ALPHA_19 = {
    "id": "hello-world",
    "title": "Hello World",
    "version": "0.1.0:0",
    "satisfies": [],
    "releaseNotes": "Initial release",
    "canMigrateTo": "!",
    "canMigrateFrom": "*",
    "license": "MIT",
    "wrapperRepo": "https://github.com/Start9Labs/hello-world-startos",
    "upstreamRepo": "https://github.com/Start9Labs/hello-world",
    "supportSite": "https://docs.start9.com/",
    "marketingSite": "https://start9.com/",
    "donationUrl": None,
    "docsUrl": None,
    "description": {"short": "short", "long": "long"},
    "images": {"main": {"source": "packed", "arch": ["x86_64"], "emulateMissingAs": None}},
    "volumes": ["main"],
    "alerts": {"install": None, "uninstall": None, "restore": None, "start": None, "stop": None},
    "dependencies": {},
    "hardwareRequirements": {"device": [], "ram": None, "arch": ["x86_64"]},
    "hardwareAcceleration": False,
    "gitHash": "0123abcd",
    "osVersion": "0.4.0-alpha.19",
    "sdkVersion": "0.4.0-beta.30",
}


def test_alpha19_shape_uses_fallback_keys() -> None:
    m = Manifest.from_dict(ALPHA_19)
    assert m.package_repo == "https://github.com/Start9Labs/hello-world-startos"
    assert m.marketing_url == "https://start9.com/"
    assert m.userspace_filesystems is False
    assert str(m.os_version) == "0.4.0-alpha.19"
    assert "wrapperRepo" not in m.to_dict()
    assert m.to_dict()["packageRepo"] == "https://github.com/Start9Labs/hello-world-startos"


def test_current_keys_win_over_fallbacks() -> None:
    raw = dict(ALPHA_19, packageRepo="https://new.example/", marketingUrl=None)
    m = Manifest.from_dict(raw)
    assert m.package_repo == "https://new.example/"
    assert m.marketing_url is None


def test_beta9_shape_ignores_unknown_keys() -> None:
    raw = dict(MINIMAL, nestedRuntime=True, docsUrls=["https://docs/"], alerts={}, whatever=[1])
    assert Manifest.from_dict(raw) == Manifest.from_dict(MINIMAL)


BAD = [
    pytest.param([], "expected a JSON object", id="not an object"),
    pytest.param({"id": None}, "id: expected a string", id="id null"),
    pytest.param({"id": "Hello"}, "id: invalid package id 'Hello'", id="id uppercase"),
    pytest.param({"id": "a--b"}, "id: invalid package id", id="id double dash"),
    pytest.param({"id": "a\n"}, "id: invalid package id", id="id trailing newline"),
    pytest.param({"id": "_"}, "id: invalid package id", id="id underscore"),
    pytest.param({"title": 3}, "title: expected a string", id="title number"),
    pytest.param({"description": "x"}, "description: expected a JSON object", id="description string"),
    pytest.param({"description": {"short": "s"}}, "description.long: required key missing",
                 id="description.long missing"),
    pytest.param({"releaseNotes": 1}, "releaseNotes: expected a string or an object",
                 id="releaseNotes number"),
    pytest.param({"gitHash": 1}, "gitHash: expected a string", id="gitHash number"),
    pytest.param({"upstreamRepo": "example.org"}, "upstreamRepo: 'example.org' is not an absolute",
                 id="relative url"),
    pytest.param({"donationUrl": 5}, "donationUrl: expected a string", id="donationUrl number"),
    pytest.param({"osVersion": None}, "osVersion: expected a string", id="osVersion null"),
    pytest.param({"hardwareAcceleration": "yes"}, "hardwareAcceleration: expected true or false",
                 id="bool as string"),
    pytest.param({"virtualNetworking": None}, "virtualNetworking: expected true or false",
                 id="bool null"),
    pytest.param({"plugins": ["url-v1"]}, "plugins[0]: unknown plugin 'url-v1'", id="unknown plugin"),
    pytest.param({"satisfies": "1.0:0"}, "satisfies: expected a JSON array",
                 id="satisfies string"),
    pytest.param({"images": []}, "images: expected a JSON object", id="images list"),
    pytest.param({"images": {"Main": {"source": "packed", "arch": []}}},
                 "images.Main: invalid image id", id="image id"),
    pytest.param({"images": {"main": {"source": "packed", "arch": "x86_64"}}},
                 "images.main.arch: expected a JSON array", id="arch string"),
    pytest.param({"images": {"main": {"source": "packed", "arch": ["x86_64", 1]}}},
                 "images.main.arch[1]: expected a string", id="arch element"),
    pytest.param({"images": {"main": {"source": "packed"}}},
                 "images.main.arch: required key missing", id="arch missing"),
    pytest.param({"images": {"main": {"source": "built", "arch": []}}},
                 "images.main.source: expected", id="bad source"),
    pytest.param({"images": {"main": {"source": {"dockerTag": 1}, "arch": []}}},
                 "images.main.source: expected", id="dockerTag not string"),
    pytest.param({"images": {"main": {"arch": []}}}, "images.main.source: required key missing",
                 id="source missing"),
    pytest.param({"images": {"main": {"source": "packed", "arch": [], "emulateMissingAs": 1}}},
                 "images.main.emulateMissingAs: expected a string", id="emulate number"),
    pytest.param({"images": {"main": {"source": "packed", "arch": [], "nvidiaContainer": None}}},
                 "images.main.nvidiaContainer: expected true or false", id="nvidia null"),
    pytest.param({"volumes": ["main", "Bad"]}, "volumes[1]: invalid volume id 'Bad'",
                 id="volume id"),
    pytest.param({"volumes": None}, "volumes: expected a JSON array", id="volumes null"),
    pytest.param({"dependencies": None}, "dependencies: expected a JSON object", id="deps null"),
    pytest.param({"dependencies": {"Tor": {"optional": True}}},
                 "dependencies.Tor: invalid package id", id="dependency id"),
    pytest.param({"dependencies": {"tor": {"description": None}}},
                 "dependencies.tor.optional: required key missing", id="optional missing"),
    pytest.param({"dependencies": {"tor": {"description": 1, "optional": True}}},
                 "dependencies.tor.description: expected a string or an object",
                 id="dependency description"),
    pytest.param({"dependencies": {"tor": True}}, "dependencies.tor: expected a JSON object",
                 id="dependency not object"),
    pytest.param({"hardwareRequirements": None}, "hardwareRequirements: expected a JSON object",
                 id="hw null"),
    pytest.param({"hardwareRequirements": {"ram": -1}}, "hardwareRequirements.ram: expected an",
                 id="ram negative"),
    pytest.param({"hardwareRequirements": {"ram": True}}, "hardwareRequirements.ram: expected an",
                 id="ram bool"),
    pytest.param({"hardwareRequirements": {"ram": 1.5}}, "hardwareRequirements.ram: expected an",
                 id="ram float"),
    pytest.param({"hardwareRequirements": {"ram": 1 << 64}}, "hardwareRequirements.ram: expected",
                 id="ram over u64"),
    pytest.param({"hardwareRequirements": {"arch": "x86_64"}},
                 "hardwareRequirements.arch: expected a JSON array", id="hw arch string"),
    pytest.param({"hardwareRequirements": {"device": {}}},
                 "hardwareRequirements.device: expected a JSON array", id="device not list"),
    pytest.param({"hardwareRequirements": {"device": [{"description": "d"}]}},
                 "hardwareRequirements.device[0].class: required key missing", id="device class"),
    pytest.param({"hardwareRequirements": {"device": [{"class": "display", "description": "d",
                                                       "capabilities": [1]}]}},
                 "hardwareRequirements.device[0].capabilities[0]: expected a string",
                 id="device capabilities"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_manifest_names_the_key(change: object, message: str) -> None:
    raw = change if not isinstance(change, dict) else {**MINIMAL, **change}
    with pytest.raises(ManifestError) as err:
        Manifest.from_dict(raw)
    assert err.value.path == "/manifest.json"
    assert err.value.code == "S9PK_MANIFEST"
    assert any(message in line for line in problems_of(err)), problems_of(err)
    assert str(err.value).startswith("/manifest.json: ")


@pytest.mark.parametrize(
    "key", ["id", "version", "canMigrateTo", "canMigrateFrom", "title", "description",
            "releaseNotes", "license", "upstreamRepo", "images", "volumes"],
)  # fmt: skip
def test_required_keys(key: str) -> None:
    raw = {k: v for k, v in MINIMAL.items() if k != key}
    with pytest.raises(ManifestError, match=f"{key}: required key missing"):
        Manifest.from_dict(raw)


def test_all_problems_are_collected() -> None:
    raw = {**MINIMAL, "id": "Bad", "title": None, "images": {"main": {"source": "packed"}}}
    with pytest.raises(ManifestError) as err:
        Manifest.from_dict(raw)
    assert str(err.value) == (
        "/manifest.json: id: invalid package id 'Bad' "
        "(lowercase letters and digits, single dashes) (and 2 more)"
    )
    assert problems_of(err) == [
        "/manifest.json: id: invalid package id 'Bad' (lowercase letters and digits, single dashes)",
        "/manifest.json: title: expected a string",
        "/manifest.json: images.main.arch: required key missing",
    ]


BAD_BYTES = [
    pytest.param(b"", "invalid JSON", id="empty"),
    pytest.param(b"{", "invalid JSON", id="truncated"),
    pytest.param(b"\xff{}", r"not valid UTF-8 \(at byte 0\)", id="not utf-8"),
    pytest.param(b'{"ram": NaN}', "invalid JSON: NaN is not valid JSON", id="NaN"),
    pytest.param(b"[" * 200 + b"]" * 200, "nested deeper than 128", id="deep nesting"),
    pytest.param(b"[" * 100000 + b"]" * 100000, "invalid JSON", id="very deep nesting"),
    pytest.param(b'{"id": "\\ud800"}', "id: string holds a lone surrogate", id="lone surrogate"),
    pytest.param(b'{"\\udc00": 1}', "is not a valid JSON string", id="surrogate key"),
    pytest.param(b"\xef\xbb\xbf{}", "invalid JSON", id="BOM"),
    pytest.param(b"{} {}", "invalid JSON", id="trailing data"),
]


@pytest.mark.parametrize(("data", "message"), BAD_BYTES)
def test_bad_manifest_bytes(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as err:
        Manifest.from_bytes(data)
    assert err.value.path == "/manifest.json"


NON_STRING_KEY: dict[object, object] = dict(MINIMAL.items())
NON_STRING_KEY[1] = "x"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(NON_STRING_KEY, id="non-string key"),
        pytest.param({**MINIMAL, "title": b"bytes"}, id="bytes value"),
        pytest.param({**MINIMAL, "volumes": ("main",)}, id="tuple value"),
    ],
)
def test_from_dict_rejects_non_json_values(value: object) -> None:
    with pytest.raises(ManifestError):
        Manifest.from_dict(value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from([*demo_manifest(dependencies=("tor",)).keys(), "wrapperRepo", "x"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(KEYS, JSON), max_size=4), st.lists(KEYS, max_size=3))
def test_only_manifest_errors_escape(replace: list[tuple[str, object]], drop: list[str]) -> None:
    raw: dict[str, object] = copy.deepcopy(demo_manifest(dependencies=("tor",)))  # type: ignore[arg-type]
    raw.update(dict(replace))
    for key in drop:
        raw.pop(key, None)
    try:
        m = Manifest.from_dict(raw)
    except ManifestError as e:
        details = e.details
    else:
        assert Manifest.from_bytes(m.to_bytes()) == m
        return
    assert details


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | JSON.map(lambda v: json.dumps(v).encode()))
def test_only_manifest_errors_escape_from_bytes(data: bytes) -> None:
    with contextlib.suppress(ManifestError):
        Manifest.from_bytes(data)


def test_is_id() -> None:
    assert is_id("a")
    assert is_id("bitcoin-core-2")
    assert not is_id("")
    assert not is_id("-a")
    assert not is_id("a-")
    assert not is_id("á")


# --------------------------------------------------------------------------------------------
# MIME table, extensions, data URLs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "expected"),
    [
        pytest.param("png", "image/png", id="png"),
        pytest.param("pjp", "image/jpeg", id="pjp"),
        pytest.param("jfif", "image/jpeg", id="jfif"),
        pytest.param("svg", "image/svg+xml", id="svg"),
        pytest.param("x-mng", "image/x-mng", id="x-mng"),
        pytest.param("md", "text/plain", id="md is text"),
        pytest.param("wasm", "application/wasm", id="wasm"),
        pytest.param("PNG", None, id="case sensitive"),
        pytest.param("ico", None, id="ico is unknown"),
        pytest.param("", None, id="empty"),
    ],
)
def test_mime(ext: str, expected: str | None) -> None:
    assert mime(ext) == expected


def test_mime_table_images() -> None:
    images = sorted(k for k, v in MIME_TYPES.items() if v.startswith("image/"))
    assert images == sorted(
        ["apng", "avif", "flif", "gif", "jpg", "jpeg", "jfif", "pjpeg", "pjp", "jxl", "png",
         "svg", "webp", "mng", "x-mng"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        pytest.param("icon.png", "png", id="simple"),
        pytest.param("icon", None, id="no dot"),
        pytest.param(".png", None, id="leading dot only"),
        pytest.param("icon.", "", id="trailing dot"),
        pytest.param("icon.tar.gz", "gz", id="last dot"),
        pytest.param("..", None, id="dot dot"),
    ],
)
def test_file_extension(name: str, ext: str | None) -> None:
    assert file_extension(name) == ext


@pytest.mark.parametrize(
    ("data", "url"),
    [
        pytest.param(b"", "data:image/png;base64,", id="empty"),
        pytest.param(b"\x01", "data:image/png;base64,AQ==", id="two pad"),
        pytest.param(b"\x01\x02", "data:image/png;base64,AQI=", id="one pad"),
        pytest.param(b"\xfb\xff\xbf", "data:image/png;base64,+/+/", id="standard alphabet"),
    ],
)
def test_data_url(data: bytes, url: str) -> None:
    assert data_url("image/png", data) == url


# --------------------------------------------------------------------------------------------
# validate_for / check_tree
# --------------------------------------------------------------------------------------------


@pytest.fixture
def demo() -> Directory:
    return demo_package_tree(with_deps=True)


def manifest_of(tree: Directory) -> Manifest:
    node = tree.get("manifest.json")
    assert isinstance(node, File)
    return Manifest.from_dict(json.loads(node.source.data))  # type: ignore[union-attr]


def with_manifest(tree: Directory, **changes: object) -> Directory:
    raw = manifest_of(tree).to_dict()
    raw.update(changes)  # type: ignore[arg-type]
    return edit(tree, {"manifest.json": f(json.dumps(raw).encode())})


def test_valid_demo_keeps_everything(demo: Directory) -> None:
    result = check_tree(demo, manifest_of(demo), None)
    assert result.dropped == ()
    assert result.warnings == ()
    assert result.filtered.hash == demo.hash
    assert kinds(result.filtered) == kinds(demo)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("manifest.json", "/manifest.json: file missing from archive", id="manifest"),
        pytest.param("icon.png", "/icon: file icon.<ext> with valid extension missing", id="icon"),
        pytest.param("LICENSE.md", "/LICENSE.md: file missing from archive", id="license"),
        pytest.param("javascript.squashfs", "/javascript.squashfs: file missing", id="javascript"),
        pytest.param("images/x86_64/main.squashfs", "/images/x86_64/main.squashfs: file missing",
                     id="image squashfs"),
        pytest.param("images/aarch64/main.json", "/images/aarch64/main.json: file missing",
                     id="image json"),
        pytest.param("images/aarch64/main.env", "/images/aarch64/main.env: file missing",
                     id="image env"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("how", ["absent", "missing", "directory"])
def test_required_file_failures(demo: Directory, path: str, message: str, how: str) -> None:
    node = demo.get(path)
    assert node is not None
    replacement = {"absent": None, "missing": node.to_missing(), "directory": Directory.of({})}
    tree = edit(demo, {path: replacement[how]})
    with pytest.raises(ManifestError) as err:
        validate_for(tree, manifest_of(demo), None)
    assert message in str(err.value)
    if how == "missing" and path != "icon.png":
        assert "(the entry is MISSING)" in str(err.value)
    if how == "directory" and path != "icon.png":
        assert "(it is a directory)" in str(err.value)


def test_all_tree_problems_are_collected(demo: Directory) -> None:
    tree = edit(demo, {"LICENSE.md": None, "javascript.squashfs": None, "images/x86_64": None})
    with pytest.raises(ManifestError) as err:
        validate_for(tree, manifest_of(demo), None)
    assert str(err.value) == "/LICENSE.md: file missing from archive (and 2 more)"
    assert problems_of(err) == [
        "/LICENSE.md: file missing from archive",
        "/javascript.squashfs: file missing from archive",
        "/images/x86_64/main.squashfs: file missing from archive",
    ]


def test_missing_instructions_only_warns(demo: Directory) -> None:
    tree = edit(demo, {"instructions.md": None})
    seen: list[str] = []
    out = validate_for(tree, manifest_of(demo), None, warn=seen.append)
    assert seen == ["/instructions.md: file missing from archive"]
    assert out.hash == tree.hash


def test_warnings_go_to_the_log_by_default(
    demo: Directory, caplog: pytest.LogCaptureFixture
) -> None:
    tree = edit(demo, {"instructions.md": None, "assets.squashfs": None})
    with caplog.at_level(logging.WARNING, logger="s9reg.s9pk.tree_check"):
        validate_for(tree, manifest_of(demo), None)
    assert [r.getMessage() for r in caplog.records] == [
        "/instructions.md: file missing from archive",
        "/assets.squashfs: file missing from archive",
    ]


def test_legacy_assets_directory_is_kept(demo: Directory) -> None:
    tree = edit(
        demo,
        {
            "assets.squashfs": None,
            "assets/a.squashfs": f(b"a"),
            "assets/sub/b": f(b"b"),
            "assets/gone": f(b"g").to_missing(),
            "assets/empty": Directory.of({}),
        },
    )
    result = check_tree(tree, manifest_of(demo), None)
    assert result.warnings == ()
    out = kinds(result.filtered)
    assert out["assets/a.squashfs"] == "File"
    assert out["assets/sub/b"] == "File"
    assert out["assets/gone"] == "Missing"
    # Only files are listed by upstream's check_dir: an empty directory is dropped.
    assert out["assets/empty"] == "Missing"
    assert result.dropped == ("/assets/empty/",)


def test_assets_squashfs_wins_over_directory(demo: Directory) -> None:
    tree = edit(demo, {"assets/a.squashfs": f(b"a")})
    result = check_tree(tree, manifest_of(demo), None)
    assert result.dropped == ("/assets/",)


def test_extra_files_become_missing(demo: Directory) -> None:
    tree = edit(
        demo,
        {
            "README.md": f(b"readme"),
            "icon.txt": f(b"not an icon"),
            "images/riscv64/main.squashfs": f(b"r"),
            "images/x86_64/other.squashfs": f(b"o"),
            "dependencies/tor/metadata.json": f(b'{"title":"Tor"}'),
        },
    )
    result = check_tree(tree, manifest_of(demo), None)
    assert result.dropped == (
        "/README.md",
        "/dependencies/tor/",
        "/icon.txt",
        "/images/riscv64/",
        "/images/x86_64/other.squashfs",
    )
    out = result.filtered
    assert out.hash == tree.hash
    assert out.size == tree.size
    riscv = out.get("images/riscv64")
    assert isinstance(riscv, Missing)
    original = tree.get("images/riscv64")
    assert isinstance(original, Directory)
    assert (riscv.hash, riscv.size) == (original.hash, original.size)
    assert isinstance(out.get("images/x86_64/main.squashfs"), File)


def test_filtered_tree_verifies_after_write_and_read(demo: Directory) -> None:
    tree = edit(demo, {"README.md": f(b"readme"), "images/riscv64/main.squashfs": f(b"r")})
    filtered = validate_for(tree, manifest_of(demo), "x86_64")
    assert filtered.hash == tree.hash
    buf = io.BytesIO()
    commitment = write_archive(buf, filtered, KEY)
    archive = read_archive(buf)
    assert archive.root.hash == tree.hash == commitment.root_sighash
    archive.verify_all()
    back = kinds(archive.root)
    assert back["README.md"] == "Missing"
    # Nothing under images/aarch64 is kept, so the whole directory is MISSING.
    assert back["images/aarch64"] == "Missing"
    assert back["images/riscv64"] == "Missing"
    assert back["images/x86_64/main.squashfs"] == "File"
    # Filtering the re-read archive again is stable.
    again = validate_for(archive.root, manifest_of(demo), "x86_64")
    assert kinds(again) == back


# icon stem rule ------------------------------------------------------------------------------


def test_icon_run_quirk_hides_icon_png(demo: Directory) -> None:
    tree = edit(demo, {"icon-x": f(b"blocker")})
    with pytest.raises(ManifestError) as err:
        validate_for(tree, manifest_of(demo), None)
    assert str(err.value) == (
        "/icon: file icon.<ext> with valid extension missing from archive "
        "('icon.png' is not considered because 'icon-x' sorts before it; rename that)"
    )


@pytest.mark.parametrize(
    "blocker",
    [
        pytest.param("icon.a.gz", id="double extension has stem icon.a"),
        pytest.param("icon..png", id="stem icon."),
        pytest.param("icon-", id="dash"),
        pytest.param("icon+x", id="plus"),
    ],
)
def test_names_that_end_the_run(demo: Directory, blocker: str) -> None:
    tree = edit(demo, {blocker: f()})
    with pytest.raises(ManifestError, match="with valid extension missing"):
        validate_for(tree, manifest_of(demo), None)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("icon_x", id="underscore sorts after the dot"),
        pytest.param("iconz", id="letter sorts after the dot"),
        pytest.param("icon", id="the bare stem is part of the run"),
        pytest.param("icon.d", id="directory named icon.d"),
        pytest.param("Icon.png", id="capitalised name sorts before icon"),
        pytest.param("icon.tar.gz", id="double extension sorting after icon.png"),
    ],
)
def test_names_that_do_not_hide_the_icon(demo: Directory, name: str) -> None:
    # Names sorting after icon.png cannot cut the run short, whatever their stem.
    node: Node = Directory.of({"x": f()}) if name == "icon.d" else f()
    tree = edit(demo, {name: node})
    result = check_tree(tree, manifest_of(demo), None)
    assert isinstance(result.filtered.get("icon.png"), File)
    assert ("/" + name + ("/" if name == "icon.d" else "")) in result.dropped


def test_two_icons_is_an_error(demo: Directory) -> None:
    tree = edit(demo, {"icon.svg": f(b"<svg/>")})
    with pytest.raises(ManifestError) as err:
        validate_for(tree, manifest_of(demo), None)
    assert str(err.value) == (
        "/icon: more than one file matching icon with valid extension: icon.png, icon.svg"
    )


def test_non_image_icon_names_are_ignored(demo: Directory) -> None:
    tree = edit(demo, {"icon.PNG": f(), "icon.ico": f(), "icon.md": f()})
    result = check_tree(tree, manifest_of(demo), None)
    assert result.dropped == ("/icon.PNG", "/icon.ico", "/icon.md")


def test_missing_icon_entry_does_not_count(demo: Directory) -> None:
    tree = edit(demo, {"icon.svg": f(b"<svg/>").to_missing()})
    result = check_tree(tree, manifest_of(demo), None)
    assert isinstance(result.filtered.get("icon.png"), File)


def test_only_non_image_icon_fails(demo: Directory) -> None:
    tree = edit(demo, {"icon.png": None, "icon.txt": f()})
    with pytest.raises(ManifestError, match=r"with valid extension missing from archive$"):
        validate_for(tree, manifest_of(demo), None)


# dependencies --------------------------------------------------------------------------------


def test_dependency_files_are_optional(demo: Directory) -> None:
    tree = edit(demo, {"dependencies": None})
    result = check_tree(tree, manifest_of(demo), None)
    assert result.dropped == ()


def test_dependency_with_two_icons_keeps_neither(demo: Directory) -> None:
    tree = edit(demo, {"dependencies/bitcoind/icon.svg": f(b"<svg/>")})
    result = check_tree(tree, manifest_of(demo), None)
    assert result.dropped == ("/dependencies/bitcoind/icon.png", "/dependencies/bitcoind/icon.svg")
    assert isinstance(result.filtered.get("dependencies/bitcoind/metadata.json"), File)


def test_undeclared_dependency_is_dropped(demo: Directory) -> None:
    tree = with_manifest(demo, dependencies={})
    result = check_tree(tree, manifest_of(tree), None)
    assert result.dropped == ("/dependencies/",)


# images and arch selection -------------------------------------------------------------------


def test_arch_argument_selects_one_arch(demo: Directory) -> None:
    result = check_tree(demo, manifest_of(demo), "aarch64")
    assert result.dropped == ("/images/x86_64/",)


def test_arch_argument_need_not_be_declared(demo: Directory) -> None:
    with pytest.raises(ManifestError, match=r"/images/riscv64/main\.squashfs: file missing"):
        validate_for(demo, manifest_of(demo), "riscv64")


def image(arch: list[str], emulate: str | None = None) -> dict[str, object]:
    return {"main": {"source": "packed", "arch": arch, "emulateMissingAs": emulate}}


def test_no_arch_anywhere_is_an_error(demo: Directory) -> None:
    tree = with_manifest(demo, hardwareRequirements={"arch": None})
    with pytest.raises(ManifestError) as err:
        validate_for(tree, manifest_of(tree), None)
    assert str(err.value) == (
        "/manifest.json: images.main: `emulateMissingAs` required for all images if no `arch` "
        "specified in `hardwareRequirements`"
    )
    # With an explicit arch the same tree is fine.
    assert validate_for(tree, manifest_of(tree), "x86_64").hash == tree.hash


def test_emulate_must_be_an_included_arch(demo: Directory) -> None:
    tree = with_manifest(
        demo, hardwareRequirements={"arch": None}, images=image(["aarch64"], "x86_64")
    )
    with pytest.raises(
        ManifestError, match=r"images.main.emulateMissingAs: must match an included"
    ):
        validate_for(tree, manifest_of(tree), None)


def test_emulate_without_hardware_arch_checks_every_image_arch(demo: Directory) -> None:
    tree = with_manifest(
        demo,
        hardwareRequirements={"arch": None},
        images=image(["aarch64", "riscv64", "x86_64"], "x86_64"),
    )
    result = check_tree(tree, manifest_of(tree), None)
    # riscv64 has no image and falls back to x86_64; both real arches are kept.
    assert result.dropped == ()


def test_emulate_missing_as_falls_back(demo: Directory) -> None:
    tree = edit(with_manifest(demo, images=image(["x86_64"], "x86_64")), {"images/aarch64": None})
    result = check_tree(tree, manifest_of(tree), None)
    assert result.dropped == ()
    # For one arch, only the emulation target is kept.
    tree2 = edit(tree, {"images/aarch64/other": f()})
    result2 = check_tree(tree2, manifest_of(tree2), "aarch64")
    assert result2.dropped == ("/images/aarch64/",)
    assert isinstance(result2.filtered.get("images/x86_64/main.squashfs"), File)


def test_emulated_arch_needs_its_json_and_env(demo: Directory) -> None:
    tree = edit(
        with_manifest(demo, images=image(["x86_64"], "x86_64")),
        {"images/aarch64": None, "images/x86_64/main.env": None},
    )
    with pytest.raises(ManifestError) as err:
        validate_for(tree, manifest_of(tree), None)
    # Reported once, although both arches end up checking x86_64.
    assert problems_of(err) == ["/images/x86_64/main.env: file missing from archive"]


def test_emulation_target_missing_names_it(demo: Directory) -> None:
    tree = edit(
        with_manifest(demo, images=image(["x86_64"], "x86_64")),
        {"images": None},
    )
    with pytest.raises(ManifestError) as err:
        validate_for(tree, manifest_of(tree), "aarch64")
    assert problems_of(err) == ["/images/x86_64/main.squashfs: file missing from archive"]


def test_no_images_needs_no_arch() -> None:
    tree = demo_package_tree(arches=())
    m = manifest_of(tree)
    assert m.images == {}
    assert m.hardware_requirements.arch is None
    assert check_tree(tree, m, None).dropped == ()


# --------------------------------------------------------------------------------------------
# icon choice
# --------------------------------------------------------------------------------------------


def test_icon_picks_the_largest() -> None:
    tree = Directory.of({"icon.gif": f(b"12"), "icon.png": f(b"123"), "icon.svg": f(b"1")})
    found = icon(tree)
    assert found is not None
    assert found[0] == "icon.png"


def test_icon_tie_keeps_the_earlier() -> None:
    tree = Directory.of({"icon.svg": f(b"ab"), "icon.gif": f(b"cd"), "icon.png": f(b"ef")})
    found = icon(tree)
    assert found is not None
    assert found[0] == "icon.gif"


def test_icon_ignores_missing_and_non_images_and_hidden() -> None:
    assert icon(Directory.of({"icon.png": f(b"xx").to_missing(), "icon.txt": f()})) is None
    assert icon(Directory.of({"icon-x": f(), "icon.png": f()})) is None
    assert icon(Directory.of({})) is None


def test_dependency_icon() -> None:
    tree = demo_package_tree(with_deps=("tor",))
    found = dependency_icon(tree, "tor")
    assert found is not None
    assert found[0] == "icon.png"
    assert dependency_icon(tree, "nope") is None
    assert dependency_icon(tree, "../tor") is None


def test_stem_run_order() -> None:
    tree = Directory.of(
        {n: f() for n in ["icon", "icon.a", "icon.b", "icon.tar.gz", "icon.z", "a.png"]}
    )
    assert [n for n, _ in stem_run(tree, "icon")] == ["icon", "icon.a", "icon.b"]


def test_demo_icon_is_a_real_png() -> None:
    data = png_icon((10, 20, 30), 8)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    chunks = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body)
        chunks.append((tag, body))
        pos += 12 + length
    assert [t for t, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (8, 8, 8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == 8 * (1 + 8 * 3)
    centre_row = raw[4 * 25 : 5 * 25]
    assert centre_row[1 + 4 * 3 : 1 + 5 * 3] == bytes((10, 20, 30))


def test_demo_tree_is_deterministic() -> None:
    a = demo_package_tree("x", "2.0:1", arches=("riscv64",), with_deps=True)
    b = demo_package_tree("x", "2.0:1", arches=("riscv64",), with_deps=True)
    assert a.hash == b.hash
    assert a.hash != demo_package_tree("x", "2.0:2", arches=("riscv64",)).hash
