"""Who may publish a package version: upstream's ``package.add`` rule (registry-protocol.md §5).

The key is mapped to the first signer (by Guid order) that lists it. Admins may publish
anything, including new packages; any other signer only versions of an existing package that
satisfy the range its ``authorized`` map gives that signer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from s9reg.exver import ExtendedVersion, VersionError, VersionRange, VersionString
from s9reg.registry.errors import RegistryError, UnauthorizedSignerError
from s9reg.registry.model import FullIndex, Guid, SignerInfo
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PublicKey

__all__ = ["PublishRules", "check_publish", "signer_guid"]


@dataclass(frozen=True, slots=True)
class PublishRules:
    """What :func:`check_publish` needs from a registry database.

    Attributes:
        admins: signers allowed to publish anything (upstream's ``admins``, outside the index).
        signers: registered signers and their keys.
        authorized: per package id, ``{Guid: VersionRange}`` (``PackageInfo.authorized``).
    """

    admins: frozenset[Guid] = frozenset()
    signers: Mapping[Guid, SignerInfo] = field(default_factory=dict)
    authorized: Mapping[str, Mapping[Guid, VersionRange]] = field(default_factory=dict)

    @classmethod
    def from_index(cls, index: FullIndex, admins: Iterable[str] = ()) -> PublishRules:
        """Rules from a full index plus the admin list (which upstream keeps beside the index).

        Raises:
            RegistryError: an admin id is not a valid Guid.
        """
        authorized = {pid: info.authorized for pid, info in index.package.packages.items()}
        return cls(frozenset(Guid(a) for a in admins), index.signers, authorized)


def _key(signer_key: PublicKey | str) -> PublicKey:
    if isinstance(signer_key, PublicKey):
        return signer_key
    try:
        return PublicKey.from_pem(signer_key)
    except S9pkError as e:
        raise RegistryError(f"signer key: {e.problem}") from None


def signer_guid(rules: PublishRules | FullIndex, signer_key: PublicKey | str) -> Guid | None:
    """The first signer, in Guid order, that lists ``signer_key``; None if none does.

    Raises:
        RegistryError: ``signer_key`` is not a valid public key PEM.
    """
    pem = _key(signer_key).to_pem()
    for guid in sorted(rules.signers):
        if pem in rules.signers[guid].keys:
            return guid
    return None


def check_publish(
    rules: PublishRules | FullIndex,
    package_id: str,
    version: VersionString | ExtendedVersion | str,
    signer_key: PublicKey | str,
) -> None:
    """Refuse unless ``signer_key`` may publish ``package_id`` at ``version``.

    A :class:`FullIndex` carries no admin list, so with one only ``authorized`` entries count.

    Args:
        rules: the registry's rules, or a full index.
        package_id: the package.
        version: the version to publish (text is parsed as an extended version).
        signer_key: the publisher's public key (object or PEM).

    Raises:
        UnauthorizedSignerError: the key is unknown, the package is new and the signer is not an
            admin, or the version is outside the signer's authorized range; the message names
            the package, version and key fingerprint.
        RegistryError: the key PEM or the version text is invalid.
    """
    if isinstance(rules, FullIndex):
        rules = PublishRules.from_index(rules)
    key = _key(signer_key)
    if isinstance(version, str):
        try:
            version = VersionString.parse(version)
        except VersionError as e:
            raise RegistryError(f"version: {e.message}") from None
    what = f"{package_id} {version}"
    who = f"key {key.fingerprint[:16]}"
    guid = signer_guid(rules, key)
    if guid is None:
        raise UnauthorizedSignerError(f"{who} may not publish {what}: it belongs to no signer")
    if guid in rules.admins:
        return
    scopes = rules.authorized.get(package_id)
    if scopes is None:
        raise UnauthorizedSignerError(
            f"{who} (signer {guid}) may not publish {what}: the package is not in the index "
            "and only admins may add packages"
        )
    allowed = scopes.get(guid)
    if allowed is None:
        raise UnauthorizedSignerError(
            f"{who} (signer {guid}) may not publish {what}: not authorized for this package"
        )
    if not allowed.satisfied_by(version):
        raise UnauthorizedSignerError(
            f"{who} (signer {guid}) may not publish {what}: outside its authorized range {allowed}"
        )
