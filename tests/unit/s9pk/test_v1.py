"""Legacy v1 `.s9pk` reader (s9pk-format.md §12), against files from the test-only v1 writer."""

from __future__ import annotations

import contextlib
import io
import struct
import tracemalloc
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s9reg.s9pk.errors import (
    MalformedArchiveError,
    ManifestError,
    S9pkError,
    SignatureError,
    UnsupportedFormatError,
)
from s9reg.s9pk.reader import read_archive
from s9reg.s9pk.v1 import (
    MAX_MANIFEST_SIZE,
    MAX_TOC_LEN,
    UNSUPPORTED_REASON,
    Section,
    V1Manifest,
    V1Package,
    emver_to_exver,
    is_v1,
    parse_emver,
    read_v1,
)

from helpers.v1_writer import (
    DELETE,
    FIXED_SIZE,
    ICON,
    KEY,
    OTHER_KEY,
    SIG_OFFSET,
    TOC_LEN_OFFSET,
    assemble,
    build_v1,
    encode_manifest,
    header_size,
    replace_manifest,
    resign,
    sample_file,
    sample_manifest,
    sections,
    toc_entry,
    with_section,
)

VECTORS = Path(__file__).parents[2] / "data" / "vectors"

MINIMAL: dict[str, object] = {
    "id": "a",
    "title": "A",
    "version": "1.0.0",
    "description": {"short": "s", "long": "l"},
    "release-notes": "",
    "license": "MIT",
}


def read(data: bytes) -> V1Package:
    return read_v1(io.BytesIO(data))


# --- valid files ---------------------------------------------------------------------------


def test_seven_labels_since_may_2022() -> None:
    data = build_v1()
    pkg = read(data)
    assert pkg.header.toc_len == 176
    assert pkg.header.size == 279
    assert pkg.toc.manifest.position == 279
    assert pkg.signer == KEY.public_key
    assert pkg.file_size == len(data)
    assert pkg.manifest_cbor.endswith(b"\n")
    assert pkg.read_license() == "MIT License\n"
    assert pkg.read_instructions() == "# Instructions\n"
    assert pkg.read_icon() == ICON
    assert pkg.read_section("scripts") == b"export const x = 1;\n"
    assert pkg.read_section("docker_images") == b"docker-images.tar"
    assert pkg.toc.scripts is not None
    assert pkg.toc.scripts.end == len(data)
    assert [label for label, _ in pkg.toc.sections()] == [
        "manifest", "license", "instructions", "icon", "docker_images", "assets", "scripts",
    ]  # fmt: skip


def test_six_labels_of_0_3_0_without_trailer() -> None:
    pkg = read(build_v1(labels=6, trailer=False))
    assert pkg.header.toc_len == 152
    assert pkg.header.size == 255
    assert pkg.toc.scripts is None
    assert pkg.read_section("scripts") == b""
    assert not pkg.manifest_cbor.endswith(b"\n")
    assert pkg.manifest.id == "hello-world"


def test_seven_labels_with_absent_scripts_written_as_zero_zero() -> None:
    pkg = read(build_v1(scripts=None))
    assert pkg.toc.scripts == Section(0, 0)
    assert pkg.read_section("scripts") == b""


def test_manifest_fields() -> None:
    m = read(build_v1()).manifest
    assert m == V1Manifest(
        id="hello-world",
        title="Hello World",
        version="0.3.6:1",
        emver="0.3.6.1",
        description_short="Says hello",
        description_long="A longer story about saying hello.",
        release_notes="* First release",
        license="MIT",
        icon_extension="png",
        os_version="0.3.5.1",
        wrapper_repo="https://github.com/Start9Labs/hello-world-wrapper",
        upstream_repo="https://github.com/Start9Labs/hello-world",
        support_site="https://docs.start9.com/",
        marketing_site="https://start9.com/",
        donation_url=None,
    )


