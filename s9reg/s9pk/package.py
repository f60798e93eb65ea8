"""A verified v2 package (archive + manifest) and packing a directory into one (spec §10, §13).

:class:`S9pk` reads what the registry needs from a package: manifest, icon, license,
instructions, dependency metadata and architectures. :func:`pack_directory` checks a laid-out
package tree against its manifest and writes it signed. No network; files only where named.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from s9reg._json import Reader
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.errors import ManifestError, S9pkError
from s9reg.s9pk.keys import PrivateKey, PublicKey
from s9reg.s9pk.manifest import MANIFEST_PATH, Manifest
from s9reg.s9pk.metadata import LocaleString, data_url, is_id, read_locale
from s9reg.s9pk.reader import Archive, read_archive
from s9reg.s9pk.tree import BytesSource, Directory, File, Missing, PathSource, tree_from_directory
from s9reg.s9pk.tree_check import (
    Warn,
    check_tree,
    dependency_icon,
    icon,
    icon_mime,
    validate_for,
)
from s9reg.s9pk.writer import RootOrder, write_archive_file

__all__ = ["DependencyMetadata", "PackResult", "S9pk", "pack_directory"]

_log = logging.getLogger(__name__)

# Text files the registry reads whole; anything larger is not a plausible license or manual.
MAX_TEXT_SIZE = 16 << 20
# ``DependencyMetadata`` (``sc/dependencies.rs``): serde refuses a repeated field.
_DEPENDENCY_METADATA_FIELDS = frozenset({"title"})


@dataclass(frozen=True, slots=True)
class DependencyMetadata:
    """What a package stores about one dependency (``dependencies/<id>/``).

    Attributes:
        title: ``metadata.json``'s ``title``.
        icon_data_url: the dependency's icon as a data URL, or None.
    """

    title: LocaleString
    icon_data_url: str | None


@dataclass(frozen=True, slots=True)
class S9pk:
    """A verified v2 package: its archive (header, signature, whole tree) and parsed manifest.

    File bodies are verified when read. Build one with :meth:`read` or :meth:`open`.

    Attributes:
        archive: the verified archive.
        manifest: the parsed ``manifest.json``.
        manifest_bytes: the exact bytes of ``manifest.json`` as stored.
    """

    archive: Archive
    manifest: Manifest
    manifest_bytes: bytes

    @classmethod
    def read(cls, stream: IO[bytes], commitment: MerkleArchiveCommitment | None = None) -> S9pk:
        """Read and verify a package from a seekable binary stream.

        Args:
            stream: the package; it must stay open while the package is used.
            commitment: if given, the archive must match it.

        Raises:
            UnsupportedFormatError: a v1 package.
            MalformedArchiveError: the bytes are not a valid archive.
            SignatureError: the signature or commitment does not hold.
            IntegrityError: a sighash or the manifest's hash does not match.
            ManifestError: ``manifest.json`` is absent, MISSING or invalid.
        """
        return cls.from_archive(read_archive(stream, commitment=commitment))

    @classmethod
    def from_archive(cls, archive: Archive) -> S9pk:
        """Parse the manifest of an already verified archive.

        Raises:
            IntegrityError: the manifest's hash does not match.
            ManifestError: ``manifest.json`` is absent, MISSING or invalid.
        """
        archive.file(MANIFEST_PATH, error=ManifestError)
        data = archive.read_file(MANIFEST_PATH)
        return cls(archive, Manifest.from_bytes(data), data)

    @classmethod
    @contextmanager
    def open(
        cls, path: str | os.PathLike[str], commitment: MerkleArchiveCommitment | None = None
    ) -> Iterator[S9pk]:
        """Open, read and verify a package file; the file is closed on leaving the block.

        Any :class:`S9pkError` raised while reading, or inside the block, gets the file's name.

        Raises:
            S9pkError: the file cannot be opened, or any error of :meth:`read`.
        """
        name = Path(path).name
        try:
            f = Path(path).open("rb")  # noqa: SIM115 - closed in the finally below
        except OSError as e:
            msg = f"cannot open: {e.strerror}"
            raise S9pkError(msg, archive=name) from e
        try:
            yield cls.read(f, commitment)
        except S9pkError as e:
            if e.archive is None:
                e.in_archive(name)
            raise
        finally:
            f.close()

    @property
    def commitment(self) -> MerkleArchiveCommitment:
        """``{rootSighash, rootMaxsize}`` as the header signs them."""
        return self.archive.commitment

    @property
    def signer(self) -> PublicKey:
        """The key that signed the header."""
        return self.archive.signer

    @property
    def root(self) -> Directory:
        """The archive's directory tree."""
        return self.archive.root

    def icon(self) -> tuple[str, bytes, str] | None:
        """The package icon (largest ``icon.<image ext>``, §10.4), verified.

        Returns:
            ``(name, bytes, mime type)``, or None when the package has no icon.

        Raises:
            IntegrityError: the icon's hash does not match.
        """
        found = icon(self.root)
        if found is None:
            return None
        name, _ = found
        return name, self.archive.read_file(name), icon_mime(name)

    def icon_data_url(self) -> str | None:
        """The icon as ``data:<mime>;base64,…`` (as the registry stores it), or None.

        Raises:
            IntegrityError: the icon's hash does not match.
        """
        found = self.icon()
        return data_url(found[2], found[1]) if found is not None else None

    def license(self) -> str | None:
        """``LICENSE.md`` as text, or None when absent or MISSING.

        Raises:
            ManifestError: it is a directory or not UTF-8.
            IntegrityError: its hash does not match.
        """
        return self._text("LICENSE.md")

    def instructions(self) -> str | None:
        """``instructions.md`` as text, or None when absent or MISSING (older packages).

        Raises:
            ManifestError: it is a directory or not UTF-8.
            IntegrityError: its hash does not match.
        """
        return self._text("instructions.md")

    def _text(self, path: str) -> str | None:
        if self.archive.optional_file(path, error=ManifestError) is None:
            return None
        data = self.archive.read_file(path, max_size=MAX_TEXT_SIZE)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            msg = f"not valid UTF-8 (at byte {e.start})"
            raise ManifestError(msg, path="/" + path) from None

    def dependency_metadata(self, dep_id: str) -> DependencyMetadata | None:
        """Title and icon stored for dependency ``dep_id``.

        Returns:
            None when ``dependencies/<id>/metadata.json`` is absent (as upstream, whose registry
            then records no title).

        Raises:
            ManifestError: ``metadata.json`` is MISSING (an upstream registry refuses the
                package: "not a file"), a directory, or invalid (repeated ``title`` included).
            IntegrityError: a hash does not match.
        """
        if not is_id(dep_id):
            return None
        path = f"dependencies/{dep_id}/metadata.json"
        node = self.archive.get(path)
        if node is None:
            return None
        if not isinstance(node, File):
            raise ManifestError("not a file", path="/" + path)
        reader = Reader()
        value = reader.decode(self.archive.read_file(path, max_size=MAX_TEXT_SIZE))
        s = None if reader.problems else reader.struct(value, "", _DEPENDENCY_METADATA_FIELDS)
        title = None if s is None else read_locale(reader, s.required("title"), "title")
        if reader.problems or title is None:
            raise ManifestError.of(reader.problems, path="/" + path)
        return DependencyMetadata(title, self.dependency_icon_data_url(dep_id))

    def dependency_icon_data_url(self, dep_id: str) -> str | None:
        """The icon stored for dependency ``dep_id`` as a data URL, or None.

        Raises:
            IntegrityError: the icon's hash does not match.
        """
        found = dependency_icon(self.root, dep_id)
        if found is None:
            return None
        name, _ = found
        data = self.archive.read_file(f"dependencies/{dep_id}/{name}")
        return data_url(icon_mime(name), data)

    def arches(self) -> tuple[str, ...]:
        """The architectures this package is for, sorted.

        ``hardwareRequirements.arch`` when the manifest sets it (that is what the registry
        indexes and filters on); otherwise the ``images/<arch>/`` directories that hold at least
        one file. An empty tuple means the package names no architecture (upstream treats an
        unset ``hardwareRequirements.arch`` as "any").
        """
        declared = self.manifest.hardware_requirements.arch
        if declared is not None:
            return declared
        images = self.archive.get("images")
        if not isinstance(images, Directory):
            return ()
        return tuple(
            name
            for name, node in images.entries.items()
            if isinstance(node, Directory) and any(True for _ in node.files())
        )

    def missing_entries(self) -> tuple[str, ...]:
        """The ``/``-rooted paths of the MISSING entries (an arch-filtered archive has some)."""
        return tuple("/" + path for path, node in self.root.walk() if isinstance(node, Missing))

    def check_listable(self) -> None:
        """Refuse what an upstream registry's ``package.add`` refuses, beyond the archive (§17.3).

        Upstream reads only the manifest, the icon and each dependency's ``metadata.json`` and
        icon; MISSING images, ``LICENSE.md``, ``instructions.md`` or bundles are never looked
        at, so an arch-filtered archive is listed.

        Raises:
            ManifestError: no icon FILE (``no icon found in archive``), or a dependency's
                ``metadata.json`` is MISSING or invalid.
            IntegrityError: the icon or a metadata file does not match its hash.
        """
        if icon(self.root) is None:
            raise ManifestError("no icon found in archive", path="/icon")
        for dep_id in self.manifest.dependencies:
            self.dependency_metadata(dep_id)

    def claimed_arches(self) -> tuple[str, ...]:
        """The architectures devices would install this package on, sorted bytewise.

        ``hardwareRequirements.arch`` when set, else every architecture an image names.
        """
        declared = self.manifest.hardware_requirements.arch
        if declared is not None:
            return declared
        names = {a for config in self.manifest.images.values() for a in config.arch}
        return tuple(sorted(names, key=str.encode))

    def arch_problems(self) -> dict[str, str]:
        """For each claimed architecture a device of which would refuse to install: why.

        A device checks ``validate_for(its arch)`` (§10.3) at install; an arch-filtered
        archive fails it for the architectures whose files are MISSING.
        """
        problems: dict[str, str] = {}
        for arch in self.claimed_arches():
            try:
                check_tree(self.root, self.manifest, arch)
            except ManifestError as e:
                problems[arch] = e.message
        return problems

    def validate_for(self, arch: str | None = None, *, warn: Warn | None = None) -> Directory:
        """Check the tree against the manifest; return it filtered for ``arch`` (§10.3).

        Raises:
            ManifestError: the tree does not satisfy the manifest.
        """
        return validate_for(self.root, self.manifest, arch, warn=warn)


