"""Signers: ``admin signer add|edit|remove|list`` on the ``signers:`` list of the config.

Upstream's rules (``start-registryd``'s ``admin.signer.*``, registry-protocol.md §5): a key may
belong to one signer only; removing a signer also strips it from every package's authorized
signers, every StartOS version's signers, and the admins. A signer's id is its Guid in the
built index: the ``id:`` written in the config, else derived from its name (renaming a signer
writes its old id, so the id never changes). Nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from s9reg._fs import read_small_file
from s9reg.admin._draft import Draft, editing, reading
from s9reg.admin.errors import AdminConflictError, AdminError, AdminNotFoundError
from s9reg.config import Signer, SiteConfig
from s9reg.errors import S9regError
from s9reg.registry import ContactInfo, Guid
from s9reg.s9pk.keys import PublicKey

__all__ = [
    "MAX_KEY_FILE",
    "Removal",
    "SignerEdit",
    "add_signer",
    "edit_signer",
    "list_signers",
    "parse_contact",
    "parse_public_key",
    "remove_signer",
]

#: Largest public key file read by ``--key FILE`` (a PEM public key is about 113 bytes).
MAX_KEY_FILE = 64 << 10
_MATRIX_TO = "https://matrix.to/#/"


def parse_contact(text: str) -> ContactInfo:
    """A contact in upstream's CLI forms, or with an explicit kind.

    ``mailto:ADDR`` and ``email:ADDR`` are an email; ``https://matrix.to/#/@user:domain`` and
    ``matrix:@user:domain`` a Matrix id; ``website:URL`` or any other ``http(s)`` URL a website.

    Raises:
        AdminError: the text is none of these.
    """
    for prefix, kind in (("mailto:", "email"), ("email:", "email"), (_MATRIX_TO, "matrix")):
        if text.startswith(prefix):
            value = text.removeprefix(prefix)
            if not value.strip():
                raise AdminError(f"contact {text!r}: nothing after {prefix!r}")
            return ContactInfo("email" if kind == "email" else "matrix", value)
    if text.startswith("matrix:"):
        value = text.removeprefix("matrix:")
        if not value.strip():
            raise AdminError(f"contact {text!r}: nothing after 'matrix:'")
        return ContactInfo("matrix", value)
    url = text.removeprefix("website:")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or "@" in parts.netloc:
        raise AdminError(
            f"contact {text!r}: expected mailto:ADDRESS, https://matrix.to/#/@USER:DOMAIN or an "
            "http(s) URL (or email:, matrix:, website: followed by one)"
        )
    return ContactInfo("website", url)


def parse_public_key(text: str, *, base: Path | None = None) -> PublicKey:
    """A public key given as PEM text, or as a file (``PATH`` or ``file:PATH``) holding one.

    Args:
        text: the PEM, or the file.
        base: directory a relative path is resolved against (default: the current one).

    Raises:
        AdminError: the text is not a PEM public key, or the file cannot be read or holds none.
    """
    shown = text if "\n" not in text else text.strip().splitlines()[0] + "…"
    if "-----BEGIN" not in text:
        path = Path(text.removeprefix("file:")).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            data = read_small_file(path, "public key", MAX_KEY_FILE, error=AdminError)
            text = data.decode("ascii")
        except AdminError as e:
            raise AdminError(f"--key: {e.message}") from None
        except UnicodeDecodeError:
            raise AdminError(f"key {shown}: not a PEM public key (not ASCII text)") from None
    try:
        return PublicKey.from_pem(text)
    except S9regError as e:
        raise AdminError(f"key {shown}: not an Ed25519 PEM public key ({e.message})") from None


def _contact_entry(contact: ContactInfo) -> dict[str, str]:
    return {contact.kind: contact.value}


def _owner(cfg: SiteConfig, key: PublicKey) -> Signer | None:
    pem = key.to_pem()
    return next((s for s in cfg.signers if any(k.to_pem() == pem for k in s.keys)), None)


def _refuse_registered(cfg: SiteConfig, keys: Sequence[PublicKey], but: Signer | None) -> None:
    for key in keys:
        owner = _owner(cfg, key)
        if owner is not None and owner is not but:
            raise AdminConflictError(
                f"key {key.fingerprint[:16]} is already registered to signer {owner.name!r} "
                f"({owner.guid}); a key belongs to one signer only"
            )


def _unique(keys: Sequence[PublicKey]) -> list[PublicKey]:
    return list({k.to_pem(): k for k in keys}.values())


def add_signer(
    path: str | os.PathLike[str],
    name: str,
    contacts: Sequence[ContactInfo] = (),
    keys: Sequence[PublicKey] = (),
) -> Signer:
    """Register a signer (``admin signer add``); its id is :attr:`Signer.guid` of the result.

    Raises:
        AdminConflictError: a signer has that name, or one of the keys is registered already
            (upstream refuses the same).
        AdminError: the name is empty.
        ConfigError: the config cannot be edited.
    """
    if not name.strip():
        raise AdminError("a signer needs a name (-n NAME)")
    with editing(path) as d:
        for s in d.cfg.signers:
            if s.name == name:
                raise AdminConflictError(f"a signer named {name!r} exists already ({s.guid})")
        keys = _unique(keys)
        _refuse_registered(d.cfg, keys, None)
        new = Signer(name=name, contacts=tuple(contacts), keys=tuple(keys))
        if any(s.guid == new.guid for s in d.cfg.signers):  # pragma: no cover - sha256 clash
            raise AdminConflictError(f"the id {new.guid} of {name!r} is taken")
        entry: dict[str, object] = {"name": name}
        if contacts:
            entry["contact"] = [_contact_entry(c) for c in contacts]
        if keys:
            entry["keys"] = [k.to_pem() for k in keys]
        d.doc.append(("signers",), entry)
    return new


@dataclass(frozen=True, slots=True)
class SignerEdit:
    """The changes of ``admin signer edit`` (upstream's ``EditSignerParams``)."""

    set_name: str | None = None
    add_contacts: tuple[ContactInfo, ...] = ()
    remove_contacts: tuple[ContactInfo, ...] = ()
    add_keys: tuple[PublicKey, ...] = ()
    remove_keys: tuple[PublicKey, ...] = ()


def edit_signer(path: str | os.PathLike[str], ref: str, edit: SignerEdit) -> Signer:
    """Change a signer's name, contacts or keys (``admin signer edit``).

    A rename keeps the id (the old one is written as ``id:``) and follows the name into
    ``authorized`` and ``os[].signers``. A contact or key already there is not added twice.

    Returns:
        The signer as it is now.

    Raises:
        AdminNotFoundError: no such signer, or a contact or key to remove is not its own.
        AdminConflictError: the new name is another signer's, or a key to add is registered
            to another signer.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        i, signer = d.signer(ref)
        contacts = list(signer.contacts)
        for c in edit.remove_contacts:
            if c not in contacts:
                raise AdminNotFoundError(f"signer {signer.name!r} has no contact {_show(c)}")
            at = contacts.index(c)
            d.doc.remove(("signers", i, "contact", at))
            del contacts[at]
        for c in edit.add_contacts:
            if c not in contacts:
                d.doc.append(("signers", i, "contact"), _contact_entry(c))
                contacts.append(c)
        pems = [k.to_pem() for k in signer.keys]
        for k in edit.remove_keys:
            if k.to_pem() not in pems:
                raise AdminNotFoundError(f"signer {signer.name!r} has no key {k.fingerprint[:16]}")
            at = pems.index(k.to_pem())
            d.doc.remove(("signers", i, "keys", at))
            del pems[at]
        _refuse_registered(d.cfg, edit.add_keys, signer)
        for k in _unique(edit.add_keys):
            if k.to_pem() not in pems:
                d.doc.append(("signers", i, "keys"), k.to_pem())
                pems.append(k.to_pem())
        name = signer.name
        if edit.set_name is not None and edit.set_name != signer.name:
            name = _rename(d, i, signer, edit.set_name)
        return Signer(
            name=name,
            id=signer.guid,
            contacts=tuple(contacts),
            keys=tuple(PublicKey.from_pem(p) for p in pems),
            admin=signer.admin,
        )


def _rename(d: Draft, i: int, signer: Signer, new: str) -> str:
    if not new.strip():
        raise AdminError("--set-name: a signer needs a non-empty name")
    for other in d.cfg.signers:
        if other.name == new:
            raise AdminConflictError(f"a signer named {new!r} exists already ({other.guid})")
    if signer.id is None:  # the id was derived from the old name: keep it
        d.doc.set(("signers", i, "id"), str(signer.guid))
    d.doc.set(("signers", i, "name"), new)
    for pid, scopes in d.cfg.authorized.items():
        if signer.name in scopes:
            d.doc.rename(("authorized", pid, signer.name), new)
    for n, names in _os_signers(d):
        for j, name in enumerate(names):
            if name == signer.name:
                d.doc.set(("os", n, "signers", j), new)
    return new


def _os_signers(d: Draft) -> list[tuple[int, list[str]]]:
    """``(index, names)`` of each ``os[]`` entry's ``signers`` list, as written."""
    if not d.doc.has(("os",)):
        return []
    releases = d.doc.get(("os",))
    out: list[tuple[int, list[str]]] = []
    for n, release in enumerate(releases if isinstance(releases, list) else []):
        names = release.get("signers") if isinstance(release, dict) else None
        if isinstance(names, list):
            out.append((n, [str(x) for x in names]))
    return out


@dataclass(frozen=True, slots=True)
class Removal:
    """What ``admin signer remove`` removed besides the signer itself."""

    signer: Signer
    packages: tuple[str, ...]
    os_versions: tuple[str, ...]
    was_admin: bool


def remove_signer(path: str | os.PathLike[str], ref: str) -> Removal:
    """Remove a signer and strip it everywhere, as upstream's ``admin.signer.remove``.

    Its range goes from every package's ``authorized`` map (a package left with none is
    removed from the map: the built index is the same), its name from every StartOS version's
    ``signers`` (an empty list is removed), and its admin flag with it.

    Raises:
        AdminNotFoundError: no such signer.
        ConfigError: the config cannot be edited.
    """
    with editing(path) as d:
        i, signer = d.signer(ref)
        packages = []
        for pid, scopes in d.cfg.authorized.items():
            if signer.name not in scopes:
                continue
            packages.append(pid)
            if len(scopes) == 1:
                d.doc.remove(("authorized", pid))
            else:
                d.doc.remove(("authorized", pid, signer.name))
        versions = []
        for n, names in _os_signers(d):
            if signer.name not in names:
                continue
            versions.append(str(d.doc.get(("os", n, "version"))))
            if names == [signer.name] * len(names):
                d.doc.remove(("os", n, "signers"))
            else:
                for j in reversed(range(len(names))):
                    if names[j] == signer.name:
                        d.doc.remove(("os", n, "signers", j))
        d.doc.remove(("signers", i))
    return Removal(signer, tuple(packages), tuple(versions), signer.admin)


def list_signers(path: str | os.PathLike[str]) -> dict[Guid, Signer]:
    """Every signer by id, in id order (upstream's ``admin.signer.list``).

    Raises:
        ConfigError: the config cannot be read.
    """
    cfg = reading(path)
    return {s.guid: s for s in sorted(cfg.signers, key=lambda s: s.guid)}


def _show(contact: ContactInfo) -> str:
    if contact.kind == "email":
        return f"mailto:{contact.value}"
    if contact.kind == "matrix":
        return f"{_MATRIX_TO}{contact.value}"
    return contact.value
