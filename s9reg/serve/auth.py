"""``X-StartOS-Auth-Sig`` request signatures (registry-protocol.md §1.6), verified as upstream does.

The signed commitment is ``timestamp i64 BE ‖ nonce u64 BE ‖ size u64 BE ‖ blake3(body)``,
Ed25519ph with the registry host name as context; the timestamp must lie within a window of the
server's clock and the key must belong to a signer of the index.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

import blake3

from s9reg.registry import FullIndex, Guid
from s9reg.registry.queries import ErrorKind, QueryError, form_decode
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PrivateKey, PublicKey, Signature

__all__ = ["AUTH_HEADER", "SignedRequest", "sign_request", "verify_request"]

AUTH_HEADER = "x-startos-auth-sig"
_I64 = re.compile(r"-?[0-9]+")
_U64 = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The parsed header: the commitment, the signer's key and the signature."""

    timestamp: int
    nonce: int
    size: int
    blake3: bytes
    signer: PublicKey
    signature: bytes

    @property
    def message(self) -> bytes:
        """The bytes the signature covers (``RequestCommitment`` digest input)."""
        return struct.pack(">qQQ", self.timestamp, self.nonce, self.size) + self.blake3


def _unauthorized(problem: str) -> QueryError:
    return QueryError(ErrorKind.AUTHORIZATION, problem)


def _int(query: dict[str, str], key: str, pattern: re.Pattern[str], bits: int) -> int:
    text = query.get(key)
    if text is None:
        raise QueryError(ErrorKind.NOT_FOUND, f"{key} not found in {AUTH_HEADER}")
    signed = pattern is _I64
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    # Rust reads any number of leading zeros; int() refuses more than 4300 digits.
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-").lstrip("0") or "0"
    if pattern.fullmatch(text) is None or len(digits) > 20 or not lo <= sign * int(digits) <= hi:
        raise QueryError(ErrorKind.PARSE_NUMBER, f"{key}: invalid number {text[:40]!r}")
    return sign * int(digits)


def parse_header(value: str) -> SignedRequest:
    """Parse ``timestamp=…&nonce=…&size=…&blake3=…&signer=…&signature=…``.

    Raises:
        QueryError: a key is missing or a value does not parse.
    """
    query = form_decode(value)
    timestamp = _int(query, "timestamp", _I64, 64)
    nonce = _int(query, "nonce", _U64, 64)
    size = _int(query, "size", _U64, 64)
    for key in ("blake3", "signer", "signature"):
        if key not in query:
            raise QueryError(ErrorKind.NOT_FOUND, f"{key} not found in {AUTH_HEADER}")
    text = query["blake3"]
    try:
        digest = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 32:
        raise QueryError(ErrorKind.INVALID_SIGNATURE, "blake3: expected 32 bytes of base64")
    try:
        signer = PublicKey.from_pem(query["signer"])
        signature = Signature.from_pem(query["signature"]).raw
    except S9pkError as e:
        raise QueryError(ErrorKind.INVALID_SIGNATURE, e.problem) from None
    return SignedRequest(timestamp, nonce, size, digest, signer, signature)


def verify_request(  # noqa: PLR0913 - each argument is one independent input of the check
    header: str | None,
    body: bytes,
    index: FullIndex,
    contexts: Iterable[str],
    *,
    window: int = 30,
    now: float | None = None,
) -> Guid:
    """Check a signed request and return the Guid of the registered signer who made it.

    Args:
        header: the ``X-StartOS-Auth-Sig`` value, or None when absent.
        body: the whole request body.
        index: the registry index whose ``signers`` are accepted.
        contexts: host names tried as the signature context.
        window: largest accepted ``|now - timestamp|`` in seconds.
        now: the current UNIX time (tests); default the clock.

    Raises:
        QueryError: Unauthorized (code 34) when the header is absent, the signature does not
            verify under any context, or the key is not registered; Invalid Signature (31)
            when the timestamp is outside the window or the body does not match.
    """
    if header is None:
        raise _unauthorized("this method needs a request signed by a registered signer")
    req = parse_header(header)
    verified = False
    for context in dict.fromkeys(contexts):
        try:
            req.signer.verify(req.message, req.signature, context.encode())
        except S9pkError:
            continue
        verified = True
        break
    if not verified:
        raise _unauthorized("request signature does not verify for this registry's host name")
    clock = time.time() if now is None else now
    if abs(int(clock) - req.timestamp) > window:
        raise QueryError(ErrorKind.INVALID_SIGNATURE, f"timestamp not within {window}s")
    if req.size != len(body) or blake3.blake3(body).digest() != req.blake3:
        raise QueryError(ErrorKind.INVALID_SIGNATURE, "request body does not match its signature")
    pem = req.signer.to_pem()
    for guid, info in sorted(index.signers.items()):
        if pem in info.keys:
            return guid
    raise _unauthorized("the request's key does not belong to a registered signer")


def sign_request(
    key: PrivateKey, body: bytes, context: str, *, timestamp: int | None = None, nonce: int = 0
) -> str:
    """The ``X-StartOS-Auth-Sig`` value a client sends for ``body`` (tests and tools).

    Raises:
        S9pkError: never for a valid key.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    digest = blake3.blake3(body).digest()
    message = struct.pack(">qQQ", ts, nonce, len(body)) + digest
    signature = Signature(key.sign(message, context.encode())).to_pem()
    return urlencode(
        {
            "timestamp": str(ts),
            "nonce": str(nonce),
            "size": str(len(body)),
            "blake3": base64.b64encode(digest).decode().rstrip("="),
            "signer": key.public_key.to_pem(),
            "signature": signature,
        }
    )
