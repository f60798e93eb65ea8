"""Commitments that registries sign: ``MerkleArchiveCommitment`` and ``Blake3Commitment`` (§9)."""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, ClassVar, Self

import blake3

from s9reg.s9pk.errors import MalformedArchiveError, SignatureError
from s9reg.s9pk.keys import CONTEXT_OS, CONTEXT_S9PK, PrivateKey, PublicKey, Signature

__all__ = ["Blake3Commitment", "MerkleArchiveCommitment", "b64_decode", "b64_encode"]

_U64 = struct.Struct(">Q")


def b64_encode(data: bytes) -> str:
    """Standard-alphabet base64 without padding, as upstream's ``Base64<T>``."""
    return base64.b64encode(data).decode().rstrip("=")


def b64_decode(text: str) -> bytes:
    """Decode base64 with or without padding.

    Raises:
        MalformedArchiveError: not valid base64.
    """
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        msg = f"invalid base64: {text[:20]!r}"
        raise MalformedArchiveError(msg) from None


def _field(d: Mapping[str, object], key: str, kind: type) -> object:
    value = d.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"commitment: {key!r} must be a {kind.__name__}"
        raise MalformedArchiveError(msg)
    return value


class _Signed:
    """Shared signing logic: subclasses define ``message`` and ``context``."""

    __slots__ = ()
    context: ClassVar[bytes]

    @property
    def message(self) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def sign(self, key: PrivateKey) -> Signature:
        """Sign this commitment with ``key`` (Ed25519ph, this commitment's context)."""
        return Signature(key.sign(self.message, self.context))

    def verify(self, key: PublicKey, signature: Signature) -> None:
        """Verify ``signature`` by ``key`` over this commitment.

        Raises:
            SignatureError: it does not verify.
        """
        key.verify(self.message, signature.raw, self.context)

    def verify_pems(self, signatures: Mapping[str, str]) -> None:
        """Verify a registry ``signatures`` map ``{PUBLIC KEY PEM: SIGNATURE PEM}``; all must pass.

        Raises:
            SignatureError: any entry does not verify (the key's fingerprint is named).
            KeyFormatError: a key or signature PEM is malformed.
        """
        for key_pem, sig_pem in signatures.items():
            key = PublicKey.from_pem(key_pem)
            try:
                self.verify(key, Signature.from_pem(sig_pem))
            except SignatureError as e:
                msg = f"signature by key {key.fingerprint[:16]} does not verify: {e.problem}"
                raise SignatureError(msg) from None


@dataclass(frozen=True, slots=True)
class MerkleArchiveCommitment(_Signed):
    """What a package signature covers: the root sighash and the signed root TOC bound."""

    root_sighash: bytes
    root_maxsize: int
    context: ClassVar[bytes] = CONTEXT_S9PK

    def __post_init__(self) -> None:
        if len(self.root_sighash) != 32:
            msg = "commitment: rootSighash must be 32 bytes"
            raise MalformedArchiveError(msg)
        if not 0 <= self.root_maxsize < 1 << 64:
            msg = "commitment: rootMaxsize out of range"
            raise MalformedArchiveError(msg)

    @property
    def message(self) -> bytes:
        """The bytes pre-hashed for Ed25519ph: ``sighash ‖ u64be(maxsize)``."""
        return self.root_sighash + _U64.pack(self.root_maxsize)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Self:
        """Parse ``{"rootSighash": B64, "rootMaxsize": N}``.

        Raises:
            MalformedArchiveError: missing or invalid fields.
        """
        sighash = b64_decode(str(_field(d, "rootSighash", str)))
        return cls(root_sighash=sighash, root_maxsize=int(_field(d, "rootMaxsize", int)))  # type: ignore[call-overload]

    def to_dict(self) -> dict[str, object]:
        """The JSON shape upstream uses."""
        return {"rootSighash": b64_encode(self.root_sighash), "rootMaxsize": self.root_maxsize}


@dataclass(frozen=True, slots=True)
class Blake3Commitment(_Signed):
    """What an OS image signature covers: BLAKE3 of a whole file and its size (``startos``)."""

    hash: bytes
    size: int
    context: ClassVar[bytes] = CONTEXT_OS

    def __post_init__(self) -> None:
        if len(self.hash) != 32:
            msg = "commitment: hash must be 32 bytes"
            raise MalformedArchiveError(msg)
        if not 0 <= self.size < 1 << 64:
            msg = "commitment: size out of range"
            raise MalformedArchiveError(msg)

    @property
    def message(self) -> bytes:
        """The bytes pre-hashed for Ed25519ph: ``hash ‖ u64be(size)``."""
        return self.hash + _U64.pack(self.size)

    @classmethod
    def from_stream(cls, stream: IO[bytes], *, chunk_size: int = 8 << 20) -> Self:
        """Hash a whole stream, from its current position to EOF."""
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        buf = bytearray(chunk_size)
        view = memoryview(buf)
        size = 0
        while n := stream.readinto(view):  # type: ignore[attr-defined]
            hasher.update(view[:n])
            size += n
        return cls(hash=hasher.digest(), size=size)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Self:
        """Parse ``{"hash": B64, "size": N}``.

        Raises:
            MalformedArchiveError: missing or invalid fields.
        """
        digest = b64_decode(str(_field(d, "hash", str)))
        return cls(hash=digest, size=int(_field(d, "size", int)))  # type: ignore[call-overload]

    def to_dict(self) -> dict[str, object]:
        """The JSON shape upstream uses."""
        return {"hash": b64_encode(self.hash), "size": self.size}
