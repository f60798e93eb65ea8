"""Page models of the catalogue: the index turned into plain, already localized and sanitized data.

Templates only lay these out. Every string here is text (escaped by the templates) except the
``*_html`` fields: Markdown that :func:`markdown_html` has sanitized. The fields shown are those
of registry-protocol.md §2.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from s9reg.catalogue import _paths as paths
from s9reg.catalogue._options import CatalogueOptions, PackageExtras
from s9reg.catalogue._svg import SvgError
from s9reg.catalogue._text import (
    clean_text,
    markdown_html,
    safe_url,
    short_text,
)
from s9reg.exver import VersionString
from s9reg.registry.model import (
    ContactInfo,
    FullIndex,
    OsVersionInfo,
    PackageInfo,
    PackageVersionInfo,
    RegistryAsset,
)
from s9reg.s9pk.commitment import Blake3Commitment, MerkleArchiveCommitment, b64_encode
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PublicKey
from s9reg.s9pk.metadata import HardwareRequirements, LocaleString
from s9reg.units import human_size

__all__ = [
    "Card",
    "CategoryView",
    "Dependency",
    "Download",
    "OsRelease",
    "PackagePage",
    "SignatureView",
    "SignerView",
    "Variant",
    "VersionRow",
    "Views",
    "build_views",
]

_SHORT_LIMIT = 240
_TITLE_LIMIT = 120


@dataclass(frozen=True, slots=True)
class CategoryView:
    """A category: id, localized name, its page and member count."""

    id: str
    name: str
    path: str
    count: int


@dataclass(frozen=True, slots=True)
class Card:
    """One package as listed on the home, category and recent pages."""

    id: str
    title: str
    short: str
    icon: str
    version: str
    arches: tuple[str, ...]
    categories: tuple[CategoryView, ...]
    updated: datetime
    path: str


@dataclass(frozen=True, slots=True)
class SignatureView:
    """One signature of a file: the key's fingerprint and who holds it."""

    fingerprint: str
    signer: str | None
    signer_id: str | None
    registry: bool


