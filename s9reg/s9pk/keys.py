"""Ed25519 keys, Ed25519ph signatures and their PEM forms, as start-cli writes them (§5, §8).

Private keys are read from PKCS#8 v1 or v2 PEM and written as the 83-byte v2 DER that start-cli
emits. Public keys are SPKI PEM and signatures are ``SIGNATURE`` PEM, byte for byte as they appear
in registry JSON. Nothing here touches the file system except :func:`write_private_key`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from Crypto.Hash import SHA512
from Crypto.Hash.SHA512 import SHA512Hash
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from s9reg.s9pk import _sodium
from s9reg.s9pk.errors import KeyFormatError, SignatureError

__all__ = [
    "CONTEXT_OS",
    "CONTEXT_S9PK",
    "PrivateKey",
    "PublicKey",
    "Signature",
    "pem_decode",
    "pem_encode",
    "write_private_key",
]

CONTEXT_S9PK = b"s9pk"
CONTEXT_OS = b"startos"

_ED25519_ALG = bytes.fromhex("300506032b6570")  # AlgorithmIdentifier{1.3.101.112}, no params
_PRIV_V2_PREFIX = bytes.fromhex("3051020101") + _ED25519_ALG + bytes.fromhex("04220420")
_PRIV_V2_PUB_TAG = bytes.fromhex("812100")
_PRIV_V1_PREFIX = bytes.fromhex("302e020100") + _ED25519_ALG + bytes.fromhex("04220420")
_SPKI_PREFIX = bytes.fromhex("302a") + _ED25519_ALG + bytes.fromhex("032100")
_SIG_PREFIX = bytes.fromhex("3049") + _ED25519_ALG + bytes.fromhex("0440")
_L = _sodium.L

_PEM_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]*?)\s*-----END ([A-Z0-9 ]+)-----",
)


def pem_encode(label: str, der: bytes) -> str:
    """Encode DER as PEM: 64-character lines, LF line endings, one trailing LF."""
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"


def pem_decode(text: str, label: str) -> bytes:
    """Decode the single PEM block labelled ``label`` in ``text``.

    Raises:
        KeyFormatError: no such block, mismatched labels or invalid base64.
    """
    m = _PEM_RE.search(text)
    if m is None:
        msg = f"not a PEM {label}"
        raise KeyFormatError(msg)
    if m.group(1) != label or m.group(3) != label:
        msg = f"expected PEM label {label!r}, found {m.group(1)!r}"
        raise KeyFormatError(msg)
    try:
        return base64.b64decode("".join(m.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        msg = f"invalid base64 in PEM {label}"
        raise KeyFormatError(msg) from None


def is_valid_point(raw_point: bytes) -> bool:
    """Whether 32 bytes decode as an Ed25519 curve point."""
    try:
        eddsa.import_public_key(raw_point)
    except ValueError:
        return False
    return True


@functools.cache
def _torsion_points() -> frozenset[tuple[int, int]]:
    """The 8 points P with [8]P = O (the curve group is Z/8 x Z/L).

    [L]P lands in that subgroup for any point P, so a few decodable encodings find all 8;
    comparing against them costs one point decoding instead of a scalar multiplication.
    """
    found: set[tuple[int, int]] = set()
    for y in range(2, 1000):
        try:
            point = eddsa.import_public_key(y.to_bytes(32, "little")).pointQ
        except ValueError:
            continue
        t = point * _L
        found.add((int(t.x), int(t.y)))
        if len(found) == 8:
            return frozenset(found)
    raise AssertionError("torsion subgroup not found")  # pragma: no cover - mathematics


@functools.cache
def _torsion_encodings() -> frozenset[bytes]:
    """Canonical encodings of the 8 small-order points."""
    return frozenset((y | (x & 1) << 255).to_bytes(32, "little") for x, y in _torsion_points())


@functools.lru_cache(maxsize=4096)
def _is_small_order(raw_point: bytes) -> bool:
    try:
        point = eddsa.import_public_key(raw_point).pointQ
    except ValueError:
        return True  # not a point at all: reject like a small-order one
    return (int(point.x), int(point.y)) in _torsion_points()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key (32 raw bytes)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            msg = f"Ed25519 public key must be 32 bytes, got {len(self.raw)}"
            raise KeyFormatError(msg)

    @classmethod
    def from_pem(cls, text: str) -> Self:
        """Parse an SPKI ``PUBLIC KEY`` PEM.

        Raises:
            KeyFormatError: not an Ed25519 SPKI PEM.
        """
        der = pem_decode(text, "PUBLIC KEY")
        if len(der) != len(_SPKI_PREFIX) + 32 or not der.startswith(_SPKI_PREFIX):
            msg = "PUBLIC KEY is not an Ed25519 SubjectPublicKeyInfo"
            raise KeyFormatError(msg)
        return cls(der[len(_SPKI_PREFIX) :])

    def to_pem(self) -> str:
        """The SPKI PEM exactly as start-cli and the registry JSON carry it."""
        return pem_encode("PUBLIC KEY", _SPKI_PREFIX + self.raw)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the SPKI DER, hex; a short, stable name for the key."""
        return hashlib.sha256(_SPKI_PREFIX + self.raw).hexdigest()

    def verify(self, message: bytes, signature: bytes, context: bytes) -> None:
        """Verify an Ed25519ph signature (SHA-512 pre-hash of ``message``) with ``context``.

        Raises:
            SignatureError: the signature does not verify.
        """
        self.verify_prehashed(SHA512.new(message), signature, context)

    def verify_prehashed(self, digest: SHA512Hash, signature: bytes, context: bytes) -> None:
        """Verify an Ed25519ph signature given the already-fed SHA-512 state of the message.

        Strict like ed25519-dalek's ``verify_prehashed_strict``: small-order keys or R and
        non-canonical S are rejected.

        Raises:
            SignatureError: the signature does not verify.
        """
        if len(signature) != 64:
            msg = "signature must be 64 bytes"
            raise SignatureError(msg)
        if int.from_bytes(signature[32:], "little") >= _L:
            msg = "signature verification failed (non-canonical S)"
            raise SignatureError(msg)
        fast = _sodium.verify(self.raw, signature, digest.digest(), context, _torsion_encodings())
        if fast:
            return
        # The reference path decides whatever the native fast path could not.
        if _is_small_order(self.raw) or _is_small_order(signature[:32]):
            msg = "signature verification failed (small-order point)"
            raise SignatureError(msg)
        try:
            verifier = eddsa.new(eddsa.import_public_key(self.raw), "rfc8032", context=context)
            verifier.verify(digest, signature)
        except ValueError:
            msg = "signature verification failed"
            raise SignatureError(msg) from None


