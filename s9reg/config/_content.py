"""The sections that describe the registry's content and its catalogue.

``registry``, ``signers``, ``authorized``, ``categories``, ``packages``, ``os`` and ``catalogue``:
each function validates one section's nodes through a :class:`Checker` and returns its settings,
or None when a problem was recorded. Reading the file and assembling :class:`SiteConfig` happen
elsewhere (``_load``).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from s9reg._fs import read_small_file
from s9reg.builder import CategorySettings
from s9reg.builder.settings import (
    OS_IMAGE_KINDS,
    Exclusion,
    IncompleteArches,
    Mirror,
    OsReleaseSettings,
    OsSignature,
)
from s9reg.config._checker import Checker, describe, is_null
from s9reg.config.schema import (
    DEFAULT_LANGUAGE,
    MAX_NAME_LENGTH,
    CatalogueSettings,
    LocalSource,
    PackageSource,
    RegistrySettings,
    RemoteSource,
    Signer,
)
from s9reg.config.secrets import MAX_SECRET_BYTES
from s9reg.errors import ConfigError, S9regError
from s9reg.exver import Version, VersionRange, VersionString
from s9reg.registry import ContactInfo, Guid
from s9reg.registry.errors import RegistryError
from s9reg.s9pk.keys import PublicKey, Signature
from s9reg.s9pk.manifest import LocaleString, is_id

__all__ = [
    "Packages",
    "authorized",
    "catalogue",
    "categories",
    "os_releases",
    "packages",
    "registry",
    "signers",
]

CONTACT_KINDS = ("email", "matrix", "website")
_LOCALE_RE = re.compile(r"[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*")
_PLATFORM_RE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_DATA_URL_RE = re.compile(r"data:(image/[A-Za-z0-9.+-]+);base64,([A-Za-z0-9+/=\s]*)")


def signers(c: Checker, node: Node) -> tuple[Signer, ...]:
    """The ``signers:`` list; names must be unique."""
    out = c.each(node, lambda n: _signer(c, n))
    _unique_names(c, node, out)
    _unique_ids(c, node, out)
    return out


def registry(c: Checker, node: Node) -> RegistrySettings | None:
    """The ``registry:`` section; ``file_urls`` defaults to ``[url]``."""
    m = c.mapping(node, ("name", "url"), ("icon", "file_urls", "mirrors", "signing_key"))
    if m is None:
        return None
    name = url = None
    if "name" in m:
        with c.at("name"):
            name = c.nonempty(m["name"])
            if name is not None and len(name) > MAX_NAME_LENGTH:
                c.add(m["name"], f"at most {MAX_NAME_LENGTH} characters, got {len(name)}")
                name = None
    if "url" in m:
        with c.at("url"):
            url = c.url(m["url"], base=True)
    icon: Path | str | None = None
    if "icon" in m and not is_null(m["icon"]):
        with c.at("icon"):
            icon = _icon(c, m["icon"])
    file_urls: tuple[str, ...] = ()
    if "file_urls" in m:
        with c.at("file_urls"):
            file_urls = c.each(m["file_urls"], lambda n: c.url(n, base=True))
            if not file_urls and isinstance(m["file_urls"], SequenceNode):
                c.add(m["file_urls"], "expected at least one URL")
    mirrors: tuple[str, ...] = ()
    if "mirrors" in m:
        with c.at("mirrors"):
            mirrors = c.each(m["mirrors"], lambda n: c.url(n, base=True))
    key = None
    if "signing_key" in m and not is_null(m["signing_key"]):
        with c.at("signing_key"):
            key = c.secret(m["signing_key"])
    if name is None or url is None:
        return None
    return RegistrySettings(
        name=name,
        icon=icon,
        url=url,
        file_urls=file_urls or (url,),
        mirrors=mirrors,
        signing_key=key,
    )


def catalogue(c: Checker, node: Node) -> CatalogueSettings | None:
    """The ``catalogue:`` section: language and template override."""
    m = c.mapping(node, (), ("language", "template_dir"))
    if m is None:
        return None
    language = DEFAULT_LANGUAGE
    template_dir = None
    if "language" in m:
        with c.at("language"):
            text = c.nonempty(m["language"], "a locale such as en_US or de_DE")
            if text is not None and not _LOCALE_RE.fullmatch(text):
                c.add(m["language"], f"expected a locale such as en_US or de_DE, got {text!r}")
            elif text is not None:
                language = text
    if "template_dir" in m and not is_null(m["template_dir"]):
        with c.at("template_dir"):
            template_dir = c.path(m["template_dir"])
    return CatalogueSettings(language=language, template_dir=template_dir)


def _icon(c: Checker, node: Node) -> Path | str | None:
    text = c.nonempty(node, "a file path or data: URL")
    if text is None:
        return None
    if not text.startswith("data:"):
        return c.resolve(node, text)
    m = _DATA_URL_RE.fullmatch(text)
    if m is None:
        c.add(node, "expected a data:image/<type>;base64,<data> URL")
        return None
    try:
        base64.b64decode("".join(m[2].split()), validate=True)
    except (binascii.Error, ValueError):
        c.add(node, "the data: URL's base64 payload is invalid")
        return None
    return text


def _signer(c: Checker, node: Node) -> Signer | None:
    m = c.mapping(node, ("name",), ("id", "contact", "keys", "admin"))
    if m is None:
        return None
    with c.at("name"):
        name = c.nonempty(m["name"]) if "name" in m else None
    guid = None
    if "id" in m:
        with c.at("id"):
            text = c.string(m["id"], "a signer id (32 characters of A-Z and 2-7)")
            if text is not None:
                try:
                    guid = Guid(text)
                except RegistryError:
                    c.add(m["id"], f"not a signer id (32 characters of A-Z and 2-7): {text!r}")
    contacts: tuple[ContactInfo, ...] = ()
    if "contact" in m:
        with c.at("contact"):
            contacts = c.each(m["contact"], lambda n: _contact(c, n))
    keys: tuple[PublicKey, ...] = ()
    if "keys" in m:
        with c.at("keys"):
            keys = c.each(m["keys"], lambda n: _public_key(c, n))
    admin = False
    if "admin" in m:
        with c.at("admin"):
            admin = bool(c.boolean(m["admin"]))
    if name is None:
        return None
    return Signer(name=name, id=guid, contacts=contacts, keys=keys, admin=admin)


def _contact(c: Checker, node: Node) -> ContactInfo | None:
    m = c.mapping(node, (), CONTACT_KINDS)
    if m is None:
        return None
    if len(m) != 1:
        if len(node.value) == len(m):
            c.add(node, f"expected exactly one of {', '.join(CONTACT_KINDS)}")
        return None
    ((kind, value_node),) = m.items()
    with c.at(kind):
        value = c.url(value_node, published=True) if kind == "website" else c.nonempty(value_node)
    if value is None:
        return None
    if kind == "email":
        return ContactInfo(kind="email", value=value)
    if kind == "matrix":
        return ContactInfo(kind="matrix", value=value)
    return ContactInfo(kind="website", value=value)


def _public_key(c: Checker, node: Node) -> PublicKey | None:
    text = c.string(node, "a PEM public key or file:PATH")
    if text is not None and text.startswith("file:"):
        text = _public_key_file(c, node, text[5:].strip())
    if text is None:
        return None
    try:
        return PublicKey.from_pem(text)
    except S9regError as e:
        c.add(node, f"not a PEM public key ({e.message})")
        return None


def _public_key_file(c: Checker, node: Node, name: str) -> str | None:
    """The text of a public key file: a regular file of at most a few KiB (#16)."""
    path = c.resolve(node, name)
    if path is None:
        return None
    if not path.exists() and not path.is_symlink():
        c.add(node, f"{path}: no such public key file (for the examples: s9reg demo examples)")
        return None
    try:
        return read_small_file(path, "public key", MAX_SECRET_BYTES, error=ConfigError).decode(
            "ascii"
        )
    except ConfigError as e:
        c.add(node, e.message)
    except UnicodeDecodeError:
        c.add(node, f"{path}: the public key is not a PEM text")
    return None


def _unique_names(c: Checker, node: Node, signers: tuple[Signer, ...]) -> None:
    seen: set[str] = set()
    items = node.value if isinstance(node, SequenceNode) else []
    for signer in signers:
        if signer.name in seen:
            where = next(
                (i for i, n in enumerate(items) if _name_of(n) == signer.name and i > 0), 0
            )
            with c.at(where, "name"):
                c.add(items[where] if items else node, f"duplicate signer name {signer.name!r}")
        seen.add(signer.name)


def _unique_ids(c: Checker, node: Node, signers: tuple[Signer, ...]) -> None:
    """Two signers cannot share a Guid (an ``id`` may equal another name's derived one)."""
    seen: dict[str, str] = {}
    for i, signer in enumerate(signers):
        other = seen.get(signer.guid)
        if other is not None and other != signer.name:  # a duplicate name is reported once
            items = node.value if isinstance(node, SequenceNode) else []
            with c.at(i, "id"):
                c.add(
                    items[i] if i < len(items) else node,
                    f"signers {other!r} and {signer.name!r} have the same id {signer.guid}",
                )
        seen.setdefault(signer.guid, signer.name)


def _name_of(node: Node) -> str | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == "name" and isinstance(v, ScalarNode):
                return str(v.value)
    return None


def authorized(c: Checker, node: Node, names: set[str]) -> dict[str, dict[str, VersionRange]]:
    """The ``authorized:`` mapping; every signer must be one of ``names``."""
    out: dict[str, dict[str, VersionRange]] = {}
    if not isinstance(node, MappingNode):
        c.add(node, f"expected a mapping of package id to signers, got {describe(node)}")
        return out
    for pkg, pkg_node, signers_node in c.keyed(node):
        with c.at(pkg):
            if not is_id(pkg):
                c.add(pkg_node, f"not a valid package id: {pkg!r}")
                continue
            if not isinstance(signers_node, MappingNode):
                got = describe(signers_node)
                c.add(
                    signers_node, f"expected a mapping of signer name to version range, got {got}"
                )
                continue
            ranges: dict[str, VersionRange] = {}
            for signer, signer_node, range_node in c.keyed(signers_node):
                with c.at(signer):
                    if signer not in names:
                        close = difflib.get_close_matches(signer, sorted(names), n=1)
                        hint = f"; did you mean {close[0]!r}?" if close else ""
                        c.add(signer_node, f"no signer named {signer!r} in 'signers'{hint}")
                        continue
                    r = c.version_range(range_node)
                if r is not None:
                    ranges[signer] = r
            out[pkg] = ranges
    return out


def categories(c: Checker, node: Node) -> tuple[CategorySettings, ...]:
    """The ``categories:`` mapping of category id to name and member packages."""
    if not isinstance(node, MappingNode):
        c.add(node, f"expected a mapping of category id to category, got {describe(node)}")
        return ()
    out: list[CategorySettings] = []
    for cat_id, cat_node, body in c.keyed(node):
        with c.at(cat_id):
            if not is_id(cat_id):
                c.add(cat_node, f"not a valid category id: {cat_id!r}")
                continue
            m = c.mapping(body, ("name",), ("packages",))
            if m is None:
                continue
            name = None
            if "name" in m:
                with c.at("name"):
                    name = _locale_string(c, m["name"])
            members: tuple[str, ...] = ()
            if "packages" in m:
                with c.at("packages"):
                    members = c.each(m["packages"], c.package_id)
        if name is not None:
            out.append(CategorySettings(id=cat_id, name=name, packages=members))
    return tuple(out)


def _locale_string(c: Checker, node: Node) -> LocaleString | None:
    value: str | dict[str, str]
    if isinstance(node, MappingNode):
        value = {}
        for locale, text_node in c.pairs(node):
            with c.at(locale):
                text = c.string(text_node)
            if text is None:
                return None
            value[locale] = text
    else:
        text = c.string(node, "a string or a mapping of locale to string")
        if text is None:
            return None
        value = text
    try:
        return LocaleString.from_json(value)
    except S9regError as e:
        c.add(node, e.message)
        return None


@dataclass(frozen=True, slots=True)
class Packages:
    """The ``packages:`` section."""

    sources: tuple[PackageSource, ...] = ()
    incomplete_arches: IncompleteArches = IncompleteArches.WARN
    exclude: tuple[Exclusion, ...] = ()
    mirrors: tuple[Mirror, ...] = ()


def packages(c: Checker, node: Node) -> Packages:
    """The ``packages:`` section: sources, removals, mirrors, the ``incomplete_arches`` policy."""
    m = c.mapping(node, (), ("sources", "incomplete_arches", "exclude", "mirrors"))
    if m is None:
        return Packages()
    policy = IncompleteArches.WARN
    if "incomplete_arches" in m:
        with c.at("incomplete_arches"):
            text = c.string(m["incomplete_arches"])
            choices = [p.value for p in IncompleteArches]
            if text in choices:
                policy = IncompleteArches(text)
            elif text is not None:
                c.add(m["incomplete_arches"], f"expected one of {', '.join(choices)}")
    sources: tuple[PackageSource, ...] = ()
    if "sources" in m:
        with c.at("sources"):
            sources = c.each(m["sources"], lambda n: _source(c, n))
    exclude: tuple[Exclusion, ...] = ()
    if "exclude" in m:
        with c.at("exclude"):
            exclude = c.each(m["exclude"], lambda n: _exclusion(c, n))
    mirrors: tuple[Mirror, ...] = ()
    if "mirrors" in m:
        with c.at("mirrors"):
            mirrors = c.each(m["mirrors"], lambda n: _mirror(c, n))
    return Packages(sources, policy, exclude, mirrors)


def _version_string(c: Checker, node: Node) -> VersionString | None:
    text = c.string(node, "a version")
    if text is None:
        return None
    try:
        return VersionString.parse(text)
    except S9regError as e:
        c.add(node, e.message)
        return None


def _sighash(c: Checker, node: Node) -> str | None:
    """A root sighash: base64 of 32 bytes (padding optional), kept without padding."""
    text = c.string(node, "a sighash (base64 of 32 bytes)")
    if text is None:
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        c.add(node, f"expected a sighash (base64 of 32 bytes), got {text!r}")
        return None
    return text.rstrip("=")


def _exclusion(c: Checker, node: Node) -> Exclusion | None:
    m = c.mapping(node, ("id",), ("version", "sighash"))
    if m is None:
        return None
    pid = version = sighash = None
    if "id" in m:
        with c.at("id"):
            pid = c.package_id(m["id"])
    if "version" in m:
        with c.at("version"):
            version = _version_string(c, m["version"])
    if "sighash" in m:
        with c.at("sighash"):
            sighash = _sighash(c, m["sighash"])
            if "version" not in m:
                c.add(m["sighash"], "a sighash needs the version it belongs to")
    if pid is None or ("version" in m and version is None) or ("sighash" in m and sighash is None):
        return None
    return Exclusion(id=pid, version=version, sighash=sighash)


def _mirror(c: Checker, node: Node) -> Mirror | None:
    m = c.mapping(node, ("id", "version", "sighash", "url"), ())
    if m is None:
        return None
    with c.at("id"):
        pid = c.package_id(m["id"]) if "id" in m else None
    with c.at("version"):
        version = _version_string(c, m["version"]) if "version" in m else None
    with c.at("sighash"):
        sighash = _sighash(c, m["sighash"]) if "sighash" in m else None
    with c.at("url"):
        url = c.url(m["url"], published=True) if "url" in m else None
    if pid is None or version is None or sighash is None or url is None:
        return None
    return Mirror(id=pid, version=version, sighash=sighash, url=url)


def _source(c: Checker, node: Node) -> PackageSource | None:
    location = c.file_or_url(node)
    if location is None:
        return None
    if isinstance(location, str):
        return RemoteSource(url=location)
    return LocalSource(pattern=location)


def os_releases(c: Checker, node: Node, guids: Mapping[str, Guid]) -> tuple[OsReleaseSettings, ...]:
    """The ``os:`` list of StartOS releases; ``guids``: the signers' Guids by name."""
    return c.each(node, lambda n: _os_release(c, n, guids))


def _os_release(c: Checker, node: Node, guids: Mapping[str, Guid]) -> OsReleaseSettings | None:
    m = c.mapping(
        node,
        ("version", "headline"),
        ("release_notes", "source_version", "signers", "signatures", *OS_IMAGE_KINDS),
    )
    if m is None:
        return None
    version = None
    if "version" in m:
        with c.at("version"):
            text = c.string(m["version"], "a version")
            if text is not None:
                try:
                    version = Version.parse(text)
                except S9regError as e:
                    c.add(m["version"], e.message)
    headline = None
    if "headline" in m:
        with c.at("headline"):
            headline = c.nonempty(m["headline"])
    notes = ""
    if "release_notes" in m:
        with c.at("release_notes"):
            notes = c.string(m["release_notes"]) or ""
    source = VersionRange.any()
    if "source_version" in m:
        with c.at("source_version"):
            source = c.version_range(m["source_version"]) or source
    signers, signatures = _os_signing(c, m, guids)
    images: dict[str, dict[str, Path | str]] = {}
    for kind in OS_IMAGE_KINDS:
        images[kind] = {}
        if kind in m:
            with c.at(kind):
                images[kind] = _platform_map(c, m[kind])
    if version is None or headline is None:
        return None
    return OsReleaseSettings(
        version=version,
        headline=headline,
        release_notes=notes,
        source_version=source,
        images={kind: platforms for kind, platforms in images.items() if platforms},
        signers=tuple(dict.fromkeys(signers)),
        signatures=signatures,
    )


def _os_signature(c: Checker, node: Node) -> OsSignature | None:
    m = c.mapping(node, ("kind", "platform", "key", "signature"), ())
    if m is None:
        return None
    kind = platform = key = signature = None
    if "kind" in m:
        with c.at("kind"):
            kind = c.string(m["kind"])
            if kind is not None and kind not in OS_IMAGE_KINDS:
                c.add(m["kind"], f"expected one of {', '.join(OS_IMAGE_KINDS)}")
                kind = None
    if "platform" in m:
        with c.at("platform"):
            platform = c.string(m["platform"])
    if "key" in m:
        with c.at("key"):
            found = _public_key(c, m["key"])
            key = found.to_pem() if found is not None else None
    if "signature" in m:
        with c.at("signature"):
            text = c.string(m["signature"], "a SIGNATURE PEM")
            if text is not None:
                try:
                    signature = Signature.from_pem(text).to_pem()
                except S9regError as e:
                    c.add(m["signature"], f"not a SIGNATURE PEM ({e.message})")
    if kind is None or platform is None or key is None or signature is None:
        return None
    return OsSignature(kind=kind, platform=platform, key=key, signature=signature)


def _os_signing(
    c: Checker, m: Mapping[str, Node], guids: Mapping[str, Guid]
) -> tuple[tuple[Guid, ...], tuple[OsSignature, ...]]:
    """An ``os[]`` entry's ``signers`` (as Guids) and further ``signatures``."""
    signers: tuple[Guid, ...] = ()
    if "signers" in m:
        with c.at("signers"):
            signers = c.each(m["signers"], lambda n: _signer_ref(c, n, guids))
    signatures: tuple[OsSignature, ...] = ()
    if "signatures" in m:
        with c.at("signatures"):
            signatures = c.each(m["signatures"], lambda n: _os_signature(c, n))
    return signers, signatures


def _signer_ref(c: Checker, node: Node, guids: Mapping[str, Guid]) -> Guid | None:
    name = c.string(node, "a signer name")
    if name is None:
        return None
    if name not in guids:
        close = difflib.get_close_matches(name, sorted(guids), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        c.add(node, f"no signer named {name!r} in 'signers'{hint}")
        return None
    return guids[name]


def _platform_map(c: Checker, node: Node) -> dict[str, Path | str]:
    out: dict[str, Path | str] = {}
    if not isinstance(node, MappingNode):
        c.add(node, f"expected a mapping of platform to file or URL, got {describe(node)}")
        return out
    for platform, platform_node, value in c.keyed(node):
        with c.at(platform):
            if _PLATFORM_RE.fullmatch(platform) is None:
                c.add(
                    platform_node, f"not a platform name: {platform!r} (e.g. x86_64, raspberrypi)"
                )
                continue
            location = c.file_or_url(value)
        if location is not None:
            out[platform] = location
    return out
