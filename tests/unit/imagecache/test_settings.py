"""The ``image_cache:`` section, ``config.cache_settings`` and the engine's generated config."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg import config
from s9reg.errors import ConfigError
from s9reg.imagecache.engine import Mode, Role, child_environment, instance_config, instances
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import DEFAULT_CURATED, CacheSettings, S3Storage, Upstream

MINIMAL = """\
registry:
  name: Tiny
  url: https://r.example.org/
"""


def load(tmp_path: Path, section: str) -> config.SiteConfig:
    path = tmp_path / "site-config.yaml"
    path.write_text(MINIMAL + section, encoding="utf-8")
    return config.load(path)


def test_defaults(tmp_path: Path) -> None:
    settings = config.cache_settings(load(tmp_path, "image_cache: {}\n"))
    assert [(u.name, u.url, u.port, u.writer_port) for u in settings.upstreams] == [
        ("docker.io", "https://registry-1.docker.io", 5000, 5100),
        ("ghcr.io", "https://ghcr.io", 5001, 5101),
    ]
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 5080)
    assert len(settings.images) == len(DEFAULT_CURATED) == 20
    assert all(i.tag for i in settings.images)
    assert {i.registry for i in settings.images} == {"docker.io", "ghcr.io"}
    assert settings.upload_purging.enabled
    assert settings.s3 is None
    assert settings.data_dir == tmp_path / ".s9reg-image-cache"


def test_no_section_gives_defaults(tmp_path: Path) -> None:
    settings = config.cache_settings(load(tmp_path, ""))
    assert settings.data_dir == tmp_path / ".s9reg-image-cache"
    assert settings.upstreams[0].name == "docker.io"


FULL = """\
image_cache:
  data_dir: /var/lib/s9reg-cache
  listen: 0.0.0.0:6000
  api_listen: 127.0.0.1:6080
  upstreams:
    docker.io: https://registry-1.docker.io
    ghcr.io:
      url: https://ghcr.io
      username: env:GHCR_USER
      password: env:GHCR_TOKEN
    lab.example.org:5000: {url: "http://127.0.0.1:5999", listen: "127.0.0.1:7000", writer_port: 7100}
  images:
    - docker.io/library/alpine:3.20
    - image: ghcr.io/o/i:1.0
      digest: sha256:%s
  upload_purging: {age_hours: 48, interval_hours: 6}
  s3: {bucket: images, endpoint_url: "http://127.0.0.1:8333", root: cache/}
  recheck_seconds: 5
  public_host: box.local
