"""The `.s9pk` format library: read, verify, write and sign StartOS packages.

It does no I/O beyond the streams it is given (and :func:`write_archive_file`, which writes one
file atomically); it knows nothing of storage, HTTP or the CLI. Spec: shared/spec/s9pk-format.md.

Example::

    from s9reg.s9pk import read_archive
    with open("hello.s9pk", "rb") as f:
        archive = read_archive(f)   # header, signature, whole tree checked
        archive.verify_all()        # every file body hashed
        print(archive.commitment.to_dict())
"""

from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment
from s9reg.s9pk.errors import (
    IntegrityError,
    KeyFormatError,
    MalformedArchiveError,
    ManifestError,
    S9pkError,
    SignatureError,
    UnsupportedFormatError,
)
from s9reg.s9pk.keys import PrivateKey, PublicKey, Signature
from s9reg.s9pk.manifest import Manifest
from s9reg.s9pk.metadata import LocaleString, PackageMetadata
from s9reg.s9pk.package import DependencyMetadata, PackResult, S9pk, pack_directory
from s9reg.s9pk.reader import Archive, Header, read_archive
from s9reg.s9pk.tree import Directory, EntryKind, File, Missing, Node, tree_from_directory
from s9reg.s9pk.tree_check import validate_for
from s9reg.s9pk.writer import RootOrder, write_archive, write_archive_file

__all__ = [
    "Archive",
    "Blake3Commitment",
    "DependencyMetadata",
    "Directory",
    "EntryKind",
    "File",
    "Header",
    "IntegrityError",
    "KeyFormatError",
    "LocaleString",
    "MalformedArchiveError",
    "Manifest",
    "ManifestError",
    "MerkleArchiveCommitment",
    "Missing",
    "Node",
    "PackResult",
    "PackageMetadata",
    "PrivateKey",
    "PublicKey",
    "RootOrder",
    "S9pk",
    "S9pkError",
    "Signature",
    "SignatureError",
    "UnsupportedFormatError",
    "pack_directory",
    "read_archive",
    "tree_from_directory",
    "validate_for",
    "write_archive",
    "write_archive_file",
]