@dataclass(frozen=True, slots=True, repr=False)
class PrivateKey:
    """An Ed25519 signing key. Its repr never shows key material."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            msg = "Ed25519 seed must be 32 bytes"
            raise KeyFormatError(msg)

    def __repr__(self) -> str:
        return f"PrivateKey(public={self.public_key.raw.hex()[:16]}…)"

    @classmethod
    def generate(cls) -> Self:
        """A new random key."""
        return cls(os.urandom(32))

    @classmethod
    def from_pem(cls, text: str) -> Self:
        """Parse a PKCS#8 v1 or v2 ``PRIVATE KEY`` PEM (start-cli's developer key).

        Raises:
            KeyFormatError: not an Ed25519 PKCS#8 key, or its embedded public key disagrees.
        """
        der = pem_decode(text, "PRIVATE KEY")
        if der.startswith(_PRIV_V2_PREFIX) and len(der) == 83:
            seed = der[16:48]
            if der[48:51] != _PRIV_V2_PUB_TAG:
                msg = "PRIVATE KEY: unexpected data after the seed"
                raise KeyFormatError(msg)
            key = cls(seed)
            if key.public_key.raw != der[51:]:
                msg = "PRIVATE KEY: embedded public key does not match the seed"
                raise KeyFormatError(msg)
            return key
        if der.startswith(_PRIV_V1_PREFIX) and len(der) == 48:
            return cls(der[16:48])
        try:
            ecc = ECC.import_key(der)
        except (ValueError, IndexError, TypeError):
            msg = "PRIVATE KEY is not an Ed25519 PKCS#8 key"
            raise KeyFormatError(msg) from None
        if ecc.curve != "Ed25519" or not ecc.has_private():
            msg = f"PRIVATE KEY is not an Ed25519 private key (curve {ecc.curve})"
            raise KeyFormatError(msg)
        return cls(bytes(ecc.seed))

    def to_pem(self) -> str:
        """PKCS#8 v2 PEM with the public key embedded, byte for byte as start-cli writes it."""
        der = _PRIV_V2_PREFIX + self.seed + _PRIV_V2_PUB_TAG + self.public_key.raw
        return pem_encode("PRIVATE KEY", der)

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(_sodium.public_key(self.seed))

    def sign(self, message: bytes, context: bytes) -> bytes:
        """Ed25519ph-sign ``message`` (pre-hashed with SHA-512) under ``context``."""
        prehash = hashlib.sha512(message).digest()
        fast = _sodium.sign(self.seed, prehash, context)
        if fast is not None:
            return fast
        signer = eddsa.new(eddsa.import_private_key(self.seed), "rfc8032", context=context)
        return bytes(signer.sign(SHA512.new(message)))


@dataclass(frozen=True, slots=True)
class Signature:
    """A 64-byte Ed25519 signature with its ``SIGNATURE`` PEM form (§8.3)."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 64:
            msg = f"Ed25519 signature must be 64 bytes, got {len(self.raw)}"
            raise KeyFormatError(msg)

    @classmethod
    def from_pem(cls, text: str) -> Self:
        """Parse a ``SIGNATURE`` PEM.

        Raises:
            KeyFormatError: not an Ed25519 signature PEM.
        """
        der = pem_decode(text, "SIGNATURE")
        if len(der) != len(_SIG_PREFIX) + 64 or not der.startswith(_SIG_PREFIX):
            msg = "SIGNATURE is not an Ed25519 signature"
            raise KeyFormatError(msg)
        return cls(der[len(_SIG_PREFIX) :])

    def to_pem(self) -> str:
        """The PEM exactly as start-cli and the registry JSON carry it."""
        return pem_encode("SIGNATURE", _SIG_PREFIX + self.raw)


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Create ``path`` (mode 0600, parents as needed) holding ``key``; never overwrite.

    Raises:
        FileExistsError: ``path`` already exists.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii", newline="\n") as f:
        f.write(key.to_pem())
