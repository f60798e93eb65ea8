"""Fuzzing the request handler: any body gives a JSON-RPC response, never an exception."""

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

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
METHODS = st.sampled_from(sorted(PUBLIC_METHODS | WRITE_METHODS)) | st.text(max_size=20)
PARAM_KEYS = st.sampled_from(
    ["id", "targetVersion", "sourceVersion", "otherVersions", "version", "platform", "serverId"]
)
PARAMS = (
    st.dictionaries(
        PARAM_KEYS,
        JSON | st.sampled_from(["pkg00", "=1.0.0:0", "1.0.0:0", "full", "none", "x86_64", ">=1"]),
    )
    | JSON
)
REQUESTS = st.fixed_dictionaries(
    {"method": METHODS}, optional={"id": JSON, "params": PARAMS, "jsonrpc": JSON}
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


def check(body: bytes, out: bytes) -> None:
    doc = json.loads(out)
    docs: list[Any] = doc if isinstance(doc, list) else [doc]
    assert docs
    for d in docs:
        assert d["jsonrpc"] == "2.0"
        assert "id" in d
        assert ("result" in d) != ("error" in d)
        if "error" in d:
            assert isinstance(d["error"]["code"], int)
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
    body = json.dumps(message).encode()
    out, _ = handler(built_site).handle(
        body, RequestInfo(device_info=device, auth_sig=auth, host="h")
    )
    check(body, out)
