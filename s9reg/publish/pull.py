"""``s9reg pull``: a complete local copy of a published registry, from its storage alone.

The backup and restore story (upstream backs up its data volume): the live generation's manifest
lists every object with its SHA-256, so the copy is exact and checked. Objects are streamed to
files beside the destination and renamed into a staging tree; the tree replaces the destination
as a whole at the end, so a failed pull leaves the previous copy as it was. Files already in the
destination with the right SHA-256 are linked or copied instead of downloaded again, so pulling
an up-to-date copy transfers nothing. The result is a site directory that ``s9reg serve`` serves
and ``s9reg publish`` can publish elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from s9reg._fs import replace_dir, staging_dir
from s9reg.builder import BuildError
from s9reg.publish.errors import PublishError, StorageError
from s9reg.publish.state import POINTER_KEY, STATE_DIR, Manifest, Pointer, manifest_key
from s9reg.publish.target import DirTarget, Target, file_sha256
from s9reg.site_layout import SITE_FILE

__all__ = ["PullReport", "live_manifest", "pull_site", "stream_object"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class PullReport:
    """What a pull did.

    Attributes:
        dest: the local copy.
        generation: the published generation it copies.
        objects: objects in that generation.
        downloaded: objects transferred.
        reused: objects taken from the previous local copy (same SHA-256).
        bytes_downloaded: bytes transferred.
    """

    dest: Path
    generation: int
    objects: int
    downloaded: int
    reused: int
    bytes_downloaded: int

    def to_dict(self) -> dict[str, object]:
        """JSON shape for ``--json``."""
        return {
            "dest": str(self.dest),
            "generation": self.generation,
            "objects": self.objects,
            "downloaded": self.downloaded,
            "reused": self.reused,
            "bytesDownloaded": self.bytes_downloaded,
        }


def live_manifest(target: Target) -> Manifest:
    """The manifest of the generation the pointer names.

    Raises:
        PublishError: nothing is published, or the pointer or manifest is missing or broken.
    """
    found = target.read(POINTER_KEY)
    if found is None:
        raise PublishError(f"{target}: nothing is published there (no {POINTER_KEY})")
    pointer = Pointer.from_json(found[0], f"{target}/{POINTER_KEY}")
    if pointer.generation == 0:
        raise PublishError(f"{target}: nothing is published there yet")
    key = manifest_key(pointer.generation)
    raw = target.read(key)
    if raw is None:
        raise PublishError(f"{target}: the live manifest {key} is missing")
    return Manifest.from_json(raw[0], f"{target}/{key}")


@contextmanager
def stream_object(target: Target, key: str) -> Iterator[Callable[[], bytes]]:
    """A ``read()`` callable over the object's bytes, without loading them whole."""
    from s9reg.publish.s3 import S3Target  # noqa: PLC0415 - boto3 only when needed

    if isinstance(target, DirTarget):
        path = target.root.joinpath(*key.split("/"))
        try:
            f = path.open("rb")
        except OSError as e:
            raise StorageError(f"{target}: cannot read {key}: {e.strerror or e}") from e
        with f:
            yield lambda: f.read(_CHUNK)
    elif isinstance(target, S3Target):
        try:
            body = target.client.get_object(Bucket=target.s3.bucket, Key=target.key(key))["Body"]
        except Exception as e:  # botocore raises many kinds; all mean "cannot read"  # noqa: BLE001
            raise StorageError(f"{target}: cannot read {key}: {e}") from None
        try:
            yield lambda: body.read(_CHUNK)
        finally:
            body.close()
    else:  # any other Target: whole-object reads
        found = target.read(key)
        if found is None:
            raise StorageError(f"{target}: {key} is listed in the manifest but missing")
        chunks = [found[0]]
        yield lambda: chunks.pop() if chunks else b""


def _fetch(target: Target, key: str, sha256: str, dest: Path) -> int:
    """Download one object to ``dest`` and check its SHA-256; the number of bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with stream_object(target, key) as read, part.open("wb") as out:
            while chunk := read():
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if digest.hexdigest() != sha256:
            raise PublishError(
                f"{target}: {key} does not match its SHA-256 in the manifest",
                hint="the published copy is damaged; publish again from the sources",
            )
        part.replace(dest)
    except OSError as e:
        raise StorageError(f"{dest}: cannot write: {e.strerror or e}") from e
    finally:
        part.unlink(missing_ok=True)
    return size


def _reuse(previous: Path, sha256: str, dest: Path) -> bool:
    """Link (or copy) an identical file of the previous local copy."""
    try:
        if not previous.is_file() or file_sha256(previous) != sha256:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(previous, dest)
        except OSError:
            shutil.copyfile(previous, dest)
    except OSError:
        return False
    return True


def pull_site(target: Target, dest: Path, *, jobs: int = 8) -> PullReport:
    """Make ``dest`` an exact, checked copy of the live generation published in ``target``.

    Raises:
        PublishError: nothing is published, the state is unreadable, or an object does not
            match its recorded SHA-256 (``dest`` is then untouched).
        StorageError: the storage cannot be read or ``dest`` cannot be written.
        BuildError: ``dest`` exists and is not a site directory.
    """
    manifest = live_manifest(target)
    keys = sorted(k for k in manifest.objects if not k.startswith(f"{STATE_DIR}/"))
    counts = {"downloaded": 0, "reused": 0, "bytes": 0}
    with staging_dir(dest, marker=SITE_FILE, error=BuildError) as staged:

        def one(key: str) -> tuple[bool, int]:
            entry = manifest.objects[key]
            parts = key.split("/")
            if any(p in ("", ".", "..") for p in parts):
                raise PublishError(f"{target}: unsafe object key {key!r} in the manifest")
            out = staged.joinpath(*parts)
            if _reuse(dest.joinpath(*parts), entry.sha256, out):
                return False, 0
            return True, _fetch(target, key, entry.sha256, out)

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            for downloaded, size in pool.map(one, keys):
                counts["downloaded" if downloaded else "reused"] += 1
                counts["bytes"] += size
        replace_dir(staged, dest, error=BuildError)
    return PullReport(
        dest=dest,
        generation=manifest.generation,
        objects=len(keys),
        downloaded=counts["downloaded"],
        reused=counts["reused"],
        bytes_downloaded=counts["bytes"],
    )
