"""Image references (``[registry/]repository[:tag][@digest]``) as Docker reads them.

The grammar is distribution's ``reference`` package: a first component with a ``.`` or ``:``,
or ``localhost``, names the registry; otherwise the registry is ``docker.io``, where one-component
names live under ``library/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from s9reg.imagecache.errors import ImageReferenceError

__all__ = ["DEFAULT_REGISTRY", "ImageRef", "is_digest"]

DEFAULT_REGISTRY = "docker.io"
_DOCKER_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"(?::[0-9]{1,5})?"
)
# Docker's grammar is ASCII: ``\w`` would let ``é`` or Arabic-Indic digits into a tag, which
# then fail as a UnicodeEncodeError in the HTTP client.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
MAX_NAME_LENGTH = 255
# A host name (253), a 255-character path, a 128-character tag and a digest fit well within it;
# longer text is refused without being echoed in the error.
MAX_REFERENCE_LENGTH = 1024


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut to 60 characters."""
    return repr(text if len(text) <= 60 else text[:59] + "…")


def is_digest(text: str) -> bool:
    """Whether ``text`` is a ``sha256:<64 hex>`` digest."""
    return _DIGEST_RE.fullmatch(text) is not None


def _split_name(original: str, text: str) -> tuple[str, str]:
    registry, _, path = text.partition("/")
    if not path or not ("." in registry or ":" in registry or registry == "localhost"):
        registry, path = DEFAULT_REGISTRY, text
    elif _DOMAIN_RE.fullmatch(registry) is None:
        raise ImageReferenceError(f"{_shown(original)}: {_shown(registry)} is not a registry host")
    if registry in _DOCKER_ALIASES:
        registry = DEFAULT_REGISTRY
        if "/" not in path:
            path = f"library/{path}"
    return registry, path


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference.

    Attributes:
        registry: registry host (``docker.io``, ``ghcr.io``, ``127.0.0.1:5000``…).
        repository: repository path inside the registry (``library/nginx``).
        tag: the tag, or None.
        digest: the manifest digest (``sha256:…``), or None.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse a reference such as ``nginx``, ``ghcr.io/o/i:1.0`` or ``x@sha256:…``.

        Raises:
            ImageReferenceError: the text is not a valid reference.
        """
        if len(text) > MAX_REFERENCE_LENGTH:
            raise ImageReferenceError(
                f"an image reference of {len(text)} characters (at most {MAX_REFERENCE_LENGTH})"
            )
        original = text
        text = text.strip()
        if not text or any(ch.isspace() for ch in text):
            raise ImageReferenceError(f"{_shown(original)}: not an image reference")
        if not text.isascii():
            raise ImageReferenceError(
                f"{_shown(original)}: not an image reference (Docker's grammar is ASCII)",
                hint="tags use A-Z, a-z, 0-9, _ . and -; repository names lowercase letters, "
                "digits and . _ - separators",
            )
        digest = None
        if "@" in text:
            text, digest = text.rsplit("@", 1)
            if not is_digest(digest):
                raise ImageReferenceError(
                    f"{_shown(original)}: {_shown(digest)} is not a sha256 digest",
                    hint="a digest is sha256: followed by 64 lowercase hex digits",
                )
        tag = None
        last_slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > last_slash:
            text, tag = text[:colon], text[colon + 1 :]
            if _TAG_RE.fullmatch(tag) is None:
                raise ImageReferenceError(f"{_shown(original)}: {_shown(tag)} is not a valid tag")
        registry, path = _split_name(original, text)
        for component in path.split("/"):
            if _COMPONENT_RE.fullmatch(component) is None:
                raise ImageReferenceError(
                    f"{_shown(original)}: {_shown(component)} is not a valid repository name "
                    "component",
                    hint="repository names use lowercase letters, digits and . _ - separators",
                )
        if len(path) > MAX_NAME_LENGTH:
            raise ImageReferenceError(
                f"{_shown(original)}: repository name longer than 255 characters"
            )
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag (``latest``)."""
        return self.digest or self.tag or "latest"

    @property
    def tag_or_latest(self) -> str:
        """The tag, ``latest`` when none was given."""
        return self.tag or "latest"

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out
