"""Real packages and build settings for build, serve and catalogue tests (no mocks)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from s9reg.builder import BuildSettings, CategorySettings
from s9reg.exver import VersionRange
from s9reg.registry import FullIndex, Guid, SignerInfo
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.metadata import LocaleString
from s9reg.s9pk.writer import write_archive_file

ADMIN = PrivateKey(b"\x11" * 32)
ALICE = PrivateKey(b"\x12" * 32)
STRANGER = PrivateKey(b"\x13" * 32)
REGISTRY = PrivateKey(b"\x14" * 32)
G_ADMIN = Guid.generate(b"admin")
G_ALICE = Guid.generate(b"alice")
EPOCH = 1_700_000_000
CDN = "https://cdn.example.com/"
ORIGIN = "https://origin.example.com/files"


def pkg(
    dir_: Path,
    name: str,
    key: PrivateKey = ALICE,
    *,
    id_: str = "hello",
    version: str = "1.0.0:0",
    arches: tuple[str, ...] = ("x86_64",),
    **kwargs: object,
) -> Path:
    tree = demo_package_tree(id_, version, arches=arches, **kwargs)  # type: ignore[arg-type]
    path = dir_ / name
    write_archive_file(path, tree, key)
    return path


def settings(tmp_path: Path, sources: list[Path], **overrides: object) -> BuildSettings:
    base = BuildSettings(
        name="Test Registry",
        api_url="https://registry.example.com/",
        file_urls=(CDN, ORIGIN),
        signers={
            G_ADMIN: SignerInfo("Admin", (), (ADMIN.public_key.to_pem(),)),
            G_ALICE: SignerInfo("Alice", (), (ALICE.public_key.to_pem(),)),
        },
        admins=frozenset({G_ADMIN}),
        authorized={"hello": {G_ALICE: VersionRange.parse(">=1.0.0:0 <2.0.0:0")}},
        categories=(CategorySettings(id="demo", name=LocaleString("Demo"), packages=("hello",)),),
        sources=tuple(sources),
        output=tmp_path / "site",
        source_date_epoch=EPOCH,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def read_index(out: Path) -> FullIndex:
    return FullIndex.from_dict(json.loads((out / "index.json").read_bytes()))


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