""" % ("ab" * 32)


def test_full_section(tmp_path: Path) -> None:
    cfg = load(tmp_path, FULL)
    env = {"GHCR_USER": "me", "GHCR_TOKEN": "secret-token"}
    settings = config.cache_settings(cfg, environ=env)
    dock, ghcr, lab = settings.upstreams
    assert (dock.host, dock.port, dock.writer_port) == ("0.0.0.0", 6000, 6100)
    assert (ghcr.port, ghcr.username, ghcr.password) == (6001, "me", "secret-token")
    assert "secret-token" not in repr(ghcr)
    assert (lab.name, lab.url, lab.port, lab.writer_port) == (
        "lab.example.org:5000",
        "http://127.0.0.1:5999",
        7000,
        7100,
    )
    assert settings.images[1] == ImageRef("ghcr.io", "o/i", "1.0", "sha256:" + "ab" * 32)
    assert (settings.upload_purging.age_hours, settings.upload_purging.interval_hours) == (48, 6)
    assert settings.s3 == S3Storage(
        bucket="images", endpoint_url="http://127.0.0.1:8333", root="/cache"
    )
    assert settings.recheck_seconds == 5
    assert settings.public_host == "box.local"
    assert dock.local_url == "http://127.0.0.1:6000"
    assert settings.api_url == "http://127.0.0.1:6080"


def test_missing_credential_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GHCR_TOKEN is not set"):
        config.cache_settings(load(tmp_path, FULL), environ={"GHCR_USER": "me"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"GHCR_TOKEN": "t"},
            "image_cache.upstreams.ghcr.io.username (env:GHCR_USER): environment variable "
            "GHCR_USER is not set",
            id="unset",
        ),
        pytest.param(
            {"GHCR_USER": "me", "GHCR_TOKEN": ""},
            "image_cache.upstreams.ghcr.io.password (env:GHCR_TOKEN): environment variable "
            "GHCR_TOKEN is not set",
            id="empty counts as unset",
        ),
    ],
)
def test_credentials_are_secret_references(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    cfg = load(tmp_path, FULL)
    assert cfg.image_cache is not None
    ghcr = cfg.image_cache.upstreams[1]
    assert (str(ghcr.username), str(ghcr.password)) == ("env:GHCR_USER", "env:GHCR_TOKEN")
    with pytest.raises(ConfigError) as info:
        config.cache_settings(cfg, environ=environ)
    assert info.value.message == message
    assert info.value.hint is not None
    assert "export GHCR_" in info.value.hint


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        pytest.param(
            "image_cache:\n  upstreams: [docker.io]\n",
            "5: image_cache.upstreams[0]: expected an absolute",
            id="list-not-url",
        ),
        pytest.param(
            "image_cache:\n  upstreams:\n    docker.io: {url: https://x, password: hunter2}\n",
            "image_cache.upstreams.docker.io.password: write env:NAME",
            id="literal-password",
        ),
        pytest.param(
            "image_cache:\n  upstreams:\n    Docker_IO: https://x\n",
            "not a registry host name",
            id="bad-name",
        ),
        pytest.param(
            "image_cache:\n  images: [nginx]\n",
            "image_cache.images[0]: nginx: curated images need a tag",
            id="no-tag",
        ),
        pytest.param(
            "image_cache:\n  images: [quay.io/a/b:1]\n",
            "registry quay.io is not one of the upstreams",
            id="unknown-registry",
        ),
        pytest.param(
            "image_cache:\n  images: ['NGINX:1']\n", "not a valid repository name", id="bad-ref"
        ),
        pytest.param(
            "image_cache:\n  upload_purging: {age_hours: 0}\n",
            "upload_purging.age_hours: expected a whole number from 1",
            id="bad-age",
        ),
        pytest.param(
            "image_cache:\n  s3: {region: x}\n",
            "image_cache.s3: missing required key 'bucket'",
            id="s3-bucket",
        ),
        pytest.param(
            "image_cache:\n  recheck_seconds: soon\n",
            "recheck_seconds: expected a whole number",
            id="recheck",
        ),
        pytest.param(
            "image_cache:\n  upstreams:\n    docker.io: {url: https://x, writer_port: 70000}\n",
            "writer_port: expected a whole number from 1 to 65535",
            id="port",
        ),
        pytest.param("image_cache:\n  lsiten: 1\n", "did you mean 'listen'", id="typo"),
        # int() reads Arabic-Indic digits and Python's \\d matches them (issue #16).
        pytest.param(
            "image_cache:\n  listen: '127.0.0.1:\u0665\u0660\u0660\u0660'\n",
            "image_cache.listen: expected a listen address HOST:PORT",
            id="listen-non-ascii-port",
        ),
        pytest.param(
            "image_cache:\n  api_listen: '127.0.0.1:\u0665\u0660\u0668\u0660'\n",
            "image_cache.api_listen: expected a listen address HOST:PORT",
            id="api-listen-non-ascii-port",
        ),
        pytest.param(
            "image_cache:\n  upstreams:\n    'r.io:\u0665\u0660': https://x\n",
            "not a registry host name",
            id="upstream-non-ascii-port",
        ),
    ],
)
def test_section_errors(tmp_path: Path, section: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, section)
    assert problem in (err.value.details or err.value.message)


def test_port_clash_is_reported(tmp_path: Path) -> None:
    cfg = load(tmp_path, "image_cache:\n  listen: 127.0.0.1:5000\n  api_listen: 127.0.0.1:5001\n")
    with pytest.raises(ConfigError, match="port 5001 is used twice"):
        config.cache_settings(cfg)


def settings_for(tmp_path: Path, **kw: object) -> CacheSettings:
    up = Upstream(
        name="docker.io",
        url="https://registry-1.docker.io",
        port=5000,
        writer_port=5100,
        username="u",
        password="p",
    )
    return CacheSettings(data_dir=tmp_path, upstreams=(up,), **kw)  # type: ignore[arg-type]


def test_engine_configs(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    writer, proxy = instances(settings)
    assert (writer.role, writer.port, proxy.role, proxy.port) == (
        Role.WRITER,
        5100,
        Role.PROXY,
        5200,  # the engine; the read-only front owns 5000
    )
    assert (proxy.url, proxy.engine_url) == ("http://127.0.0.1:5000", "http://127.0.0.1:5200")
    w = instance_config(settings, writer, mode=Mode.WRITER)
    p = instance_config(settings, proxy, mode=Mode.PROXY)
    off = instance_config(settings, proxy, mode=Mode.OFFLINE)
    root = str(tmp_path / "storage" / "docker.io")
    # One storage root for both; only the proxy in proxy mode has the proxy section.
    assert (
        w["storage"]["filesystem"]["rootdirectory"]
        == p["storage"]["filesystem"]["rootdirectory"]
        == root
    )
    assert "proxy" not in w
    assert "proxy" not in off
    assert p["proxy"] == {"remoteurl": "https://registry-1.docker.io"}
    assert w["storage"]["delete"] == {"enabled": True}
    assert w["storage"]["maintenance"]["uploadpurging"]["enabled"] is True
    assert p["storage"]["maintenance"]["uploadpurging"]["enabled"] is False
    assert w["http"]["secret"] == p["http"]["secret"]
    assert len(w["http"]["secret"]) == 64
    assert (w["http"]["addr"], p["http"]["addr"]) == ("127.0.0.1:5100", "127.0.0.1:5200")
    # Offline, the engine itself refuses writes too: read-only storage, deletes disabled.
    assert off["storage"]["maintenance"]["readonly"] == {"enabled": True}
    assert off["storage"]["delete"] == {"enabled": False}
    assert p["storage"]["maintenance"]["readonly"] == {"enabled": False}
    assert instance_config(settings, writer, mode=Mode.WRITER, readonly=True)["storage"][
        "maintenance"
    ]["readonly"] == {"enabled": True}
    # Credentials go to the environment, never into the file; AWS_CA_BUNDLE is dropped.
    env = child_environment(
        proxy,
        mode=Mode.PROXY,
        base={"AWS_CA_BUNDLE": "x", "REGISTRY_HTTP_ADDR": ":1", "PATH": "/bin"},
    )
    assert env == {"PATH": "/bin", "REGISTRY_PROXY_USERNAME": "u", "REGISTRY_PROXY_PASSWORD": "p"}
    assert "REGISTRY_PROXY_USERNAME" not in child_environment(proxy, mode=Mode.OFFLINE, base={})


def test_engine_s3_config(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, s3=S3Storage(bucket="b", endpoint_url="http://127.0.0.1:9000", root="/imgs")
    )
    cfg = instance_config(settings, instances(settings)[0], mode=Mode.WRITER)
    assert cfg["storage"]["s3"] == {
        "bucket": "b",
        "region": "us-east-1",
        "rootdirectory": "/imgs/docker.io",
        "v4auth": True,
        "regionendpoint": "http://127.0.0.1:9000",
        "secure": False,
    }
    assert cfg["storage"]["redirect"] == {"disable": True}
    assert "filesystem" not in cfg["storage"]


TOKEN = "k3Vq-8cD2pXo_Lm4nB7r"  # a test token, 20 characters


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_api_on_loopback_needs_no_token(tmp_path: Path, host: str) -> None:
    settings = config.cache_settings(load(tmp_path, f"image_cache:\n  api_listen: '{host}:5081'\n"))
    assert settings.api_token is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "cache.lan", "[::]"])
def test_api_beyond_loopback_needs_a_token(tmp_path: Path, host: str) -> None:
    section = f"image_cache:\n  api_listen: '{host}:5081'\n"
    with pytest.raises(ConfigError, match=r"set image_cache\.api_token"):
        config.cache_settings(load(tmp_path, section), environ={})
    section += "  api_token: env:S9REG_CACHE_TOKEN\n"
    settings = config.cache_settings(load(tmp_path, section), environ={"S9REG_CACHE_TOKEN": TOKEN})
    assert settings.api_token == TOKEN
    assert TOKEN not in repr(settings)


def test_api_token_from_a_file_and_its_errors(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    settings = config.cache_settings(load(tmp_path, "image_cache:\n  api_token: file:token\n"))
    assert settings.api_token == TOKEN
    (tmp_path / "token").write_text("short\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 16 characters") as err:
        config.cache_settings(load(tmp_path, "image_cache:\n  api_token: file:token\n"))
    assert "short" not in str(err.value)
    with pytest.raises(ConfigError, match="S9REG_CACHE_TOKEN is not set"):
        config.cache_settings(
            load(tmp_path, "image_cache:\n  api_token: env:S9REG_CACHE_TOKEN\n"), environ={}
        )
    with pytest.raises(ConfigError, match="api_token: expected env:NAME or file:PATH"):
        load(tmp_path, f"image_cache:\n  api_token: {TOKEN}\n")
