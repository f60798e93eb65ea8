"""The verification cache: what a full verification of a source file found, kept between builds.

A rebuild with unchanged sources must not re-read package bodies. An entry is reused only when
the source's identity (device, inode, size, modification time in ns) is the one recorded and the
SHA-256 of its 155-byte header (which holds the signature over the Merkle root) is unchanged,
the same test ``git`` and ``make`` trust, plus a header check. A file with a new identity (a
fresh checkout, a copy) is matched by its header and size, and reused only after its bodies
were hashed against the signed Merkle tree. The cache is local state of the
machine that builds; it is never part of the site. A missing, unreadable or foreign cache file
only costs a full verification.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import blake3

from s9reg import __version__
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.reader import HEADER_SIZE, read_archive

__all__ = [
    "CACHE_FILE",
    "BuildStamp",
    "CacheEntry",
    "FileIdentity",
    "VerifyCache",
    "bodies_intact",
    "code_digest",
    "content_digest",
    "file_digest",
    "header_digest",
]

CACHE_FILE = "verified.json"
CACHE_FORMAT = 4
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What ``stat`` says about a file: it changes whenever the file's bytes are rewritten."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        """The identity in a ``stat`` result."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def to_list(self) -> list[int]:
        """JSON form."""
        return [self.dev, self.ino, self.size, self.mtime_ns]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """A fully verified source file and what the build needs from it.

    Attributes:
        identity: the file's identity when it was verified.
        header: SHA-256 (hex) of its first 155 bytes: the signed Merkle root, so with the
            size it finds the entry again when the identity changed but the bytes did not (a
            fresh checkout, a copy, a restored CI cache).
        package_id: manifest ``id``.
        version: manifest ``version`` as written.
        signer: header public key (PEM).
        info: the index entry template (``PackageVersionInfo`` JSON with no URLs).
        extras: texts the catalogue shows (``instructions``, ``license``), or None each.
        cosign: registry co-signatures of the commitment, ``{PUBLIC KEY PEM: SIGNATURE PEM}``.
        not_installable: claimed architecture → why its devices would refuse the archive
            (an arch-filtered archive).
    """

    identity: FileIdentity
    header: str
    package_id: str
    version: str
    signer: str
    info: Mapping[str, object]
    extras: Mapping[str, str | None] = field(default_factory=dict)
    cosign: Mapping[str, str] = field(default_factory=dict)
    not_installable: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "identity": self.identity.to_list(),
            "header": self.header,
            "id": self.package_id,
            "version": self.version,
            "signer": self.signer,
            "info": dict(self.info),
            "extras": dict(self.extras),
            "cosign": dict(sorted(self.cosign.items())),
            "notInstallable": dict(self.not_installable),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> CacheEntry:
        """Parse the JSON form.

        Raises:
            TypeError: a field has the wrong type.
            KeyError: a field is missing.
            ValueError: a value is out of range.
        """
        ident = d["identity"]
        if not isinstance(ident, list) or len(ident) != 4:
            raise ValueError("identity")
        info, extras, cosign = d["info"], d.get("extras", {}), d.get("cosign", {})
        not_installable = d.get("notInstallable", {})
        if not isinstance(info, dict) or not isinstance(extras, dict):
            raise TypeError("info")
        if not isinstance(cosign, dict) or not isinstance(not_installable, dict):
            raise TypeError("cosign")
        return cls(
            identity=FileIdentity(*(int(x) for x in ident)),
            header=str(d["header"]),
            package_id=str(d["id"]),
            version=str(d["version"]),
            signer=str(d["signer"]),
            info=info,
            extras={str(k): None if v is None else str(v) for k, v in extras.items()},
            cosign={str(k): str(v) for k, v in cosign.items()},
            not_installable={str(k): str(v) for k, v in not_installable.items()},
        )


def content_digest(path: Path) -> str:
    """BLAKE3 (hex) of a whole file, read through a memory map on every core.

    Raises:
        OSError: the file cannot be read.
    """
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if path.stat().st_size:
        hasher.update_mmap(path)
    return hasher.hexdigest()


def bodies_intact(path: Path) -> bool:
    """Whether ``path`` parses as a ``.s9pk`` whose signed tree every body matches.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as f:
        try:
            read_archive(f).verify_all()
        except S9pkError:
            return False
    return True


def header_digest(path: Path) -> str:
    """SHA-256 (hex) of the first :data:`HEADER_SIZE` bytes of ``path``.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as f:
        return hashlib.sha256(f.read(HEADER_SIZE)).hexdigest()