@dataclass(frozen=True, slots=True)
class Variant:
    """One hardware variant of a version: requirements, file, commitment and signatures."""

    arches: str
    ram: str | None
    devices: tuple[str, ...]
    size: str | None
    published: datetime
    urls: tuple[tuple[str, str], ...]
    unsafe_urls: tuple[str, ...]
    root_sighash: str
    root_maxsize: int
    signatures: tuple[SignatureView, ...]

    @property
    def registry_signed(self) -> bool:
        """Whether the registry's key co-signed this file."""
        return any(s.registry for s in self.signatures)


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One version of a package in the versions table."""

    title: str
    version: str
    anchor: str
    flavor: str | None
    published: datetime
    os_version: str
    release_notes_html: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True, slots=True)
class Dependency:
    """A dependency of the latest version."""

    id: str
    title: str
    description: str | None
    icon: str | None
    optional: bool
    path: str | None


@dataclass(frozen=True, slots=True)
class Link:
    """A labelled external link; ``url`` is None when it was not a safe http(s) URL."""

    label: str
    text: str
    url: str | None


@dataclass(frozen=True, slots=True)
class PackagePage:
    """Everything the package page shows."""

    card: Card
    long_html: str
    release_notes_html: str
    license: str
    license_text: str | None
    instructions_html: str | None
    links: tuple[Link, ...]
    flags: tuple[tuple[str, str], ...]
    details: tuple[tuple[str, str], ...]
    dependencies: tuple[Dependency, ...]
    versions: tuple[VersionRow, ...]
    publishers: tuple[tuple[str, str, str], ...]
    feed: str


@dataclass(frozen=True, slots=True)
class SignerView:
    """A registered signer on the trust page."""

    id: str
    name: str
    contacts: tuple[tuple[str, str, str | None], ...]
    fingerprints: tuple[str, ...]
    admin: bool
    registry: bool
    adopted_from: str | None = None


@dataclass(frozen=True, slots=True)
class Download:
    """One OS image of one platform."""

    kind: str
    platform: str
    size: str
    blake3: str
    published: datetime
    urls: tuple[tuple[str, str], ...]
    signatures: tuple[SignatureView, ...]


@dataclass(frozen=True, slots=True)
class OsRelease:
    """One StartOS release on the OS page."""

    version: str
    anchor: str
    headline: str
    release_notes_html: str
    downloads: tuple[Download, ...]


@dataclass(frozen=True, slots=True)
class Views:
    """All page models, plus the icon files they reference."""

    name: str
    icon: str
    cards: tuple[Card, ...]
    categories: tuple[CategoryView, ...]
    packages: tuple[PackagePage, ...]
    signers: tuple[SignerView, ...]
    registry_fingerprint: str | None
    os_releases: tuple[OsRelease, ...]
    icons: Mapping[str, bytes]
    updated: datetime | None


class _Builder:
    """Shared state while building views: options, signer lookup, icon files."""

    def __init__(
        self,
        index: FullIndex,
        options: CatalogueOptions,
        extras: Mapping[tuple[str, str], PackageExtras],
    ) -> None:
        self.index = index
        self.options = options
        self.extras = extras
        self.icons: dict[str, bytes] = {}
        self.registry_fp = (options.registry_signer or "").strip().lower() or None
        self.key_owner: dict[str, tuple[str, str]] = {}
        for guid in sorted(index.signers):
            for pem in index.signers[guid].keys:
                self.key_owner.setdefault(pem, (str(guid), clean_text(index.signers[guid].name)))
        self.category_names = {
            cid: self.loc(cat.name) or cid for cid, cat in index.package.categories.items()
        }

    def loc(self, text: LocaleString) -> str:
        return clean_text(text.localize_for(self.options.language))

    def icon(self, data_url: str) -> str:
        try:
            path, data = paths.icon_file(data_url)
        except SvgError:
            return paths.DEFAULT_ICON  # an SVG that cannot be made safe is not published
        self.icons[path] = data
        return path

    def signature(self, pem: str) -> SignatureView:
        try:
            fingerprint = PublicKey.from_pem(pem).fingerprint
        except S9pkError:
            fingerprint = "?"
        guid, name = self.key_owner.get(pem, (None, None))
        registry = fingerprint == self.registry_fp
        if name is None and registry:
            name = "This registry"
        return SignatureView(fingerprint, name, guid, registry)


def _latest(info: PackageInfo) -> tuple[VersionString, PackageVersionInfo]:
    # The greatest in upstream's total order: flavorless versions sort after flavored ones.
    version = max(info.versions, key=lambda v: v.sort_key)
    return version, info.versions[version]


def _published(info: PackageVersionInfo) -> datetime:
    return min(asset.published_at for _, asset in info.s9pks)


def _updated(info: PackageInfo) -> datetime:
    return max(asset.published_at for v in info.versions.values() for _, asset in v.s9pks)


def _arches(info: PackageInfo) -> tuple[str, ...]:
    out: set[str] = set()
    for v in info.versions.values():
        for hw, _ in v.s9pks:
            out.update(clean_text(a) for a in (hw.arch or ()))
    return tuple(sorted(out))


def _host(url: str) -> str:
    """The host a download URL points at, shown as the mirror's name."""
    return urlsplit(url).hostname or url


def _hardware(hw: HardwareRequirements) -> tuple[str, str | None, tuple[str, ...]]:
    arches = ", ".join(clean_text(a) for a in hw.arch) if hw.arch is not None else "any"
    ram = None if hw.ram is None else human_size(hw.ram)
    devices = tuple(
        short_text(f"{d.device_class}: {d.description}", _SHORT_LIMIT) for d in hw.device
    )
    return arches, ram, devices


def _card(b: _Builder, package_id: str, info: PackageInfo) -> Card:
    version, latest = _latest(info)
    cats = tuple(
        CategoryView(
            cid,
            b.category_names.get(cid, cid),
            paths.category_page(cid),
            0,
        )
        for cid in sorted(info.categories)
    )
    return Card(
        id=package_id,
        title=short_text(latest.title, _TITLE_LIMIT) or package_id,
        short=short_text(b.loc(latest.description.short), _SHORT_LIMIT),
        icon=b.icon(latest.icon),
        version=clean_text(str(version)),
        arches=_arches(info),
        categories=cats,
        updated=_updated(info),
        path=paths.package_page(package_id),
    )