@dataclass(frozen=True, slots=True)
class PackResult:
    """What :func:`pack_directory` wrote.

    Attributes:
        path: the package file.
        manifest: its parsed manifest.
        commitment: the signed commitment.
        root: the tree that was written.
        warnings: problems upstream only logs (no ``instructions.md``, no assets).
    """

    path: Path
    manifest: Manifest
    commitment: MerkleArchiveCommitment
    root: Directory
    warnings: tuple[str, ...]


def pack_directory(  # noqa: PLR0913 - source, output, key, and three independent options
    src: Path,
    out: Path,
    key: PrivateKey,
    order: RootOrder = RootOrder.PLAIN,
    *,
    allow_extra: bool = False,
    warn: Warn | None = None,
) -> PackResult:
    """Sign a laid-out package directory (§10.1) into ``out``, atomically.

    The tree is checked as ``start-cli s9pk pack`` checks it (``validate_and_filter(None)``).
    Upstream's pack builds its tree without hashes, so any entry outside the keep-set makes its
    filter fail ("cannot filter out unhashed file"): pack never writes MISSING entries. This
    function does the same and refuses such entries, unless ``allow_extra`` is set; then they
    are written as MISSING, as upstream does when re-filtering an already hashed archive.

    Args:
        src: the package directory (``manifest.json``, ``icon.*``, ``LICENSE.md``, …).
        out: the ``.s9pk`` file to write.
        key: the signing key.
        order: root TOC order; ``pack`` uses plain order.
        allow_extra: write entries the manifest does not account for as MISSING.
        warn: receives problems upstream only logs.

    Returns:
        The written package's path, manifest, commitment and tree.

    Raises:
        ManifestError: the manifest is absent or invalid, the tree does not satisfy it, or the
            tree holds entries the manifest does not account for.
        MalformedArchiveError: a name in ``src`` cannot be stored.
        S9pkError: ``src`` cannot be read or ``out`` cannot be written.
    """
    out_dir = Path(out).absolute().parent
    if not out_dir.is_dir():  # before hashing what may be gigabytes of images
        raise S9pkError(f"cannot write {out}: {out_dir} is not a directory")
    try:
        tree = tree_from_directory(Path(src))
    except OSError as e:
        msg = f"cannot read {src}: {e.strerror}"
        raise S9pkError(msg) from e
    manifest = Manifest.from_bytes(_source_bytes(tree))
    checked = check_tree(tree, manifest, None)
    if checked.dropped and not allow_extra:
        problems = [
            ManifestError("not part of the package (the manifest does not account for it)", path=p)
            for p in checked.dropped
        ]
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        err = ManifestError(
            first.problem + more,
            path=first.path,
            hint="remove it from the package directory, or list it in the manifest",
        )
        err.details = "\n".join(p.message for p in problems)
        raise err
    for message in checked.warnings:
        (warn or _log.warning)(message)
    root = checked.filtered if allow_extra else tree
    commitment = write_archive_file(Path(out), root, key, order=order)
    return PackResult(Path(out), manifest, commitment, root, checked.warnings)


def _source_bytes(tree: Directory) -> bytes:
    node = tree.get(MANIFEST_PATH)
    if not isinstance(node, File):
        problem = "is a directory" if isinstance(node, Directory) else "not found"
        raise ManifestError(problem, path="/" + MANIFEST_PATH)
    source = node.source
    if isinstance(source, BytesSource):
        return source.data
    if isinstance(source, PathSource):
        try:
            return source.path.read_bytes()
        except OSError as e:
            msg = f"cannot read: {e.strerror}"
            raise ManifestError(msg, path="/" + MANIFEST_PATH) from e
    msg = "not readable from this tree"  # pragma: no cover - trees from directories only
    raise ManifestError(msg, path="/" + MANIFEST_PATH)  # pragma: no cover
