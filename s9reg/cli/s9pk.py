"""``s9reg s9pk``: inspect, verify, pack and co-sign `.s9pk` packages."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import IO, Any

import click

from s9reg.cli._app import console_err, dump, is_tty, key_option, load_key
from s9reg.cli._progress import byte_progress
from s9reg.s9pk import v1
from s9reg.s9pk.demo import demo_package_tree, write_tree
from s9reg.s9pk.errors import S9pkError, UnsupportedFormatError
from s9reg.s9pk.keys import PublicKey, Signature
from s9reg.s9pk.package import S9pk, pack_directory
from s9reg.s9pk.tree import Directory, read_chunks
from s9reg.s9pk.writer import RootOrder

_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    default="json",
    show_default=True,
    help="Output format.",
)


def _open_error(path: Path, e: OSError) -> S9pkError:
    return S9pkError(f"cannot open: {e.strerror or e}", archive=str(path))


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as e:
        raise _open_error(path, e) from None


def _load(path: Path, f: IO[bytes]) -> S9pk:
    """Open a v2 package, or raise a clear error for v1 ones."""
    try:
        head = f.read(3)
        f.seek(0)
        if v1.is_v1(head):
            pkg = v1.read_v1(f)
            raise UnsupportedFormatError(pkg.unsupported_reason)
        return S9pk.read(f)
    except S9pkError as e:
        raise e.in_archive(str(path)) from None


@click.group()
def s9pk() -> None:
    """Read, verify, pack and co-sign .s9pk packages."""


@s9pk.group()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def inspect(ctx: click.Context, file: Path) -> None:
    """Show parts of FILE (shapes as `start-cli s9pk inspect`)."""
    ctx.meta["s9reg.file"] = file


def _file(ctx: click.Context) -> Path:
    path: Path = ctx.meta["s9reg.file"]
    return path


@inspect.command("manifest")
@_format_option
@click.pass_context
def inspect_manifest(ctx: click.Context, fmt: str) -> None:
    """The manifest (normalized, defaults filled in); v1 manifests as read."""
    path = _file(ctx)
    with _open(path) as f:
        if v1.is_v1(f.read(3)):
            f.seek(0)
            try:
                click.echo(dump(v1.read_v1(f).manifest.to_dict(), fmt), nl=False)
            except S9pkError as e:
                raise e.in_archive(str(path)) from None
            return
        f.seek(0)
        click.echo(dump(_load(path, f).manifest.to_dict(), fmt), nl=False)


@inspect.command("commitment")
@_format_option
@click.pass_context
def inspect_commitment(ctx: click.Context, fmt: str) -> None:
    """``{"rootSighash", "rootMaxsize"}`` of the header."""
    path = _file(ctx)
    with _open(path) as f:
        click.echo(dump(_load(path, f).commitment.to_dict(), fmt), nl=False)


@inspect.command("file-tree")
@_format_option
@click.pass_context
def inspect_file_tree(ctx: click.Context, fmt: str) -> None:
    """Every path, depth-first in name order; directories end in ``/``."""
    path = _file(ctx)
    with _open(path) as f:
        root: Directory = _load(path, f).archive.root
        click.echo(dump([p for p, _ in root.walk()], fmt), nl=False)


@inspect.command("cat")
@click.argument("inner_path")
@click.pass_context
def inspect_cat(ctx: click.Context, inner_path: str) -> None:
    """Write the verified bytes of INNER_PATH to stdout."""
    path = _file(ctx)
    out = sys.stdout.buffer
    with _open(path) as f:
        pkg = _load(path, f)
        try:
            for chunk in pkg.archive.iter_file(inner_path):
                out.write(chunk)
        except S9pkError as e:
            raise e.in_archive(str(path)) from None
    out.flush()


@inspect.command("signer")
@_format_option
@click.pass_context
def inspect_signer(ctx: click.Context, fmt: str) -> None:
    """The header's signer as a registry signatures entry ``{PUBLIC KEY PEM: SIGNATURE PEM}``."""
    path = _file(ctx)
    with _open(path) as f:
        pkg = _load(path, f)
        header = pkg.archive.header
        entry = {PublicKey(header.pubkey).to_pem(): Signature(header.signature).to_pem()}
        click.echo(dump(entry, fmt), nl=False)


def _sha256(f: IO[bytes], progress: Any) -> str:  # noqa: ANN401
    f.seek(0)
    h = hashlib.sha256()
    for chunk in read_chunks(f, None):
        h.update(chunk)
        progress(len(chunk))
    return h.hexdigest()


