"""Fuzzing the request handler: any body gives a JSON-RPC response, never an exception.

Strings include lone surrogates (``"\\ud800"`` escapes) and numbers include ``1e999``: the
answer is still strict JSON in UTF-8, and never ``-32603 Internal error`` (issue #16).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_client import BuiltSite

from s9reg.serve import ServeSettings
from s9reg.serve.rpc import PUBLIC_METHODS, WRITE_METHODS, RequestInfo, RpcHandler
from s9reg.serve.site import SiteLoader
from s9reg.serve.sources import LocalSource

# Text, and text with lone surrogates (a JSON text can escape them; st.text() has none).
SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
TEXT = st.text(max_size=20) | st.text(st.characters() | SURROGATE, min_size=1, max_size=20)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
METHODS = st.sampled_from(sorted(PUBLIC_METHODS | WRITE_METHODS)) | TEXT
PARAM_KEYS = st.sampled_from(
    ["id", "targetVersion", "sourceVersion", "otherVersions", "version", "platform", "serverId"]
)
PARAMS = (
    st.dictionaries(
        PARAM_KEYS,
        JSON
        | st.sampled_from(["pkg00", "=1.0.0:0", "1.0.0:0", "full", "none", "x86_64", ">=1"])
        | st.sampled_from(["pkg00", "full", "x86_64", "1.0.0:0"]).map(lambda t: t + "\ud800"),
    )
    | JSON
)
# Ids as devices send them, with lone surrogates and infinities (written as 1e999) among them.
IDS = st.integers() | st.floats(allow_nan=False) | TEXT | st.sampled_from(["\ud800", "a\udfff"])
REQUESTS = st.fixed_dictionaries(
    {"method": METHODS}, optional={"id": IDS | JSON, "params": PARAMS, "jsonrpc": JSON}
)
HEADERS = (
    st.none()
    | st.text(max_size=60)
    | st.sampled_from(
        [
            "os.version=0.4.0-beta.10&os.compat=%3E%3D0.3.0%3A0&os.platform=x86_64",
            "os.version=0.3.0&os.compat=*&os.platform=x&hardware.arch=x86_64&hardware.ram=1",
        ]
    )
)

_handler: RpcHandler | None = None


def handler(site: BuiltSite) -> RpcHandler:
    global _handler  # noqa: PLW0603 - one loaded site for all examples
    if _handler is None:
        loader = SiteLoader(LocalSource(site.path))
        loader.refresh()
        _handler = RpcHandler(lambda: loader.snapshot, ServeSettings(site=str(site.path)))
    return _handler


def _not_json(name: str) -> object:
    raise AssertionError(f"{name} in an answer")


def body_of(message: object) -> bytes:
    """The request as JSON text: infinities written as ``1e999`` (which parses as one)."""
    text = json.dumps(message)
    return text.replace("-Infinity", "-1e999").replace("Infinity", "1e999").encode()


def check(body: bytes, out: bytes) -> None:
    doc = json.loads(out.decode("utf-8"), parse_constant=_not_json)
    docs: list[Any] = doc if isinstance(doc, list) else [doc]
    assert docs
    for d in docs:
        assert d["jsonrpc"] == "2.0"
        assert "id" in d
        assert ("result" in d) != ("error" in d)
        if "error" in d:
            assert isinstance(d["error"]["code"], int)
            assert d["error"]["code"] != -32603, (body, d)
            assert isinstance(d["error"]["message"], str)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=200))
def test_any_bytes(built_site: BuiltSite, body: bytes) -> None:
    out, _ = handler(built_site).handle(body, RequestInfo())
    check(body, out)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    message=REQUESTS | st.lists(REQUESTS, max_size=4) | JSON,
    device=HEADERS,
    auth=st.none() | st.text(max_size=40),
)
def test_any_request(
    built_site: BuiltSite, message: Any, device: str | None, auth: str | None
) -> None:
    body = body_of(message)
    out, _ = handler(built_site).handle(
        body, RequestInfo(device_info=device, auth_sig=auth, host="h")
    )
    check(body, out)
