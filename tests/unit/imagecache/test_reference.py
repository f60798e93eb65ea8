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
        # Python's \w and \d are Unicode; Docker's grammar is ASCII (issue #16).
        pytest.param("nginx:\u00e9", "ASCII", id="non-ascii-tag"),
        pytest.param("nginx:\u0661\u0662", "ASCII", id="arabic-indic-digits-tag"),
        pytest.param("nginx:1\u01c5", "ASCII", id="titlecase-letter-tag"),
        pytest.param("\u0661\u0662.io:5000/x", "ASCII", id="non-ascii-host"),
        pytest.param("localhost:\u0665\u0660\u0660\u0660/x", "ASCII", id="non-ascii-port"),
        pytest.param("ngin\u0445", "ASCII", id="cyrillic-name"),
        pytest.param("x@sha256:" + "\u0661" * 64, "ASCII", id="non-ascii-digest"),
        pytest.param("x:" + "a" * 2000, "2002 characters", id="huge-not-echoed"),
    ],
)
def test_parse_errors(text: str, problem: str) -> None:
    with pytest.raises(ImageReferenceError, match=problem):
        ImageRef.parse(text)


def test_tag_grammar_is_ascii_without_the_whole_text_check() -> None:
    """The tag pattern itself is ASCII, as distribution's ``[\\w][\\w.-]{0,127}`` in Go."""
    from s9reg.imagecache.reference import _TAG_RE  # noqa: PLC0415 - the private pattern

    assert _TAG_RE.fullmatch("v1.0_rc-2") is not None
    for tag in ("\u00e9", "\u0661\u0662", "a\u00e9"):
        assert _TAG_RE.fullmatch(tag) is None


def test_huge_reference_error_is_short() -> None:
    with pytest.raises(ImageReferenceError) as err:
        ImageRef.parse("x:" + "a" * 60_000)
    assert len(err.value.message) < 200