def _verify_one(path: Path) -> dict[str, Any]:
    with _open(path) as f:
        size = f.seek(0, 2)
        f.seek(0)
        pkg = _load(path, f)
        with byte_progress(path.name, 2 * size, enabled=is_tty()) as progress:
            try:
                pkg.archive.verify_all(progress)
                pkg.check_listable()
                arch_problems = pkg.arch_problems()
            except S9pkError as e:
                raise e.in_archive(str(path)) from None
            sha = _sha256(f, progress)
        m = pkg.manifest
        return {
            "file": str(path),
            "ok": True,
            "id": m.id,
            "version": m.version,
            "arches": list(pkg.arches()),
            "sha256": sha,
            "commitment": pkg.commitment.to_dict(),
            "signer": pkg.signer.fingerprint,
            "missing": list(pkg.missing_entries()),
            "notInstallable": arch_problems,
        }


@s9pk.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def verify(files: tuple[Path, ...], as_json: bool) -> int:
    """Fully verify FILES: signature, every sighash, every file body, the manifest.

    A file is valid when an upstream registry would list it: an arch-filtered archive (entries
    MISSING) is valid. Prints ``OK id version arch… sha256`` or ``FAIL FILE: reason`` per file,
    after an OK line one indented line per MISSING entry and per claimed architecture whose
    devices would refuse to install it; exits 0 only if all are valid.
    """
    failed = 0
    for path in files:
        try:
            result = _verify_one(path)
        except S9pkError as e:
            failed += 1
            result = {"file": str(path), "ok": False, "error": e.message, "code": e.code}
        if as_json:
            click.echo(json.dumps(result, ensure_ascii=False))
        elif result["ok"]:
            click.echo(
                " ".join(
                    ["OK", result["id"], result["version"], *result["arches"], result["sha256"]]
                )
            )
            for entry in result["missing"]:
                click.echo(f"  MISSING {entry}")
            for arch, why in result["notInstallable"].items():
                click.echo(f"  warning: {arch}: devices would refuse to install it: {why}")
        else:
            msg = result["error"]
            prefix = f"{path}: "
            click.echo(f"FAIL {msg if msg.startswith(prefix) else prefix + msg}")
    return 1 if failed else 0


@s9pk.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
    help="The .s9pk file to write.",
)  # fmt: skip
@key_option
@click.option(
    "--order", type=click.Choice([o.value for o in RootOrder]), default=RootOrder.PLAIN.value,
    show_default=True, help="Root TOC order: plain (start-cli pack) or priority (s9pk edit).",
)  # fmt: skip
def pack(directory: Path, output: Path, key_path: Path, order: str) -> None:
    """Pack DIRECTORY (manifest.json, icon.*, LICENSE.md, …) into a signed .s9pk.

    The tree is validated as StartOS would (required files, icon, images per architecture) and
    refused with a clear message if invalid. No container images are built.
    """
    key = load_key(key_path)
    result = pack_directory(directory, output, key, order=RootOrder(order))
    for warning in result.warnings:
        console_err(f"warning: {warning}")
    click.echo(
        json.dumps({"file": str(output), "commitment": result.commitment.to_dict()}), err=True
    )


@s9pk.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@key_option
def sign(file: Path, key_path: Path) -> None:
    """Verify FILE fully, then print the registry co-signature of its commitment.

    Output: ``{"<PUBLIC KEY PEM>": "<SIGNATURE PEM>"}``, the shape of a registry asset's
    ``signatures`` entry.
    """
    key = load_key(key_path)
    with _open(file) as f:
        pkg = _load(file, f)
        try:
            pkg.archive.verify_all()
            pkg.check_listable()
        except S9pkError as e:
            raise e.in_archive(str(file)) from None
        signature = pkg.commitment.sign(key)
    sys.stdout.write(dump({key.public_key.to_pem(): signature.to_pem()}, "json"))


@s9pk.command("demo-tree")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--id", "package_id", default="hello", show_default=True, help="Package id.")
@click.option("--version", default="1.0.0:0", show_default=True, help="Package version (exver).")
def demo_tree(directory: Path, package_id: str, version: str) -> None:
    """Write a small, valid package tree to DIRECTORY (to try `s9reg s9pk pack` on).

    The tree has a manifest, an icon, a license, instructions, a (fake) JavaScript bundle and
    images for x86_64 and aarch64; it is not a runnable service.
    """
    if directory.exists() and any(directory.iterdir()):
        msg = f"{directory}: directory is not empty"
        raise S9pkError(msg)
    write_tree(demo_package_tree(package_id, version), directory)
    click.echo(f"Demo package tree written to {directory}")
