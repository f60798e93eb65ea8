"""Unsigned LEB128 varints and varstrings (s9pk-format.md §2.1-2.2)."""

from __future__ import annotations

from s9reg.s9pk.errors import MalformedArchiveError

MAX_VARINT_BYTES = 10
_U64 = (1 << 64) - 1


def encode(n: int) -> bytes:
    """Encode a u64 as an unsigned LEB128 varint."""
    if n < 0 or n > _U64:
        msg = f"varint out of range: {n}"
        raise ValueError(msg)
    out = bytearray()
    while n >= 0x80:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


def size(n: int) -> int:
    """Length in bytes of the varint encoding of ``n``."""
    return max(1, -(-n.bit_length() // 7))


def encode_str(s: str) -> bytes:
    """Encode a varstring: varint byte length, then UTF-8."""
    data = s.encode()
    return encode(len(data)) + data


def str_size(s: str) -> int:
    """Length in bytes of the varstring encoding of ``s``."""
    n = len(s.encode())
    return size(n) + n


def decode(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a varint from ``buf`` at ``pos``; return ``(value, new_pos)``.

    Non-minimal encodings are accepted as upstream does. Unlike upstream, which truncates to
    64 bits, a value that overflows u64 is rejected.

    Raises:
        MalformedArchiveError: unterminated within 10 bytes, past the end, or over 64 bits.
    """
    value = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            msg = "truncated varint"
            raise MalformedArchiveError(msg)
        b = buf[pos + i]
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if value > _U64:
                msg = "varint over 64 bits"
                raise MalformedArchiveError(msg)
            return value, pos + i + 1
    msg = "Unterminated varint"
    raise MalformedArchiveError(msg)
