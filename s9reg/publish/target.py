"""Storage targets of ``s9reg publish`` and the local-directory target (publishing-lessons.md §3).

A target stores objects under string keys (site-relative POSIX paths) and offers exactly what
the engine needs: whole-object reads, conditional writes for the pointer, uploads with headers
and a SHA-256 in metadata, header changes, and deletes. The directory target gives the same
guarantees as S3 with atomic renames and an advisory lock for the conditional write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from s9reg.publish.errors import StorageError
from s9reg.publish.policy import ObjectHeaders, classify
from s9reg.publish.state import STATE_DIR

__all__ = [
    "DirTarget",
    "PreconditionFailedError",
    "RemoteObject",
    "StoredObject",
    "Target",
    "file_sha256",
]

_CHUNK = 1 << 20


class PreconditionFailedError(Exception):
    """A conditional write lost: the object changed (or appeared) since it was read."""


@dataclass(frozen=True, slots=True)
class RemoteObject:
    """What a HEAD request tells about a stored object."""

    size: int
    sha256: str | None
    headers: ObjectHeaders


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a listing tells about a stored object."""

    size: int
    modified: datetime


class Target(Protocol):
    """Where a site is published. Every method raises :class:`StorageError` on failure."""

    def read(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None if it does not exist."""

    def head(self, key: str) -> RemoteObject | None:
        """Size, recorded SHA-256 and headers of an object, or None if it does not exist."""

    def write(
        self,
        key: str,
        data: bytes,
        headers: ObjectHeaders,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Store small bytes, optionally only if the current ETag matches (or none exists).

        Returns:
            the new ETag.

        Raises:
            PreconditionFailedError: the condition did not hold; nothing was written.
        """

    def upload(
        self,
        key: str,
        path: Path,
        headers: ObjectHeaders,
        sha256: str,
        progress: Callable[[int], None],
    ) -> None:
        """Store a file (in parallel parts if large); ``progress`` receives byte counts."""

    def set_headers(self, key: str, headers: ObjectHeaders, sha256: str) -> None:
        """Replace the headers of an existing object without sending its bytes again."""

    def delete(self, keys: Sequence[str]) -> None:
        """Delete objects; missing ones are not an error."""

    def list(self) -> dict[str, StoredObject]:
        """Every object stored under the target (``_s9reg/`` included), by site key."""

    def abort_uploads(self, started_before: datetime) -> int:
        """Abort unfinished multipart uploads begun before a time; returns how many."""

    def close(self) -> None:
        """Release connections and threads."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's contents.

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class DirTarget:
    """Publishes into a local directory: each object is written beside its place and renamed.

    Headers are recorded in the manifest only; the web server that serves the directory sets
    its own. The ETag of an object is its SHA-256.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock_path = root / STATE_DIR / ".lock"

    def __str__(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"{key!r}: not a valid object key")
        return self.root.joinpath(*parts)

    def read(self, key: str) -> tuple[bytes, str] | None:
        """See :meth:`Target.read`."""
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StorageError(f"{self.root}: cannot read {key}: {e.strerror or e}") from e
        return data, hashlib.sha256(data).hexdigest()

    def head(self, key: str) -> RemoteObject | None:
        """See :meth:`Target.head` (hashes the file: the directory keeps no metadata)."""
        path = self._path(key)
        try:
            if not path.is_file():
                return None
            sha = file_sha256(path)
            size = path.stat().st_size
        except OSError as e:
            raise StorageError(f"{self.root}: cannot read {key}: {e.strerror or e}") from e
        return RemoteObject(size=size, sha256=sha, headers=classify(key)[1])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._mkdirs(self._lock_path.parent)
        with self._lock_path.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def write(
        self,
        key: str,
        data: bytes,
        headers: ObjectHeaders,  # noqa: ARG002 - the directory keeps no headers
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """See :meth:`Target.write`; the condition is checked under an exclusive lock."""
        path = self._path(key)
        with self._locked():
            if if_match is not None or if_none_match:
                current = self.read(key)
                if if_none_match and current is not None:
                    raise PreconditionFailedError(key)
                if if_match is not None and (current is None or current[1] != if_match):
                    raise PreconditionFailedError(key)
            self._atomic(path, lambda f: f.write(data))
        return hashlib.sha256(data).hexdigest()

    def upload(
        self,
        key: str,
        path: Path,
        headers: ObjectHeaders,  # noqa: ARG002 - the directory keeps no headers
        sha256: str,  # noqa: ARG002 - the content is its own record
        progress: Callable[[int], None],
    ) -> None:
        """See :meth:`Target.upload`: copied to a temporary name, then renamed into place."""

        def copy(out: _Writable) -> None:
            with path.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    progress(len(chunk))

        try:
            self._atomic(self._path(key), copy)
        except OSError as e:
            raise StorageError(f"{self.root}: cannot write {key}: {e.strerror or e}") from e

    def set_headers(self, key: str, headers: ObjectHeaders, sha256: str) -> None:
        """See :meth:`Target.set_headers` (nothing to do for a directory)."""

    def delete(self, keys: Sequence[str]) -> None:
        """See :meth:`Target.delete`; directories left empty are removed too."""
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as e:
                raise StorageError(f"{self.root}: cannot delete {key}: {e.strerror or e}") from e
            parent = path.parent
            while parent != self.root:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

    def list(self) -> dict[str, StoredObject]:
        """See :meth:`Target.list` (temporary files of unfinished writes are left out)."""
        out: dict[str, StoredObject] = {}
        if not self.root.is_dir():
            return out
        try:
            for dirpath, _dirs, files in os.walk(self.root):
                base = Path(dirpath)
                for name in files:
                    if name.endswith(".s9reg-tmp") or name == ".lock":
                        continue
                    st = (base / name).stat()
                    key = (base / name).relative_to(self.root).as_posix()
                    modified = datetime.fromtimestamp(st.st_mtime, UTC)
                    out[key] = StoredObject(size=st.st_size, modified=modified)
        except OSError as e:
            raise StorageError(f"{self.root}: cannot list: {e.strerror or e}") from e
        return out

    def abort_uploads(self, started_before: datetime) -> int:
        """Remove temporary files left by an interrupted publish."""
        count = 0
        if not self.root.is_dir():
            return count
        limit = started_before.timestamp()
        for tmp in self.root.rglob(".*.s9reg-tmp"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < limit:
                    tmp.unlink()
                    count += 1
        return count

    def close(self) -> None:
        """See :meth:`Target.close`."""

    def _mkdirs(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"{path}: cannot create directory: {e.strerror or e}") from e

    def _atomic(self, path: Path, fill: Callable[[_Writable], object]) -> None:
        self._mkdirs(path.parent)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".s9reg-tmp", dir=path.parent)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
            tmp.chmod(0o644)
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...
