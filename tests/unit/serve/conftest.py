"""Fixtures: one built 50-package test registry per session, served on a known port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_client import BuiltSite, build_test_site, free_port

from s9reg.serve import BackgroundServer, ServeSettings


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    port = free_port()
    root = tmp_path_factory.mktemp("serve")
    return BuiltSite(build_test_site(root, f"http://127.0.0.1:{port}"), port)


@pytest.fixture(scope="session")
def server(built_site: BuiltSite) -> Iterator[BackgroundServer]:
    settings = ServeSettings(site=str(built_site.path), port=built_site.port, client_timeout=5)
    with BackgroundServer(settings) as s:
        yield s
