"""The native Ed25519ph fast path against pycryptodome's reference implementation."""

from __future__ import annotations

import hashlib

import pytest
from Crypto.Hash import SHA512
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from hypothesis import given, settings
from hypothesis import strategies as st

from s9reg.s9pk import _sodium, keys
from s9reg.s9pk.errors import SignatureError
from s9reg.s9pk.keys import CONTEXT_OS, CONTEXT_S9PK, PrivateKey, PublicKey

seeds = st.binary(min_size=32, max_size=32)
contexts = st.one_of(st.sampled_from([CONTEXT_S9PK, CONTEXT_OS, b""]), st.binary(max_size=255))


def _reference_sign(seed: bytes, message: bytes, context: bytes) -> bytes:
    signer = eddsa.new(eddsa.import_private_key(seed), "rfc8032", context=context)
    return bytes(signer.sign(SHA512.new(message)))


def _reference_accepts(key: bytes, message: bytes, signature: bytes, context: bytes) -> bool:
    try:
        eddsa.new(eddsa.import_public_key(key), "rfc8032", context=context).verify(
            SHA512.new(message), signature
        )
    except ValueError:
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(seed=seeds, message=st.binary(max_size=300), context=contexts)
def test_signatures_and_keys_match_the_reference(
    seed: bytes, message: bytes, context: bytes
) -> None:
    key = PrivateKey(seed)
    ref_pub = eddsa.import_private_key(seed).public_key().export_key(format="raw")
    assert key.public_key.raw == bytes(ref_pub)
    signature = key.sign(message, context)
    assert signature == _reference_sign(seed, message, context)
    prehash = hashlib.sha512(message).digest()
    torsion = keys._torsion_encodings()
    assert _sodium.verify(key.public_key.raw, signature, prehash, context, torsion) is True


@settings(max_examples=200, deadline=None)
@given(
    seed=seeds,
    message=st.binary(max_size=64),
    context=contexts,
    flip=st.integers(0, 63 * 8 + 7),
)
def test_a_flipped_bit_is_never_accepted_by_the_fast_path(
    seed: bytes, message: bytes, context: bytes, flip: int
) -> None:
    key = PrivateKey(seed)
    signature = bytearray(key.sign(message, context))
    signature[flip // 8] ^= 1 << (flip % 8)
    prehash = hashlib.sha512(message).digest()
    fast = _sodium.verify(key.public_key.raw, bytes(signature), prehash, context, frozenset())
    assert fast is None
    assert not _reference_accepts(key.public_key.raw, message, bytes(signature), context)
    with pytest.raises(SignatureError):
        key.public_key.verify(message, bytes(signature), context)


def _encode(point: ECC.EccPoint) -> bytes:
    return bytes(
        ECC.construct(curve="ed25519", point_x=point.x, point_y=point.y).export_key(format="raw")
    )


def test_mixed_order_key_is_decided_by_the_reference_path() -> None:
    # A' = aB + T with T of order 8: libsodium refuses such keys, upstream's strict
    # verification (cofactorless, only small-order keys refused) accepts a signature whose
    # challenge k is a multiple of 8, since then [k]T = O.
    seed = bytes(range(32))
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ~7 & ((1 << 254) - 1) | (1 << 254)
    base = ECC.EccKey(curve="ed25519", seed=seed).pointQ  # aB
    base_point = eddsa.import_public_key(bytes.fromhex("58" + "66" * 31)).pointQ  # B
    tx, ty = next(p for p in sorted(keys._torsion_points()) if p != (0, 1))
    torsion = ECC.construct(curve="ed25519", point_x=tx, point_y=ty).pointQ
    mixed = _encode(base + torsion)
    message, context = b"mixed order", CONTEXT_S9PK
    prehash = hashlib.sha512(message).digest()
    for r in range(1, 200):
        big_r = _encode(base_point * r)
        k = _sodium._scalar(_sodium._dom2(context) + big_r + mixed + prehash)
        if k % 8 == 0:
            break
    else:  # pragma: no cover - one in eight tries succeeds
        pytest.fail("no suitable nonce")
    s = (r + k * a) % _sodium.L
    signature = big_r + s.to_bytes(32, "little")
    assert _reference_accepts(mixed, message, signature, context)
    assert _sodium.verify(mixed, signature, prehash, context, keys._torsion_encodings()) is None
    PublicKey(mixed).verify(message, signature, context)  # accepted through the reference path


def test_small_order_nonce_point_goes_to_the_reference_path() -> None:
    identity = (1).to_bytes(32, "little")
    key = PrivateKey(b"\x05" * 32).public_key
    signature = identity + bytes(32)
    torsion = keys._torsion_encodings()
    assert _sodium.verify(key.raw, signature, bytes(64), CONTEXT_S9PK, torsion) is None
    with pytest.raises(SignatureError, match="small-order"):
        key.verify(b"x", signature, CONTEXT_S9PK)


def test_context_longer_than_255_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        _sodium.sign(bytes(32), bytes(64), bytes(256))


def test_overlong_context_is_a_failed_verification_not_a_crash() -> None:
    # The signature context of a device request comes from the request's host name.
    key = PrivateKey(b"\x06" * 32)
    signature = key.sign(b"m", CONTEXT_S9PK)
    with pytest.raises(SignatureError, match="verification failed"):
        key.public_key.verify(b"m", signature, b"h" * 256)
