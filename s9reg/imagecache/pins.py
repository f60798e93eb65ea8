"""What keeps curated and cached content from being lost: pins, and the engine's expiry schedule.

* ``pins.json``: the digests of preloaded content, per upstream.
* ``tag-pins.json``: the digest each curated tag had when it was preloaded
  (``{"docker.io/library/alpine:3.19": "sha256:…"}``); a configured ``image@digest`` pins too.
  :func:`repin_curated` puts a curated tag that moved back on its pin, and ``check`` reports it.
* ``scheduler-state.json`` (the proxy engine's own): 2.8 deletes what its proxy downloaded 7 days
  after the download, even offline, with no way to turn it off. s9reg replaces that expiry with
  its own retention (``cleanup``, the ``max_size`` quota): :func:`clear_schedule` empties the
  schedule before every proxy start, and the supervisor restarts a proxy before an entry it
  gathered while running comes due (:func:`earliest_expiry`).

Nothing here runs or stops an engine.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from s9reg.imagecache.engine import Layout
from s9reg.imagecache.oci import RegistryClient
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings

__all__ = [
    "clear_schedule",
    "curated_pins",
    "earliest_expiry",
    "load_pins",
    "load_tag_pins",
    "pin_of",
    "prune_schedule",
    "record_tag_pin",
    "repin_curated",
    "save_pins",
    "save_tag_pins",
]


def load_pins(settings: CacheSettings) -> dict[str, set[str]]:
    """Curated digests per upstream name (``pins.json``); missing or unreadable gives ``{}``."""
    try:
        doc = json.loads(Layout(settings.data_dir).pins_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): {str(d) for d in v} for k, v in doc.items() if isinstance(v, list)}


def save_pins(settings: CacheSettings, pins: dict[str, set[str]]) -> None:
    """Write ``pins.json`` atomically."""
    _write(Layout(settings.data_dir).pins_file, {k: sorted(v) for k, v in sorted(pins.items())})


def _tag_pins_file(settings: CacheSettings) -> Path:
    return settings.data_dir / "tag-pins.json"


def load_tag_pins(settings: CacheSettings) -> dict[str, str]:
    """The digest of each preloaded curated tag (``tag-pins.json``), by reference."""
    try:
        doc = json.loads(_tag_pins_file(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): str(v) for k, v in doc.items() if isinstance(v, str)}


def save_tag_pins(settings: CacheSettings, pins: dict[str, str]) -> None:
    """Write ``tag-pins.json`` atomically."""
    _write(_tag_pins_file(settings), dict(sorted(pins.items())))


def _write(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _tag_key(ref: ImageRef) -> str:
    return f"{ref.registry}/{ref.repository}:{ref.tag_or_latest}"


def curated_pins(settings: CacheSettings) -> dict[ImageRef, str]:
    """The pinned digest of each curated tag: configured (``image@digest``), else preloaded."""
    saved = load_tag_pins(settings)
    out = {}
    for image in settings.images:
        ref = ImageRef(image.registry, image.repository, image.tag)
        digest = image.digest or saved.get(_tag_key(ref))
        if digest:
            out[ref] = digest
    return out


def pin_of(settings: CacheSettings, ref: ImageRef) -> str | None:
    """The pinned digest of a curated tag, or None (not curated, or nothing pinned yet)."""
    if ref.digest is not None or not settings.is_curated(ref):
        return None
    return curated_pins(settings).get(ImageRef(ref.registry, ref.repository, ref.tag_or_latest))


def record_tag_pin(settings: CacheSettings, ref: ImageRef, digest: str) -> None:
    """Remember a curated tag's digest after a preload (other tags are not recorded)."""
    if ref.digest is not None or not settings.is_curated(ref):
        return
    pins = load_tag_pins(settings)
    if pins.get(_tag_key(ref)) != digest:
        pins[_tag_key(ref)] = digest
        save_tag_pins(settings, pins)


def repin_curated(settings: CacheSettings) -> list[tuple[ImageRef, str, str]]:
    """Put every curated tag that moved back on its pin, through the writers.

    A tag moves when something re-tags it (an online pull-through before s9reg guarded curated
    tags, a push to the writer). Only a pinned manifest still stored is re-tagged. Returns
    ``(ref, moved-to digest, pinned digest)`` for each tag put back.

    Raises:
        CacheError: a writer is unreachable.
    """
    done = []
    for ref, pinned in sorted(curated_pins(settings).items(), key=lambda kv: str(kv[0])):
        up = settings.upstream(ref.registry)
        if up is None:
            continue
        with RegistryClient(up.writer_url, timeout=10.0) as writer:
            current = writer.head_manifest(ref.repository, ref.tag_or_latest)
            if current is None or current.digest == pinned:
                continue
            manifest = writer.get_manifest(ref.repository, pinned)
            if manifest is None:
                continue
            writer.put_manifest(ref.repository, ref.tag_or_latest, manifest)
        done.append((ref, current.digest, pinned))
    return done


def clear_schedule(root: Path) -> int:
    """Empty a stopped proxy's ``scheduler-state.json``; returns the number of entries dropped."""
    path = root / "scheduler-state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(state, dict) or not state:
        return 0
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("{}", encoding="utf-8")
    tmp.replace(path)
    return len(state)


def prune_schedule(root: Path, digests: set[str]) -> int:
    """Drop the expiry entries of some digests from a stopped proxy's ``scheduler-state.json``.

    Returns the number of entries removed.
    """
    path = root / "scheduler-state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(state, dict) or not digests:
        return 0
    keep = {k: v for k, v in state.items() if k.rpartition("@")[2] not in digests}
    removed = len(state) - len(keep)
    if removed:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(keep), encoding="utf-8")
        tmp.replace(path)
    return removed


def earliest_expiry(root: Path) -> float | None:
    """The earliest ``ExpiryData`` of a proxy's schedule (epoch seconds), or None if empty.

    The engine saves its schedule every 5 s while it changes; an unreadable one gives None.
    """
    try:
        state = json.loads((root / "scheduler-state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    times = []
    for entry in state.values():
        text = entry.get("ExpiryData") if isinstance(entry, dict) else None
        if not isinstance(text, str):
            continue
        try:
            times.append(_parse_time(text))
        except ValueError:
            continue
    return min(times) if times else None


def _parse_time(text: str) -> float:
    # Go writes RFC 3339 with up to 9 fractional digits; Python reads at most 6.
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text).timestamp()