def _variant(
    b: _Builder,
    hw: HardwareRequirements,
    asset: RegistryAsset[MerkleArchiveCommitment],
    sizes: Mapping[str, int],
) -> Variant:
    arches, ram, devices = _hardware(hw)
    sighash = b64_encode(asset.commitment.root_sighash)
    size = sizes.get(sighash)
    safe = tuple((u, _host(u)) for u in asset.urls if safe_url(u) is not None)
    return Variant(
        arches=arches,
        ram=ram,
        devices=devices,
        size=None if size is None else human_size(size),
        published=asset.published_at,
        urls=safe,
        unsafe_urls=tuple(clean_text(u) for u in asset.urls if safe_url(u) is None),
        root_sighash=sighash,
        root_maxsize=asset.commitment.root_maxsize,
        signatures=tuple(b.signature(pem) for pem in sorted(asset.signatures)),
    )


def _version_row(
    b: _Builder, package_id: str, version: VersionString, info: PackageVersionInfo
) -> VersionRow:
    text = clean_text(str(version))
    extras = b.extras.get((package_id, str(version)))
    sizes = extras.file_sizes if extras is not None else {}
    return VersionRow(
        title=short_text(info.title, _TITLE_LIMIT) or package_id,
        version=text,
        anchor=paths.version_anchor(text),
        flavor=version.flavor,
        published=_published(info),
        os_version=str(info.os_version),
        release_notes_html=markdown_html(b.loc(info.release_notes)),
        variants=tuple(_variant(b, hw, asset, sizes) for hw, asset in info.s9pks),
    )


def _links(info: PackageVersionInfo) -> tuple[Link, ...]:
    pairs = [
        ("Package repository", info.package_repo),
        ("Upstream repository", info.upstream_repo),
        ("Website", info.marketing_url),
        ("Donate", info.donation_url),
    ]
    return tuple(
        Link(label, clean_text(url), safe_url(url)) for label, url in pairs if url is not None
    )


_FLAGS = (
    ("hardware_acceleration", "Hardware acceleration", "uses the GPU or other accelerators"),
    ("userspace_filesystems", "Userspace filesystems", "mounts FUSE filesystems"),
    ("virtual_networking", "Virtual networking", "creates virtual network interfaces"),
)


def _flags(info: PackageVersionInfo) -> tuple[tuple[str, str], ...]:
    out = [(label, why) for attr, label, why in _FLAGS if getattr(info, attr)]
    out.extend(("Plugin", clean_text(p)) for p in info.plugins)
    return tuple(out)


def _details(version: VersionString, info: PackageVersionInfo) -> tuple[tuple[str, str], ...]:
    out = [("Latest version", clean_text(str(version))), ("StartOS version", str(info.os_version))]
    if info.sdk_version is not None:
        out.append(("SDK version", str(info.sdk_version)))
    if info.git_hash is not None:
        out.append(("Git commit", short_text(info.git_hash, 80)))
    if info.satisfies:
        out.append(("Satisfies", ", ".join(str(s) for s in info.satisfies)))
    return tuple(out)


def _dependencies(b: _Builder, info: PackageVersionInfo) -> tuple[Dependency, ...]:
    out = []
    for dep_id in sorted(info.dependency_metadata):
        meta = info.dependency_metadata[dep_id]
        known = b.index.package.packages.get(dep_id)
        title = b.loc(meta.title) if meta.title is not None else ""
        if not title and known is not None:
            title = _latest(known)[1].title
        description = None if meta.description is None else b.loc(meta.description)
        out.append(
            Dependency(
                id=dep_id,
                title=short_text(title, _TITLE_LIMIT) or dep_id,
                description=description,
                icon=None if meta.icon is None else b.icon(meta.icon),
                optional=meta.optional,
                path=None if known is None else paths.package_page(dep_id),
            )
        )
    return tuple(out)


def _package(b: _Builder, package_id: str, info: PackageInfo, card: Card) -> PackagePage:
    version, latest = _latest(info)
    extras = b.extras.get((package_id, str(version)))
    ordered = sorted(info.versions, key=lambda v: v.sort_key, reverse=True)
    publishers = tuple(
        (str(g), clean_text(b.index.signers[g].name) if g in b.index.signers else str(g), str(r))
        for g, r in sorted(info.authorized.items())
    )
    instructions = extras.instructions if extras is not None else None
    license_text = extras.license_text if extras is not None else None
    return PackagePage(
        card=card,
        long_html=markdown_html(b.loc(latest.description.long)),
        release_notes_html=markdown_html(b.loc(latest.release_notes)),
        license=short_text(latest.license, _TITLE_LIMIT),
        license_text=None if license_text is None else clean_text(license_text),
        instructions_html=None if instructions is None else markdown_html(instructions),
        links=_links(latest),
        flags=_flags(latest),
        details=_details(version, latest),
        dependencies=_dependencies(b, latest),
        versions=tuple(_version_row(b, package_id, v, info.versions[v]) for v in ordered),
        publishers=publishers,
        feed=paths.package_feed(package_id),
    )


