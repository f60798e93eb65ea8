"""s9reg's record of what is published (publishing-lessons.md §2, §3, §15.3).

Two kinds of JSON object live under ``_s9reg/`` in the target: one **manifest** per generation
(key → SHA-256, size, headers, first publication) and one small **pointer** naming the live
generation, the generations still retained and the lease of a publish in progress. The pointer
is only ever replaced with a conditional write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from s9reg.publish.errors import PublishError
from s9reg.publish.policy import ObjectHeaders

__all__ = [
    "MANIFEST_DIR",
    "POINTER_KEY",
    "STATE_DIR",
    "Generation",
    "Lease",
    "Manifest",
    "ObjectEntry",
    "Pointer",
    "Takeover",
    "format_time",
    "manifest_key",
    "parse_time",
]

STATE_FORMAT = 1
STATE_DIR = "_s9reg"
POINTER_KEY = f"{STATE_DIR}/pointer.json"
MANIFEST_DIR = f"{STATE_DIR}/manifests"


def manifest_key(generation: int) -> str:
    """Key of the manifest of ``generation``."""
    return f"{MANIFEST_DIR}/{generation:08d}.json"


def format_time(t: datetime) -> str:
    """RFC 3339 UTC time with a ``Z``, whole seconds."""
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time`.

    Raises:
        ValueError: not such a time.
    """
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectEntry:
    """One published object as the manifest records it."""

    sha256: str
    size: int
    headers: ObjectHeaders
    first_published: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        data: dict[str, Any] = {
            "sha256": self.sha256,
            "size": self.size,
            "contentType": self.headers.content_type,
            "cacheControl": self.headers.cache_control,
        }
        if self.headers.content_disposition:  # absent from manifests before it existed
            data["contentDisposition"] = self.headers.content_disposition
        data["firstPublished"] = format_time(self.first_published)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ObjectEntry:  # noqa: ANN401 - parsed JSON
        """Parse the JSON shape.

        Raises:
            KeyError, TypeError, ValueError: malformed (callers wrap these).
        """
        return cls(
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            headers=ObjectHeaders(
                str(data["contentType"]),
                str(data["cacheControl"]),
                str(data.get("contentDisposition", "")),
            ),
            first_published=parse_time(data["firstPublished"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """Every object of one published generation."""

    generation: int
    created: datetime
    objects: dict[str, ObjectEntry] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Compact, sorted, deterministic JSON."""
        data = {
            "format": STATE_FORMAT,
            "generation": self.generation,
            "createdAt": format_time(self.created),
            "objects": {k: self.objects[k].to_dict() for k in sorted(self.objects)},
        }
        return _dump(data)

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        """Parse a manifest.

        Raises:
            PublishError: not a manifest s9reg can read.
        """
        try:
            data = json.loads(raw)
            _check_format(data, where)
            return cls(
                generation=int(data["generation"]),
                created=parse_time(data["createdAt"]),
                objects={str(k): ObjectEntry.from_dict(v) for k, v in data["objects"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise PublishError(f"{where}: malformed publish manifest: {e}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Generation:
    """A generation still retained: its manifest is kept, and so are the objects it lists."""

    number: int
    published: datetime
    retired: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "generation": self.number,
            "manifest": manifest_key(self.number),
            "publishedAt": format_time(self.published),
            "retiredAt": None if self.retired is None else format_time(self.retired),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Generation:  # noqa: ANN401 - parsed JSON
        """Parse the JSON shape (errors as :meth:`ObjectEntry.from_dict`)."""
        retired = data.get("retiredAt")
        return cls(
            number=int(data["generation"]),
            published=parse_time(data["publishedAt"]),
            retired=None if retired is None else parse_time(retired),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A publish in progress: who, since when, and its last sign of life."""

    id: str
    owner: str
    started: datetime
    heartbeat: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "id": self.id,
            "owner": self.owner,
            "startedAt": format_time(self.started),
            "heartbeat": format_time(self.heartbeat),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Lease:  # noqa: ANN401 - parsed JSON
        """Parse the JSON shape (errors as :meth:`ObjectEntry.from_dict`)."""
        return cls(
            id=str(data["id"]),
            owner=str(data["owner"]),
            started=parse_time(data["startedAt"]),
            heartbeat=parse_time(data["heartbeat"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Takeover:
    """The last lease taken over (``--break-lock``, or a stale heartbeat): whose, when, by whom."""

    owner: str
    started: datetime
    at: datetime
    by: str

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "owner": self.owner,
            "startedAt": format_time(self.started),
            "brokenAt": format_time(self.at),
            "by": self.by,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Takeover:  # noqa: ANN401 - parsed JSON
        """Parse the JSON shape (errors as :meth:`ObjectEntry.from_dict`)."""
        return cls(
            owner=str(data["owner"]),
            started=parse_time(data["startedAt"]),
            at=parse_time(data["brokenAt"]),
            by=str(data["by"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Pointer:
    """The one mutable state object.

    Attributes:
        generation: the live generation (0: nothing published yet).
        history: retained generations, oldest first; the last one is the live one.
        lease: the publish in progress, or None.
        dirty: a publish failed after writing objects; the next one checks what is there.
        takeover: the last lease broken by another publish (kept until the next one).
    """

    generation: int = 0
    history: tuple[Generation, ...] = ()
    lease: Lease | None = None
    dirty: bool = False
    takeover: Takeover | None = None

    def with_lease(self, lease: Lease | None, *, dirty: bool | None = None) -> Pointer:
        """A copy with another lease (and dirty flag)."""
        return replace(self, lease=lease, dirty=self.dirty if dirty is None else dirty)

    def to_json(self) -> bytes:
        """Compact deterministic JSON."""
        data = {
            "format": STATE_FORMAT,
            "generation": self.generation,
            "manifest": manifest_key(self.generation) if self.generation else None,
            "history": [g.to_dict() for g in self.history],
            "lease": None if self.lease is None else self.lease.to_dict(),
            "dirty": self.dirty,
        }
        if self.takeover is not None:
            data["lastTakeover"] = self.takeover.to_dict()
        return _dump(data)

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Pointer:
        """Parse a pointer.

        Raises:
            PublishError: not a pointer s9reg can read.
        """
        try:
            data = json.loads(raw)
            _check_format(data, where)
            lease = data.get("lease")
            takeover = data.get("lastTakeover")
            return cls(
                generation=int(data["generation"]),
                history=tuple(Generation.from_dict(g) for g in data["history"]),
                lease=None if lease is None else Lease.from_dict(lease),
                dirty=bool(data.get("dirty", False)),
                takeover=None if takeover is None else Takeover.from_dict(takeover),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise PublishError(f"{where}: malformed publish pointer: {e}") from None


def _check_format(data: Any, where: str) -> None:  # noqa: ANN401 - parsed JSON
    fmt = data.get("format") if isinstance(data, dict) else None
    if fmt != STATE_FORMAT:
        msg = f"{where}: unsupported publish state format {fmt!r} (expected {STATE_FORMAT})"
        raise PublishError(msg, hint="upgrade s9reg")


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
