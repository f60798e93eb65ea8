"""Tests for s9reg.config: the site configuration loader."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s9reg import config
from s9reg.builder import IncompleteArches
from s9reg.config import (
    LocalSource,
    RemoteSource,
    SecretRef,
    ServeSettings,
    SiteConfig,
    build_settings,
    load,
)
from s9reg.errors import ConfigError
from s9reg.exver import ExtendedVersion, Version
from s9reg.registry import ContactInfo
from s9reg.s9pk.keys import PrivateKey, PublicKey

ALICE_SEED = bytes([1]) * 32
BOB_SEED = bytes([2]) * 32

# The example from docs/configuration.md (keep the two in sync).
EXAMPLE = """\
registry:
  name: Example Registry
  icon: assets/icon.png
  url: https://registry.example.org/
  file_urls:
    - https://cdn.example.org/
    - https://origin.example.org/files/
  mirrors:
    - https://github.com/example/releases/download/
  signing_key: env:S9REG_REGISTRY_KEY

signers:
  - name: Alice
    contact:
      - email: alice@example.org
      - website: https://alice.example.org/
    keys:
      - |
        -----BEGIN PUBLIC KEY-----
        MCowBQYDK2VwAyEAiojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=
        -----END PUBLIC KEY-----
    admin: true
  - name: Bob
    contact: [{matrix: "@bob:example.org"}]
    keys:
      - |
        -----BEGIN PUBLIC KEY-----
        MCowBQYDK2VwAyEAgTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=
        -----END PUBLIC KEY-----

authorized:
  bitcoind:
    Alice: "*"
    Bob: ">=27.0:0 <28.0:0"
  hello-world:
    Bob: "^0.4"

categories:
  bitcoin:
    name: {en_US: Bitcoin, de_DE: Bitcoin}
    packages: [bitcoind, electrs]
  featured:
    name: Featured
    packages: [hello-world]

