"""``s9reg registry admin signer …``, ``admin …`` and ``info set-…`` on a commented config."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.registry import Guid

from helpers.admin_site import DEV, OTHER, Run


def load(site: Path) -> config.SiteConfig:
    return config.load(site)


def test_signer_add_prints_the_id_the_build_uses(run: Run, site: Path) -> None:
    code, out, _ = run(
        "admin", "signer", "add", "-n", "Carol", "-c", "mailto:carol@example.org",
        "-c", "https://matrix.to/#/@carol:example.org", "-c", "website:https://carol.example.org/",
        "--key", OTHER.public_key.to_pem(), "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    settings = config.build_settings(load(site))
    assert data["id"] in settings.signers
    assert settings.signers[Guid(data["id"])].name == "Carol"
    assert data["contact"] == [
        {"email": "carol@example.org"},
        {"matrix": "@carol:example.org"},
        {"website": "https://carol.example.org/"},
    ]
    assert data["keys"] == [OTHER.public_key.to_pem()]
    text = site.read_text()
    assert text.startswith("# A registry for the administration tests.\n")
    assert "    admin: true            # may publish anything\n" in text
    assert '      - matrix: "@carol:example.org"\n' in text
    # Without --json: the id alone, as upstream prints it.
    code, out, _ = run("admin", "signer", "add", "-n", "Erin")
    assert code == 0
    assert out.strip() == Guid.generate(seed=b"Erin")


def test_signer_add_key_from_a_file(run: Run, site: Path) -> None:
    code, _out, _ = run(
        "admin", "signer", "add", "-n", "Carol", "--key", str(site.parent / "keys/other.pub")
    )
    assert code == 0
    assert load(site).signers[-1].keys[0] == OTHER.public_key


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-n", "Carol", "--key", "keys/admin.pub"), "already registered to signer 'Admin'"),
        (("-n", "Carol", "--key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
         "not an Ed25519 PEM public key"),
        (("-n", "Carol", "--key", "no/such.pem"), "no/such.pem"),
        (("-n", "Dev"), "a signer named 'Dev' exists already"),
        (("-n", "Carol", "-c", "ftp://example.org/"), "contact 'ftp://example.org/'"),
        (("-n", "Carol", "-c", "mailto:"), "nothing after 'mailto:'"),
        (("-n", " "), "a signer needs a name"),
    ],
)  # fmt: skip
def test_signer_add_refusals(
    refused, site: Path, monkeypatch: pytest.MonkeyPatch, args, message
) -> None:
    monkeypatch.chdir(site.parent)
    assert message in refused("admin", "signer", "add", *args)


def test_signer_edit_rename_keeps_the_id_and_follows_the_name(run: Run, site: Path) -> None:
    before = {s.name: s.guid for s in load(site).signers}
    code, out, _ = run(
        "admin", "signer", "edit", "Dev", "--set-name", "Dev Team", "-c", "mailto:dev@example.org",
        "-k", OTHER.public_key.to_pem(), "-K", DEV.public_key.to_pem(), "--json",
    )  # fmt: skip
    assert code == 0, out
    cfg = load(site)
    team = cfg.signers[1]
    assert (team.name, team.guid) == ("Dev Team", before["Dev"])
    assert json.loads(out)["id"] == before["Dev"]
    assert team.keys == (OTHER.public_key,)
    assert set(cfg.authorized["hello"]) == {"Dev Team"}
    text = site.read_text()
    assert "authorized:                # package → signer → range\n  hello:\n    Dev Team:" in text
    assert f"    id: {before['Dev']}\n" in text
    # Renamed again: the id written stays.
    assert run("admin", "signer", "edit", before["Dev"], "-n", "Devs")[0] == 0
    assert load(site).signers[1].guid == before["Dev"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Nobody", "-n", "X"), "no signer with the name 'Nobody'"),
        (("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "-n", "X"), "no signer with the id"),
        (("Dev", "-n", "Admin"), "a signer named 'Admin' exists already"),
        (("Dev", "-k", "keys/admin.pub"), "already registered to signer 'Admin'"),
        (("Dev", "-K", "keys/admin.pub"), "signer 'Dev' has no key"),
        (("Dev", "-C", "mailto:x@example.org"), "signer 'Dev' has no contact mailto:x@example.org"),
        (("Dev", "-k", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----"), "not an Ed25519"),
    ],
)
def test_signer_edit_refusals(
    refused, site: Path, monkeypatch: pytest.MonkeyPatch, args, message
) -> None:
    monkeypatch.chdir(site.parent)
    assert message in refused("admin", "signer", "edit", *args)


def test_signer_remove_cascades_as_upstream(run: Run, site: Path) -> None:
    text = site.read_text().replace(
        "output: _site\n",
        'os:\n  - version: "0.4.0"\n    headline: v0.4.0\n    signers: [Dev]\n'
        '  - version: "0.4.1"\n    headline: v0.4.1\n    signers: [Admin, Dev]\n\noutput: _site\n',
    )
    # Admin is authorized for hello too: hello keeps Admin's range.
    site.write_text(text.replace('    Dev: ">=1.0:0"\n', '    Dev: ">=1.0:0"\n    Admin: "*"\n'))
    code, out, _ = run("admin", "signer", "remove", "Dev", "--json")
    assert code == 0
    assert json.loads(out) == {
        "id": Guid.generate(seed=b"Dev"), "name": "Dev", "packages": ["hello"],
        "osVersions": ["0.4.0", "0.4.1"], "wasAdmin": False,
    }  # fmt: skip
    cfg = load(site)
    assert [s.name for s in cfg.signers] == ["Admin"]
    assert dict(cfg.authorized) == {"hello": {"Admin": cfg.authorized["hello"]["Admin"]}}
    after = site.read_text()
    assert "    signers: [Admin]\n" in after
    assert '  - version: "0.4.0"\n    headline: v0.4.0\n  - version' in after
    # An admin goes from the admins with it.
    code, out, _ = run("admin", "signer", "remove", "Admin", "--json")
    assert json.loads(out)["wasAdmin"] is True
    assert load(site).admins == ()


def test_signer_list_and_admins(run: Run, site: Path) -> None:
    _code, out, _ = run("admin", "signer", "list", "--json")
    data = json.loads(out)
    assert list(data) == sorted(data)
    assert {v["name"] for v in data.values()} == {"Admin", "Dev"}
    _code, out, _ = run("admin", "signer", "list")
    assert out.splitlines()[0].split() == ["ID", "NAME", "CONTACT", "KEYS"]
    assert DEV.public_key.fingerprint[:16] in out
    dev = Guid.generate(seed=b"Dev")
    assert run("admin", "add", dev)[0] == 0
    _code, out, _ = run("admin", "list", "--json")
    assert set(json.loads(out)) == {dev, Guid.generate(seed=b"Admin")}
    _code, out, _ = run("admin", "add", "Dev", "--json")
    assert json.loads(out)["changed"] is False
    assert run("admin", "remove", "Admin")[0] == 0
    assert "    admin: false           # may publish anything\n" in site.read_text()
    _code, out, _ = run("admin", "remove", "Admin", "--json")
    assert json.loads(out)["changed"] is False
    _code, out, _ = run("admin", "list", "--format", "yaml")
    assert out.startswith(f"{dev}:\n  name: Dev\n")
    assert [s.name for s in load(site).admins] == ["Dev"]


def test_admin_refusals(refused) -> None:
    assert "no signer with the name 'Zed'" in refused("admin", "add", "Zed")
    assert "no signer with the id" in refused("admin", "remove", "A" * 32)


def test_info_set_name(run: Run, site: Path, refused) -> None:
    assert run("info", "set-name", "My Registry")[0] == 0
    assert "  name: My Registry        # the name devices show\n" in site.read_text()
    assert "at most 32" in refused("info", "set-name", "x" * 33)
    assert "cannot be empty" in refused("info", "set-name", "")


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def test_info_set_icon(
    run: Run, site: Path, refused, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("icons")
    (elsewhere / "logo.png").write_bytes(PNG)
    code, out, _ = run("info", "set-icon", str(elsewhere / "logo.png"), "--json")
    assert code == 0
    assert json.loads(out)["icon"] == "registry-icon.png"
    assert (site.parent / "registry-icon.png").read_bytes() == PNG
    assert load(site).registry.icon == site.parent / "registry-icon.png"
    # A file inside the config's directory is referenced where it is.
    (site.parent / "art").mkdir()
    (site.parent / "art/logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert run("info", "set-icon", str(site.parent / "art/logo.svg"))[0] == 0
    assert "  icon: art/logo.svg\n" in site.read_text()
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert run("info", "set-icon", url)[0] == 0
    assert load(site).registry.icon == url
    assert config.build_settings(load(site)).icon == url
    # Refusals: the type is checked against the bytes, and the size.
    (elsewhere / "fake.png").write_bytes(b"GIF89a....")
    assert "declared image/jpeg but the bytes are image/png" in refused(
        "info", "set-icon", "data:image/jpeg;base64," + base64.b64encode(PNG).decode()
    )
    assert "not a PNG, JPEG, GIF, WebP or SVG" in refused(
        "info", "set-icon", "data:image/png;base64," + base64.b64encode(b"hello").decode()
    )
    (elsewhere / "text.png").write_bytes(b"hello")
    assert "not a PNG, JPEG" in refused("info", "set-icon", str(elsewhere / "text.png"))
    (elsewhere / "big.png").write_bytes(PNG + b"\0" * (256 << 10))
    assert "larger than" in refused("info", "set-icon", str(elsewhere / "big.png"))
    assert "no such" in refused("info", "set-icon", str(elsewhere / "missing.png")).lower()
    # registry-icon.png beside the config, no longer the icon, is not overwritten.
    (elsewhere / "other.png").write_bytes(PNG + b"\0")
    assert "exists and is not the registry's icon" in refused(
        "info", "set-icon", str(elsewhere / "other.png")
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("    id: nope\n", "signers[1].id: not a signer id (32 characters of A-Z and 2-7): 'nope'"),
        (
            f"    id: {Guid.generate(seed=b'Admin')}\n",
            "signers[1].id: signers 'Admin' and 'Dev' have the same id",
        ),
    ],
)
def test_config_signer_ids_are_checked(site: Path, entry: str, message: str) -> None:
    site.write_text(
        site.read_text().replace(
            "      - file:keys/dev.pub\n", f"      - file:keys/dev.pub\n{entry}"
        )
    )
    with pytest.raises(ConfigError) as e:
        load(site)
    assert message in str(e.value)


def test_config_os_signers_name_known_signers(site: Path) -> None:
    site.write_text(
        site.read_text() + 'os:\n  - version: "0.4.0"\n    headline: x\n    signers: [Devv]\n'
    )
    with pytest.raises(
        ConfigError,
        match=r"os\[0\]\.signers\[0\]: no signer named 'Devv' in 'signers'; did you mean 'Dev'\?",
    ):
        load(site)
