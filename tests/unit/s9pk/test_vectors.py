"""Known-answer tests from shared/vectors (s9pk-format.md §14.2)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import blake3
import pytest

from s9reg.s9pk import _varint
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.errors import MalformedArchiveError
from s9reg.s9pk.keys import CONTEXT_OS, CONTEXT_S9PK, PrivateKey, PublicKey, Signature
from s9reg.s9pk.reader import read_archive
from s9reg.s9pk.tree import Directory, File, sighash
from s9reg.s9pk.writer import write_archive

VARINTS = [
    (0, "00"),
    (1, "01"),
    (127, "7f"),
    (128, "8001"),
    (255, "ff01"),
    (300, "ac02"),
    (16383, "ff7f"),
    (16384, "808001"),
    (2**32, "8080808010"),
    (2**64 - 1, "ffffffffffffffffff01"),
]


@pytest.mark.parametrize(("value", "encoded"), VARINTS, ids=[str(v) for v, _ in VARINTS])
def test_varint_known_answers(value: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert _varint.encode(value) == raw
    assert _varint.size(value) == len(raw)
    assert _varint.decode(raw, 0) == (value, len(raw))


def test_varint_non_minimal_accepted() -> None:
    assert _varint.decode(bytes.fromhex("8000"), 0) == (0, 2)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x80" * 10 + b"\x01", id="11 bytes"),
        pytest.param(b"\xff" * 10, id="10 continuation bytes"),
    ],
)
def test_varint_unterminated(raw: bytes) -> None:
    with pytest.raises(MalformedArchiveError, match="Unterminated varint"):
        _varint.decode(raw, 0)


def test_varint_truncated() -> None:
    with pytest.raises(MalformedArchiveError, match="truncated varint"):
        _varint.decode(b"\x80\x80", 0)


def test_blake3_known_answers() -> None:
    assert blake3.blake3(b"").hexdigest() == (
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    )
    assert File.from_bytes(b"bar").hash.hex() == (
        "f2e897eed7d206cd855d441598fa521abc75aa96953e97c030c9612c30c1293d"
    )


def test_empty_directory_sighash() -> None:
    assert sighash({}).hex() == "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"
    assert Directory.of({}).size == 1


RFC_SECRET = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        pytest.param(
            b"",
            (
                "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
                "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
            ),
            id="RFC 8032 TEST abc",
        ),
        pytest.param(
            CONTEXT_S9PK,
            (
                "2c1bb0f65bb055a564f1cd0464ac0509980460d2014e08f2b052df6c05a3d2ac"
                "dab3fb4b56eba87f7cead12e778f4cbd3a35533b27a1a021f9585b40ad6f530b"
            ),
            id="context s9pk",
        ),
    ],
)
def test_ed25519ph_vectors(context: bytes, expected: str) -> None:
    key = PrivateKey(RFC_SECRET)
    assert key.public_key.raw.hex() == (
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
    )
    sig = key.sign(b"abc", context)
    assert sig.hex() == expected
    key.public_key.verify(b"abc", sig, context)


def test_pems_byte_exact(vectors: Path, example_key: PrivateKey) -> None:
    key_pem = (vectors / "example.key.pem").read_text()
    pub_pem = (vectors / "example.pub.pem").read_text()
    sig_pem = (vectors / "example1.sig.pem").read_text()
    assert PrivateKey.from_pem(key_pem).seed == example_key.seed
    assert example_key.to_pem() == key_pem
    assert example_key.public_key.to_pem() == pub_pem
    assert PublicKey.from_pem(pub_pem) == example_key.public_key
    archive = read_archive(io.BytesIO((vectors / "example1.s9pk").read_bytes()))
    assert Signature(archive.header.signature).to_pem() == sig_pem
    assert Signature.from_pem(sig_pem).raw == archive.header.signature


def _example2_tree() -> Directory:
    def t(name: str) -> File:
        return File.from_bytes(name.encode())

    abb = Directory.of({"a.txt": t("a.txt")})
    ab = Directory.of({"a.txt": t("a.txt"), "b": abb, "c.txt": t("c.txt")})
    a = Directory.of({"a.txt": t("a.txt"), "b": ab, "c.txt": t("c.txt")})
    return Directory.of({"a": a})


def test_writer_reproduces_example1(vectors: Path, example_key: PrivateKey) -> None:
    out = io.BytesIO()
    commitment = write_archive(out, Directory.of({"foo": File.from_bytes(b"bar")}), example_key)
    assert out.getvalue() == (vectors / "example1.s9pk").read_bytes()
    assert commitment.to_dict() == {
        "rootSighash": "0Q8djAmvDgED2+NqIV9omEgIf8Qph3Jh72RsFEkUJ1M",
        "rootMaxsize": 54,
    }


def test_writer_reproduces_example2(vectors: Path, example_key: PrivateKey) -> None:
    out = io.BytesIO()
    write_archive(out, _example2_tree(), example_key)
    assert out.getvalue() == (vectors / "example2.s9pk").read_bytes()


def test_example2_directory_hashes(vectors: Path) -> None:
    archive = read_archive(io.BytesIO((vectors / "example2.s9pk").read_bytes()))
    a = archive.root.get("a")
    ab = archive.root.get("a/b")
    abb = archive.root.get("a/b/b")
    assert isinstance(a, Directory)
    assert isinstance(ab, Directory)
    assert isinstance(abb, Directory)
    assert a.hash.hex() == "5f8bff30279a6be2701f66ba234ee81ea344340bf01a3c6819a24aa00fb73eaf"
    assert (a.size, ab.size, abb.size) == (170, 170, 56)
    assert ab.hash.hex() == "1398299d7fd16cf32b93013b63fdf4f3f71e97b57237e713bd6c43a8511a64de"
    assert abb.hash.hex() == "05f9066cf69aa881ef013db1bf937654bbbfecf3f05b03583f6c151651104026"
    assert archive.commitment.to_dict() == {
        "rootSighash": "6vzJHpX8bjwHiYD9S5dZGbk9HKFogr1Qx3dkz2+ADsk",
        "rootMaxsize": 60,
    }
    archive.verify_all()
    assert archive.read_file("a/b/b/a.txt") == b"a.txt"


@pytest.mark.parametrize(
    ("name", "b64", "sig"),
    [
        (
            "example1.s9pk",
            "MDx9b9n6Q7BLmWxlrSgecfXf/QkspLj505nIvCcRFB4",
            (
                "bd517bb30383990bdf3ee7dec562de96fc7b47f6e5ad1c72c3f518e4794437d2"
                "3dd1ef78cf31bd4bf15baf25f500c1c373f09fcd49f3e444494e0a38a530b405"
            ),
        ),
        (
            "example2.s9pk",
            "avrF66+/E8k/c3h4M605VRW82JjyhN961nSXvEqp0eM",
            (
                "7284d9d9ec22dc4233e8b6fc0409e598d68cb6891ce6914f585178f01777a4d6"
                "422badaa8e379442c6d921dbc356c8829ff0f2a1322b2b79715bfc6ad65e1201"
            ),
        ),
    ],
)
def test_blake3_commitment(
    vectors: Path, example_key: PrivateKey, name: str, b64: str, sig: str
) -> None:
    data = (vectors / name).read_bytes()
    commitment = Blake3Commitment.from_stream(io.BytesIO(data))
    assert commitment.to_dict() == {"hash": b64, "size": len(data)}
    assert Blake3Commitment.from_dict(commitment.to_dict()) == commitment
    signature = commitment.sign(example_key)
    assert signature.raw.hex() == sig
    commitment.verify(example_key.public_key, signature)
    assert commitment.context == CONTEXT_OS


def test_header_signature_is_a_registry_signature(vectors: Path, example_key: PrivateKey) -> None:
    archive = read_archive(io.BytesIO((vectors / "example1.s9pk").read_bytes()))
    commitment = MerkleArchiveCommitment.from_dict(
        {"rootSighash": "0Q8djAmvDgED2+NqIV9omEgIf8Qph3Jh72RsFEkUJ1M", "rootMaxsize": 54}
    )
    assert commitment == archive.commitment
    assert commitment.sign(example_key).raw == archive.header.signature
    commitment.verify_pems(
        {example_key.public_key.to_pem(): Signature(archive.header.signature).to_pem()}
    )


@pytest.mark.parametrize(
    ("name", "sha256"),
    [
        ("example1.s9pk", "0f01d62ce31e3f3ae33e63fed41693d8de5c8e1585203551771fbfcef674dba7"),
        ("example2.s9pk", "9660d08599b3909d674fbe1cd3c4a91b71c9c38b766148fa060656f57bae7e53"),
        ("example.key.pem", "aebb4b5c902cd9731596c04ffebdb990747da3957e9e88cd0f3c6b81b1135651"),
        ("example.pub.pem", "f0ff50dacf109dea7f716d7c03eb7a821aa3a283fd3fa02f4c14dbba7d3c3322"),
        ("example1.sig.pem", "cf6fa9b6cb0edffa133fd4fa34fb2ed120cccbea891e13a7c7e097468d3eba7f"),
    ],
)
def test_vector_copies_are_intact(vectors: Path, name: str, sha256: str) -> None:
    assert hashlib.sha256((vectors / name).read_bytes()).hexdigest() == sha256


@pytest.mark.parametrize("name", ["example1.s9pk", "example2.s9pk"])
def test_header_serializes_back_to_the_file_bytes(vectors: Path, name: str) -> None:
    data = (vectors / name).read_bytes()
    header = read_archive(io.BytesIO(data)).header
    assert header.to_bytes() == data[:155]
