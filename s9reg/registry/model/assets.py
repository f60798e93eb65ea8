"""Downloadable assets: where to get them and the signed commitment they match (§2.6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar, cast

from s9reg._json import ABSENT, JSONValue, Reader
from s9reg.registry.errors import RegistryError
from s9reg.registry.model._codec import format_timestamp, parse, read_timestamp, url
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PublicKey, Signature

__all__ = ["C", "RegistryAsset", "read_signatures"]

C = TypeVar("C", MerkleArchiveCommitment, Blake3Commitment)
_ASSET_FIELDS = frozenset({"publishedAt", "urls", "commitment", "signatures"})


@dataclass(frozen=True, slots=True)
class RegistryAsset(Generic[C]):
    """A downloadable asset: where to get it and what it must match (§2.6).

    Attributes:
        published_at: aware datetime (serialized in UTC).
        urls: absolute download URLs, tried in order.
        commitment: what the signatures cover.
        signatures: ``{PUBLIC KEY PEM: SIGNATURE PEM}`` in canonical PEM form.
    """

    published_at: datetime
    urls: tuple[str, ...]
    commitment: C
    signatures: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise RegistryError("publishedAt has no time zone")

    @classmethod
    def from_dict(cls, data: object, kind: type[C], *, path: str = "") -> RegistryAsset[C]:
        """Parse an asset whose commitment is of type ``kind``.

        Raises:
            RegistryError: naming the path of the first problem; also when ``signatures`` is
                empty (a device refuses such an asset).
        """
        return parse(lambda r, v, p: cls.read(r, v, p, kind), data, path)

    @classmethod
    def read(cls, r: Reader, data: object, path: str, kind: type[C]) -> RegistryAsset[C] | None:
        """:meth:`from_dict` inside a document (None: the problems are in ``r``)."""
        s = r.struct(data, path, _ASSET_FIELDS)
        if s is None:
            return None
        urls = [
            url(r, u, sub, absolute=True)
            for u, sub in r.items(s.required("urls"), s.at("urls")) or ()
        ]
        commitment: C | None = None
        raw = s.required("commitment")
        if raw is not ABSENT and not isinstance(raw, dict):
            r.add(s.at("commitment"), "expected a JSON object")
        elif isinstance(raw, dict):
            try:
                commitment = kind.from_dict(cast("Mapping[str, object]", raw))
            except S9pkError as e:
                r.add(s.at("commitment"), e.problem)
        published = read_timestamp(r, s.required("publishedAt"), s.at("publishedAt"))
        signatures = read_signatures(r, s.required("signatures"), s.at("signatures"))
        if published is None or commitment is None or signatures is None or None in urls:
            return None
        return cls(
            published_at=published,
            urls=tuple(u for u in urls if u is not None),
            commitment=commitment,
            signatures=signatures,
        )

    def to_dict(self) -> dict[str, JSONValue]:
        """``{publishedAt, urls, commitment, signatures}``."""
        sigs: dict[str, JSONValue] = dict(self.signatures)
        return {
            "publishedAt": format_timestamp(self.published_at),
            "urls": list(self.urls),
            "commitment": cast("JSONValue", self.commitment.to_dict()),
            "signatures": sigs,
        }

    def verify(self) -> None:
        """Check as a device does: at least one signature, and every one valid.

        Raises:
            RegistryError: no signature, or one does not verify.
        """
        if not self.signatures:
            raise RegistryError("asset has no signature")
        try:
            self.commitment.verify_pems(self.signatures)
        except S9pkError as e:
            raise RegistryError(e.problem) from None


def read_signatures(r: Reader, value: object, path: str) -> dict[str, str] | None:
    """``{PUBLIC KEY PEM: SIGNATURE PEM}``, canonical; at least one."""
    out: dict[str, str] = {}
    entries = list(r.entries(value, path))
    if not isinstance(value, dict):
        return None
    bad = False
    for key_pem, sig_pem, sub in entries:
        sig_text = r.string(sig_pem, sub)
        if sig_text is None:
            bad = True
            continue
        try:
            key = PublicKey.from_pem(key_pem).to_pem()
            sig = Signature.from_pem(sig_text).to_pem()
        except S9pkError as e:
            r.add(sub, e.problem)
            bad = True
            continue
        out[key] = sig
    if not entries:
        r.add(path, "needs at least one signature")
    return None if bad or not out else out
