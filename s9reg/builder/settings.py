"""Typed settings of ``s9reg build`` (registry-protocol.md §9): what the pipeline consumes.

``s9reg.config`` assembles these from YAML; nothing here reads files or the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from s9reg.builder.fetch import DownloadLimits
from s9reg.errors import ConfigError
from s9reg.exver import Version, VersionRange, VersionString
from s9reg.registry.errors import RegistryError
from s9reg.registry.model import FullIndex, Guid, RegistryInfo, SignerInfo, dump_json
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import LocaleString, is_id

__all__ = [
    "OS_IMAGE_KINDS",
    "BuildSettings",
    "CategorySettings",
    "Exclusion",
    "IncompleteArches",
    "IndexSource",
    "Mirror",
    "OsReleaseSettings",
    "OsSignature",
]

OS_IMAGE_KINDS = ("iso", "img", "squashfs")

#: Reads the index of the registry as published: None when nothing is published yet; raises an
#: :class:`s9reg.errors.S9regError` when it cannot be read. The build calls it at most once.
IndexSource = Callable[[], FullIndex | None]


class IncompleteArches(StrEnum):
    """What the build does with a variant that claims an arch whose files are MISSING.

    Upstream's registry lists such an arch-filtered archive (s9pk-format.md §17.3); devices of
    that arch then refuse to install it, or run it emulated.
    """

    WARN = "warn"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True, kw_only=True)
class CategorySettings:
    """A package category and the package ids that belong to it.

    Attributes:
        id: category id (key of ``package.category.list``).
        name: display name.
        packages: member package ids; ids without a built version are ignored (with a warning).
    """

    id: str
    name: LocaleString
    packages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Exclusion:
    """Packages the build leaves out though a source holds them (``package remove``, §5).

    Attributes:
        id: the package.
        version: one version of it, or None for every version.
        sighash: one variant of that version (its root sighash, base64), or None for all.
    """

    id: str
    version: VersionString | None = None
    sighash: str | None = None

    def matches(self, package_id: str, version: VersionString, sighash: str) -> bool:
        """Whether this exclusion covers that variant (``1.0:0`` and ``1.0.0:0`` are equal)."""
        return (
            package_id == self.id
            and (self.version is None or self.version == version)
            and (self.sighash is None or self.sighash.rstrip("=") == sighash.rstrip("="))
        )

    def __str__(self) -> str:
        return " ".join(
            x
            for x in (
                self.id,
                str(self.version or ""),
                self.sighash and f"--sighash {self.sighash}",
            )
            if x
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Mirror:
    """One more URL of one package file (``package add-mirror``), listed after the site's own.

    Attributes:
        id: the package.
        version: its version.
        sighash: the variant's root sighash (base64): the file at ``url`` was checked to carry
            this commitment when the mirror was added.
        url: where else the file is served.
    """

    id: str
    version: VersionString
    sighash: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OsSignature:
    """A further signature of one StartOS image (``os asset sign``), over its commitment.

    Attributes:
        kind: ``iso``, ``img`` or ``squashfs``.
        platform: the image's platform.
        key: the signer's public key (PEM).
        signature: the Ed25519ph signature (PEM), context ``startos``.
    """

    kind: str
    platform: str
    key: str
    signature: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OsReleaseSettings:
    """A StartOS release to publish in the OS index (registry-protocol.md §2.9).

    Attributes:
        version: the StartOS version.
        headline: one-line summary.
        release_notes: Markdown text.
        source_version: which installed versions may update to this one.
        images: kind (``iso``, ``img``, ``squashfs``) → platform → a local file (published in
            the site) or an ``http(s)`` URL (downloaded to compute its commitment, then listed
            as is).
        signers: signers authorized for this version besides the admins (upstream's
            ``OsVersionInfo.authorized`` is both).
        signatures: further signatures of its images; each must verify against the image's
            commitment, or the build fails.
    """

    version: Version
    headline: str
    release_notes: str = ""
    source_version: VersionRange
    images: Mapping[str, Mapping[str, Path | str]] = field(default_factory=dict)
    signers: tuple[Guid, ...] = ()
    signatures: tuple[OsSignature, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildSettings:
    """Everything :func:`s9reg.builder.build_site` needs, already parsed and resolved.

    Attributes:
        name: registry display name (``info.name``), or None.
        icon: registry icon as a ``data:`` URL (``info.icon``), or None.
        api_url: public URL of the registry API (recorded in ``s9reg-site.json``).
        file_urls: absolute base URLs the site's files are served from, CDN first; each
            asset lists ``base + "/" + relative path`` for every base, in this order.
        signers: registered signers by Guid.
        admins: Guids of signers that may publish any package.
        authorized: package id → signer Guid → version range that signer may publish.
        categories: categories and their members.
        sources: ``.s9pk`` files to publish (globs and directories already expanded).
        registry_key: key that co-signs every asset commitment, or None.
        output: the site directory to (re)build; it is replaced as a whole.
        source_date_epoch: publication time (seconds) for assets seen for the first time;
            None for the current time.
        published: reads the registry's published index (the storage target's live
            ``index.json``, or a site given with ``--previous``), or None. An asset or StartOS
            image that the previous output lacks keeps the ``publishedAt`` it has there, so a
            build from a fresh checkout dates nothing anew. Called at most once, and only when
            the previous output is missing or lacks something the build makes.
        published_first: the published index's dates win over the previous output's (read
            once, up front): ``s9reg publish`` builds so, since what is live is what devices
            were told.
        exclude: package versions or variants left out though a source holds them.
        mirrors: further URLs of package files, listed after the site's own.
        skip_invalid: leave out packages that fail verification or authorization (with a
            warning) instead of failing the build.
        incomplete_arches: warn about (default) or refuse a variant that claims an arch whose
            images are MISSING.
        remote_sources: ``.s9pk`` URLs, downloaded and verified like local files; each
            original URL is listed after the site's own URLs as a fallback mirror.
        os_releases: StartOS releases; they need ``registry_key``, which signs each image's
            commitment with the context ``startos``.
        base: an index already published elsewhere (``s9reg publish FILE…``): its package
            versions are kept with their URLs, and the sources are added to them as new
            versions or new hardware variants; its files are not copied into the site. Its
            OS releases are kept unless ``os_releases`` is set.
        base_file_sizes: sizes of ``base``'s package files by URL, where known (the publish
            manifest lists them), so the catalogue shows them for versions carried over.
        language: locale of the catalogue's texts.
        template_dir: templates that override the catalogue's own, file by file.
        cache_dir: where the verification cache lives (:mod:`s9reg.builder.verify_cache`), or None
            to verify every body on every build.
        downloads: bounds of every download (remote sources, image URLs): size cap, head
            deadline, minimum rate.

    Raises:
        ConfigError: the settings contradict each other (all problems in ``details``).
    """

    name: str | None = None
    icon: str | None = None
    api_url: str
    file_urls: tuple[str, ...]
    signers: Mapping[Guid, SignerInfo] = field(default_factory=dict)
    admins: frozenset[Guid] = frozenset()
    authorized: Mapping[str, Mapping[Guid, VersionRange]] = field(default_factory=dict)
    categories: tuple[CategorySettings, ...] = ()
    sources: tuple[Path, ...] = ()
    registry_key: PrivateKey | None = None
    output: Path
    source_date_epoch: int | None = None
    published: IndexSource | None = None
    published_first: bool = False
    skip_invalid: bool = False
    incomplete_arches: IncompleteArches = IncompleteArches.WARN
    remote_sources: tuple[str, ...] = ()
    os_releases: tuple[OsReleaseSettings, ...] = ()
    exclude: tuple[Exclusion, ...] = ()
    mirrors: tuple[Mirror, ...] = ()
    base: FullIndex | None = None
    base_file_sizes: Mapping[str, int] = field(default_factory=dict)
    cache_dir: Path | None = None
    language: str = "en_US"
    template_dir: Path | None = None
    downloads: DownloadLimits = field(default_factory=DownloadLimits)

    def fingerprint_data(self) -> dict[str, object]:
        """Every setting that shapes the output, as JSON (the public half of the key only).

        ``published`` and ``published_first`` are left out: they matter only for assets the
        previous output lacks or dates otherwise, and a build is skipped only when that output
        is intact and every input is unchanged since the build that made it.
        """
        return {
            "name": self.name,
            "icon": self.icon,
            "api_url": self.api_url,
            "file_urls": list(self.file_urls),
            "signers": {str(g): s.to_dict() for g, s in sorted(self.signers.items())},
            "admins": sorted(self.admins),
            "authorized": {
                pid: {str(g): str(r) for g, r in sorted(scopes.items())}
                for pid, scopes in sorted(self.authorized.items())
            },
            "categories": [[c.id, repr(c.name), list(c.packages)] for c in self.categories],
            "sources": [str(p) for p in self.sources],
            "registry_key": (
                None if self.registry_key is None else self.registry_key.public_key.to_pem()
            ),
            "output": str(self.output),
            "skip_invalid": self.skip_invalid,
            "incomplete_arches": self.incomplete_arches.value,
            "language": self.language,
            "template_dir": None if self.template_dir is None else str(self.template_dir),
            "remote_sources": list(self.remote_sources),
            "exclude": [[x.id, str(x.version), x.sighash] for x in self.exclude],
            "mirrors": [[m.id, str(m.version), m.sighash, m.url] for m in self.mirrors],
            "base": None if self.base is None else dump_json(self.base).decode(),
            "base_file_sizes": dict(sorted(self.base_file_sizes.items())),
            "os": [
                [
                    str(r.version),
                    r.headline,
                    r.release_notes,
                    str(r.source_version),
                    {k: {p: str(v) for p, v in sorted(m.items())} for k, m in r.images.items()},
                    sorted(r.signers),
                    sorted((x.kind, x.platform, x.key, x.signature) for x in r.signatures),
                ]
                for r in self.os_releases
            ],
        }

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ConfigError(f"build settings: {problems[0]}{more}", details="\n".join(problems))

    def _problems(self) -> list[str]:
        out: list[str] = []
        if not self.file_urls:
            out.append("file_urls: at least one base URL is needed")
        out.extend(
            f"file_urls: {u!r} is not an absolute http(s) URL"
            for u in self.file_urls
            if not u.startswith(("https://", "http://")) or len(u.split("/", 3)[2]) == 0
        )
        out.extend(
            f"admins: {g} is not a registered signer"
            for g in sorted(self.admins)
            if g not in self.signers
        )
        out.extend(
            f"os.{r.version}: signer {g} is not a registered signer"
            for r in self.os_releases
            for g in r.signers
            if g not in self.signers
        )
        for pid, scopes in sorted(self.authorized.items()):
            if not is_id(pid):
                out.append(f"authorized: {pid!r} is not a valid package id")
            out.extend(
                f"authorized.{pid}: {g} is not a registered signer"
                for g in sorted(scopes)
                if g not in self.signers
            )
        seen: set[str] = set()
        for cat in self.categories:
            if cat.id in seen:
                out.append(f"categories: {cat.id!r} is defined twice")
            seen.add(cat.id)
            out.extend(
                f"categories.{cat.id}: {p!r} is not a valid package id"
                for p in cat.packages
                if not is_id(p)
            )
        if self.icon is not None:
            try:
                RegistryInfo.from_dict({"icon": self.icon, "categories": {}})
            except RegistryError as e:
                out.append(f"icon: {e.problem}")
        if self.os_releases and self.registry_key is None:
            out.append("os: StartOS releases need a registry signing key (registry.signing_key)")
        versions = [str(r.version) for r in self.os_releases]
        out.extend(
            f"os: version {v} is listed twice"
            for v in sorted(set(versions))
            if versions.count(v) > 1
        )
        for r in self.os_releases:
            out.extend(
                f"os.{r.version}: unknown image kind {k!r} (expected iso, img or squashfs)"
                for k in r.images
                if k not in OS_IMAGE_KINDS
            )
        out.extend(
            f"remote source {u!r} is not an http(s) URL"
            for u in self.remote_sources
            if not u.startswith(("https://", "http://"))
        )
        if self.source_date_epoch is not None and self.source_date_epoch < 0:
            out.append("source_date_epoch: must not be negative")
        return out
