"""Ed25519ph with a context (RFC 8032 §5.1) on libsodium's native group operations.

libsodium signs and verifies Ed25519ph only with an empty context, so this module assembles the
scheme from its scalar multiplications and point subtraction; the hashing stays in ``hashlib``.
These are fast paths: :func:`verify` answers ``True`` only for a signature the strict reference
path in :mod:`s9reg.s9pk.keys` accepts too, and ``None`` ("cannot tell") in every other case, so
odd inputs (mixed-order keys, non-canonical encodings, mismatches) always get the reference
answer and its error message.
"""

from __future__ import annotations

import hashlib

from nacl import bindings
from nacl.exceptions import CryptoError

L = 2**252 + 27742317777372353535851937790883648493  # order of the Ed25519 base point
_DOM2 = b"SigEd25519 no Ed25519 collisions\x01"  # dom2(phflag=1, ·) prefix


def _dom2(context: bytes) -> bytes:
    if len(context) > 255:
        msg = "Ed25519 context longer than 255 bytes"
        raise ValueError(msg)
    return _DOM2 + bytes([len(context)]) + context


def _scalar(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little") % L


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte seed."""
    pk, _sk = bindings.crypto_sign_seed_keypair(seed)
    return bytes(pk)


def sign(seed: bytes, prehash: bytes, context: bytes) -> bytes | None:
    """Ed25519ph signature of the SHA-512 ``prehash``.

    ``None`` in the negligible case that libsodium refuses the nonce point (the identity).
    """
    dom = _dom2(context)
    h = hashlib.sha512(seed).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    r = _scalar(dom + h[32:] + prehash)
    try:
        big_r = bindings.crypto_scalarmult_ed25519_base_noclamp(r.to_bytes(32, "little"))
    except CryptoError:
        return None
    k = _scalar(dom + big_r + public_key(seed) + prehash)
    s = (r + k * int.from_bytes(a, "little")) % L
    return bytes(big_r) + s.to_bytes(32, "little")


def verify(
    key: bytes, signature: bytes, prehash: bytes, context: bytes, torsion: frozenset[bytes]
) -> bool | None:
    """``True`` when ``[S]B - [k]A`` encodes as ``R``, else ``None`` (use the reference path).

    ``R`` must not be one of the ``torsion`` encodings.

    libsodium ignores the top bit of a scalar, so ``S >= L`` is refused here first. It refuses
    keys that are non-canonical, small-order or outside the prime-order subgroup, and identity
    results: all of these come back as ``None``.
    """
    big_r, s = signature[:32], signature[32:]
    if big_r in torsion or int.from_bytes(s, "little") >= L or len(context) > 255:
        return None
    k = _scalar(_dom2(context) + big_r + key + prehash)
    try:
        sb = bindings.crypto_scalarmult_ed25519_base_noclamp(s)
        ka = bindings.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), key)
        candidate = bindings.crypto_core_ed25519_sub(sb, ka)
    except CryptoError:
        return None
    return True if candidate == big_r else None
