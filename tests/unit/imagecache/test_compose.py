"""Compose rewriting and daemon.json on real-world shaped compose files."""

from __future__ import annotations

from pathlib import Path

import pytest

from s9reg.imagecache.compose import daemon_json, rewrite_compose
from s9reg.imagecache.errors import CacheError, ImageReferenceError
from s9reg.imagecache.settings import CacheSettings, Upstream

from helpers.cli import run_cli as run

DIGEST = "sha256:" + "cd" * 32


@pytest.fixture
def settings(tmp_path: Path) -> CacheSettings:
    return CacheSettings(
        data_dir=tmp_path,
        upstreams=(
            Upstream(
                name="docker.io", url="https://registry-1.docker.io", port=5000, writer_port=5100
            ),
            Upstream(name="ghcr.io", url="https://ghcr.io", port=5001, writer_port=5101),
        ),
    )


# Immich's published compose file, shortened: anchors, env files, build-free services.
IMMICH = """\
#
# WARNING: To install Immich, follow our guide: https://immich.app/docs/install/docker-compose
#
name: immich

x-common: &common
  restart: always
  env_file:
    - .env

services:
  immich-server:
    container_name: immich_server
    image: ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}
    <<: *common
    volumes:
      - ${UPLOAD_LOCATION}:/usr/src/app/upload
    ports:
      - '2283:2283'
    depends_on:
      - redis
      - database

  immich-machine-learning:
    image: "ghcr.io/immich-app/immich-machine-learning:v1.134.0"
    <<: *common

  redis:
    container_name: immich_redis
    image: docker.io/valkey/valkey:8-bookworm@<DIGEST>
    healthcheck:
      test: redis-cli ping || exit 1

  database:
    image: 'ghcr.io/immich-app/postgres:14-vectorchord0.3.0-pgvectors0.2.0'  # pinned
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}

volumes:
  model-cache:
""".replace("<DIGEST>", DIGEST)

IMMICH_REWRITTEN = """\
#
# WARNING: To install Immich, follow our guide: https://immich.app/docs/install/docker-compose
#
name: immich

x-common: &common
  restart: always
  env_file:
    - .env

services:
  immich-server:
    container_name: immich_server
    image: ghcr.io/immich-app/immich-server:${IMMICH_VERSION:-release}
    <<: *common
    volumes:
      - ${UPLOAD_LOCATION}:/usr/src/app/upload
    ports:
      - '2283:2283'
    depends_on:
      - redis
      - database

  immich-machine-learning:
    image: "localhost:5001/immich-app/immich-machine-learning:v1.134.0"
    <<: *common

  redis:
    container_name: immich_redis
    image: localhost:5000/valkey/valkey:8-bookworm@<DIGEST>
    healthcheck:
      test: redis-cli ping || exit 1

  database:
    image: 'localhost:5001/immich-app/postgres:14-vectorchord0.3.0-pgvectors0.2.0'  # pinned
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD}

volumes:
  model-cache:
""".replace("<DIGEST>", DIGEST)


def test_immich(settings: CacheSettings) -> None:
    out, report = rewrite_compose(IMMICH, settings)
    assert out == IMMICH_REWRITTEN
    reasons = {r.service: r.reason for r in report}
    assert reasons == {
        "immich-server": "has a variable",
        "immich-machine-learning": "via ghcr.io",
        "redis": "via docker.io",
        "database": "via ghcr.io",
    }
    assert [r.line for r in report] == [14, 25, 30, 35]


# A development compose file: build sections, an image shared through an anchor, a merge
# list, an already-local image, an excluded one and an unconfigured registry.
DEV = """\
x-base: &base
  image: &app-image nginx:1.27
  restart: unless-stopped
x-logging: &logging
  logging: {driver: json-file}

services:
  web:
    <<: [*base, *logging]
    build:
      context: ./web
      dockerfile: Dockerfile
  worker:
    <<: *base
    command: ["worker"]
  proxy:
    image: &proxy-image !!str "docker.io/library/traefik:v3.4"
  proxy2:
    image: *proxy-image
  db:
    image: !!str postgres:16
  cache:
    image: localhost:5000/library/redis:7
  tool:
    build: ./tool
  quay:
    image: quay.io/prometheus/node-exporter:v1.9.1
  mine:
    image: registry.example.org/team/app:2.0
"""


