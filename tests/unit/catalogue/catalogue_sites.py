"""Real registry sites for the catalogue tests: demo packages built with build_site, then rendered.

Shared by tests/unit/catalogue and tests/browser (imported as ``unit.catalogue.catalogue_sites``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from s9reg.builder import BuildSettings, CategorySettings, build_site
from s9reg.builder.limits import TEXT_LIMITS
from s9reg.catalogue import CatalogueOptions, PackageExtras, render
from s9reg.exver import Version, VersionRange
from s9reg.registry import FullIndex, Guid, OsIndex, OsVersionInfo, RegistryAsset, SignerInfo
from s9reg.registry.model import ContactInfo
from s9reg.s9pk.commitment import Blake3Commitment, b64_encode
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import LocaleString
from s9reg.s9pk.package import S9pk
from s9reg.s9pk.tree import File
from s9reg.s9pk.writer import write_archive_file

from helpers.trees import edit

ADMIN = PrivateKey(b"\x21" * 32)
DEV = PrivateKey(b"\x22" * 32)
REGISTRY = PrivateKey(b"\x23" * 32)
G_ADMIN = Guid.generate(b"catalogue admin")
G_DEV = Guid.generate(b"catalogue dev")
EPOCH = 1_700_000_000
API_URL = "https://registry.example.com/"
FILE_URLS = ("https://cdn.example.com/", "https://origin.example.com/files")

# Every field a package author controls, filled with attempts to run script or break out.
TITLE_MAX = TEXT_LIMITS["title"].limit
HOSTILE_TITLE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">Evil'
HOSTILE_SHORT = '"><svg onload="window.__pwned=3">short & <b>bold</b>'
HOSTILE_LONG = (
    "Hello <script>window.__pwned=4</script> [click](javascript:window.__pwned=5) "
    '<a href="javascript:window.__pwned=6">raw</a> ![tracker](https://evil.example/t.png) '
    "[ok](https://example.com/ok)\n\n" + "A" * 3000
)
HOSTILE_NOTES = '<iframe src="https://evil.example/"></iframe> **bold** [x](javascript:alert(1))'
HOSTILE_INSTRUCTIONS = (
    "# Setup\n\n<script>window.__pwned=7</script>\n\n"
    '<a href="javascript:window.__pwned=8">j</a> [k](javascript:window.__pwned=9)\n\n'
    '<img src="https://evil.example/i.png" onerror="window.__pwned=10">\n'
)
HOSTILE_LICENSE = "</pre><script>window.__pwned=11</script>"
HOSTILE_MARKETING = "javascript:window.__pwned=12"
HOSTILE_DONATION = 'https://evil.example/"onmouseover="window.__pwned=13'


@dataclass(frozen=True, slots=True)
class DemoSite:
    """A built and rendered site on disk."""

    root: Path
    index: FullIndex
    options: CatalogueOptions
    extras: dict[tuple[str, str], PackageExtras]
    files: dict[str, bytes]


def _hostile_tree() -> object:
    tree = demo_package_tree(
        "evil",
        "1.0.0:0",
        arches=("x86_64",),
        with_deps=["hello"],
        manifest_overrides={
            # As long as the build lets a title be, ending in an unbreakable word.
            "title": HOSTILE_TITLE + " " + "W" * (TITLE_MAX - len(HOSTILE_TITLE) - 1),
            "description": {"short": HOSTILE_SHORT, "long": HOSTILE_LONG},
            "releaseNotes": HOSTILE_NOTES,
            "marketingUrl": HOSTILE_MARKETING,
            "donationUrl": HOSTILE_DONATION,
            "upstreamRepo": "data:text/html,<script>alert(1)</script>",
            "hardwareAcceleration": True,
            "virtualNetworking": True,
        },
    )
    return edit(
        tree,
        {
            "instructions.md": File.from_bytes(HOSTILE_INSTRUCTIONS.encode()),
            "LICENSE.md": File.from_bytes(HOSTILE_LICENSE.encode()),
            "dependencies/hello/metadata.json": File.from_bytes(
                json.dumps({"title": "<b>Hello</b><script>window.__pwned=14</script>"}).encode()
            ),
        },
    )


def write_packages(src: Path, *, hostile: bool) -> list[Path]:
    """Demo packages: several versions, hardware variants, a flavor, dependencies."""
    src.mkdir(parents=True, exist_ok=True)
    specs = [
        ("hello", "1.0.0:0", ("x86_64", "aarch64"), {}, ADMIN),
        ("hello", "1.1.0:0", ("x86_64",), {}, ADMIN),
        ("hello", "1.1.0:0", ("aarch64",), {}, ADMIN),
        ("bitcoind", "#knots:28.1:0", ("x86_64",), {"title": "Bitcoin Knots"}, ADMIN),
        ("bitcoind", "28.1:0", ("x86_64", "aarch64"), {"title": "Bitcoin Core"}, ADMIN),
        ("notes", "2.3.1:1", ("x86_64", "aarch64"), {}, DEV),
        ("wiki", "3.0.0:0", ("x86_64",), {"with_deps": ["bitcoind", "missing-dep"]}, DEV),
    ]
    out = []
    for pid, version, arches, kwargs, key in specs:
        path = src / f"{pid}_{version.lstrip('#').replace(':', '_')}_{'-'.join(arches)}.s9pk"
        write_archive_file(path, demo_package_tree(pid, version, arches=arches, **kwargs), key)
        out.append(path)
    if hostile:
        path = src / "evil.s9pk"
        write_archive_file(path, _hostile_tree(), ADMIN)  # type: ignore[arg-type]
        out.append(path)
    return out


def settings(src: Path, output: Path, *, hostile: bool) -> BuildSettings:
    """Build settings authorizing the demo packages."""
    return BuildSettings(
        name="Catalogue Test Registry",
        api_url=API_URL,
        file_urls=FILE_URLS,
        signers={
            G_ADMIN: SignerInfo(
                "Admin", (ContactInfo("email", "admin@example.com"),), (ADMIN.public_key.to_pem(),)
            ),
            G_DEV: SignerInfo(
                "Dev <b>Team</b>",
                (ContactInfo("website", "javascript:alert(1)"),),
                (DEV.public_key.to_pem(),),
            ),
        },
        admins=frozenset({G_ADMIN}),
        authorized={
            "notes": {G_DEV: VersionRange.parse(">=2.0:0")},
            "wiki": {G_DEV: VersionRange.parse("*")},
        },
        categories=(
            CategorySettings(
                id="featured",
                name=LocaleString((("en_US", "Featured"), ("de_DE", "Empfohlen"))),
                packages=("hello", "wiki", *(("evil",) if hostile else ())),
            ),
            CategorySettings(id="bitcoin", name=LocaleString("Bitcoin"), packages=("bitcoind",)),
            CategorySettings(id="Odd Name/Ü", name=LocaleString("Odd"), packages=("notes",)),
        ),
        sources=tuple(write_packages(src, hostile=hostile)),
        output=output,
        source_date_epoch=EPOCH,
        registry_key=REGISTRY,
    )


def read_extras(sources: list[Path]) -> dict[tuple[str, str], PackageExtras]:
    """What the build would read from each package for the catalogue."""
    extras: dict[tuple[str, str], PackageExtras] = {}
    for path in sources:
        with path.open("rb") as f:
            pkg = S9pk.read(f)
            key = (pkg.manifest.id, pkg.manifest.version)
            sizes = dict(extras[key].file_sizes) if key in extras else {}
            sizes[b64_encode(pkg.commitment.root_sighash)] = path.stat().st_size
            extras[key] = PackageExtras(
                instructions=pkg.instructions(), license_text=pkg.license(), file_sizes=sizes
            )
    return extras


def options(**overrides: object) -> CatalogueOptions:
    """The options the tests render with."""
    base: dict[str, object] = {
        "registry_url": API_URL,
        "registry_signer": REGISTRY.public_key.fingerprint,
        "admins": frozenset({str(G_ADMIN)}),
    }
    base.update(overrides)
    return CatalogueOptions(**base)  # type: ignore[arg-type]


def os_index() -> OsIndex:
    """One StartOS release with an ISO and a Raspberry Pi image (a hostile mirror URL too)."""
    commitment = Blake3Commitment(bytes(range(32)), 1_234_567_890)
    asset = RegistryAsset(
        published_at=datetime(2026, 5, 1, tzinfo=UTC),
        urls=("https://cdn.example.com/os/startos-0.4.0.iso", "javascript:alert(1)//x"),
        commitment=commitment,
        signatures={REGISTRY.public_key.to_pem(): commitment.sign(REGISTRY).to_pem()},
    )
    release = OsVersionInfo(
        headline="<b>Faster</b> backups",
        release_notes="* one\n* two <script>x</script>",
        source_version=VersionRange.parse("*"),
        iso={"x86_64": asset},
        img={"raspberrypi": asset},
    )
    return OsIndex({Version.parse("0.4.0"): release})


def build_demo_site(workdir: Path, *, hostile: bool = True) -> DemoSite:
    """Build the registry site with s9reg.builder, render the catalogue into it, return both.

    The build does not add OS releases yet, so one is added to the index before rendering.
    """
    s = settings(workdir / "src", workdir / "site", hostile=hostile)
    build_site(s)
    index = FullIndex.from_dict(json.loads((s.output / "index.json").read_bytes()))
    index = replace(index, os=os_index())
    extras = read_extras(list(s.sources))
    opts = options()
    files = render(index, opts, extras)
    for path, data in files.items():
        target = s.output / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return DemoSite(s.output, index, opts, extras, files)
