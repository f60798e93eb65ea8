"""Image reference parsing (distribution's grammar, docker.io defaults)."""

from __future__ import annotations

import pytest

from s9reg.imagecache.errors import ImageReferenceError
from s9reg.imagecache.reference import ImageRef

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        pytest.param("nginx", "docker.io", "library/nginx", None, None, id="official"),
        pytest.param("nginx:1.27", "docker.io", "library/nginx", "1.27", None, id="tag"),
        pytest.param(
            "louislam/uptime-kuma:1", "docker.io", "louislam/uptime-kuma", "1", None, id="user"
        ),
        pytest.param(
            "docker.io/library/nginx", "docker.io", "library/nginx", None, None, id="explicit"
        ),
        pytest.param(
            "index.docker.io/nginx", "docker.io", "library/nginx", None, None, id="index-alias"
        ),
        pytest.param(
            "ghcr.io/home-assistant/home-assistant:2025.5.3",
            "ghcr.io",
            "home-assistant/home-assistant",
            "2025.5.3",
            None,
            id="ghcr",
        ),
        pytest.param(
            "localhost:5000/foo/bar:v1", "localhost:5000", "foo/bar", "v1", None, id="local-port"
        ),
        pytest.param("localhost/foo", "localhost", "foo", None, None, id="localhost"),
        pytest.param(f"x/y@{DIGEST}", "docker.io", "x/y", None, DIGEST, id="digest"),
        pytest.param(
            f"ghcr.io/a/b:1.0@{DIGEST}", "ghcr.io", "a/b", "1.0", DIGEST, id="tag-and-digest"
        ),
        pytest.param(
            "a__b/c-d.e_f:latest", "docker.io", "a__b/c-d.e_f", "latest", None, id="separators"
        ),
    ],
)
def test_parse(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ImageRef.parse(str(ref)) == ref


def test_reference_and_name() -> None:
    assert ImageRef.parse("nginx").reference == "latest"
    assert ImageRef.parse("nginx:1").reference == "1"
    assert ImageRef.parse(f"nginx:1@{DIGEST}").reference == DIGEST
    assert ImageRef.parse("nginx:1").name == "docker.io/library/nginx"
    assert str(ImageRef.parse("nginx:1")) == "docker.io/library/nginx:1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("", "not an image reference", id="empty"),
        pytest.param("a b", "not an image reference", id="space"),
        pytest.param("Nginx", "not a valid repository name", id="uppercase"),
        pytest.param("nginx:", "not a valid tag", id="empty-tag"),
        pytest.param("nginx:-x", "not a valid tag", id="bad-tag"),
        pytest.param("nginx@sha256:abc", "not a sha256 digest", id="short-digest"),
        pytest.param("a//b", "not a valid repository name", id="empty-component"),
        pytest.param("-bad.io/x", "not a registry host", id="bad-host-dash"),
        pytest.param("ex_ample.io:x/y", "not a registry host", id="bad-host"),
        pytest.param("x/" + "a" * 260, "longer than 255", id="too-long"),
    ],
)
def test_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(ImageReferenceError, match=problem):
        ImageRef.parse(text)
