"""Signers: their ids (:class:`Guid`), names, contacts and keys (registry-protocol.md §2.7)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Self, cast

from s9reg._json import JSONValue, Reader
from s9reg.registry.errors import RegistryError
from s9reg.registry.model._codec import btree_map, ident, parse, url
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PublicKey

__all__ = ["ContactInfo", "Guid", "SignerInfo", "read_guid", "read_signers", "signers_json"]

_GUID_RE = re.compile(r"[A-Z2-7]{32}")
_GUID_SEED_CONTEXT = b"s9reg guid v1\0"
_CONTACT_KINDS = ("email", "matrix", "website")
_SIGNER_FIELDS = frozenset({"name", "contact", "keys"})


class Guid(str):
    """A signer id: 32 characters of ``[A-Z2-7]`` (RFC 4648 base32 of 20 bytes, no padding).

    Raises:
        RegistryError: the text is not a valid Guid.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Self:  # noqa: D102 - documented on the class
        if _GUID_RE.fullmatch(value) is None:
            raise RegistryError(f"invalid signer id {value!r}: expected 32 characters of [A-Z2-7]")
        return super().__new__(cls, value)

    @classmethod
    def generate(cls, seed: bytes | None = None) -> Self:
        """A new Guid: random, or derived from ``seed`` (reproducible builds).

        Args:
            seed: any bytes; None for 20 random bytes as upstream's ``new_guid``.
        """
        if seed is None:
            raw = os.urandom(20)
        else:
            raw = hashlib.sha256(_GUID_SEED_CONTEXT + seed).digest()[:20]
        return cls(base64.b32encode(raw).decode("ascii"))

    @classmethod
    def parse(cls, value: object, path: str | None = None) -> Self:
        """Validate a JSON value as a Guid.

        Raises:
            RegistryError: not a string of 32 ``[A-Z2-7]`` characters (naming ``path``).
        """
        if not isinstance(value, str) or _GUID_RE.fullmatch(value) is None:
            raise RegistryError(
                f"invalid signer id {value!r}: expected 32 characters of [A-Z2-7]", path=path
            )
        return cls(value)


def read_guid(r: Reader, value: object, path: str) -> Guid | None:
    """:meth:`Guid.parse` for a value inside a document."""
    try:
        return Guid.parse(value, path)
    except RegistryError as e:
        r.add(path, e.problem)
        return None


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """One contact of a signer: ``{"email": …}``, ``{"matrix": …}`` or ``{"website": URL}``."""

    kind: Literal["email", "matrix", "website"]
    value: str

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse an externally tagged contact.

        Raises:
            RegistryError: not an object with exactly one known key.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        pairs = list(r.entries(data, path))
        if not isinstance(data, dict):
            return None
        if len(pairs) != 1 or pairs[0][0] not in _CONTACT_KINDS:
            r.add(path, "expected exactly one of 'email', 'matrix', 'website'")
            return None
        kind, value, sub = pairs[0]
        text = url(r, value, sub) if kind == "website" else r.string(value, sub)
        if text is None:
            return None
        return cls(cast("Literal['email', 'matrix', 'website']", kind), text)

    def to_dict(self) -> dict[str, JSONValue]:
        """``{kind: value}``."""
        return {self.kind: self.value}


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """A registered signer: name, contacts, and public keys (canonical PEM)."""

    name: str
    contact: tuple[ContactInfo, ...] = ()
    keys: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Self:
        """Parse ``{name, contact, keys}``; keys are checked and put in canonical PEM form.

        Raises:
            RegistryError: naming the path of the first problem.
        """
        return parse(cls.read, data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str) -> Self | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _SIGNER_FIELDS)
        if s is None:
            return None
        contacts = [
            ContactInfo.read(r, c, sub)
            for c, sub in r.items(s.required("contact"), s.at("contact")) or ()
        ]
        keys: list[str] = []
        for k, sub in r.items(s.required("keys"), s.at("keys")) or ():
            text = r.string(k, sub)
            if text is None:
                continue
            try:
                pem = PublicKey.from_pem(text).to_pem()
            except S9pkError as e:
                r.add(sub, e.problem)
                continue
            if pem not in keys:
                keys.append(pem)
        name = s.string("name")
        if name is None:
            return None
        return cls(name=name, contact=tuple(c for c in contacts if c is not None), keys=tuple(keys))

    def to_dict(self) -> dict[str, JSONValue]:
        """``{name, contact, keys}``."""
        return {
            "name": self.name,
            "contact": [c.to_dict() for c in self.contact],
            "keys": list(dict.fromkeys(self.keys)),
        }


def read_signers(r: Reader, value: object, path: str) -> dict[Guid, SignerInfo]:
    """``{Guid: SignerInfo}`` sorted by id."""
    return btree_map(r, value, path, read_guid, SignerInfo.read, ident)


def signers_json(signers: Mapping[Guid, SignerInfo]) -> dict[str, JSONValue]:
    """``{Guid: SignerInfo}`` sorted by id."""
    return {str(g): signers[g].to_dict() for g in sorted(signers)}
