"""Client-side settings: compose files rewritten to pull from the cache, and Docker's daemon.json.

Docker's ``registry-mirrors`` covers docker.io only (``image-cache.md`` §1.7), so images of other
registries must name the cache in their reference. Rewriting edits only the ``image:`` values in
place, so comments, anchors, ``build:`` sections, line endings and formatting stay as they were;
the image of a service that has ``build:`` is its build's name and stays too. Reading and
writing the file (symlinks followed) is the CLI's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from s9reg.imagecache.errors import CacheError, ImageReferenceError
from s9reg.imagecache.reference import ImageRef
from s9reg.imagecache.settings import CacheSettings, Upstream

__all__ = ["ImageRewrite", "daemon_json", "local_address", "rewrite_compose"]

_PROPERTIES_RE = re.compile(r"(?:[&!]\S*\s+)+")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""})  # noqa: S104


@dataclass(frozen=True, slots=True)
class ImageRewrite:
    """One ``image:`` value: its line, old and new text (equal when left alone), and why."""

    line: int
    service: str
    old: str
    new: str
    reason: str


def local_address(settings: CacheSettings, up: Upstream, host: str | None = None) -> str:
    """``host:port`` clients use for an upstream's cache instance."""
    name = host or (settings.public_host if up.host in _LOOPBACK else up.host)
    return f"{name}:{up.port}"


def daemon_json(settings: CacheSettings, host: str | None = None) -> dict[str, list[str]]:
    """Docker daemon settings: the docker.io mirror and every instance as an insecure registry."""
    out: dict[str, list[str]] = {}
    hub = settings.upstream("docker.io")
    if hub is not None:
        out["registry-mirrors"] = [f"http://{local_address(settings, hub, host)}"]
    out["insecure-registries"] = [local_address(settings, u, host) for u in settings.upstreams]
    return out


def _merged(node: Node) -> Iterator[tuple[ScalarNode, Node]]:
    """Key/value pairs of a mapping, including those merged in with ``<<``."""
    if not isinstance(node, MappingNode):
        return
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            continue
        if key.tag == "tag:yaml.org,2002:merge" or key.value == "<<":
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in sources:
                yield from _merged(source)
        else:
            yield key, value


def _image_nodes(root: Node) -> list[tuple[str, ScalarNode, str | None]]:
    """Each distinct ``image:`` node of the services once, with the services using it.

    Gives the first service using the node, and the first one with a ``build:`` section (None
    if none has).
    """
    services = next((v for k, v in _merged(root) if k.value == "services"), None)
    if services is None:
        return []
    first: dict[int, tuple[str, ScalarNode]] = {}
    built_by: dict[int, str] = {}
    for name, body in _merged(services):
        pairs = list(_merged(body))
        builds = any(key.value == "build" for key, _ in pairs)
        for key, value in pairs:
            if key.value == "image" and isinstance(value, ScalarNode):
                first.setdefault(id(value), (str(name.value), value))
                if builds:
                    built_by.setdefault(id(value), str(name.value))
    return [(service, node, built_by.get(id(node))) for service, node in first.values()]


def rewrite_compose(
    text: str,
    settings: CacheSettings,
    *,
    exclude: Sequence[str] = (),
    host: str | None = None,
) -> tuple[str, list[ImageRewrite]]:
    """Point every service image of a compose file at the cache.

    ``docker.io/library/nginx:1`` becomes ``localhost:5000/library/nginx:1``, a ``ghcr.io``
    image the ghcr.io instance, and so on. Images already on the cache, images whose text
    starts with an ``exclude`` prefix, images of unconfigured registries, values with
    ``${…}`` variables and the images of services with a ``build:`` section (which compose
    builds under that name, and any service sharing that value) are left alone. The text's
    line endings (LF or CRLF) are kept.

    Args:
        text: the compose file.
        settings: the cache settings (addresses of the instances).
        exclude: prefixes to leave alone (compared with the text as written and the full
            reference, e.g. ``docker.io/library/postgres``).
        host: host name to write (default: ``public_host``, or the listen host if not loopback).

    Returns:
        the new text and one entry per ``image:`` value.

    Raises:
        CacheError: the text is not YAML.
        ImageReferenceError: an image value is not a valid reference (with its line).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise CacheError(f"compose file is not valid YAML: {e}".replace("\n", " ")) from e
    if root is None:
        return text, []
    local = {local_address(settings, u, host) for u in settings.upstreams}
    local |= {f"{h}:{u.port}" for u in settings.upstreams for h in ("localhost", "127.0.0.1")}
    edits: list[tuple[ScalarNode, str]] = []
    report = []
    for service, node, builder in _image_nodes(root):
        old = str(node.value)
        if builder is not None:
            # Compose builds that image and tags it with this name: it is never pulled.
            new = old
            reason = "has build:" if builder == service else f"{builder} builds it"
        else:
            new, reason = _rewrite_one(settings, node, local, exclude, host)
        report.append(ImageRewrite(node.start_mark.line + 1, service, old, new, reason))
        if new != old:
            edits.append((node, new))
    out = text
    for node, new in sorted(edits, key=lambda e: e[0].start_mark.index, reverse=True):
        start, end = node.start_mark.index, node.end_mark.index
        # A node's start mark is that of its anchor or tag (``&img nginx``): keep those.
        prefix = _PROPERTIES_RE.match(text, start, end)
        if prefix is not None:
            start = prefix.end()
        quote = node.style if node.style in ("'", '"') else ""
        out = out[:start] + quote + new + quote + out[end:]
    return out, report


def _rewrite_one(
    settings: CacheSettings,
    node: ScalarNode,
    local: set[str],
    exclude: Sequence[str],
    host: str | None,
) -> tuple[str, str]:
    old = str(node.value)
    if "$" in old:
        return old, "has a variable"
    if node.style in ("|", ">"):
        return old, "block scalar"
    try:
        ref = ImageRef.parse(old)
    except ImageReferenceError as e:
        raise ImageReferenceError(
            f"line {node.start_mark.line + 1}: {e.message}", hint=e.hint
        ) from None
    if ref.registry in local:
        return old, "already local"
    if any(old.startswith(p) or str(ref).startswith(p) for p in exclude if p):
        return old, "excluded"
    up = settings.upstream(ref.registry)
    if up is None:
        return old, f"no upstream for {ref.registry}"
    new = f"{local_address(settings, up, host)}/{ref.repository}"
    if ref.tag is not None:
        new += f":{ref.tag}"
    if ref.digest is not None:
        new += f"@{ref.digest}"
    return new, f"via {up.name}"
