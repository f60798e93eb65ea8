"""The sections of the commands around the site.

``storage``, ``serve``, ``publish`` and ``image_cache``: each function validates one section's
nodes through a :class:`Checker`. Credentials stay references (:class:`SecretRef`); they are read
when a command assembles its settings (``assemble``), never here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from s9reg.config._checker import (
    ENV_NAME_RE,
    TAG_BOOL,
    TAG_FLOAT,
    TAG_INT,
    Checker,
    describe,
    is_null,
)
from s9reg.config.schema import (
    DEFAULT_CACHE_UPSTREAMS,
    IMAGE_CACHE_DIR,
    CacheUpstream,
    ImageCacheSettings,
    PublishSettings,
    StorageSettings,
)
from s9reg.config.secrets import SecretRef
from s9reg.errors import ConfigError, S9regError
from s9reg.imagecache import ImageRef, S3Storage, UploadPurging
from s9reg.s3 import CHECKSUM_MODES, ChecksumMode, S3Location, S3Options
from s9reg.serve.settings import ServeSettings

__all__ = ["image_cache", "publish", "serve", "storage"]


def storage(c: Checker, node: Node) -> StorageSettings | None:
    """The ``storage:`` value: ``file:PATH`` or ``s3``."""
    text = c.string(node, "file:PATH or s3")
    if text is None:
        return None
    if text == "s3":
        return StorageSettings(kind="s3")
    if text.startswith("file:") and text[5:].strip():
        path = c.resolve(node, text[5:])
        return None if path is None else StorageSettings(kind="file", path=path)
    c.add(node, f"expected file:PATH or s3, got {text!r}")
    return None


_SERVE_NUMBERS = {
    # key: (minimum, integer only)
    "max_body": (1024, True),
    "client_timeout": (0.1, False),
    "refresh_interval": (1, False),
    "workers": (1, True),
    "max_connections": (1, True),
    "max_connections_per_client": (1, True),
}


_SERVE_NUMBER_MAX = 1_000_000_000


def _serve_number(c: Checker, node: Node, minimum: float, *, integer: bool) -> float | None:
    kinds = (TAG_INT,) if integer else (TAG_INT, TAG_FLOAT)
    what = "a whole number" if integer else "a number"
    if not (isinstance(node, ScalarNode) and node.tag in kinds):
        c.add(node, f"expected {what}, got {describe(node)}")
        return None
    try:
        value = int(str(node.value).replace("_", "")) if integer else float(node.value)
    except ValueError:
        c.add(node, f"expected {what}, got {node.value!r}")
        return None
    if value < minimum:
        c.add(node, f"must be at least {minimum}")
        return None
    # `1e999` is infinity, and timers or buffers that large overflow where they are used (#16).
    if not math.isfinite(value) or value > _SERVE_NUMBER_MAX:
        c.add(node, f"must be at most {_SERVE_NUMBER_MAX}")
        return None
    return value


def _serve_tls(c: Checker, node: Node) -> dict[str, Path]:
    m = c.mapping(node, ("cert", "key"), ())
    if m is None:
        return {}
    out: dict[str, Path] = {}
    for key, field_name in (("cert", "tls_cert"), ("key", "tls_key")):
        if key not in m:
            continue  # reported as missing by the mapping check
        with c.at(key):
            path = c.path(m[key])
        if path is not None:
            out[field_name] = path
    return out


def _serve_site(c: Checker, node: Node) -> str | None:
    site = c.nonempty(node, "a directory, s3://bucket/prefix or http(s) URL")
    if site is not None and not site.startswith(("s3://", "http://", "https://")):
        return str(c.resolve(node, site) or site)
    return site


def _serve_s3(c: Checker, node: Node) -> S3Options | None:
    if is_null(node):
        return None
    m = c.mapping(node, (), _S3_OPTION_KEYS)
    return None if m is None else _s3_options(c, m)


def serve(c: Checker, node: Node) -> ServeSettings | None:
    """The ``serve:`` section (command-line options are applied by ``assemble``)."""
    m = c.mapping(node, (), ("listen", "site", "s3", "hostnames", "tls", *_SERVE_NUMBERS))
    if m is None:
        return None
    values: dict[str, object] = {}
    if "listen" in m:
        with c.at("listen"):
            listen = c.listen(m["listen"])
        if listen is not None:
            values.update(host=listen[0], port=listen[1])
    if "site" in m:
        with c.at("site"):
            site = _serve_site(c, m["site"])
        if site is not None:
            values["site"] = site
    if "s3" in m:
        with c.at("s3"):
            values["s3"] = _serve_s3(c, m["s3"])
    if "hostnames" in m:
        with c.at("hostnames"):
            values["hostnames"] = c.each(m["hostnames"], c.nonempty)
    if "tls" in m:
        with c.at("tls"):
            values.update(_serve_tls(c, m["tls"]))
    for key, (minimum, integer) in _SERVE_NUMBERS.items():
        if key in m:
            with c.at(key):
                number = _serve_number(c, m[key], minimum, integer=integer)
            if number is not None:
                values[key] = int(number) if integer else number
    return ServeSettings(**values)  # type: ignore[arg-type]


_S3_OPTION_KEYS = ("endpoint_url", "region", "path_style", "checksum_mode")


def _s3_options(c: Checker, m: Mapping[str, Node]) -> S3Options:
    """How to reach a bucket: the keys ``publish:`` and ``serve.s3:`` share."""
    endpoint = region = None
    path_style = False
    checksum: ChecksumMode | None = None
    if "endpoint_url" in m and not is_null(m["endpoint_url"]):
        with c.at("endpoint_url"):
            endpoint = c.url(m["endpoint_url"])
    if "region" in m and not is_null(m["region"]):
        with c.at("region"):
            region = c.nonempty(m["region"])
    if "path_style" in m:
        with c.at("path_style"):
            path_style = bool(c.boolean(m["path_style"]))
    if "checksum_mode" in m:
        with c.at("checksum_mode"):
            mode = c.string(m["checksum_mode"])
            if mode in CHECKSUM_MODES:
                checksum = "when_required" if mode == "when_required" else "when_supported"
            elif mode is not None:
                c.add(m["checksum_mode"], f"expected one of {', '.join(CHECKSUM_MODES)}")
    elif endpoint is not None:
        # boto3 1.36+ sends CRC checksums that many S3-compatible servers reject. (An endpoint
        # from the AWS chain gets the same setting from s9reg.s3.client.make_client.)
        checksum = "when_required"
    return S3Options(
        endpoint_url=endpoint, region=region, path_style=path_style, checksum_mode=checksum
    )


def publish(c: Checker, node: Node) -> PublishSettings | None:
    """The ``publish:`` section: the S3 bucket and how to reach it."""
    m = c.mapping(node, ("bucket",), ("prefix", *_S3_OPTION_KEYS))
    if m is None:
        return None
    with c.at("bucket"):
        bucket = c.nonempty(m["bucket"]) if "bucket" in m else None
    prefix = ""
    if "prefix" in m:
        with c.at("prefix"):
            prefix = (c.string(m["prefix"]) or "").strip("/")
    options = _s3_options(c, m)
    if bucket is None:
        return None
    try:
        return S3Location.at(bucket, prefix, options)
    except ConfigError as e:
        with c.at("bucket"):
            c.add(m["bucket"], e.message)
        return None


_CACHE_KEYS = (
    "data_dir",
    "listen",
    "api_listen",
    "upstreams",
    "images",
    "upload_purging",
    "s3",
    "recheck_seconds",
    "public_host",
    "api_token",
    "max_size",
    "probe_interval",
    "probe_timeout",
)
_CACHE_UPSTREAM_KEYS = ("url", "listen", "writer_port", "engine_port", "username", "password")


def image_cache(c: Checker, node: Node) -> ImageCacheSettings | None:
    """The ``image_cache:`` section; credentials stay references."""
    m = c.mapping(node, (), _CACHE_KEYS)
    if m is None:
        return None
    out: dict[str, object] = {"data_dir": c.base / IMAGE_CACHE_DIR}
    if "data_dir" in m:
        with c.at("data_dir"):
            out["data_dir"] = c.path(m["data_dir"]) or out["data_dir"]
    for key, fields in (("listen", ("host", "port")), ("api_listen", ("api_host", "api_port"))):
        if key in m:
            with c.at(key):
                listen = c.listen(m[key])
            if listen is not None:
                out.update(zip(fields, listen, strict=True))
    upstreams = DEFAULT_CACHE_UPSTREAMS
    if "upstreams" in m:
        with c.at("upstreams"):
            upstreams = _cache_upstreams(c, m["upstreams"])
        out["upstreams"] = upstreams
    if "images" in m:
        with c.at("images"):
            out["images"] = c.each(m["images"], lambda n: _cache_image(c, n, upstreams))
    if "upload_purging" in m:
        with c.at("upload_purging"):
            out["upload_purging"] = _cache_purging(c, m["upload_purging"])
    if "s3" in m and not is_null(m["s3"]):  # `s3: null` means the filesystem, as before
        with c.at("s3"):
            out["s3"] = _cache_s3(c, m["s3"])
    out.update(_cache_scalars(c, m))
    return ImageCacheSettings(**out)  # type: ignore[arg-type]


def _cache_scalars(c: Checker, m: Mapping[str, Node]) -> dict[str, object]:
    out: dict[str, object] = {}
    if "recheck_seconds" in m:
        with c.at("recheck_seconds"):
            out["recheck_seconds"] = _cache_int(c, m["recheck_seconds"], 1, 86400) or 30
    if "public_host" in m:
        with c.at("public_host"):
            out["public_host"] = c.nonempty(m["public_host"]) or "localhost"
    if "api_token" in m:
        with c.at("api_token"):
            out["api_token"] = c.secret(m["api_token"])
    for key, high, default in (("probe_interval", 3600, 5), ("probe_timeout", 60, 3)):
        if key in m:
            with c.at(key):
                out[key] = _cache_int(c, m[key], 1, high) or default
    if "max_size" in m and not is_null(m["max_size"]):
        with c.at("max_size"):
            out["max_size"] = _cache_size(c, m["max_size"])
    return out


_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([KMGT]i?B?|B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def _cache_size(c: Checker, node: Node) -> int | None:
    """A disk size: bytes, or a number with a unit (``500MB``, ``20GiB``, ``1.5T``)."""
    text = str(node.value).replace("_", "").strip() if isinstance(node, ScalarNode) else ""
    m = _SIZE_RE.fullmatch(text)
    if m is not None and text.isascii():
        unit = (m[2] or "").lower()
        base = _SIZE_UNITS[unit[:1]]
        if "i" in unit:
            base = 1024 ** "bkmgt".index(unit[0])
        value = int(float(m[1]) * base)
        if 0 < value <= 2**62:
            return value
    c.add(node, f"expected a size such as 50GiB, 500MB or a number of bytes, got {describe(node)}")
    return None


def _cache_int(c: Checker, node: Node, low: int, high: int) -> int | None:
    if isinstance(node, ScalarNode) and node.tag == TAG_INT:
        try:
            value = int(str(node.value).replace("_", ""), 0)
        except ValueError:
            value = low - 1
        if low <= value <= high:
            return value
    c.add(node, f"expected a whole number from {low} to {high}, got {describe(node)}")
    return None


def _cache_name_of(url: str) -> str:
    host = urlsplit(url).netloc.lower()
    return "docker.io" if host in ("registry-1.docker.io", "index.docker.io") else host


def _cache_upstreams(c: Checker, node: Node) -> tuple[CacheUpstream, ...]:
    out: list[CacheUpstream] = []
    if isinstance(node, SequenceNode):  # short form: a list of URLs
        out.extend(CacheUpstream(name=_cache_name_of(u), url=u) for u in c.each(node, c.url))
    elif isinstance(node, MappingNode):
        for name, key_node, body in c.keyed(node):
            with c.at(name):
                if not re.fullmatch(r"[a-z0-9.-]+(?::[0-9]{1,5})?", name):
                    c.add(key_node, f"not a registry host name: {name!r} (e.g. docker.io)")
                    continue
                upstream = _cache_upstream(c, name, body)
            if upstream is not None:
                out.append(upstream)
    else:
        c.add(node, f"expected a mapping of registry name to URL, got {describe(node)}")
    return tuple(out)


def _cache_upstream(c: Checker, name: str, node: Node) -> CacheUpstream | None:
    if not isinstance(node, MappingNode):
        url = c.url(node)
        return None if url is None else CacheUpstream(name=name, url=url)
    m = c.mapping(node, ("url",), _CACHE_UPSTREAM_KEYS[1:])
    if m is None or "url" not in m:
        return None
    with c.at("url"):
        url = c.url(m["url"])
    fields: dict[str, object] = {}
    if "listen" in m:
        with c.at("listen"):
            fields["listen"] = c.listen(m["listen"])
    if "writer_port" in m:
        with c.at("writer_port"):
            fields["writer_port"] = _cache_int(c, m["writer_port"], 1, 65535)
    if "engine_port" in m:
        with c.at("engine_port"):
            fields["engine_port"] = _cache_int(c, m["engine_port"], 1, 65535)
    if "username" in m:
        with c.at("username"):
            fields["username"] = _username(c, m["username"])
    if "password" in m:
        with c.at("password"):
            text = c.string(m["password"], "env:NAME")
            ref = _env_ref(text)
            if text is not None and ref is None:
                c.add(m["password"], "write env:NAME (passwords are never kept in the file)")
            fields["password"] = ref
    if url is None:
        return None
    return CacheUpstream(name=name, url=url, **fields)  # type: ignore[arg-type]


def _env_ref(text: str | None) -> SecretRef | None:
    if text is None or not text.startswith("env:") or not ENV_NAME_RE.fullmatch(text[4:]):
        return None
    return SecretRef(scheme="env", name=text[4:])


def _username(c: Checker, node: Node) -> str | SecretRef | None:
    """A user name as written, or an ``env:NAME`` reference to one."""
    text = c.nonempty(node)
    if text is not None and text.startswith("env:"):
        ref = _env_ref(text)
        if ref is None:
            c.add(node, f"env: needs a variable name, got {text[4:]!r}")
        return ref
    return text


def _cache_image(c: Checker, node: Node, upstreams: tuple[CacheUpstream, ...]) -> str | None:
    digest = None
    if isinstance(node, MappingNode):
        m = c.mapping(node, ("image",), ("digest",))
        if m is None or "image" not in m:
            return None
        with c.at("image"):
            text = c.nonempty(m["image"], "an image reference")
        if "digest" in m:
            with c.at("digest"):
                digest = c.nonempty(m["digest"], "a sha256: digest")
        node = m["image"]
    else:
        text = c.nonempty(node, "an image reference")
    if text is None:
        return None
    full = f"{text}@{digest}" if digest is not None and "@" not in text else text
    try:
        ref = ImageRef.parse(full)
    except S9regError as e:
        c.add(node, e.message)
        return None
    if ref.tag is None:
        c.add(node, f"{text}: curated images need a tag (e.g. {ref.name}:1.0)")
        return None
    if ref.registry not in {u.name for u in upstreams}:
        c.add(node, f"{text}: registry {ref.registry} is not one of the upstreams")
        return None
    return full


def _cache_purging(c: Checker, node: Node) -> UploadPurging | None:
    if isinstance(node, ScalarNode) and node.tag == TAG_BOOL:
        enabled = c.boolean(node)
        return None if enabled is None else UploadPurging(enabled=enabled)
    m = c.mapping(node, (), ("enabled", "age_hours", "interval_hours"))
    if m is None:
        return None
    fields: dict[str, object] = {}
    if "enabled" in m:
        with c.at("enabled"):
            fields["enabled"] = c.boolean(m["enabled"])
    for key in ("age_hours", "interval_hours"):
        if key in m:
            with c.at(key):
                fields[key] = _cache_int(c, m[key], 1, 24 * 365)
    if any(v is None for v in fields.values()):
        return None
    return UploadPurging(**fields)  # type: ignore[arg-type]


def _cache_s3(c: Checker, node: Node) -> S3Storage | None:
    m = c.mapping(node, ("bucket",), ("region", "endpoint_url", "root"))
    if m is None or "bucket" not in m:
        return None
    with c.at("bucket"):
        bucket = c.nonempty(m["bucket"])
    fields: dict[str, object] = {}
    if "region" in m:
        with c.at("region"):
            fields["region"] = c.nonempty(m["region"])
    if "endpoint_url" in m:
        with c.at("endpoint_url"):
            fields["endpoint_url"] = c.url(m["endpoint_url"])
    if "root" in m:
        with c.at("root"):
            root = c.nonempty(m["root"])
            fields["root"] = None if root is None else "/" + root.strip("/")
    if bucket is None or any(v is None for v in fields.values()):
        return None
    return S3Storage(bucket=bucket, **fields)  # type: ignore[arg-type]