def test_minimal_manifest_leaves_optional_fields_unset() -> None:
    m = read(build_v1(MINIMAL)).manifest
    assert (m.os_version, m.wrapper_repo, m.upstream_repo, m.support_site) == (None,) * 4
    assert (m.marketing_site, m.donation_url, m.icon_extension) == (None, None, "png")


def test_toc_is_parsed_by_label_not_by_offset() -> None:
    data = build_v1(
        toc_order=["scripts", "icon", "assets", "manifest", "docker_images", "license",
                   "instructions"],
        data_order=["icon", "license", "scripts", "manifest", "assets", "instructions",
                    "docker_images"],
    )  # fmt: skip
    pkg = read(data)
    assert pkg.toc.icon.position == pkg.header.size
    assert pkg.read_icon() == ICON
    assert pkg.read_license() == "MIT License\n"
    assert pkg.manifest.id == "hello-world"


def test_anything_after_the_first_cbor_item_is_ignored() -> None:
    manifest = encode_manifest(sample_manifest(), trailer=False) + b"\x00junk"
    assert read(build_v1(manifest)).manifest.id == "hello-world"


def test_invalid_utf8_in_license_is_replaced() -> None:
    assert read(build_v1(license_text=b"caf\xe9")).read_license() == "caf\ufffd"


def test_unsupported_reason() -> None:
    pkg = read(build_v1())
    assert pkg.unsupported_reason == UNSUPPORTED_REASON
    assert "\n" not in UNSUPPORTED_REASON
    assert "start-cli s9pk convert" in UNSUPPORTED_REASON


def test_v2_reader_refuses_v1() -> None:
    with pytest.raises(UnsupportedFormatError, match="legacy v1"):
        read_archive(io.BytesIO(build_v1()))


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        pytest.param(b"\x3b\x3b\x01", True, id="v1 magic"),
        pytest.param(b"\x3b\x3b\x01\x00\x00", True, id="v1 with more bytes"),
        pytest.param(b"\x3b\x3b\x02", False, id="v2 magic"),
        pytest.param(b"\x3b\x3b", False, id="too short"),
        pytest.param(b"", False, id="empty"),
        pytest.param(b"PK\x03\x04", False, id="zip"),
    ],
)
def test_is_v1(first: bytes, expected: bool) -> None:
    assert is_v1(first) is expected


def test_v2_vector_is_not_v1() -> None:
    data = (VECTORS / "example1.s9pk").read_bytes()
    assert not is_v1(data)
    with pytest.raises(MalformedArchiveError, match="not a v1"):
        read(data)


# --- signature -----------------------------------------------------------------------------


def test_every_flipped_byte_after_the_header_breaks_the_signature() -> None:
    data = build_v1(MINIMAL, scripts=b"s", icon=b"i")
    start = header_size(data)
    for offset in range(start, len(data)):
        mutated = bytearray(data)
        mutated[offset] ^= 0x01
        with pytest.raises(SignatureError, match="signature verification failed"):
            read(bytes(mutated))


@pytest.mark.parametrize("offset", [SIG_OFFSET, SIG_OFFSET + 31, SIG_OFFSET + 32, SIG_OFFSET + 63])
def test_flipped_signature_byte(offset: int) -> None:
    mutated = bytearray(build_v1(MINIMAL))
    mutated[offset] ^= 0x01
    with pytest.raises(SignatureError):
        read(bytes(mutated))


def test_signed_by_another_key() -> None:
    data = build_v1(MINIMAL)
    swapped = data[:3] + OTHER_KEY.public_key.raw + data[SIG_OFFSET:]
    with pytest.raises(SignatureError, match="signature verification failed"):
        read(swapped)


def test_trailing_bytes_break_verification() -> None:
    data = build_v1(MINIMAL) + b"\n"
    with pytest.raises(SignatureError):
        read(data)
    assert read(resign(data)).manifest.id == "a"  # the signature covers everything to EOF