def _contact_href(contact: ContactInfo) -> str | None:
    if contact.kind == "website":
        return safe_url(contact.value)
    if contact.kind == "email":
        return safe_url("mailto:" + contact.value, mailto=True)
    return None  # Matrix ids have no URL every browser opens.


def _signers(b: _Builder) -> tuple[SignerView, ...]:
    out = []
    for guid in sorted(b.index.signers):
        info = b.index.signers[guid]
        fps = tuple(b.signature(pem).fingerprint for pem in info.keys)
        contacts = tuple((c.kind, clean_text(c.value), _contact_href(c)) for c in info.contact)
        out.append(
            SignerView(
                id=str(guid),
                name=clean_text(info.name),
                contacts=contacts,
                fingerprints=fps,
                admin=str(guid) in b.options.admins,
                registry=b.registry_fp is not None and b.registry_fp in fps,
                adopted_from=b.options.adopted.get(str(guid)),
            )
        )
    return tuple(out)


def _os_releases(b: _Builder) -> tuple[OsRelease, ...]:
    out = []
    versions = b.index.os.versions
    for version in sorted(versions, key=lambda v: v.sort_key, reverse=True):
        info: OsVersionInfo = versions[version]
        downloads = []
        for kind, assets in (("iso", info.iso), ("squashfs", info.squashfs), ("img", info.img)):
            for platform in sorted(assets):
                asset: RegistryAsset[Blake3Commitment] = assets[platform]
                downloads.append(
                    Download(
                        kind=kind,
                        platform=clean_text(platform),
                        size=human_size(asset.commitment.size),
                        blake3=asset.commitment.hash.hex(),
                        published=asset.published_at,
                        urls=tuple((u, _host(u)) for u in asset.urls if safe_url(u) is not None),
                        signatures=tuple(b.signature(p) for p in sorted(asset.signatures)),
                    )
                )
        text = str(version)
        out.append(
            OsRelease(
                version=text,
                anchor="v-" + text,
                headline=short_text(info.headline, _SHORT_LIMIT),
                release_notes_html=markdown_html(info.release_notes),
                downloads=tuple(downloads),
            )
        )
    return tuple(out)


def _sort_title(card: Card) -> tuple[str, str]:
    return card.title.casefold(), card.id


def build_views(
    index: FullIndex,
    options: CatalogueOptions,
    extras: Mapping[tuple[str, str], PackageExtras],
) -> Views:
    """Turn the index into page models.

    Raises:
        CatalogueError: an icon is not a base64 data URL.
    """
    b = _Builder(index, options, extras)
    packages = {pid: info for pid, info in index.package.packages.items() if info.versions}
    cards = {pid: _card(b, pid, info) for pid, info in sorted(packages.items())}
    members: dict[str, int] = {}
    for card in cards.values():
        for cat in card.categories:
            members[cat.id] = members.get(cat.id, 0) + 1
    category_ids = sorted(set(index.package.categories) | set(members))
    categories = sorted(
        (
            CategoryView(cid, b.category_names.get(cid, cid), paths.category_page(cid), count)
            for cid in category_ids
            for count in [members.get(cid, 0)]
        ),
        key=lambda c: (c.name.casefold(), c.id),
    )
    pages = tuple(_package(b, pid, packages[pid], cards[pid]) for pid in sorted(packages))
    registry_icon = b.icon(index.icon) if index.icon is not None else paths.DEFAULT_ICON
    updated = max((c.updated for c in cards.values()), default=None)
    return Views(
        name=short_text(index.name, _TITLE_LIMIT) if index.name else "StartOS registry",
        icon=registry_icon,
        cards=tuple(sorted(cards.values(), key=_sort_title)),
        categories=tuple(categories),
        packages=pages,
        signers=_signers(b),
        registry_fingerprint=b.registry_fp,
        os_releases=_os_releases(b),
        icons=dict(sorted(b.icons.items())),
        updated=options.generated_at if options.generated_at is not None else updated,
    )
