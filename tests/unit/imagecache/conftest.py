"""Fixtures for the image cache tests (helpers: ``registry_kit.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from modes_kit import SwitchableUpstream
from registry_kit import PlainRegistry


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[PlainRegistry]:
    """A fake docker.io: an empty plain registry, stopped at the end."""
    reg = PlainRegistry(tmp_path / "upstream")
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture
def switchable(upstream: PlainRegistry) -> Iterator[SwitchableUpstream]:
    """The fake docker.io, which a test can make refuse connections or black-hole them."""
    u = SwitchableUpstream(upstream)
    yield u
    u.refuse()