def test_build_sections_anchors_and_exclusions(settings: CacheSettings) -> None:
    out, report = rewrite_compose(DEV, settings, exclude=["postgres", "registry.example.org/"])
    # web builds the anchored image under that name (worker shares it): it is left alone.
    assert "  image: &app-image nginx:1.27\n" in out
    assert '  image: &proxy-image !!str "localhost:5000/library/traefik:v3.4"\n' in out
    assert out.replace("localhost:5000/library/traefik", "docker.io/library/traefik") == DEV
    assert {r.service: r.reason for r in report} == {
        "web": "has build:",
        "proxy": "via docker.io",
        "db": "excluded",
        "cache": "already local",
        "quay": "no upstream for quay.io",
        "mine": "excluded",
    }


# The case: a service that builds its image, beside one that pulls.
BUILD = """\
services:
  app:
    image: myapp
    build: ./web
  api:
    build: {context: ./api}
    image: docker.io/library/python:3.12
  db:
    image: postgres:16
"""


def test_services_with_build_keep_their_image(settings: CacheSettings) -> None:
    out, report = rewrite_compose(BUILD, settings)
    assert out == BUILD.replace("image: postgres:16", "image: localhost:5000/library/postgres:16")
    assert [(r.service, r.new, r.reason) for r in report] == [
        ("app", "myapp", "has build:"),
        ("api", "docker.io/library/python:3.12", "has build:"),
        ("db", "localhost:5000/library/postgres:16", "via docker.io"),
    ]


def test_crlf_and_symlink_kept_by_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "site-config.yaml"
    conf.write_text("image_cache: {data_dir: cache}\n", encoding="utf-8")
    real = tmp_path / "apps" / "compose.yml"
    real.parent.mkdir()
    crlf = BUILD.replace("\n", "\r\n").encode()
    real.write_bytes(crlf)
    real.chmod(0o640)
    link = tmp_path / "docker-compose.yml"
    link.symlink_to(Path("apps") / "compose.yml")
    code, _, err = run(["cache", "rewrite-compose", str(link), "--config", str(conf)], capsys)
    assert code == 0, err
    assert link.is_symlink()
    assert link.readlink() == Path("apps") / "compose.yml"
    got = real.read_bytes()
    assert got == crlf.replace(b"image: postgres:16", b"image: localhost:5000/library/postgres:16")
    assert got.count(b"\r\n") == got.count(b"\n") == 9
    assert real.stat().st_mode & 0o777 == 0o640
    assert f"{link}:3: app: myapp (kept: has build:)" in err
    assert [p.name for p in real.parent.iterdir()] == ["compose.yml"]  # no temporary left


def test_host_override_and_idempotence(settings: CacheSettings) -> None:
    out, _ = rewrite_compose(
        "services:\n  a:\n    image: ghcr.io/o/i:1\n", settings, host="box.lan"
    )
    assert out == "services:\n  a:\n    image: box.lan:5001/o/i:1\n"
    again, report = rewrite_compose(out, settings, host="box.lan")
    assert again == out
    assert report[0].reason == "already local"


def test_no_services(settings: CacheSettings) -> None:
    assert rewrite_compose("", settings) == ("", [])
    assert rewrite_compose("version: '3'\n", settings) == ("version: '3'\n", [])


def test_errors(settings: CacheSettings) -> None:
    with pytest.raises(CacheError, match="not valid YAML"):
        rewrite_compose("services: [\n", settings)
    with pytest.raises(ImageReferenceError, match="line 3: 'Bad:Image:1'"):
        rewrite_compose("services:\n  a:\n    image: Bad:Image:1\n", settings)


def test_daemon_json(settings: CacheSettings) -> None:
    assert daemon_json(settings) == {
        "registry-mirrors": ["http://localhost:5000"],
        "insecure-registries": ["localhost:5000", "localhost:5001"],
    }
    assert daemon_json(settings, "10.0.0.2")["registry-mirrors"] == ["http://10.0.0.2:5000"]