def test_public_key_not_on_the_curve() -> None:
    data = build_v1(MINIMAL)
    bad_point = (2).to_bytes(32, "little")  # y = 2 has no x on edwards25519
    with pytest.raises(MalformedArchiveError, match="not a valid Ed25519 point"):
        read(data[:3] + bad_point + data[SIG_OFFSET:])


def test_small_order_public_key() -> None:
    data = build_v1(MINIMAL)
    identity = (1).to_bytes(32, "little")
    with pytest.raises(SignatureError, match="small-order"):
        read(data[:3] + identity + data[SIG_OFFSET:])


def test_non_canonical_s() -> None:
    data = bytearray(build_v1(MINIMAL))
    data[SIG_OFFSET + 32 : SIG_OFFSET + 64] = b"\xff" * 32
    with pytest.raises(SignatureError, match="non-canonical S"):
        read(bytes(data))


def test_verification_streams_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.s9pk"
    path.write_bytes(build_v1(MINIMAL, docker_images=bytes(32 << 20)))
    with path.open("rb") as f:
        tracemalloc.start()
        try:
            pkg = read_v1(f)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert pkg.toc.docker_images.length == 32 << 20
    assert peak < 4 << 20


# --- header and TOC ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "match"),
    [
        pytest.param(0, "not a v1", id="empty"),
        pytest.param(2, "not a v1", id="half the magic"),
        pytest.param(3, "truncated header", id="magic only"),
        pytest.param(60, "truncated header", id="inside the signature"),
        pytest.param(FIXED_SIZE - 1, "truncated header", id="inside toc_len"),
        pytest.param(FIXED_SIZE, "truncated TOC", id="no TOC"),
        pytest.param(FIXED_SIZE + 100, "truncated TOC", id="half the TOC"),
        pytest.param(278, "truncated TOC", id="one byte short of the TOC"),
        pytest.param(279, "outside the signed data", id="header only"),
        pytest.param(400, "outside the signed data", id="inside the manifest"),
    ],
)
def test_truncated(length: int, match: str) -> None:
    with pytest.raises(MalformedArchiveError, match=match):
        read(build_v1()[:length])


@pytest.mark.parametrize(
    "magic",
    [
        pytest.param(b"\x3b\x3b\x02", id="v2"),
        pytest.param(b"\x3b\x3b\x00", id="version 0"),
        pytest.param(b"\x3c\x3b\x01", id="bad magic"),
    ],
)
def test_wrong_magic_or_version(magic: bytes) -> None:
    with pytest.raises(MalformedArchiveError, match="not a v1"):
        read(magic + build_v1()[3:])


def _toc_file(entries: list[bytes]) -> bytes:
    return assemble(b"".join(entries), b"\xa0\n")  # the TOC is checked before the manifest


def _entries(labels: tuple[str, ...]) -> list[bytes]:
    return [toc_entry(label, 0, 0) for label in labels]


LABELS = ("manifest", "license", "instructions", "icon", "docker_images", "assets", "scripts")


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        pytest.param(
            [*_entries(LABELS[:6]), toc_entry("script", 0, 0)],
            "unknown TOC label b'script'",
            id="unknown label",
        ),
        pytest.param(
            [*_entries(LABELS[:6]), toc_entry("", 0, 0)],
            "unknown TOC label b''",
            id="empty label",
        ),
        pytest.param(
            [*_entries(LABELS[:6]), toc_entry(b"\xff\xfe", 0, 0)],
            "unknown TOC label",
            id="non-ASCII label",
        ),
        pytest.param(
            [*_entries(LABELS[:6]), toc_entry("icon", 0, 0)],
            "duplicate TOC label 'icon'",
            id="duplicate label",
        ),
        pytest.param(
            _entries(("manifest", "license", "instructions", "docker_images", "assets")),
            "missing required TOC label 'icon'",
            id="missing icon",
        ),
        pytest.param([], "missing required TOC label 'manifest'", id="empty TOC"),
        pytest.param(
            [*_entries(LABELS[:6]), toc_entry("scripts", 0, 0)[:-1]],
            "truncated TOC entry",
            id="entry cut short",
        ),
        pytest.param(
            [*_entries(LABELS[:6]), b"\x07script"],
            "truncated TOC entry",
            id="label cut short",
        ),
    ],
)
def test_bad_toc(entries: list[bytes], match: str) -> None:
    with pytest.raises(MalformedArchiveError, match=match):
        read(_toc_file(entries))


