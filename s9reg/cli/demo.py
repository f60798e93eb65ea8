"""``s9reg demo init DIR``: a throwaway registry to try s9reg on (keys, packages, config).

The keys it creates are for the demo only; they are written next to the packages and never
belong in git.
"""

from __future__ import annotations

from pathlib import Path

import click

from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.errors import S9pkError
from s9reg.s9pk.keys import PrivateKey, write_private_key
from s9reg.s9pk.package import pack_directory
from s9reg.s9pk.writer import write_archive_file

# (id, version, arches, title); x86_64 and aarch64 variants, several versions, one flavor.
PACKAGES = [
    ("hello", "1.0.0:0", ("x86_64", "aarch64"), "Hello World"),
    ("hello", "1.1.0:0", ("x86_64",), "Hello World"),
    ("hello", "1.1.0:0", ("aarch64",), "Hello World"),
    ("notes", "2.3.1:1", ("x86_64", "aarch64"), "Notes"),
    ("bitcoind", "#knots:28.1:0", ("x86_64",), "Bitcoin Knots"),
    ("bitcoind", "28.1:0", ("x86_64", "aarch64"), "Bitcoin Core"),
    ("photos", "0.9.0-beta.2:0", ("x86_64",), "Photos"),
    ("wiki", "3.0.0:0", ("x86_64", "aarch64"), "Wiki"),
]

CONFIG = """\
# Demo registry written by `s9reg demo init`; keys beside it are throwaway demo keys.
registry:
  name: s9reg demo
  url: http://127.0.0.1:5959/
  signing_key: file:registry.key.pem

signers:
  - name: Admin
    contact: [{{email: admin@example.invalid}}]
    keys:
      - |
{admin}
    admin: true
  - name: Dev
    contact: [{{website: https://example.invalid/}}]
    keys:
      - |
{dev}

authorized:
  notes:
    Dev: ">=2.0:0"
  wiki:
    Dev: "*"

categories:
  featured:
    name: {{en_US: Featured, de_DE: Empfohlen}}
    packages: [hello, wiki]
  bitcoin:
    name: Bitcoin
    packages: [bitcoind]

packages:
  sources:
    - packages/

output: _site
"""


def _indented(pem: str) -> str:
    return "\n".join("        " + line for line in pem.splitlines())


def _key(path: Path) -> PrivateKey:
    if path.exists():
        return PrivateKey.from_pem(path.read_text(encoding="ascii"))
    key = PrivateKey.generate()
    write_private_key(path, key)
    return key


@click.group()
def demo() -> None:
    """A throwaway demo registry."""


@demo.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def init(directory: Path) -> None:
    """Write demo keys, packages and a site-config.yaml into DIRECTORY (keys are reused)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        admin = _key(directory / "admin.key.pem")
        dev = _key(directory / "dev.key.pem")
        _key(directory / "registry.key.pem")
        packages = directory / "packages"
        packages.mkdir(exist_ok=True)
        for package_id, version, arches, title in PACKAGES:
            signer = dev if package_id in {"notes", "wiki"} else admin
            name = f"{package_id}_{version.lstrip('#').replace(':', '_')}_{'-'.join(arches)}.s9pk"
            tree = demo_package_tree(package_id, version, arches=arches, title=title)
            write_archive_file(packages / name, tree, signer)
        text = CONFIG.format(
            admin=_indented(admin.public_key.to_pem()), dev=_indented(dev.public_key.to_pem())
        )
        (directory / "site-config.yaml").write_text(text, encoding="utf-8")
    except OSError as e:
        msg = f"{directory}: cannot write the demo: {e.strerror}"
        raise S9pkError(msg) from None
    click.echo(f"Demo registry written to {directory} ({len(PACKAGES)} packages)")


def _newest_mtime(root: Path) -> int:
    return max((p.stat().st_mtime_ns for p in root.rglob("*")), default=0)


@demo.command("examples")
@click.argument(
    "directory",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default="examples",
)
def examples(directory: Path) -> None:
    """Pack the example packages in DIRECTORY (default: examples) with throwaway keys.

    Keys are created on first use in DIRECTORY/.keys/ (private keys 0600, public keys beside
    them) and never leave the machine; DIRECTORY/packages/<signer>/<name>/ is packed into
    DIRECTORY/_s9pk/<name>.s9pk with the key of <signer>. Up-to-date packages are kept.
    """
    keys_dir = directory / ".keys"
    out_dir = directory / "_s9pk"
    packed = kept = 0
    try:
        keys_dir.mkdir(mode=0o700, exist_ok=True)
        out_dir.mkdir(exist_ok=True)
        keys: dict[str, PrivateKey] = {}
        for name in ("registry", *sorted(p.name for p in (directory / "packages").iterdir())):
            keys[name] = _key(keys_dir / f"{name}.key.pem")
            pub = keys_dir / f"{name}.pub.pem"
            if not pub.exists():
                pub.write_text(keys[name].public_key.to_pem(), encoding="ascii")
        for signer_dir in sorted((directory / "packages").iterdir()):
            key_mtime = (keys_dir / f"{signer_dir.name}.key.pem").stat().st_mtime_ns
            for src in sorted(p for p in signer_dir.iterdir() if p.is_dir()):
                out = out_dir / f"{src.name}.s9pk"
                newest = max(_newest_mtime(src), key_mtime)
                if out.exists() and out.stat().st_mtime_ns > newest:
                    kept += 1
                    continue
                pack_directory(src, out, keys[signer_dir.name])
                packed += 1
    except OSError as e:
        msg = f"{directory}: cannot prepare the examples: {e.strerror or e}"
        raise S9pkError(msg) from None
    click.echo(f"Examples: {packed} packed, {kept} up to date, in {out_dir}")