class VerifyCache:
    """Cache entries by resolved source path; :meth:`save` keeps only the entries used."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._old: dict[str, CacheEntry] = {}
        self._new: dict[str, CacheEntry] = {}
        self._old_blobs: dict[str, dict[str, object]] = {}
        self._new_blobs: dict[str, dict[str, object]] = {}
        if path is not None:
            self._old, self._old_blobs = _load(path / CACHE_FILE)
        self._by_header = {(e.header, e.identity.size): e for e in self._old.values()}
        self._keys: dict[Path, str] = {}

    def _key(self, source: Path) -> str:
        key = self._keys.get(source)
        if key is None:
            key = self._keys[source] = str(source.resolve())
        return key

    def blob(self, key: str) -> dict[str, object] | None:
        """What :meth:`store_blob` recorded under ``key`` in the last build, or None."""
        return self._old_blobs.get(key)

    def store_blob(self, key: str, value: dict[str, object]) -> None:
        """Record a small JSON object (a hash of an image, a download's validators)."""
        self._new_blobs[key] = value

    def lookup(self, source: Path, identity: FileIdentity) -> CacheEntry | None:
        """The entry for ``source`` by identity and header (reads 155 bytes), or None."""
        entry = self._old.get(self._key(source))
        if entry is None or entry.identity != identity:
            return None
        try:
            return entry if header_digest(source) == entry.header else None
        except OSError:
            return None

    def candidate(self, source: Path, identity: FileIdentity) -> CacheEntry | None:
        """An entry whose header and size ``source`` has, under its new identity, or None.

        For a file the identity does not find (e.g. a fresh CI checkout with the cache
        restored): the caller reuses it only once :func:`bodies_intact` holds for the file, a
        hashing pass without the rest of a verification.
        """
        if not self._by_header:
            return None
        try:
            found = self._by_header.get((header_digest(source), identity.size))
        except OSError:
            return None
        return None if found is None else replace(found, identity=identity)

    def store(self, source: Path, entry: CacheEntry) -> None:
        """Record ``entry`` as used by this build."""
        self._new[self._key(source)] = entry

    def save(self) -> None:
        """Write the used entries atomically; failures only log (the cache is an optimization)."""
        if self.path is None:
            return
        unchanged = self._new == self._old and self._new_blobs == self._old_blobs
        if unchanged and (self.path / CACHE_FILE).is_file():
            return
        data = {
            "format": CACHE_FORMAT,
            "s9reg": __version__,
            "entries": {k: e.to_dict() for k, e in sorted(self._new.items())},
            "blobs": dict(sorted(self._new_blobs.items())),
        }
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".verified-", dir=self.path)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(data, separators=(",", ":")))
            Path(tmp).replace(self.path / CACHE_FILE)
        except OSError as e:
            _log.warning("%s: cannot save the verification cache: %s", self.path, e)
            with contextlib.suppress(OSError, UnboundLocalError):
                Path(tmp).unlink()


def _load(path: Path) -> tuple[dict[str, CacheEntry], dict[str, dict[str, object]]]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}, {}
    except (OSError, ValueError) as e:
        _log.warning("%s: verification cache unreadable, verifying everything: %s", path, e)
        return {}, {}
    if (
        not isinstance(data, dict)
        or data.get("format") != CACHE_FORMAT
        or data.get("s9reg") != __version__
        or not isinstance(data.get("entries"), dict)
    ):
        return {}, {}
    out: dict[str, CacheEntry] = {}
    for key, raw in data["entries"].items():
        try:
            out[str(key)] = CacheEntry.from_dict(raw)
        except (KeyError, TypeError, ValueError):
            continue
    blobs = data.get("blobs")
    blobs = (
        {str(k): v for k, v in blobs.items() if isinstance(v, dict)}
        if isinstance(blobs, dict)
        else {}
    )
    return out, blobs


# --------------------------------------------------------------------------------------------
# Up-to-date check: a rebuild whose inputs are all unchanged does nothing
# --------------------------------------------------------------------------------------------

STAMP_FILE = "last-build.json"


# The code that shapes the output (the CLI, serve, publish and cache do not).
_OUTPUT_CODE = ("builder", "catalogue", "registry", "s9pk", "exver", "templates")


def code_digest() -> str:
    """A digest of the files (name, size, mtime) of the code that writes the site."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(__version__.encode())
    dirs = [root / d for d in _OUTPUT_CODE]
    dirs.append(root.parent / "templates")  # an editable install reads the repository's copy
    for d in dirs:
        for p in sorted(d.rglob("*")) if d.is_dir() else ():
            if p.is_file() and "__pycache__" not in p.parts:
                st = p.stat()
                h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def file_digest(path: Path) -> str | None:
    """SHA-256 (hex) of a whole small file, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildStamp:
    """What the last successful build consumed and produced, kept in the cache directory.

    Attributes:
        fingerprint: digest of the settings, the code and every source's identity and header.
        output: the output directory it wrote.
        index: SHA-256 of the ``index.json`` it wrote (detects an edited or replaced output).
        warnings: the warnings it gave, repeated when the build is skipped.
        skipped: ``[path, code, message]`` of the sources it left out.
    """

    fingerprint: str
    output: str
    index: str
    warnings: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def load(cls, cache_dir: Path) -> BuildStamp | None:
        """The stamp of the last build, or None when there is none or it is unreadable."""
        try:
            d = json.loads((cache_dir / STAMP_FILE).read_bytes())
            return cls(
                fingerprint=str(d["fingerprint"]),
                output=str(d["output"]),
                index=str(d["index"]),
                warnings=tuple(str(w) for w in d["warnings"]),
                skipped=tuple((str(a), str(b), str(c)) for a, b, c in d["skipped"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, cache_dir: Path) -> None:
        """Write the stamp atomically; failures only log."""
        data = {
            "fingerprint": self.fingerprint,
            "output": self.output,
            "index": self.index,
            "warnings": list(self.warnings),
            "skipped": [list(s) for s in self.skipped],
        }
        tmp = cache_dir / f".{STAMP_FILE}.tmp"
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(cache_dir / STAMP_FILE)
        except OSError as e:
            _log.warning("%s: cannot save the build stamp: %s", cache_dir, e)

    @staticmethod
    def forget(cache_dir: Path) -> None:
        """Remove the stamp (before a build starts changing the output)."""
        with contextlib.suppress(OSError):
            (cache_dir / STAMP_FILE).unlink()
