"""``s9reg s9pk`` commands through the real entry point: outputs, exit codes, one-line errors."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import yaml

from s9reg.cli import main
from s9reg.s9pk.commitment import MerkleArchiveCommitment
from s9reg.s9pk.demo import demo_package_tree, write_tree
from s9reg.s9pk.keys import PrivateKey, PublicKey, Signature, write_private_key
from s9reg.s9pk.reader import read_archive
from s9reg.s9pk.writer import write_archive_file

from helpers.v1_writer import build_v1


def run(argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsysbinary.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out.decode(), err.decode()


@pytest.fixture
def key_file(tmp_path: Path, example_key: PrivateKey) -> Path:
    path = tmp_path / "dev.key.pem"
    write_private_key(path, example_key)
    return path


@pytest.fixture
def package(tmp_path: Path, example_key: PrivateKey) -> Path:
    path = tmp_path / "hello.s9pk"
    write_archive_file(path, demo_package_tree("hello", "1.0.0:0"), example_key)
    return path


def test_verify_ok(package: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, out, err = run(["s9pk", "verify", str(package)], capsysbinary)
    assert (code, err) == (0, "")
    sha = hashlib.sha256(package.read_bytes()).hexdigest()
    assert out == f"OK hello 1.0.0:0 aarch64 x86_64 {sha}\n"


def test_verify_mixed_json(
    package: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    bad = tmp_path / "bad.s9pk"
    data = bytearray(package.read_bytes())
    data[-1] ^= 0xFF  # last byte of the last file body
    bad.write_bytes(bytes(data))
    code, out, _ = run(["s9pk", "verify", "--json", str(package), str(bad)], capsysbinary)
    assert code == 1
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["ok"] is True
    assert first["id"] == "hello"
    assert (
        first["commitment"] == read_archive(io.BytesIO(package.read_bytes())).commitment.to_dict()
    )
    assert second["ok"] is False
    assert second["code"] == "S9PK_INTEGRITY"
    assert str(bad) in second["error"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b"", "Invalid Magic", id="empty file"),
        pytest.param(b"hello world", "Invalid Magic", id="not an s9pk"),
        pytest.param(b";;\x02" + bytes(10), "truncated header", id="truncated"),
    ],
)
def test_verify_fail_lines(
    tmp_path: Path, content: bytes, problem: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "x.s9pk"
    path.write_bytes(content)
    code, out, err = run(["s9pk", "verify", str(path)], capsysbinary)
    assert code == 1
    assert out.startswith(f"FAIL {path}: ")
    assert problem in out
    assert out.count("\n") == 1
    assert "Traceback" not in err


def test_verify_missing_file(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, out, _ = run(["s9pk", "verify", str(tmp_path / "nope.s9pk")], capsysbinary)
    assert code == 1
    assert out.startswith(f"FAIL {tmp_path / 'nope.s9pk'}: cannot open")


def test_verify_v1_says_unsupported(
    tmp_path: Path, example_key: PrivateKey, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "old.s9pk"
    path.write_bytes(build_v1(key=example_key))
    code, out, _ = run(["s9pk", "verify", str(path)], capsysbinary)
    assert code == 1
    assert out.startswith(f"FAIL {path}: legacy v1")
    code, out, _ = run(["s9pk", "inspect", str(path), "manifest"], capsysbinary)
    assert code == 0
    assert json.loads(out)["version"] == "0.3.6:1"


def test_inspect(package: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, out, _ = run(["s9pk", "inspect", str(package), "manifest"], capsysbinary)
    assert code == 0
    manifest = json.loads(out)
    assert (manifest["id"], manifest["version"]) == ("hello", "1.0.0:0")
    assert out.startswith('{\n  "id"')  # pretty JSON as start-cli prints it
    code, out, _ = run(
        ["s9pk", "inspect", str(package), "manifest", "--format", "yaml"], capsysbinary
    )
    assert yaml.safe_load(out) == manifest
    code, out, _ = run(["s9pk", "inspect", str(package), "commitment"], capsysbinary)
    commitment = MerkleArchiveCommitment.from_dict(json.loads(out))
    assert commitment == read_archive(io.BytesIO(package.read_bytes())).commitment
    code, out, _ = run(["s9pk", "inspect", str(package), "file-tree"], capsysbinary)
    tree = json.loads(out)
    assert tree[0] == "LICENSE.md"  # name order, bytewise
    assert tree.index("images/") < tree.index("images/x86_64/") < tree.index("manifest.json")
    assert "manifest.json" in tree
    assert "images/x86_64/main.squashfs" in tree
    code, out, _ = run(["s9pk", "inspect", str(package), "cat", "LICENSE.md"], capsysbinary)
    assert code == 0
    assert out.startswith("#") or len(out) > 0
    code, out, _ = run(["s9pk", "inspect", str(package), "signer"], capsysbinary)
    ((pub, sig),) = json.loads(out).items()
    commitment.verify(PublicKey.from_pem(pub), Signature.from_pem(sig))


def test_inspect_cat_not_found(package: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, out, err = run(["s9pk", "inspect", str(package), "cat", "nope.txt"], capsysbinary)
    assert code == 1
    assert out == ""
    assert err == f"ERROR {package}: /nope.txt: not found\n"


def test_pack_and_sign(
    tmp_path: Path,
    key_file: Path,
    example_key: PrivateKey,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    src = tmp_path / "src"
    write_tree(demo_package_tree("hello", "2.0.0:1"), src)
    out_file = tmp_path / "out.s9pk"
    code, _, err = run(
        ["s9pk", "pack", str(src), "-o", str(out_file), "--key", str(key_file)], capsysbinary
    )
    assert code == 0, err
    assert json.loads(err)["file"] == str(out_file)
    # pack output is deterministic: the same tree written in memory gives the same bytes
    direct = tmp_path / "direct.s9pk"
    write_archive_file(direct, demo_package_tree("hello", "2.0.0:1"), example_key)
    assert out_file.read_bytes() == direct.read_bytes()

    signer = PrivateKey(bytes(31) + b"\x07")
    registry_key = tmp_path / "registry.pem"
    write_private_key(registry_key, signer)
    code, out, _ = run(["s9pk", "sign", str(out_file), "--key", str(registry_key)], capsysbinary)
    assert code == 0
    ((pub, sig),) = json.loads(out).items()
    assert pub == signer.public_key.to_pem()
    commitment = read_archive(io.BytesIO(out_file.read_bytes())).commitment
    commitment.verify_pems({pub: sig})


def test_pack_refuses_invalid_tree(
    tmp_path: Path, key_file: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    src = tmp_path / "src"
    write_tree(demo_package_tree("hello", "1.0.0:0"), src)
    (src / "LICENSE.md").unlink()
    out_file = tmp_path / "out.s9pk"
    code, _out, err = run(
        ["s9pk", "pack", str(src), "-o", str(out_file), "--key", str(key_file)], capsysbinary
    )
    assert code == 1
    assert err.startswith("ERROR ")
    assert "LICENSE.md" in err.splitlines()[0]
    assert not out_file.exists()


def test_sign_refuses_tampered(
    package: Path, key_file: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data = bytearray(package.read_bytes())
    data[-1] ^= 1
    package.write_bytes(bytes(data))
    code, out, err = run(["s9pk", "sign", str(package), "--key", str(key_file)], capsysbinary)
    assert code == 1
    assert out == ""
    assert "hash sum mismatch" in err
