"""Keys, PEM forms and Ed25519ph strictness (s9pk-format.md §5, §8)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from hypothesis import given, settings
from hypothesis import strategies as st

from s9reg.s9pk import keys
from s9reg.s9pk.commitment import MerkleArchiveCommitment, b64_decode, b64_encode
from s9reg.s9pk.errors import KeyFormatError, MalformedArchiveError, SignatureError
from s9reg.s9pk.keys import (
    CONTEXT_S9PK,
    PrivateKey,
    PublicKey,
    Signature,
    pem_decode,
    pem_encode,
    write_private_key,
)

L = 2**252 + 27742317777372353535851937790883648493


def test_reads_pkcs8_v1(example_key: PrivateKey) -> None:
    der = bytes.fromhex("302e020100300506032b657004220420") + example_key.seed
    assert PrivateKey.from_pem(pem_encode("PRIVATE KEY", der)) == example_key


def test_v2_with_wrong_embedded_public_key(example_key: PrivateKey) -> None:
    pem = example_key.to_pem()
    der = bytearray(pem_decode(pem, "PRIVATE KEY"))
    der[-1] ^= 1
    with pytest.raises(KeyFormatError, match="embedded public key"):
        PrivateKey.from_pem(pem_encode("PRIVATE KEY", bytes(der)))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("hello", "not a PEM", id="no PEM"),
        pytest.param(pem_encode("PUBLIC KEY", b"\x30\x00"), "expected PEM label", id="wrong label"),
        pytest.param(
            "-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n",
            "not a PEM",
            id="bad base64 chars",
        ),
        pytest.param(
            "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n",
            "invalid base64",
            id="bad base64 padding",
        ),
        pytest.param(
            pem_encode("PRIVATE KEY", b"\x30\x03\x02\x01\x00"), "not an Ed25519", id="junk DER"
        ),
    ],
)
def test_bad_private_keys(text: str, match: str) -> None:
    with pytest.raises(KeyFormatError, match=match):
        PrivateKey.from_pem(text)


def test_other_curve_rejected() -> None:
    p256 = ECC.generate(curve="P-256").export_key(format="PEM")
    with pytest.raises(KeyFormatError, match="not an Ed25519"):
        PrivateKey.from_pem(p256)


def test_public_key_pem_errors(example_key: PrivateKey) -> None:
    with pytest.raises(KeyFormatError, match="not an Ed25519"):
        PublicKey.from_pem(pem_encode("PUBLIC KEY", b"\x30\x2a" + bytes(42)))
    with pytest.raises(KeyFormatError, match="32 bytes"):
        PublicKey(b"short")
    with pytest.raises(KeyFormatError, match="not an Ed25519 signature"):
        Signature.from_pem(pem_encode("SIGNATURE", bytes(75)))
    # CRLF and surrounding text are tolerated on input.
    crlf = example_key.public_key.to_pem().replace("\n", "\r\n")
    assert PublicKey.from_pem("junk\r\n" + crlf) == example_key.public_key


def test_write_private_key(tmp_path: Path, example_key: PrivateKey) -> None:
    path = tmp_path / "sub" / "developer.key.pem"
    write_private_key(path, example_key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == example_key.to_pem()
    with pytest.raises(FileExistsError):
        write_private_key(path, PrivateKey.generate())
    assert path.read_text() == example_key.to_pem()


def test_repr_hides_seed(example_key: PrivateKey) -> None:
    text = repr(example_key)
    assert example_key.seed.hex() not in text
    assert "000102" not in text


def test_generate_is_random() -> None:
    assert PrivateKey.generate() != PrivateKey.generate()


def test_signature_roundtrip_and_failures(example_key: PrivateKey) -> None:
    msg = b"m" * 40
    sig = example_key.sign(msg, CONTEXT_S9PK)
    pub = example_key.public_key
    pub.verify(msg, sig, CONTEXT_S9PK)
    with pytest.raises(SignatureError, match="verification failed"):
        pub.verify(msg + b"x", sig, CONTEXT_S9PK)
    with pytest.raises(SignatureError, match="verification failed"):
        pub.verify(msg, sig, b"startos")
    with pytest.raises(SignatureError, match="64 bytes"):
        pub.verify(msg, sig[:63], CONTEXT_S9PK)


def test_non_canonical_s_rejected(example_key: PrivateKey) -> None:
    msg = b"x"
    sig = example_key.sign(msg, CONTEXT_S9PK)
    s = int.from_bytes(sig[32:], "little") + L  # same value mod L, non-canonical encoding
    forged = sig[:32] + s.to_bytes(32, "little")
    with pytest.raises(SignatureError, match="non-canonical"):
        example_key.public_key.verify(msg, forged, CONTEXT_S9PK)


def test_small_order_key_rejected() -> None:
    identity = (1).to_bytes(32, "little")  # the neutral point, order 1
    with pytest.raises(SignatureError, match="small-order"):
        PublicKey(identity).verify(b"x", identity + bytes(32), CONTEXT_S9PK)


def test_base64_helpers() -> None:
    data = bytes(range(32))
    text = b64_encode(data)
    assert "=" not in text
    assert len(text) == 43
    assert b64_decode(text) == data
    assert b64_decode(base64.b64encode(data).decode()) == data
    with pytest.raises(MalformedArchiveError, match="invalid base64"):
        b64_decode("@@@")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({}, id="empty"),
        pytest.param({"rootSighash": "AAAA", "rootMaxsize": 1}, id="short sighash"),
        pytest.param({"rootSighash": b64_encode(bytes(32)), "rootMaxsize": "1"}, id="string size"),
        pytest.param({"rootSighash": b64_encode(bytes(32)), "rootMaxsize": True}, id="bool size"),
        pytest.param({"rootSighash": b64_encode(bytes(32)), "rootMaxsize": -1}, id="negative"),
        pytest.param({"rootSighash": 5, "rootMaxsize": 1}, id="number sighash"),
    ],
)
def test_commitment_from_dict_errors(value: dict[str, object]) -> None:
    with pytest.raises(MalformedArchiveError):
        MerkleArchiveCommitment.from_dict(value)


def test_verify_pems_names_the_bad_key(example_key: PrivateKey) -> None:
    c = MerkleArchiveCommitment(bytes(32), 10)
    other = PrivateKey(bytes(31) + b"\x01")
    good = {example_key.public_key.to_pem(): c.sign(example_key).to_pem()}
    c.verify_pems(good)
    bad = {**good, other.public_key.to_pem(): c.sign(example_key).to_pem()}
    with pytest.raises(SignatureError, match=other.public_key.fingerprint[:16]):
        c.verify_pems(bad)


_P = 2**255 - 19
# Edge encodings: identity, -0, y = p - 1, non-canonical y + p for y in {0, 1}, and y = p.
_EDGES = [
    (1).to_bytes(32, "little"),
    bytes([1]) + bytes(30) + bytes([0x80]),
    (_P - 1).to_bytes(32, "little"),
    _P.to_bytes(32, "little"),
    (_P + 1).to_bytes(32, "little"),
    bytes(32),
    bytes(31) + bytes([0x80]),
]


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(min_size=32, max_size=32), st.sampled_from(_EDGES)))
def test_small_order_check_agrees_with_scalar_multiplication(raw: bytes) -> None:
    # The fast check compares against the 8 torsion points; the definition is [8]P = O.
    try:
        point = eddsa.import_public_key(raw).pointQ
    except ValueError:
        assert keys._is_small_order(raw)
        return
    assert keys._is_small_order(raw) == bool((point * 8).is_point_at_infinity())


def test_every_torsion_point_is_small_order_and_others_are_not() -> None:
    for x, y in keys._torsion_points():
        enc = bytearray(y.to_bytes(32, "little"))
        enc[31] |= (x & 1) << 7
        assert keys._is_small_order(bytes(enc))
        point = eddsa.import_public_key(bytes(enc)).pointQ
        assert (point * 8).is_point_at_infinity()
    assert not keys._is_small_order(PrivateKey(b"\x07" * 32).public_key.raw)