def test_toc_len_bounded_before_reading() -> None:
    data = bytearray(build_v1())
    data[TOC_LEN_OFFSET:FIXED_SIZE] = struct.pack(">I", 0xFFFFFFFF)
    with pytest.raises(MalformedArchiveError, match=f"exceeds the {MAX_TOC_LEN} bytes"):
        read(bytes(data))


def test_toc_len_shorter_than_the_entries() -> None:
    data = bytearray(build_v1())
    data[TOC_LEN_OFFSET:FIXED_SIZE] = struct.pack(">I", 170)
    with pytest.raises(MalformedArchiveError, match="truncated TOC entry"):
        read(bytes(data))


@pytest.mark.parametrize(
    ("label", "position", "length"),
    [
        pytest.param("manifest", 279, 1 << 40, id="length past EOF"),
        pytest.param("assets", (1 << 64) - 1, 1, id="position at u64 max"),
        pytest.param(
            "scripts", (1 << 64) - 1, (1 << 64) - 1, id="position plus length overflows u64"
        ),
        pytest.param("icon", 0, 10, id="inside the header"),
        pytest.param("license", 278, 2, id="starts one byte before the signed data"),
        pytest.param("license", 5000, 0, id="empty but past EOF"),
    ],
)
def test_section_out_of_bounds(label: str, position: int, length: int) -> None:
    data = with_section(build_v1(), label, position, length)
    with pytest.raises(MalformedArchiveError, match="outside the signed data") as info:
        read(data)
    assert info.value.path == label


def test_sections_may_point_anywhere_in_the_signed_data() -> None:
    data = build_v1()
    layout = sections(data)
    # The TOC is not signed: pointing the license at the icon's bytes still verifies.
    pkg = read(with_section(data, "license", *layout["icon"]))
    assert pkg.read_section("license") == ICON


def test_read_section_limits() -> None:
    pkg = read(build_v1())
    with pytest.raises(S9pkError, match="exceeds the 4-byte limit"):
        pkg.read_icon(max_size=4)
    with pytest.raises(S9pkError, match="no section labelled 'main'"):
        pkg.read_section("main")


def test_read_section_after_the_file_shrank() -> None:
    buf = io.BytesIO(build_v1())
    pkg = read_v1(buf)
    buf.truncate(pkg.toc.icon.position + 1)
    with pytest.raises(MalformedArchiveError, match="truncated section"):
        pkg.read_icon()


# --- manifest ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manifest", "match"),
    [
        pytest.param(b"", "not valid CBOR", id="empty"),
        pytest.param(b"\xff", "not valid CBOR", id="break code"),
        pytest.param(b"\xa1\x62id", "not valid CBOR", id="truncated map"),
        pytest.param(b"\x7f\x61a", "not valid CBOR", id="unterminated indefinite string"),
        pytest.param(b"\x62\xff\xfe", "not valid CBOR", id="invalid UTF-8"),
        pytest.param(
            b"\xd8\x1e\x82\x01\x00", "not valid CBOR", id="rational with zero denominator"
        ),
        pytest.param(b"\x81" * 1000 + b"\x00", "not valid CBOR", id="nested too deep"),
        pytest.param(b"\x9b" + b"\xff" * 8, "not valid CBOR", id="array claims 2^64 items"),
        pytest.param(b"\x83\x01\x02\x03\n", "a CBOR list, not a map", id="array"),
        pytest.param(b"\x01\n", "a CBOR int, not a map", id="integer"),
        pytest.param(b"\xf6\n", "a CBOR NoneType, not a map", id="null"),
    ],
)
def test_bad_manifest_cbor(manifest: bytes, match: str) -> None:
    with pytest.raises(ManifestError, match=match) as info:
        read(build_v1(manifest))
    assert info.value.path == "manifest"