packages:
  sources:
    - packages/*.s9pk
    - vendor/
    - https://github.com/example/hello/releases/download/v0.4.0/hello-world.s9pk

os:
  - version: "0.4.0"
    headline: StartOS 0.4.0
    release_notes: Many fixes.
    source_version: ">=0.3.5:0"
    iso:
      x86_64: images/startos-0.4.0_x86_64.iso
      x86_64-nonfree: https://cdn.example.org/os/startos-0.4.0_x86_64-nonfree.iso
    img:
      raspberrypi: images/startos-0.4.0_raspberrypi.img
    squashfs:
      x86_64: images/startos-0.4.0_x86_64.squashfs

output: _site
storage: s3

serve:
  listen: 0.0.0.0:8080

publish:
  endpoint_url: https://s3.example.org
  bucket: my-registry
  prefix: /registry/
  region: eu-west-1
  path_style: true
  checksum_mode: when_required

image_cache:
  data_dir: /var/lib/s9reg-cache
  listen: 127.0.0.1:5001
  upstreams: [https://registry-1.docker.io]
  images: [docker.io/library/alpine:3.20]
"""

MINIMAL = """\
registry:
  name: Tiny
  url: https://r.example.org/
"""


def write(tmp_path: Path, text: str, name: str = "site-config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    """All problem lines of a failing load, without the file prefix."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    err = info.value
    assert err.details is not None
    lines = err.details.splitlines()
    assert err.message.startswith(lines[0])
    if len(lines) > 1:
        assert err.message.endswith(f"(and {len(lines) - 1} more)")
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in lines)
    return [line.removeprefix(prefix) for line in lines]


def one_problem(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------------------------
# The full example
# --------------------------------------------------------------------------------------------


def test_full_example(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, EXAMPLE))
    assert isinstance(cfg, SiteConfig)
    assert cfg.path == tmp_path / "site-config.yaml"
    reg = cfg.registry
    assert reg.name == "Example Registry"
    assert reg.icon == tmp_path / "assets/icon.png"
    assert reg.url == "https://registry.example.org/"
    assert reg.file_urls == ("https://cdn.example.org/", "https://origin.example.org/files/")
    assert reg.mirrors == ("https://github.com/example/releases/download/",)
    assert reg.signing_key == SecretRef(scheme="env", name="S9REG_REGISTRY_KEY")

    alice, bob = cfg.signers
    assert alice.name == "Alice"
    assert alice.admin is True
    assert alice.keys == (PrivateKey(ALICE_SEED).public_key,)
    assert alice.contacts == (
        ContactInfo(kind="email", value="alice@example.org"),
        ContactInfo(kind="website", value="https://alice.example.org/"),
    )
    assert bob.admin is False
    assert bob.contacts == (ContactInfo(kind="matrix", value="@bob:example.org"),)
    assert bob.keys == (PrivateKey(BOB_SEED).public_key,)
    assert cfg.admins == (alice,)

    assert set(cfg.authorized) == {"bitcoind", "hello-world"}
    bob_range = cfg.authorized["bitcoind"]["Bob"]
    assert bob_range.satisfied_by(ExtendedVersion.parse("27.1:0"))
    assert not bob_range.satisfied_by(ExtendedVersion.parse("28.0:0"))
    assert cfg.authorized["bitcoind"]["Alice"].satisfied_by(ExtendedVersion.parse("1:0"))

    bitcoin, featured = cfg.categories
    assert bitcoin.id == "bitcoin"
    assert bitcoin.name.translations == {"en_US": "Bitcoin", "de_DE": "Bitcoin"}
    assert bitcoin.packages == ("bitcoind", "electrs")
    assert featured.name.value == "Featured"

    assert cfg.sources == (
        LocalSource(pattern=tmp_path / "packages/*.s9pk"),
        LocalSource(pattern=tmp_path / "vendor"),
        RemoteSource(
            url="https://github.com/example/hello/releases/download/v0.4.0/hello-world.s9pk"
        ),
    )

    (release,) = cfg.os_releases
    assert release.version == Version.parse("0.4.0")
    assert release.headline == "StartOS 0.4.0"
    assert release.release_notes == "Many fixes."
    assert release.source_version.satisfied_by(ExtendedVersion.parse("0.3.6:0"))
    assert not release.source_version.satisfied_by(ExtendedVersion.parse("0.3.4:0"))
    assert release.images == {
        "iso": {
            "x86_64": tmp_path / "images/startos-0.4.0_x86_64.iso",
            "x86_64-nonfree": "https://cdn.example.org/os/startos-0.4.0_x86_64-nonfree.iso",
        },
        "img": {"raspberrypi": tmp_path / "images/startos-0.4.0_raspberrypi.img"},
        "squashfs": {"x86_64": tmp_path / "images/startos-0.4.0_x86_64.squashfs"},
    }

    assert cfg.output == tmp_path / "_site"
    assert cfg.storage is not None
    assert cfg.storage.kind == "s3"
    assert cfg.serve == ServeSettings(host="0.0.0.0", port=8080)
    assert cfg.publish is not None
    assert cfg.publish.bucket == "my-registry"
    assert cfg.publish.prefix == "registry"
    assert cfg.publish.endpoint_url == "https://s3.example.org"
    assert cfg.publish.region == "eu-west-1"
    assert cfg.publish.path_style is True
    assert cfg.publish.checksum_mode == "when_required"
    assert cfg.image_cache is not None
    assert cfg.image_cache.data_dir == Path("/var/lib/s9reg-cache")
    assert (cfg.image_cache.host, cfg.image_cache.port) == ("127.0.0.1", 5001)
    assert [(u.name, u.url) for u in cfg.image_cache.upstreams] == [
        ("docker.io", "https://registry-1.docker.io")
    ]
    assert cfg.image_cache.images == ("docker.io/library/alpine:3.20",)


def test_example_matches_docs() -> None:
    docs = Path(__file__).parents[3] / "docs" / "configuration.md"
    assert EXAMPLE in docs.read_text(encoding="utf-8")


def test_minimal_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL))
    assert cfg.registry.file_urls == ("https://r.example.org/",)
    assert cfg.registry.icon is None
    assert cfg.registry.signing_key is None
    assert cfg.signers == ()
    assert cfg.authorized == {}
    assert cfg.categories == ()
    assert cfg.sources == ()
    assert cfg.os_releases == ()
    assert cfg.output == tmp_path / "_site"
    assert cfg.storage is None
    assert cfg.serve == ServeSettings(host="127.0.0.1", port=5959)
    assert cfg.publish is None
    assert cfg.image_cache is None


def test_project_site_config_loads(tmp_path: Path) -> None:
    # The example's public keys are made on first use; stand-ins let the file load here
    # (tests/unit/cli/test_examples.py builds it for real).
    shutil.copy(Path(__file__).parents[3] / "site-config.yaml", tmp_path)
    (tmp_path / "examples/.keys").mkdir(parents=True)
    for name in ("admin", "dev"):
        pem = PrivateKey.generate().public_key.to_pem()
        (tmp_path / f"examples/.keys/{name}.pub.pem").write_text(pem)
    cfg = load(tmp_path / "site-config.yaml")
    assert cfg.registry.name
    assert len(cfg.signers) == 2


def test_os_release_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL + "os:\n  - {version: '0.4.0', headline: H}\n"))
    (release,) = cfg.os_releases
    assert release.release_notes == ""
    assert release.source_version.satisfied_by(ExtendedVersion.parse("0.1:0"))
    assert release.images == {}


def test_image_cache_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL + "image_cache: {}\n"))
    assert cfg.image_cache is not None
    assert (cfg.image_cache.host, cfg.image_cache.port) == ("127.0.0.1", 5000)
    assert cfg.image_cache.data_dir.parent == tmp_path


def test_publish_defaults(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL + "publish: {bucket: b}\n"))
    assert cfg.publish is not None
    # Chosen when the client is made, by the endpoint actually used (AWS_ENDPOINT_URL, …).
    assert cfg.publish.checksum_mode is None
    assert cfg.publish.path_style is False
    assert cfg.publish.prefix == ""
    assert cfg.publish.endpoint_url is None


def test_data_url_icon(tmp_path: Path) -> None:
    icon = "data:image/png;base64,iVBORw0KGgo="
    cfg = load(write(tmp_path, MINIMAL + f"  icon: '{icon}'\n"))
    assert cfg.registry.icon == icon


# --------------------------------------------------------------------------------------------
# Relative paths
# --------------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "site"
    sub.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = MINIMAL + (
        "  signing_key: file:keys/registry.pem\n"
        "packages: {sources: [pkgs/*.s9pk, /abs/dir]}\n"
        "output: out\nstorage: file:../published\n"
    )
    write(sub, text)
    cfg = load(Path("../site/site-config.yaml"))
    assert cfg.output == sub.resolve() / "out"
    assert cfg.storage is not None
    assert cfg.storage.path == sub.resolve() / "../published"
    assert cfg.sources == (
        LocalSource(pattern=sub.resolve() / "pkgs/*.s9pk"),
        LocalSource(pattern=Path("/abs/dir")),
    )
    assert cfg.registry.signing_key is not None
    assert cfg.registry.signing_key.path == sub.resolve() / "keys/registry.pem"


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def test_env_secret_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = PrivateKey(ALICE_SEED)
    monkeypatch.setenv("S9REG_REGISTRY_KEY", key.to_pem())
    cfg = load(write(tmp_path, EXAMPLE))
    ref = cfg.registry.signing_key
    assert ref is not None
    assert ref.resolve() == key
    assert ref.resolve({"S9REG_REGISTRY_KEY": PrivateKey(BOB_SEED).to_pem()}) == PrivateKey(
        BOB_SEED
    )


def test_env_secret_unset(tmp_path: Path) -> None:
    ref = SecretRef(scheme="env", name="S9REG_NOT_SET_ANYWHERE")
    with pytest.raises(ConfigError, match="S9REG_NOT_SET_ANYWHERE is not set"):
        ref.resolve({})


def test_file_secret_resolves(tmp_path: Path) -> None:
    key = PrivateKey(BOB_SEED)
    (tmp_path / "k.pem").write_text(key.to_pem(), encoding="utf-8")
    cfg = load(write(tmp_path, MINIMAL + "  signing_key: file:k.pem\n"))
    ref = cfg.registry.signing_key
    assert ref is not None
    assert ref.resolve() == key


def test_file_secret_missing(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL + "  signing_key: file:nope.pem\n"))
    ref = cfg.registry.signing_key
    assert ref is not None
    with pytest.raises(ConfigError, match=r"^file:nope\.pem: \S+nope\.pem: cannot read the secret"):
        ref.resolve()


def test_secret_not_a_key_hides_material(tmp_path: Path) -> None:
    secret = "not-a-key-but-secret-text"
    with pytest.raises(ConfigError) as info:
        SecretRef(scheme="env", name="K").resolve({"K": secret})
    assert secret not in str(info.value)
    assert str(info.value).startswith("env:K: ")


def test_secrets_never_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = PrivateKey(ALICE_SEED)
    pem = key.to_pem()
    monkeypatch.setenv("S9REG_REGISTRY_KEY", pem)
    cfg = load(write(tmp_path, EXAMPLE))
    ref = cfg.registry.signing_key
    assert ref is not None
    resolved = ref.resolve()
    body = "".join(pem.splitlines()[1:-1])
    for text in (repr(cfg), str(cfg), repr(ref), str(ref), repr(resolved), str(resolved)):
        assert body not in text
        assert key.seed.hex() not in text
    assert repr(ref) == "SecretRef('env:S9REG_REGISTRY_KEY')"
    assert str(ref) == "env:S9REG_REGISTRY_KEY"


def test_literal_private_key_is_rejected(tmp_path: Path) -> None:
    pem = PrivateKey(ALICE_SEED).to_pem()
    indented = "".join(f"    {line}\n" for line in pem.splitlines())
    text = MINIMAL + "  signing_key: |\n" + indented
    found = one_problem(tmp_path, text)
    assert found.startswith("4: registry.signing_key: a key must not be written into the config")
    assert "file:PATH or env:NAME" in found
    body = pem.splitlines()[1]
    assert body not in found


# --------------------------------------------------------------------------------------------
# Error kinds with file:line:key
# --------------------------------------------------------------------------------------------

SIGNER_TEMPLATE = """\
registry:
  name: R
  url: https://r.example.org/
signers:
  - name: Alice
    keys: []
  - name: Bob
    keys:
      - {key}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINIMAL + "signers:\n  - name: A\n  - name: B\n    keys: ['junk']\n",
            "7: signers[1].keys[0]: not a PEM public key",
            id="bad-public-key",
        ),
        pytest.param(
            "registry:\n  url: https://r.example.org/\n",
            "2: registry: missing required key 'name'",
            id="missing-key",
        ),
        pytest.param(
            "registry:\n  name: " + "x" * 33 + "\n  url: https://r.example.org/\n",
            "2: registry.name: at most 32 characters, got 33",
            id="name-too-long",
        ),
        pytest.param(
            "registry:\n  name: R\n  url: ftp://r.example.org/\n",
            "3: registry.url: expected an absolute http/https URL, got 'ftp://r.example.org/'",
            id="url-scheme",
        ),
        pytest.param(
            "registry:\n  name: R\n  url: 'https://[x/'\n",
            "3: registry.url: not a valid URL: Invalid IPv6 URL",
            id="url-unparsable",
        ),
        pytest.param(
            MINIMAL + "output: ~no-such-user-s9reg/x\n",
            "4: output: cannot expand ~ in '~no-such-user-s9reg/x'",
            id="unknown-home",
        ),
        pytest.param(
            MINIMAL + 'output: "a\\0b"\n',
            "4: output: a path cannot contain a NUL character",
            id="nul-in-path",
        ),
        pytest.param(
            "registry:\n",
            "1: registry: expected a mapping, got null",
            id="registry-null",
        ),
        pytest.param(
            "registry:\n  name: R\n  url: r.example.org\n",
            "3: registry.url: expected an absolute http/https URL",
            id="url-relative",
        ),
        pytest.param(
            MINIMAL + "  file_urls: []\n",
            "4: registry.file_urls: expected at least one URL",
            id="file-urls-empty",
        ),
        pytest.param(
            MINIMAL + "  file_urls: https://x.example/\n",
            "4: registry.file_urls: expected a list, got the string",
            id="not-a-list",
        ),
        pytest.param(
            "registry: [a]\n",
            "1: registry: expected a mapping, got a list",
            id="not-a-mapping",
        ),
        pytest.param(
            "- a\n",
            "1: expected a mapping, got a list",
            id="top-not-mapping",
        ),
        pytest.param(
            MINIMAL + "  icon: data:image/png;base64,***\n",
            "4: registry.icon: expected a data:image/<type>;base64,<data> URL",
            id="bad-data-url",
        ),
        pytest.param(
            MINIMAL + "  icon: 'data:image/png;base64,abc'\n",
            "4: registry.icon: the data: URL's base64 payload is invalid",
            id="bad-base64",
        ),
        pytest.param(
            MINIMAL + "  signing_key: S9REG_KEY\n",
            "4: registry.signing_key: expected env:NAME or file:PATH",
            id="secret-no-scheme",
        ),
        pytest.param(
            MINIMAL + "  signing_key: env:1BAD\n",
            "4: registry.signing_key: env: needs a variable name, got '1BAD'",
            id="secret-bad-env-name",
        ),
        pytest.param(
            MINIMAL + "signers:\n  - name: A\n  - name: A\n",
            "6: signers[1].name: duplicate signer name 'A'",
            id="duplicate-signer",
        ),
        pytest.param(
            MINIMAL + "signers:\n  - name: A\n    contact: [{email: a, matrix: b}]\n",
            "6: signers[0].contact[0]: expected exactly one of email, matrix, website",
            id="contact-two-kinds",
        ),
        pytest.param(
            MINIMAL + "signers:\n  - name: A\n    contact: [{phone: '1'}]\n",
            "6: signers[0].contact[0].phone: unknown key",
            id="contact-unknown",
        ),
        pytest.param(
            MINIMAL + "signers:\n  - name: A\n    admin: maybe\n",
            "6: signers[0].admin: expected true or false, got the string 'maybe'",
            id="bool-string",
        ),
        pytest.param(
            MINIMAL + "signers: [{name: A}]\nauthorized:\n  Bad_Id: {A: '*'}\n",
            "6: authorized.Bad_Id: not a valid package id: 'Bad_Id'",
            id="authorized-bad-id",
        ),
        pytest.param(
            MINIMAL + "signers: [{name: A}]\nauthorized:\n  pkg:\n    Carol: '*'\n",
            "7: authorized.pkg.Carol: no signer named 'Carol' in 'signers'",
            id="authorized-unknown-signer",
        ),
        pytest.param(
            MINIMAL + "signers: [{name: A}]\nauthorized:\n  pkg:\n    A: '>=1.0 &&& x'\n",
            "7: authorized.pkg.A: version range '>=1.0 &&& x'",
            id="authorized-bad-range",
        ),
        pytest.param(
            MINIMAL + "authorized:\n  pkg: [A]\n",
            "5: authorized.pkg: expected a mapping of signer name to version range, got a list",
            id="authorized-not-mapping",
        ),
        pytest.param(
            MINIMAL + "categories:\n  c:\n    name: C\n    packages: [ok, Not_OK]\n",
            "7: categories.c.packages[1]: not a valid package id: 'Not_OK'",
            id="category-member-id",
        ),
        pytest.param(
            MINIMAL + "categories:\n  c:\n    packages: []\n",
            "6: categories.c: missing required key 'name'",
            id="category-no-name",
        ),
        pytest.param(
            MINIMAL + "categories:\n  c:\n    name: {en: [x]}\n",
            "6: categories.c.name.en: expected a string, got a list",
            id="category-name-shape",
        ),
        pytest.param(
            MINIMAL + "categories:\n  Big:\n    name: B\n",
            "5: categories.Big: not a valid category id: 'Big'",
            id="category-id",
        ),
        pytest.param(
            MINIMAL + "packages:\n  sources: [ftp://x.example/a.s9pk]\n",
            "5: packages.sources[0]: expected an absolute http/https URL",
            id="source-scheme",
        ),
        pytest.param(
            MINIMAL + "os:\n  - version: 'x.y'\n    headline: H\n",
            "5: os[0].version: version 'x.y'",
            id="os-bad-version",
        ),
        pytest.param(
            MINIMAL + "os:\n  - version: '1.0'\n    headline: H\n    iso: {X86: a.iso}\n",
            "7: os[0].iso.X86: not a platform name: 'X86'",
            id="os-bad-platform",
        ),
        pytest.param(
            MINIMAL + "os:\n  - version: '1.0'\n    headline: H\n    iso: a.iso\n",
            "7: os[0].iso: expected a mapping of platform to file or URL, got the string",
            id="os-images-shape",
        ),
        pytest.param(
            MINIMAL + "os:\n  - version: '1.0'\n",
            "5: os[0]: missing required key 'headline'",
            id="os-missing-headline",
        ),
        pytest.param(
            MINIMAL + "storage: s3\n",
            "4: storage: storage 's3' needs a 'publish:' section with the bucket",
            id="s3-without-publish",
        ),
        pytest.param(
            MINIMAL + "storage: gs://bucket\n",
            "4: storage: expected file:PATH or s3, got 'gs://bucket'",
            id="storage-scheme",
        ),
        pytest.param(
            MINIMAL + "serve:\n  listen: localhost\n",
            "5: serve.listen: expected a listen address HOST:PORT, got 'localhost'",
            id="listen-no-port",
        ),
        pytest.param(
            MINIMAL + "serve:\n  listen: 1.2.3.4:70000\n",
            "5: serve.listen: expected a listen address HOST:PORT",
            id="listen-port-range",
        ),
        pytest.param(
            MINIMAL + "publish:\n  bucket: b\n  checksum_mode: always\n",
            "6: publish.checksum_mode: expected one of when_supported, when_required",
            id="checksum-mode",
        ),
        pytest.param(
            MINIMAL + "publish:\n  prefix: p\n",
            "5: publish: missing required key 'bucket'",
            id="publish-no-bucket",
        ),
        pytest.param(
            MINIMAL + "publish:\n  bucket: b\n  aws_secret_access_key: x\n",
            "6: publish.aws_secret_access_key: unknown key",
            id="no-credentials-in-publish",
        ),
        pytest.param(
            MINIMAL + "image_cache:\n  upstreams: [docker.io]\n",
            "5: image_cache.upstreams[0]: expected an absolute http/https URL",
            id="cache-upstream",
        ),
        pytest.param(
            MINIMAL + "  name: Again\n",
            "4: registry.name: duplicate key",
            id="duplicate-key",
        ),
        pytest.param(
            MINIMAL + "1: x\n",
            "4: keys must be strings, got a number (1)",
            id="non-string-key",
        ),
    ],
)
def test_error_kinds(tmp_path: Path, text: str, expected: str) -> None:
    found = one_problem(tmp_path, text)
    assert found.startswith(expected), found


def test_collects_all_problems(tmp_path: Path) -> None:
    text = (
        "registry:\n  name: R\n  url: nope\n"
        "signers:\n  - name: A\n    keys: [junk]\n"
        "output: 5\n"
        "colour: red\n"
    )
    found = problems(tmp_path, text)
    assert [f.split(":", 2)[:2] for f in found] == [
        ["3", " registry.url"],
        ["6", " signers[0].keys[0]"],
        ["7", " output"],
        ["8", " colour"],
    ]


def test_message_first_plus_count(tmp_path: Path) -> None:
    path = write(tmp_path, "registry:\n  name: R\n  url: nope\nfoo: 1\nbar: 2\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.message == (
        f"{path}:3: registry.url: expected an absolute http/https URL, got 'nope' (and 2 more)"
    )
    assert info.value.code == "CONFIG"


def test_public_key_error_line_in_block(tmp_path: Path) -> None:
    text = SIGNER_TEMPLATE.format(
        key="'-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----'"
    )
    found = one_problem(tmp_path, text)
    assert found.startswith("9: signers[1].keys[0]: not a PEM public key (")


def test_public_key_from_private_pem_is_rejected(tmp_path: Path) -> None:
    pem = PrivateKey(ALICE_SEED).to_pem().replace("\n", "\\n")
    found = one_problem(tmp_path, SIGNER_TEMPLATE.format(key=f'"{pem}"'))
    assert found.startswith("9: signers[1].keys[0]: not a PEM public key")


def test_public_key_accepts_real_pem(tmp_path: Path) -> None:
    pem = PrivateKey(BOB_SEED).public_key.to_pem().replace("\n", "\\n")
    cfg = load(write(tmp_path, SIGNER_TEMPLATE.format(key=f'"{pem}"')))
    assert cfg.signers[1].keys == (PublicKey.from_pem(pem.replace("\\n", "\n")),)


# --------------------------------------------------------------------------------------------
# Did you mean
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "registy:\n  name: R\n",
            "1: registy: unknown key (expected one of registry, ",
            id="top-level",
        ),
        pytest.param(
            MINIMAL + "  signing-key: env:K\n",
            "4: registry.signing-key: unknown key",
            id="dash-vs-underscore",
        ),
        pytest.param(
            MINIMAL + "serve:\n  listne: 1.2.3.4:5\n",
            "5: serve.listne: unknown key",
            id="nested",
        ),
    ],
)
def test_did_you_mean(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(f.startswith(expected) for f in found), found
    hinted = next(f for f in found if f.startswith(expected))
    assert re.search(r"did you mean '(registry|signing_key|listen)'\?$", hinted), hinted


def test_did_you_mean_signer(tmp_path: Path) -> None:
    text = MINIMAL + "signers: [{name: Alice}]\nauthorized:\n  pkg: {Alcie: '*'}\n"
    found = one_problem(tmp_path, text)
    assert found.endswith("no signer named 'Alcie' in 'signers'; did you mean 'Alice'?")


def test_no_hint_when_nothing_close(tmp_path: Path) -> None:
    found = one_problem(tmp_path, MINIMAL + "zzzzzz: 1\n")
    assert "did you mean" not in found


# --------------------------------------------------------------------------------------------
# YAML type traps and YAML-level errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        pytest.param(
            "os:\n  - {version: 1.0, headline: H}\n",
            'os[0].version: expected a version, got a number (1.0); quote it to keep it as text: "1.0"',
            id="float-version",
        ),
        pytest.param(
            "os:\n  - {version: 1, headline: H}\n",
            'os[0].version: expected a version, got a number (1); quote it to keep it as text: "1"',
            id="int-version",
        ),
        pytest.param(
            "os:\n  - {version: '1.0', headline: yes}\n",
            'os[0].headline: expected a non-empty string, got a boolean (yes); quote it to keep it as text: "yes"',
            id="bool-for-string",
        ),
        pytest.param(
            "os:\n  - {version: '1.0', headline: 2024-01-01}\n",
            "os[0].headline: expected a non-empty string, got a date (2024-01-01); quote it",
            id="date-for-string",
        ),
        pytest.param(
            "signers: [{name: A}]\nauthorized:\n  pkg: {A: 1.0}\n",
            'authorized.pkg.A: expected a version range, got a number (1.0); quote it to keep it as text: "1.0"',
            id="float-range",
        ),
        pytest.param(
            "signers: [{name: A, admin: yes}]\n",
            "signers[0].admin: write true or false, not 'yes'",
            id="yes-for-bool",
        ),
        pytest.param(
            "signers: [{name: null}]\n",
            "signers[0].name: expected a non-empty string, got null",
            id="null-for-string",
        ),
        pytest.param(
            "output: !!python/object:os.system x\n",
            "output: expected a path, got a value tagged tag:yaml.org,2002:python/object:os.system",
            id="python-tag",
        ),
    ],
)
def test_type_traps(tmp_path: Path, snippet: str, expected: str) -> None:
    found = one_problem(tmp_path, MINIMAL + snippet)
    assert found.split(": ", 1)[1].startswith(expected), found


def test_quoted_version_is_fine(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL + "os:\n  - {version: '1.0', headline: 'yes'}\n"))
    assert cfg.os_releases[0].headline == "yes"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param(
            MINIMAL + "signers: [{name: A}]\nauthorized:\n  pkg: {A: >=1.0}\n",
            6,
            "invalid YAML: found character '>' that cannot start any token",
            id="unquoted-gt",
        ),
        pytest.param(
            MINIMAL + "x: [\n",
            5,
            "invalid YAML: ",
            id="unclosed",
        ),
        pytest.param(
            MINIMAL + "a: &anchor {b: 1}\nc: *anchor\n",
            5,
            "invalid YAML: YAML aliases (*name) are not allowed here",
            id="alias",
        ),
        pytest.param(
            MINIMAL + "---\nb: 1\n",
            4,
            "invalid YAML: but found another document",
            id="two-documents",
        ),
    ],
)
def test_yaml_errors(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.message.startswith(f"{path}:{line}: {problem}")
    assert info.value.hint is not None
    assert "quote" in info.value.hint


@pytest.mark.parametrize(
    ("text", "line", "character"),
    [
        pytest.param(MINIMAL + 'x: "a\x01b"\n', 4, "U+0001", id="control character"),
        pytest.param("\x7f", 1, "U+007F", id="delete on the first line"),
        pytest.param(MINIMAL + "\n\n# \ufffe\n", 6, "U+FFFE", id="non-character in a comment"),
    ],
)
def test_yaml_reader_errors_name_the_line(
    tmp_path: Path, text: str, line: int, character: str
) -> None:
    """PyYAML's reader error has no mark, only a character position on a second line (#16)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.message == (
        f"{path}:{line}: invalid YAML: unacceptable character {character}: "
        "special characters are not allowed"
    )


def test_billion_laughs_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}] " for i in range(1, 30)]
    with pytest.raises(ConfigError, match="aliases"):
        load(write(tmp_path, "\n".join(lines) + "\n"))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param(b"", "the config is empty", id="empty"),
        pytest.param(b"# only a comment\n", "the config is empty", id="comment-only"),
        pytest.param(b"\xff\xfe\x00bad", "cannot read the config", id="not-utf8"),
    ],
)
def test_unreadable_or_empty(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        load(path)


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (config.MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load(path)


def test_block_style_unquoted_range_hint(tmp_path: Path) -> None:
    text = MINIMAL + "signers: [{name: A}]\nauthorized:\n  pkg:\n    A: >=1.0\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.message.startswith(f"{path}:7: invalid YAML: ")
    assert info.value.hint is not None
    assert "'>=1.0'" in info.value.hint


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        load(tmp_path / "absent.yaml")


def test_deep_nesting_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n"))


def test_loads_matches_load(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    assert config.loads(EXAMPLE, path=path) == load(path)


# --------------------------------------------------------------------------------------------
# Garbage in, ConfigError out
# --------------------------------------------------------------------------------------------

_yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["*", ">=1.0", "env:X", "file:", "data:image/png;base64,", "https://x/"]),
)
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "registry",
                        "name",
                        "url",
                        "signers",
                        "keys",
                        "authorized",
                        "categories",
                        "packages",
                        "sources",
                        "os",
                        "version",
                        "headline",
                        "iso",
                        "serve",
                        "listen",
                        "publish",
                        "bucket",
                        "image_cache",
                        "signing_key",
                        "file_urls",
                        "contact",
                        "admin",
                        "output",
                        "storage",
                    ]
                ),
                st.text(max_size=8),
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


def _load_error(path: Path) -> ConfigError | None:
    """Load ``path``; return the ConfigError, or None if it loaded. Anything else propagates."""
    try:
        load(path)
    except ConfigError as e:
        return e
    return None


def _to_yaml(value: object, indent: int = 0) -> str:
    """A tiny flow-style emitter (the tests do not import yaml: only s9reg.config does)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_to_yaml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{_to_yaml(k)}: {_to_yaml(v)}" for k, v in value.items()) + "}"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_yaml_values)
def test_random_structures_only_raise_config_error(tmp_path: Path, value: object) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(_to_yaml(value), encoding="utf-8")
    error = _load_error(path)
    assert error is None or error.message.startswith(f"{path}:")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_garbage_only_raises_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    error = _load_error(path)
    assert error is None or error.message.startswith(f"{path}:")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=len(EXAMPLE)), junk=st.text(max_size=5))
def test_mangled_example_only_raises_config_error(tmp_path: Path, cut: int, junk: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(EXAMPLE[:cut] + junk + EXAMPLE[cut + len(junk) :], encoding="utf-8")
    error = _load_error(path)
    assert error is None or error.message.startswith(f"{path}:")


@pytest.mark.parametrize(
    ("epoch", "problem"),
    [
        pytest.param("\u00b2", "must be a whole number", id="superscript two"),
        pytest.param("1" * 5000, "after the year 9999", id="5000 digits"),
        pytest.param("99999999999999", "after the year 9999", id="past datetime"),
        pytest.param("-1", "must be a whole number", id="negative"),
    ],
)
def test_source_date_epoch_refused(tmp_path: Path, epoch: str, problem: str) -> None:
    """isdigit() let through what int() or datetime then refused: an internal error (#16)."""
    cfg = load(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match=problem):
        build_settings(cfg, environ={"SOURCE_DATE_EPOCH": epoch})


def test_source_date_epoch_leading_zeros(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, MINIMAL))
    env = {"SOURCE_DATE_EPOCH": "0" * 5000 + "1700000000"}
    assert build_settings(cfg, environ=env).source_date_epoch == 1_700_000_000


def test_incomplete_arches_policy(tmp_path: Path) -> None:
    assert load(write(tmp_path, MINIMAL)).incomplete_arches is IncompleteArches.WARN
    text = MINIMAL + "packages:\n  incomplete_arches: refuse\n"
    cfg = load(write(tmp_path, text))
    assert cfg.incomplete_arches is IncompleteArches.REFUSE
    assert cfg.sources == ()
    assert build_settings(cfg).incomplete_arches is IncompleteArches.REFUSE
    bad = MINIMAL + "packages:\n  incomplete_arches: ignore\n"
    assert (
        one_problem(tmp_path, bad) == "5: packages.incomplete_arches: expected one of warn, refuse"
    )


def test_image_cache_s3_null_means_the_filesystem(tmp_path: Path) -> None:
    # As before the S3 layer: `s3: null` is no S3 storage, not an error.
    cfg = load(write(tmp_path, MINIMAL + "image_cache:\n  s3: null\n"))
    assert cfg.image_cache is not None
    assert cfg.image_cache.s3 is None


@pytest.mark.parametrize("value", ["1.0e+999", "2000000000"])
def test_serve_numbers_are_finite_and_bounded(tmp_path: Path, value: str) -> None:
    # `1e999` read as infinity reached the responder's timers (#16).
    text = MINIMAL + f"serve:\n  client_timeout: {value}\n"
    assert one_problem(tmp_path, text) == "5: serve.client_timeout: must be at most 1000000000"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://cdn.example.com/a?x=1", "a base URL must not have a query (?x=1)"),
        ("http://cdn.example.com/a#top", "a base URL must not have a fragment (#top)"),
        (
            "https://user:secret@cdn.example.com/",
            "a base URL must not have user info (…@cdn.example.com)",
        ),
        (
            "https://cdn.example.com/a b/",
            "not a valid URL: invalid character ' ' (percent-encode it)",
        ),
        ("https://cdn.example.com/%zz/", "not a valid URL: invalid % escape (percent-encode it)"),
        ("https://cdn.example.com:99999/", "not a valid URL: Port out of range 0-65535"),
    ],
)
def test_base_urls_are_refused_at_load(tmp_path: Path, url: str, problem: str) -> None:
    # Such a base was published to every device: `…/a?x=1/bitcoind/…`, credentials (#16).
    text = MINIMAL + f"  file_urls: [{url!r}]\n"
    found = problems(tmp_path, text)
    assert found[0] == f"4: registry.file_urls[0]: {problem}"
    assert "secret" not in " ".join(found)


def test_published_source_urls_carry_no_credentials(tmp_path: Path) -> None:
    # A remote source URL is listed to devices as a fallback mirror.
    text = MINIMAL + "packages:\n  sources: ['https://u:secret@files.example.com/a.s9pk?sig=1']\n"
    found = one_problem(tmp_path, text)
    assert (
        found
        == "5: packages.sources[0]: a published URL must not have user info (…@files.example.com)"
    )
    ok = MINIMAL + "packages:\n  sources: ['https://files.example.com/a.s9pk?sig=1']\n"
    assert load(write(tmp_path, ok)).sources


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "big.pem"])
def test_file_references_are_bounded(tmp_path: Path, target: str) -> None:
    # `file:/dev/zero` was read without end (3 GB in 8 s), a FIFO blocked for ever (#16).
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
    if target == "big.pem":
        (tmp_path / "big.pem").write_bytes(b"x" * (1 << 20))
    cfg = load(write(tmp_path, MINIMAL + f"  signing_key: file:{target}\n"))
    ref = cfg.registry.signing_key
    assert ref is not None
    with pytest.raises(ConfigError, match=r"character device|FIFO|larger than 65536") as e:
        ref.resolve()
    assert "\n" not in e.value.message
    signer = f"signers:\n  - name: A\n    keys: ['file:{target}']\n"
    assert re.search(
        "character device|FIFO|larger than 65536", one_problem(tmp_path, MINIMAL + signer)
    )