def test_manifest_size_bounded_before_reading() -> None:
    data = build_v1(MINIMAL, assets=bytes(MAX_MANIFEST_SIZE + 1))
    layout = sections(data)
    with pytest.raises(ManifestError, match="exceeds the 1048576-byte limit"):
        read(with_section(data, "manifest", *layout["assets"]))


@pytest.mark.parametrize(
    "key",
    [
        "id",
        "title",
        "version",
        "description",
        "release-notes",
        "license",
    ],
)
def test_missing_required_key(key: str) -> None:
    manifest = {k: v for k, v in MINIMAL.items() if k != key}
    with pytest.raises(ManifestError, match=f"required key '{key}' is missing"):
        read(build_v1(manifest))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        pytest.param(
            {"description": {"short": "s"}},
            "required key 'description.long' is missing",
            id="description.long missing",
        ),
        pytest.param({"title": None}, "required key 'title' is null", id="null title"),
        pytest.param({"title": 5}, "'title' must be a text string, not int", id="int title"),
        pytest.param(
            {"description": "short"}, "'description' must be a map, not str", id="flat description"
        ),
        pytest.param(
            {"description": {"short": b"s", "long": "l"}},
            "'description.short' must be a text string, not bytes",
            id="bytes short description",
        ),
        pytest.param(
            {"assets": ["icon.png"]}, "'assets' must be a map, not list", id="assets not a map"
        ),
        pytest.param(
            {"assets": {"icon": 1}}, "'assets.icon' must be a text string", id="icon not text"
        ),
        pytest.param(
            {"donation-url": ["x"]}, "'donation-url' must be a text string", id="url not text"
        ),
        pytest.param({"id": "Hello_World"}, "'Hello_World' is not a valid package id", id="bad id"),
        pytest.param({"id": ""}, "'' is not a valid package id", id="empty id"),
        pytest.param({"version": "1.2.3-beta"}, "not an emver version", id="prerelease version"),
        pytest.param({"version": ""}, "not an emver version", id="empty version"),
    ],
)
def test_bad_manifest_field(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ManifestError, match=match):
        read(build_v1({**MINIMAL, **overrides}))


def test_every_manifest_problem_is_reported() -> None:
    data = sample_file(id=DELETE, title=7, version="x", description=DELETE)
    with pytest.raises(ManifestError, match=r"required key 'id' is missing \(and 3 more\)") as info:
        read(data)
    assert info.value.details is not None
    assert info.value.details.splitlines() == [
        "required key 'id' is missing",
        "version 'x' is not an emver version (M.m.p or M.m.p.r)",
        "required key 'description' is missing",
        "'title' must be a text string, not int",
    ]


def test_unknown_and_unused_keys_are_ignored() -> None:
    manifest: dict[object, object] = {"main": 5, "volumes": None, "interfaces": {}, 7: "int key"}
    manifest.update(MINIMAL.items())
    assert read(build_v1(manifest)).manifest.title == "A"


@pytest.mark.parametrize(
    ("icon", "extension"),
    [
        pytest.param("icon.png", "png", id="png"),
        pytest.param("assets/icon.svg", "svg", id="in a directory"),
        pytest.param("icon.PNG", "PNG", id="case kept"),
        pytest.param("icon.tar.gz", "gz", id="last dot"),
        pytest.param("icon", "png", id="no extension"),
        pytest.param(".webp", "png", id="hidden file has no extension"),
        pytest.param("..webp", "webp", id="two leading dots"),
        pytest.param("dir/icon.jpg/", "jpg", id="trailing slash"),
        pytest.param("dir/icon.jpg/.", "jpg", id="trailing dot component"),
        pytest.param("icon.", "", id="empty extension as Rust gives it"),
        pytest.param("dir/..", "png", id="parent directory"),
        pytest.param(None, "png", id="null icon"),
    ],
)
def test_icon_extension(icon: str | None, extension: str) -> None:
    manifest = {**MINIMAL, "assets": {"icon": icon}}
    assert read(build_v1(manifest)).manifest.icon_extension == extension


def test_icon_extension_defaults_without_assets() -> None:
    assert read(build_v1(MINIMAL)).manifest.icon_extension == "png"


# --- emver -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("emver", "exver"),
    [
        pytest.param("0.21.1.2", "0.21.1:2", id="four components"),
        pytest.param("1.2.3", "1.2.3:0", id="three components"),
        pytest.param("1.2.3.0", "1.2.3:0", id="zero revision"),
        pytest.param("1.2", "1.2.0:0", id="two components"),
        pytest.param("7", "7.0.0:0", id="one component"),
        pytest.param("01.002.3", "1.2.3:0", id="leading zeros"),
        pytest.param("0" * 4300 + "1.2", "1.2.0:0", id="leading zeros past int()'s limit"),
        pytest.param(
            "18446744073709551615.0.0.1", "18446744073709551615.0.0:1", id="u64 max component"
        ),
    ],
)
def test_emver_to_exver(emver: str, exver: str) -> None:
    assert emver_to_exver(emver) == exver


def test_emver_mapping_reaches_the_manifest() -> None:
    m = read(sample_file(version="0.21.1.2")).manifest
    assert (m.version, m.emver) == ("0.21.1:2", "0.21.1.2")
    assert read(sample_file(version="1.2.3")).manifest.version == "1.2.3:0"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("1.2.3.4.5", id="five components"),
        pytest.param("1.2.3-beta", id="prerelease"),
        pytest.param("v1.2.3", id="v prefix"),
        pytest.param("1..3", id="empty component"),
        pytest.param("1.2.3.", id="trailing dot"),
        pytest.param(" 1.2.3", id="leading space"),
        pytest.param("+1.2.3", id="plus sign"),
        pytest.param("1.2.\u0663", id="non-ASCII digit"),
        pytest.param("18446744073709551616.0.0", id="over u64"),
        pytest.param("9" * 5000, id="5000 digits"),
    ],
)
def test_bad_emver(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_emver(text)


# --- robustness ------------------------------------------------------------------------------

_SMALL = build_v1(MINIMAL, scripts=b"s", icon=b"i", docker_images=b"d", assets=b"a")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(_SMALL) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ),
    cut=st.one_of(st.none(), st.integers(0, len(_SMALL))),
    extra=st.binary(max_size=8),
)
def test_mutated_files_parse_or_raise_s9pk_errors(
    flips: list[tuple[int, int]], cut: int | None, extra: bytes
) -> None:
    data = bytearray(_SMALL)
    for offset, value in flips:
        data[offset] = value
    mutated = bytes(data[:cut]) + extra
    with contextlib.suppress(S9pkError):
        read(mutated)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.integers(0, header_size(_SMALL) - 1), st.integers(0, 255)), max_size=3
    ),
)
def test_mutated_headers_still_verify_or_raise(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_SMALL)
    for offset, value in flips:
        data[offset] = value
    with contextlib.suppress(S9pkError):
        read(resign(bytes(data)) if data[:3] == _SMALL[:3] else bytes(data))


_CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers(), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    overrides=st.dictionaries(st.sampled_from([*sorted(MINIMAL), "assets"]), _CBOR_VALUES),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
)
def test_signed_mutated_manifests_parse_or_raise_s9pk_errors(
    overrides: dict[str, object], flips: list[tuple[int, int]]
) -> None:
    raw = bytearray(cbor2.dumps({**MINIMAL, **overrides}))
    for offset, value in flips:
        if offset < len(raw):
            raw[offset] = value
    try:
        pkg = read(replace_manifest(_SMALL, bytes(raw)))
    except S9pkError:
        return
    assert isinstance(pkg.manifest.title, str)
    assert pkg.manifest.version.count(":") == 1
